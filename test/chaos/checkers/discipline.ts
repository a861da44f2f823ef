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
  /** A claim of another grant inside [grant.end, last late op]. */
  readonly other: Claim;
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
    for (const other of claims) {
      if (other.grantId === g.grantId || other.key !== g.key) continue;
      if (other.okTime < last.t && other.end > g.end) {
        const from = other.okTime > g.end ? other.okTime : g.end;
        const to = other.end < last.t ? other.end : last.t;
        pauseOverlaps.push({ kind: 'pause-overlap', grant: g, other, ns: to > from ? to - from : 0n });
      }
    }
  }
  return { late, pauseOverlaps };
}
