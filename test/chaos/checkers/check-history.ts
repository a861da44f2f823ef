/**
 * Runs every checker over one scenario's history and store log, and sorts what they found into
 * violation classes (reference §5.3 legend):
 *
 * - `ME`: two claims overlapped. `ME-pause`: a holder acted after its claim ended, inside another
 *   claim (S7's "expected: pause"). `DISC`: a fenced op invoked after the claim ended.
 * - `TOK`: duplicate or real-time non-increasing tokens. `FENCE`: the store log breaks the fence
 *   rule, or has ops of no grant. `RMW`: lost or phantom increments.
 * - `WAIT` (only where a scenario asks for it, checkers/waits.ts): a key stayed free longer than
 *   the documented bound while a live client waited for it.
 * - `LEADER` (only where a scenario asks for it, checkers/leader.ts): leader election (S17) — terms
 *   went back at the store, a term had two candidates, a paused leader's action was accepted, a
 *   candidate acted while not leading.
 * - `QUEUE` (only where a scenario asks for it, checkers/queue.ts): the job queue (S18, S19) — a job
 *   lost or stuck active, completed twice or by a stale delivery, tokens of its deliveries not
 *   increasing, its completing delivery's effect not the last accepted.
 */
import type { StoreEntry } from '../fenced-store.js';
import { buildGrantClaims, type GrantClaim } from '../grant-claims.js';
import type { HistoryEvent } from '../history.js';
import { checkDiscipline } from './discipline.js';
import { checkFence, type GrantFacts } from './fence.js';
import { checkMutualExclusion } from './mutual-exclusion.js';
import { type Ack, checkRmw } from './rmw.js';
import { checkTokens } from './tokens.js';

export const VIOLATION_CLASSES = ['ME', 'ME-pause', 'DISC', 'TOK', 'FENCE', 'RMW', 'WAIT', 'LEADER', 'QUEUE'] as const;
export type ViolationClass = (typeof VIOLATION_CLASSES)[number];

/** One finding, flattened for summaries and the HTML report. */
export interface Finding {
  readonly cls: ViolationClass;
  readonly kind: string;
  readonly key: string;
  readonly message: string;
  /** Grants involved (for marking them in the timeline). */
  readonly grantIds: readonly string[];
  /** The interval to mark red, ns (an overlap, or the instant of a bad op). */
  readonly from: bigint;
  readonly to: bigint;
  /** ME: how much of the earlier claim was left when the later one started, ns. */
  readonly earlierLeftNs?: bigint;
}

export interface CheckInput {
  readonly events: readonly HistoryEvent[];
  readonly deaths?: ReadonlyMap<string, bigint>;
  readonly storeLog: readonly StoreEntry[];
  readonly finalValues: ReadonlyMap<string, number>;
}

export interface CheckResult {
  readonly claims: readonly GrantClaim[];
  readonly findings: readonly Finding[];
  readonly counts: Readonly<Record<ViolationClass, number>>;
}

const ms = (ns: bigint): string => `${(Number(ns) / 1e6).toFixed(1)} ms`;

export function checkHistory(input: CheckInput): CheckResult {
  const claims = buildGrantClaims(input.events, input.deaths);
  const findings: Finding[] = [];

  for (const v of checkMutualExclusion(claims)) {
    findings.push({
      cls: 'ME', kind: v.kind, key: v.key, grantIds: [v.a.grantId, v.b.grantId], from: v.b.okTime, to: v.b.okTime + v.ns, earlierLeftNs: v.remainingNs,
      message: `${v.key}: ${v.b.client} (token ${v.b.token}) granted while ${v.a.client} (token ${v.a.token}) still held it for ${ms(v.remainingNs)}; overlap ${ms(v.ns)}`,
    });
  }

  const { late, pauseOverlaps } = checkDiscipline(claims);
  for (const v of late) {
    findings.push({
      cls: 'DISC', kind: v.kind, key: v.grant.key, grantIds: [v.grant.grantId], from: v.op.t, to: v.op.t,
      message: `${v.grant.key}: ${v.grant.client} invoked ${v.op.op} ${v.op.opId} ${ms(v.lateNs)} after its claim ended (${v.grant.endReason})`,
    });
  }
  for (const v of pauseOverlaps) {
    findings.push({
      cls: 'ME-pause', kind: v.kind, key: v.grant.key, grantIds: [v.grant.grantId, v.other.grantId], from: v.grant.end, to: v.grant.end + v.ns,
      message: `${v.grant.key}: ${v.grant.client} (token ${v.grant.token}) acted ${ms(v.ns)} past its validity, while ${v.others} other claim(s) held the key, first ${v.other.client} (token ${v.other.token}) (expected: pause)`,
    });
  }

  const tokenGrants = claims.map((c) => ({ resource: c.key, token: c.token, invokedNs: c.invokeTime, completedNs: c.okTime, client: c.grantId }));
  for (const v of checkTokens(tokenGrants)) {
    findings.push({
      cls: 'TOK', kind: v.kind, key: v.resource, grantIds: [v.earlier.client, v.later.client], from: v.later.completedNs, to: v.later.completedNs,
      message: `${v.resource}: ${v.kind} token ${v.later.token} (grant ${v.later.client}) after token ${v.earlier.token} (grant ${v.earlier.client}) completed before it was invoked`,
    });
  }

  const facts = new Map<string, GrantFacts>(claims.map((c) => [c.grantId, { token: c.token, key: c.key }]));
  // A leader's term is a grant of the election's seat: its actions carry the term's grant id.
  for (const e of input.events) {
    if (e.op === 'elected' && e.phase === 'ok' && e.grantId !== undefined && e.token !== undefined) facts.set(e.grantId, { token: e.token, key: e.key });
    // A job's delivery is a grant of the job's effect resource (S18, S19): its token is job.fencingToken.
    if (e.op === 'deliver' && e.phase === 'ok' && e.grantId !== undefined && e.token !== undefined) facts.set(e.grantId, { token: e.token, key: e.key });
  }
  for (const v of checkFence(input.storeLog, facts)) {
    findings.push({
      cls: 'FENCE', kind: v.kind, key: v.entry.resource, grantIds: [v.entry.grantId], from: v.entry.t, to: v.entry.t,
      message: `${v.entry.resource}: ${v.kind}: #${v.entry.seq} ${v.entry.op} by ${v.entry.client} token ${v.entry.token} ${v.entry.accepted ? 'accepted' : 'rejected'} (max ${v.max})`,
    });
  }

  const acks: Ack[] = input.events
    .filter((e) => e.op === 'write' && e.phase === 'ok' && e.opId !== undefined)
    .map((e) => ({ opId: e.opId ?? '', resource: e.key }));
  for (const v of checkRmw(input.storeLog, input.finalValues, acks)) {
    findings.push({
      cls: 'RMW', kind: v.kind, key: v.resource, grantIds: v.entry ? [v.entry.grantId] : [], from: v.entry?.t ?? 0n, to: v.entry?.t ?? 0n,
      message: `${v.resource}: ${v.kind}: ${v.detail}`,
    });
  }

  return withFindings({ claims, findings: [], counts: countFindings([]) }, findings);
}

function countFindings(findings: readonly Finding[]): Record<ViolationClass, number> {
  const counts = Object.fromEntries(VIOLATION_CLASSES.map((c) => [c, 0])) as Record<ViolationClass, number>;
  for (const f of findings) counts[f.cls] += 1;
  return counts;
}

/** `result` with more findings (a scenario's own checkers, e.g. WAIT), counts updated. */
export function withFindings(result: CheckResult, more: readonly Finding[]): CheckResult {
  const findings = [...result.findings, ...more];
  return { claims: result.claims, findings, counts: countFindings(findings) };
}
