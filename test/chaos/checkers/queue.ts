/**
 * Checker QUEUE (reference §4.7, S18/S19): the job queue's history (queue-client.ts) and the
 * fenced store's log of the jobs' effect resources (`job:<id>`, one per job).
 *
 * - `lost`: an enqueued job has no `final` read, or the read found no such job.
 * - `stuck-active` / `not-terminal`: after the drain a job is still active (no worker holds it:
 *   the stalled sweep should have re-queued it), or waiting, delayed, ….
 * - `double-completion`: more than one completion of a job was accepted.
 * - `stale-completion`: a completion accepted with a token below the highest delivered for the
 *   job (a zombie's completion must be refused), or a completed job whose stored result names
 *   another delivery than the one whose completion was accepted.
 * - `completed-and-failed`: a job completed that also failed for good (or the final read disagrees
 *   with the completions seen: completed without an accepted completion, failed with one).
 * - `token-order`: tokens of a job's deliveries, in delivery order, not strictly increasing (or a
 *   token delivered twice).
 * - `effect`: a completed job's effect: its completing delivery's increment must be accepted, and
 *   be the last accepted effect of the job (a stale delivery's effect accepted after it, or none).
 * - `attempt-bound`: more deliveries than `maxDeliveries` (1 + maxStalledCount with attempts 1).
 *
 * At-least-once execution is allowed: an earlier delivery's effect accepted before a newer one
 * touched the store is counted (`supersededEffects`), not a violation (FENCE checks the order).
 */
import type { StoreEntry } from '../fenced-store.js';
import type { HistoryEvent } from '../history.js';

export type QueueViolationKind =
  | 'lost' | 'stuck-active' | 'not-terminal' | 'double-completion' | 'stale-completion' | 'completed-and-failed'
  | 'token-order' | 'effect' | 'attempt-bound';

export interface QueueViolation {
  readonly kind: QueueViolationKind;
  readonly jobId: string;
  readonly procs: readonly string[];
  /** When (ns): the event that shows it, or the final read. */
  readonly t: bigint;
  readonly message: string;
}

export interface QueueInput {
  readonly events: readonly HistoryEvent[];
  readonly storeLog: readonly StoreEntry[];
  /** Deliveries allowed per job (undefined: not checked). */
  readonly maxDeliveries?: number;
}

export interface QueueReport {
  readonly violations: QueueViolation[];
  readonly enqueued: number;
  readonly deliveries: number;
  /** Jobs delivered more than once. */
  readonly redelivered: number;
  readonly completed: number;
  readonly failed: number;
  /** Completions and failures the queue refused (stale deliveries). */
  readonly refused: number;
  /** Effect ops (reads and writes) of job resources the store rejected. */
  readonly effectsRejected: number;
  /** Accepted effects of deliveries other than the completing one (at-least-once execution). */
  readonly supersededEffects: number;
  /** Final states, counted. */
  readonly states: Readonly<Record<string, number>>;
}

interface JobFacts {
  enqueued: HistoryEvent | undefined;
  deliveries: HistoryEvent[];
  completions: HistoryEvent[];
  failures: HistoryEvent[];
  final: HistoryEvent | undefined;
}

export const jobResource = (jobId: string): string => `job:${jobId}`;

export function checkQueue(input: QueueInput): QueueReport {
  const out: QueueViolation[] = [];
  const jobs = new Map<string, JobFacts>();
  const facts = (id: string): JobFacts => {
    let f = jobs.get(id);
    if (f === undefined) jobs.set(id, (f = { enqueued: undefined, deliveries: [], completions: [], failures: [], final: undefined }));
    return f;
  };
  const sorted = [...input.events].sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  let refused = 0;
  for (const e of sorted) {
    if (e.jobId === undefined) continue;
    const f = facts(e.jobId);
    if (e.op === 'enqueue' && e.phase === 'ok') f.enqueued ??= e;
    else if (e.op === 'deliver' && e.phase === 'ok') f.deliveries.push(e);
    else if (e.op === 'complete' && e.phase === 'ok') f.completions.push(e);
    else if (e.op === 'failattempt' && e.phase === 'ok') f.failures.push(e);
    else if ((e.op === 'complete' || e.op === 'failattempt') && e.phase === 'fail') refused += 1;
    else if (e.op === 'final') f.final = e;
  }

  const byResource = new Map<string, StoreEntry[]>();
  for (const s of [...input.storeLog].sort((a, b) => a.seq - b.seq)) {
    if (!s.resource.startsWith('job:')) continue;
    const list = byResource.get(s.resource);
    if (list === undefined) byResource.set(s.resource, [s]);
    else list.push(s);
  }

  let deliveries = 0;
  let redelivered = 0;
  let supersededEffects = 0;
  const states: Record<string, number> = {};
  for (const [id, f] of jobs) {
    const v = (kind: QueueViolationKind, t: bigint, procs: readonly string[], message: string): void => {
      out.push({ kind, jobId: id, procs, t, message: `job ${id}: ${message}` });
    };
    const procs = (list: readonly HistoryEvent[]): string[] => [...new Set(list.map((e) => e.proc))];
    deliveries += f.deliveries.length;
    if (f.deliveries.length > 1) redelivered += 1;
    const state = f.final?.state ?? 'no final read';
    if (f.enqueued !== undefined) states[state] = (states[state] ?? 0) + 1;
    const tEnd = f.final?.t ?? f.deliveries.at(-1)?.t ?? f.enqueued?.t ?? 0n;

    // Every acknowledged job ends completed or failed.
    if (f.enqueued !== undefined) {
      if (f.final === undefined || state === 'missing' || state === 'unknown') v('lost', tEnd, [], `enqueued, but ${f.final === undefined ? 'never read after the drain' : `the final read found it ${state}`}`);
      else if (state === 'active') v('stuck-active', tEnd, procs(f.deliveries), `still active after the drain (${f.deliveries.length} deliveries, last token ${f.deliveries.at(-1)?.token ?? '-'} by ${f.deliveries.at(-1)?.proc ?? '-'})`);
      else if (state !== 'completed' && state !== 'failed') v('not-terminal', tEnd, procs(f.deliveries), `${state} after the drain`);
    }

    // Tokens of the deliveries strictly increase.
    const seen = new Set<bigint>();
    let last: HistoryEvent | undefined;
    for (const d of f.deliveries) {
      const token = d.token ?? -1n;
      if (seen.has(token)) v('token-order', d.t, [d.proc], `token ${token} delivered twice (${d.proc})`);
      else if (last !== undefined && token <= (last.token ?? -1n)) v('token-order', d.t, [last.proc, d.proc], `delivery to ${d.proc} with token ${token} after a delivery to ${last.proc} with token ${last.token ?? '-'}`);
      seen.add(token);
      if (last === undefined || token > (last.token ?? -1n)) last = d;
    }
    if (input.maxDeliveries !== undefined && f.deliveries.length > input.maxDeliveries) {
      v('attempt-bound', f.deliveries.at(-1)?.t ?? tEnd, procs(f.deliveries), `${f.deliveries.length} deliveries (at most ${input.maxDeliveries})`);
    }

    // At most one completion, by the newest delivery.
    const maxToken = f.deliveries.reduce((m, d) => ((d.token ?? 0n) > m ? (d.token ?? 0n) : m), 0n);
    if (f.completions.length > 1) {
      v('double-completion', f.completions[1]?.t ?? tEnd, procs(f.completions), `${f.completions.length} completions accepted (tokens ${f.completions.map((c) => c.token ?? '-').join(', ')})`);
    }
    for (const c of f.completions) {
      if ((c.token ?? 0n) < maxToken) v('stale-completion', c.t, [c.proc], `completion by ${c.proc} with token ${c.token ?? '-'} accepted, but token ${maxToken} was delivered`);
    }
    // The completion that finished the job (any later one is a double completion).
    const completing = f.completions[0];
    if (state === 'completed' && f.final?.token !== undefined && completing !== undefined && f.final.token !== completing.token) {
      v('stale-completion', tEnd, [completing.proc], `the stored result names token ${f.final.token}, the accepted completion had token ${completing.token ?? '-'}`);
    }
    if (f.completions.length > 0 && (state === 'failed' || f.failures.some((x) => x.state === 'failed'))) {
      v('completed-and-failed', tEnd, procs([...f.completions, ...f.failures]), `completed (token ${completing?.token ?? '-'}) and ${state === 'failed' ? 'finally failed' : 'failed for good'}`);
    } else if (state === 'completed' && f.completions.length === 0 && f.final !== undefined) {
      v('completed-and-failed', tEnd, [], 'completed, but no delivery saw its completion accepted');
    }

    // The completing delivery's effect is the job's last accepted effect.
    const entries = byResource.get(jobResource(id)) ?? [];
    const writes = entries.filter((s) => s.op === 'write' && s.accepted);
    if (completing !== undefined) {
      const lastWrite = writes.at(-1);
      const own = writes.filter((s) => s.token === completing.token);
      if (own.length === 0) v('effect', completing.t, [completing.proc], `completed by token ${completing.token ?? '-'}, whose effect was never accepted (${writes.length} accepted effects: tokens ${writes.map((s) => s.token).join(', ') || 'none'})`);
      else if (lastWrite !== undefined && lastWrite.token !== completing.token) {
        v('effect', lastWrite.t, [lastWrite.proc], `#${lastWrite.seq} effect of token ${lastWrite.token} by ${lastWrite.proc} accepted after the completing delivery's (token ${completing.token ?? '-'})`);
      }
      supersededEffects += writes.filter((s) => s.token !== completing.token).length;
    }
  }

  const count = (pred: (f: JobFacts) => boolean): number => [...jobs.values()].filter((f) => f.enqueued !== undefined && pred(f)).length;
  return {
    violations: out,
    enqueued: count(() => true),
    deliveries,
    redelivered,
    completed: count((f) => f.final?.state === 'completed'),
    failed: count((f) => f.final?.state === 'failed'),
    refused,
    effectsRejected: input.storeLog.filter((s) => s.resource.startsWith('job:') && !s.accepted).length,
    supersededEffects,
    states,
  };
}
