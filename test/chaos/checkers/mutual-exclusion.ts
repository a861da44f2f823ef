/**
 * Checker ME (reference §4.2): no two claims on the same key overlap in real time. A sweep in
 * claim-start order keeps the claim with the furthest end seen so far; a claim that starts before
 * that end overlaps it. O(n log n). Times are CLOCK_MONOTONIC ns, shared by every process.
 */
export interface Claim {
  readonly grantId: string;
  readonly client: string;
  readonly key: string;
  readonly token: bigint;
  readonly okTime: bigint;
  readonly end: bigint;
}

export interface OverlapViolation {
  readonly kind: 'overlap';
  readonly key: string;
  /** The earlier claim still running. */
  readonly a: Claim;
  /** The claim that started inside it. */
  readonly b: Claim;
  /** How long they overlapped, ns. */
  readonly ns: bigint;
  /** How much of the earlier claim was left when the later one started, ns. */
  readonly remainingNs: bigint;
}

/** Reports every claim that starts before an earlier claim of the same key ended (`eps`: slack, ns). */
export function checkMutualExclusion(claims: readonly Claim[], eps = 0n): OverlapViolation[] {
  const out: OverlapViolation[] = [];
  const byKey = new Map<string, Claim[]>();
  for (const c of claims) {
    const list = byKey.get(c.key);
    if (list === undefined) byKey.set(c.key, [c]);
    else list.push(c);
  }
  for (const [key, list] of byKey) {
    list.sort((x, y) => (x.okTime < y.okTime ? -1 : x.okTime > y.okTime ? 1 : 0));
    let hold: Claim | undefined;
    for (const c of list) {
      if (hold !== undefined && c.okTime + eps < hold.end) {
        const until = c.end < hold.end ? c.end : hold.end;
        out.push({ kind: 'overlap', key, a: hold, b: c, ns: until - c.okTime, remainingNs: hold.end - c.okTime });
      }
      if (hold === undefined || c.end > hold.end) hold = c;
    }
  }
  return out;
}
