/**
 * The history format of the chaos suite (reference §4.1): one JSON object per line, written by the
 * client processes, on one clock for every process of the machine: `process.hrtime.bigint()`
 * (CLOCK_MONOTONIC, nanoseconds). Bigints travel as decimal strings.
 *
 * Ops: `acquire`, `extend`, `release` (the lock), `read`, `write` (fenced store ops, a `write`
 * completes the read-modify-write increment begun by the `read` named in `readOpId`), `lost`
 * (the library signalled the lock lost), `abandon` (the client stopped a critical section because
 * its validity ran out). Leader election (S17, election-client.ts): `elected` (the candidate's
 * `'leader'` event; `token` = the term, `grantId` names the term), `follower` (its `'follower'`
 * event; `err` = the reason), `observed` (a `'leaderChanged'` event: `candidate`/`token` = who it
 * saw lead, none = vacant); a leader's actions are fenced `read`/`write` increments with the term
 * as the token and the term's `grantId`.
 *
 * Job queue (S18, S19, queue-client.ts; `key` is the job's store resource `job:<id>`, `jobId` the
 * job): `enqueue` (the producer's add, invoke/ok), `deliver` (`ok`: a worker's handler got the job,
 * `token` = `job.fencingToken`, `grantId` names the delivery), the handler's effect as fenced
 * `read` (touch at start) and `write` (increment at the end) with the delivery's token and
 * `grantId`, `complete` (`invoke`: the handler returned; `ok`: the queue accepted the completion;
 * `fail`: refused, `err` says why), `failattempt` (the handler threw: `ok` the queue took the
 * failure, `fail` refused as stale) and `final` (the producer's read of each job after the drain:
 * `state`, and `token` = the token named in a completed job's result).
 */
import { readFileSync } from 'node:fs';

export type Op =
  | 'acquire' | 'extend' | 'release' | 'read' | 'write' | 'lost' | 'abandon' | 'elected' | 'follower' | 'observed'
  | 'enqueue' | 'deliver' | 'complete' | 'failattempt' | 'final';
export type Phase = 'invoke' | 'ok' | 'fail' | 'info';

export interface HistoryEvent {
  readonly proc: string;
  /** `proc/index`, unique in a run. */
  readonly client: string;
  readonly op: Op;
  readonly phase: Phase;
  readonly key: string;
  /** CLOCK_MONOTONIC ns. */
  readonly t: bigint;
  /** `proc/index/n`: the critical section this event belongs to (set from the acquire invoke on). */
  readonly grantId?: string;
  readonly token?: bigint;
  /**
   * The end of validity the client computed, in the same ns base: on acquire and extend `ok`, and
   * on every fenced op invoke after the client checked its validity (what it believed then).
   */
  readonly validityEnd?: bigint;
  /** Value read, or value written. */
  readonly value?: number;
  /** Error code or message for `fail` / `info`; the loss reason for `lost`. */
  readonly err?: string;
  /** Unique id of a store op, shared with the store log. */
  readonly opId?: string;
  /** For a `write`: the `read` whose value it incremented. */
  readonly readOpId?: string;
  /** Election: the candidate's id (`elected`, `follower`), or the leader a candidate saw (`observed`). */
  readonly candidate?: string;
  /** Election: what `election.isLeader` said when the candidate invoked this action. */
  readonly leader?: boolean;
  /** Queue: the job's id. */
  readonly jobId?: string;
  /** Queue `final`: the job's state after the drain (`completed`, `failed`, `active`, …, `missing`). */
  readonly state?: string;
}

const BIGINT_FIELDS = ['t', 'token', 'validityEnd'] as const;

/** Now, on the machine-wide monotonic clock, in ns. */
export function hrNow(): bigint {
  return process.hrtime.bigint();
}

/** JSON with bigints as decimal strings. */
export function toJsonLine(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Parses one history line (bigint fields come back as bigints). */
export function parseEvent(line: string): HistoryEvent {
  const raw = JSON.parse(line) as Record<string, unknown>;
  const out: Record<string, unknown> = { ...raw };
  for (const field of BIGINT_FIELDS) {
    const v = raw[field];
    if (typeof v === 'string' || typeof v === 'number') out[field] = BigInt(v);
  }
  if (typeof out['t'] !== 'bigint' || typeof raw['op'] !== 'string' || typeof raw['phase'] !== 'string') {
    throw new Error(`not a history event: ${line.slice(0, 200)}`);
  }
  return out as unknown as HistoryEvent;
}

/**
 * Reads history files and merges them in time order. A torn last line (a process killed mid-write)
 * is skipped and counted.
 */
export function readHistory(files: readonly string[]): { events: HistoryEvent[]; torn: number } {
  const events: HistoryEvent[] = [];
  let torn = 0;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        events.push(parseEvent(line));
      } catch {
        torn += 1;
      }
    }
  }
  events.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  return { events, torn };
}

/** ns → ms as a number (for reports). */
export function nsToMs(ns: bigint): number {
  return Number(ns) / 1e6;
}

export const msToNs = (ms: number): bigint => BigInt(Math.round(ms * 1e6));
