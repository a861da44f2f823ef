/**
 * Checker LEADER (reference §4.5, S17): leader election over the candidates' history and the
 * fenced store's serial log of the election's resource, where every leader action carries its term
 * (the grant's fencing token) as the token.
 *
 * - `stale-term-accepted`: accepted terms are non-decreasing in the store's order — equivalently,
 *   no action of a term t is accepted after the first accepted action of a newer term t′ > t.
 * - `two-candidates`: each term belongs to exactly one candidate (its `elected` events and the
 *   accepted actions of that term come from one process, one candidate id).
 * - `paused-leader-accepted`: an action of a process that was SIGSTOPped while it led, with a term
 *   it held before the pause, handled by the store after SIGCONT and accepted (it must be rejected,
 *   or better not sent at all).
 * - `acted-not-leader`: a candidate invoked an action while `isLeader` was false, or after its own
 *   `'follower'` event for that term.
 * - `acted-past-lease`: a leader cut from a majority of the nodes (its renewals fail) invoked an
 *   action of the term it held more than a lease (`ttl`) after the cut was in place: the lease it
 *   last renewed before the cut had ended by then.
 * - `observed-wrong-leader`: a candidate's `'leaderChanged'` (`leader()`, read by anyone from the
 *   nodes) named a term with another candidate id than the one elected for that term.
 */
import type { StoreEntry } from '../fenced-store.js';
import type { HistoryEvent } from '../history.js';

export interface LeaderFault {
  /** The client process hit (its `proc` in the history and the store log). */
  readonly proc: string;
  /** When the fault was in place (SIGSTOP sent; the cut applied), ns. */
  readonly from: bigint;
  /** SIGCONT, or the end of the cut, ns (undefined: never healed). */
  readonly to: bigint | undefined;
}

export interface LeaderInput {
  readonly events: readonly HistoryEvent[];
  readonly storeLog: readonly StoreEntry[];
  /** The store resource the leaders act on. */
  readonly resource: string;
  /** Candidate processes paused (SIGSTOP … SIGCONT). */
  readonly pauses?: readonly LeaderFault[];
  /** Candidate processes cut from a majority of the nodes. */
  readonly isolations?: readonly LeaderFault[];
  /** The election's lease, ms (for `acted-past-lease`). */
  readonly ttl: number;
}

export type LeaderViolationKind = 'stale-term-accepted' | 'two-candidates' | 'paused-leader-accepted' | 'acted-not-leader' | 'acted-past-lease' | 'observed-wrong-leader';

export interface LeaderViolation {
  readonly kind: LeaderViolationKind;
  readonly term: bigint;
  /** The processes involved. */
  readonly procs: readonly string[];
  /** When (ns): the store's handling time, or the invoke time. */
  readonly t: bigint;
  readonly message: string;
}

export interface LeaderReport {
  readonly violations: LeaderViolation[];
  /** Accepted actions (store entries) of the resource. */
  readonly accepted: number;
  /** Rejected actions (stale terms fenced off by the store). */
  readonly rejected: number;
  /** Distinct terms that acted (accepted). */
  readonly terms: number;
}

/** How far before the logged end of a pause the SIGCONT may lie (the runner logs it after sending the signal). */
const RESUME_SLACK_NS = 50_000_000n;

/**
 * From when on a paused process's store ops are post-SIGCONT: the resume is logged just after the
 * signal, and the process may act in between; nothing it sent before SIGSTOP arrives 2 s late.
 */
export function resumedBy(p: LeaderFault): bigint {
  return p.to === undefined ? p.from : p.to - RESUME_SLACK_NS > p.from ? p.to - RESUME_SLACK_NS : p.from;
}

const isAction = (e: HistoryEvent): boolean => (e.op === 'read' || e.op === 'write') && e.phase === 'invoke';
const ms = (ns: bigint): string => `${(Number(ns) / 1e6).toFixed(1)} ms`;

export function checkLeader(input: LeaderInput): LeaderReport {
  const out: LeaderViolation[] = [];
  const log = input.storeLog.filter((e) => e.resource === input.resource).sort((a, b) => a.seq - b.seq);

  // Accepted terms never go back (one scan; the first accepted action of each term remembered).
  let max: StoreEntry | undefined;
  const firstAccepted = new Map<bigint, StoreEntry>();
  for (const e of log) {
    if (!e.accepted) continue;
    if (!firstAccepted.has(e.token)) firstAccepted.set(e.token, e);
    if (max !== undefined && e.token < max.token) {
      const newer = firstAccepted.get(max.token) ?? max;
      out.push({
        kind: 'stale-term-accepted', term: e.token, procs: [e.proc, newer.proc], t: e.t,
        message: `#${e.seq} ${e.op} of term ${e.token} by ${e.proc} accepted after term ${max.token} (${newer.proc}) first acted at #${newer.seq}`,
      });
    } else {
      max = e;
    }
  }

  // One candidate per term.
  const owners = new Map<bigint, { procs: Set<string>; ids: Set<string>; t: bigint }>();
  const own = (term: bigint, proc: string, id: string | undefined, t: bigint): void => {
    let o = owners.get(term);
    if (o === undefined) owners.set(term, (o = { procs: new Set(), ids: new Set(), t }));
    o.procs.add(proc);
    if (id !== undefined) o.ids.add(id);
  };
  for (const e of input.events) if (e.op === 'elected' && e.phase === 'ok' && e.token !== undefined) own(e.token, e.proc, e.candidate, e.t);
  for (const e of log) if (e.accepted) own(e.token, e.proc, undefined, e.t);
  for (const [term, o] of owners) {
    if (o.procs.size > 1 || o.ids.size > 1) {
      out.push({
        kind: 'two-candidates', term, procs: [...o.procs], t: o.t,
        message: `term ${term} belongs to ${o.procs.size} processes (${[...o.procs].join(', ')}) / ${o.ids.size} candidate ids (${[...o.ids].join(', ')})`,
      });
    }
  }

  // Terms each process held, by when it was elected (for the pause and isolation checks).
  const elected = input.events.filter((e) => e.op === 'elected' && e.phase === 'ok' && e.token !== undefined);
  const termsBefore = (proc: string, t: bigint): Set<bigint> => new Set(elected.filter((e) => e.proc === proc && e.t <= t).map((e) => e.token ?? -1n));

  for (const p of input.pauses ?? []) {
    if (p.to === undefined) continue;
    const held = termsBefore(p.proc, p.from);
    const resumed = resumedBy(p);
    for (const e of log) {
      if (e.proc !== p.proc || !e.accepted || e.t <= resumed || !held.has(e.token)) continue;
      out.push({
        kind: 'paused-leader-accepted', term: e.token, procs: [p.proc], t: e.t,
        message: `#${e.seq} ${e.op} of term ${e.token} by ${p.proc}, paused while it led, accepted after SIGCONT (${ms(e.t - p.to)} after the resume was logged)`,
      });
    }
  }

  // Actions a candidate invoked while it did not lead (by its own isLeader, or after its 'follower').
  const followerAt = new Map<string, bigint>();
  for (const e of input.events) {
    if (e.op === 'follower' && e.token !== undefined) {
      const key = `${e.proc}#${e.token}`;
      if (!followerAt.has(key)) followerAt.set(key, e.t);
    }
  }
  for (const e of input.events) {
    if (!isAction(e) || e.key !== input.resource || e.token === undefined) continue;
    const after = followerAt.get(`${e.proc}#${e.token}`);
    if (e.leader === false || (after !== undefined && e.t > after)) {
      out.push({
        kind: 'acted-not-leader', term: e.token, procs: [e.proc], t: e.t,
        message:
          e.leader === false
            ? `${e.proc} invoked ${e.op} ${e.opId ?? ''} of term ${e.token} while isLeader was false`
            : `${e.proc} invoked ${e.op} ${e.opId ?? ''} of term ${e.token} ${ms(e.t - (after ?? 0n))} after its 'follower' event`,
      });
    }
  }

  // A leader cut from a majority stops acting within a lease of the cut.
  const lease = BigInt(Math.round(input.ttl * 1e6));
  for (const c of input.isolations ?? []) {
    const held = termsBefore(c.proc, c.from);
    const limit = c.from + lease;
    for (const e of input.events) {
      if (!isAction(e) || e.proc !== c.proc || e.token === undefined || !held.has(e.token) || e.t <= limit) continue;
      out.push({
        kind: 'acted-past-lease', term: e.token, procs: [c.proc], t: e.t,
        message: `${c.proc} invoked ${e.op} ${e.opId ?? ''} of term ${e.token} ${ms(e.t - c.from)} after it was cut from a majority (lease ${input.ttl} ms)`,
      });
    }
  }

  // leader() names the candidate that was elected for the term it reports.
  const electedBy = new Map<bigint, string>();
  for (const e of elected) if (e.candidate !== undefined && !electedBy.has(e.token ?? -1n)) electedBy.set(e.token ?? -1n, e.candidate);
  for (const e of input.events) {
    if (e.op !== 'observed' || e.token === undefined || e.candidate === undefined) continue;
    const by = electedBy.get(e.token);
    if (by !== undefined && by !== e.candidate) {
      out.push({
        kind: 'observed-wrong-leader', term: e.token, procs: [e.proc], t: e.t,
        message: `${e.proc} saw ${e.candidate} lead term ${e.token}, which ${by} was elected for`,
      });
    }
  }

  const accepted = log.filter((e) => e.accepted);
  return { violations: out, accepted: accepted.length, rejected: log.length - accepted.length, terms: new Set(accepted.map((e) => e.token)).size };
}
