/**
 * Grants and their claims, from a history (reference §4.2):
 *
 *   claim(g) = [okTime, end(g)]
 *   end(g)   = min(latest validity end the client computed (acquire, extends, and the validity it
 *                  saw when it checked before a fenced op), release invoke, process death,
 *                  the time the client observed the lock lost)
 *
 * Only acquires that returned `ok` are grants; `info` (indeterminate) acquires are not claims.
 * The validity seen at op checks is what the client *believed*: with validity on the monotonic
 * clock it is the same instant as after the last extend, but a client whose validity runs on a
 * wall clock that jumped back believes it holds longer — and so it claims longer (NC4).
 */
import type { HistoryEvent } from './history.js';

export interface FencedOp {
  readonly op: 'read' | 'write';
  readonly opId: string;
  readonly t: bigint;
}

export interface GrantClaim {
  readonly grantId: string;
  readonly proc: string;
  readonly client: string;
  readonly key: string;
  readonly token: bigint;
  readonly invokeTime: bigint;
  /** Claim start. */
  readonly okTime: bigint;
  /** The latest validity end the client computed. */
  readonly validityEnd: bigint;
  /** Claim end. */
  readonly end: bigint;
  readonly endReason: 'validity' | 'release' | 'lost' | 'death';
  /** Fenced ops the holder invoked, in time order. */
  readonly ops: readonly FencedOp[];
}

interface Draft {
  grantId: string;
  proc: string;
  client: string;
  key: string;
  token: bigint | undefined;
  invokeTime: bigint | undefined;
  okTime: bigint | undefined;
  validityEnd: bigint | undefined;
  releaseInvoke: bigint | undefined;
  lost: bigint | undefined;
  ops: FencedOp[];
}

/** Builds the claims of every granted acquire; `deaths` maps a process to when it was killed. */
export function buildGrantClaims(events: readonly HistoryEvent[], deaths: ReadonlyMap<string, bigint> = new Map()): GrantClaim[] {
  const drafts = new Map<string, Draft>();
  const draft = (e: HistoryEvent): Draft | undefined => {
    if (e.grantId === undefined) return undefined;
    let d = drafts.get(e.grantId);
    if (d === undefined) {
      d = {
        grantId: e.grantId, proc: e.proc, client: e.client, key: e.key, token: undefined, invokeTime: undefined,
        okTime: undefined, validityEnd: undefined, releaseInvoke: undefined, lost: undefined, ops: [],
      };
      drafts.set(e.grantId, d);
    }
    return d;
  };
  const later = (a: bigint | undefined, b: bigint | undefined): bigint | undefined => (a === undefined ? b : b === undefined ? a : a > b ? a : b);
  const earlier = (a: bigint | undefined, b: bigint | undefined): bigint | undefined => (a === undefined ? b : b === undefined ? a : a < b ? a : b);

  for (const e of events) {
    const d = draft(e);
    if (d === undefined) continue;
    switch (e.op) {
      case 'acquire':
        if (e.phase === 'invoke') d.invokeTime = e.t;
        else if (e.phase === 'ok') {
          d.okTime = e.t;
          d.token = e.token;
          d.validityEnd = later(d.validityEnd, e.validityEnd);
        }
        break;
      case 'extend':
        if (e.phase === 'ok') d.validityEnd = later(d.validityEnd, e.validityEnd);
        break;
      case 'read':
      case 'write':
        if (e.phase === 'invoke') {
          d.validityEnd = later(d.validityEnd, e.validityEnd);
          if (e.opId !== undefined) d.ops.push({ op: e.op, opId: e.opId, t: e.t });
        }
        break;
      case 'release':
        if (e.phase === 'invoke') d.releaseInvoke = earlier(d.releaseInvoke, e.t);
        break;
      case 'lost':
        d.lost = earlier(d.lost, e.t);
        break;
      case 'abandon':
        break;
    }
  }

  const claims: GrantClaim[] = [];
  for (const d of drafts.values()) {
    if (d.okTime === undefined || d.token === undefined || d.validityEnd === undefined) continue;
    const death = deaths.get(d.proc);
    const candidates: [bigint, GrantClaim['endReason']][] = [[d.validityEnd, 'validity']];
    if (d.releaseInvoke !== undefined) candidates.push([d.releaseInvoke, 'release']);
    if (d.lost !== undefined) candidates.push([d.lost, 'lost']);
    if (death !== undefined && death > d.okTime) candidates.push([death, 'death']);
    let [end, endReason] = candidates[0] ?? [d.validityEnd, 'validity'];
    for (const [t, why] of candidates) if (t < end) [end, endReason] = [t, why];
    claims.push({
      grantId: d.grantId, proc: d.proc, client: d.client, key: d.key, token: d.token,
      invokeTime: d.invokeTime ?? d.okTime, okTime: d.okTime, validityEnd: d.validityEnd,
      end: end < d.okTime ? d.okTime : end, endReason, ops: d.ops.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0)),
    });
  }
  return claims.sort((a, b) => (a.okTime < b.okTime ? -1 : a.okTime > b.okTime ? 1 : 0));
}
