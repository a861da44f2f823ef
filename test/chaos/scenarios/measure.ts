/**
 * Measurements over a history for the LIVE checks of the scenarios: acquire outcomes and
 * latencies, percentiles, fault windows, and whether a key was free when an acquire began.
 */
import type { GrantClaim } from '../grant-claims.js';
import type { HistoryEvent } from '../history.js';
import type { FaultWindow } from '../nemesis-log.js';

export interface AcquireOutcome {
  readonly proc: string;
  readonly client: string;
  readonly key: string;
  readonly grantId: string;
  readonly invoke: bigint;
  readonly done: bigint;
  readonly phase: 'ok' | 'fail' | 'info';
  readonly err: string | undefined;
  /** done − invoke, ms. */
  readonly ms: number;
}

/** Every acquire that completed (ok, fail or info), with its latency. */
export function acquireOutcomes(events: readonly HistoryEvent[]): AcquireOutcome[] {
  const invokes = new Map<string, HistoryEvent>();
  const out: AcquireOutcome[] = [];
  for (const e of events) {
    if (e.op !== 'acquire' || e.grantId === undefined) continue;
    if (e.phase === 'invoke') {
      invokes.set(e.grantId, e);
      continue;
    }
    const inv = invokes.get(e.grantId);
    if (inv === undefined) continue;
    out.push({
      proc: e.proc, client: e.client, key: e.key, grantId: e.grantId, invoke: inv.t, done: e.t, phase: e.phase,
      err: e.err, ms: Number(e.t - inv.t) / 1e6,
    });
  }
  return out;
}

/** The p-th percentile (0–100) of `values`, NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

/**
 * True when `t` lies in [applied + fromSlack, end − toSlack]: from the moment the fault was fully in
 * place to the moment healing began (open windows end at `fallbackEnd`).
 */
export function inWindow(t: bigint, w: FaultWindow, fallbackEnd: bigint, fromSlackMs = 0, toSlackMs = 0): boolean {
  const end = w.end ?? fallbackEnd;
  return t >= w.applied + BigInt(Math.round(fromSlackMs * 1e6)) && t <= end - BigInt(Math.round(toSlackMs * 1e6));
}

/** True when some claim on `key` (other than `grantId`) covers `t`: the key was held. */
export function heldAt(claims: readonly GrantClaim[], key: string, t: bigint, grantId: string): boolean {
  return claims.some((c) => c.key === key && c.grantId !== grantId && c.okTime <= t && c.end >= t);
}

/**
 * Latencies of uncontended acquires: no other grant of the key held it (until its release
 * completed) and no other acquire of the key was in flight at any moment while this one ran.
 * Each client's first acquire is left out: it opens the node connections and compiles the
 * scripts (EVAL after NOSCRIPT), a one-off cold start that the `cold` list reports instead.
 */
export function uncontendedLatencies(
  events: readonly HistoryEvent[],
  outcomes: readonly AcquireOutcome[],
  claims: readonly GrantClaim[],
  select: (o: AcquireOutcome) => boolean = () => true,
): { warm: number[]; cold: number[] } {
  const releaseDone = new Map<string, bigint>();
  for (const e of events) if (e.op === 'release' && e.phase === 'ok' && e.grantId !== undefined) releaseDone.set(e.grantId, e.t);
  const busy = new Map<string, { id: string; from: bigint; to: bigint }[]>();
  const add = (key: string, id: string, from: bigint, to: bigint): void => {
    const list = busy.get(key);
    if (list === undefined) busy.set(key, [{ id, from, to }]);
    else list.push({ id, from, to });
  };
  for (const c of claims) {
    const done = releaseDone.get(c.grantId);
    add(c.key, c.grantId, c.okTime, done !== undefined && done > c.end ? done : c.end);
  }
  for (const o of outcomes) add(o.key, o.grantId, o.invoke, o.done);
  const first = new Map<string, AcquireOutcome>();
  for (const o of outcomes) {
    const seen = first.get(o.client);
    if (seen === undefined || o.invoke < seen.invoke) first.set(o.client, o);
  }
  const cold = new Set(first.values());
  const free = outcomes
    .filter((o) => o.phase === 'ok' && select(o))
    .filter((o) => !(busy.get(o.key) ?? []).some((b) => b.id !== o.grantId && b.from <= o.done && b.to >= o.invoke));
  return {
    warm: free.filter((o) => !cold.has(o)).map((o) => o.ms),
    cold: free.filter((o) => cold.has(o)).map((o) => o.ms),
  };
}

export const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
