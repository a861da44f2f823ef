/**
 * The discipline check (reference §4.2): no fenced op may be *invoked* by a holder after its claim
 * ended (validity end, release, loss), unless a scenario deliberately disables the client's
 * validity re-check (S7). Late ops that fall into another client's claim are the "ME violated
 * between the paused holder's belief and the new holder" of S7: reported as `pause-overlap`, a
 * class of their own, so that a scenario can expect them without excusing real ME overlaps.
 */
import type { FencedOp } from '../grant-claims.js';
import type { Claim } from './mutual-exclusion.js';

export interface ClaimWithOps extends Claim {
  readonly ops: readonly FencedOp[];
}

export interface LateOpViolation<C extends ClaimWithOps = ClaimWithOps> {
  readonly kind: 'late-op';
  readonly grant: C;
  readonly op: FencedOp;
  /** How long after the claim ended the op was invoked, ns. */
  readonly lateNs: bigint;
}

export interface PauseOverlapViolation<C extends ClaimWithOps = ClaimWithOps> {
  readonly kind: 'pause-overlap';
  /** The holder that acted after its claim ended. */
  readonly grant: C;
  /** The first claim of another grant inside [grant.end, last late op]. */
  readonly other: Claim;
  /** How many other claims fall inside that interval. */
  readonly others: number;
  /** From the end of the late holder's claim to its last late op, ns. */
  readonly ns: bigint;
}

export function checkDiscipline<C extends ClaimWithOps>(claims: readonly C[]): { late: LateOpViolation<C>[]; pauseOverlaps: PauseOverlapViolation<C>[] } {
  const late: LateOpViolation<C>[] = [];
  const pauseOverlaps: PauseOverlapViolation<C>[] = [];
  for (const g of claims) {
    const lateOps = g.ops.filter((op) => op.t > g.end);
    if (lateOps.length === 0) continue;
    for (const op of lateOps) late.push({ kind: 'late-op', grant: g, op, lateNs: op.t - g.end });
    const last = lateOps.reduce((a, b) => (b.t > a.t ? b : a));
    const others = claims.filter((o) => o.grantId !== g.grantId && o.key === g.key && o.okTime < last.t && o.end > g.end);
    const first = others[0];
    if (first !== undefined) pauseOverlaps.push({ kind: 'pause-overlap', grant: g, other: first, others: others.length, ns: last.t - g.end });
  }
  return { late, pauseOverlaps };
}
