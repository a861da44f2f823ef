/**
 * Checker TOK: fencing tokens per resource are unique and real-time monotonic — if grant A
 * completed before grant B was invoked, token(A) < token(B). Times are on one monotonic clock
 * shared by every process on the machine (CLOCK_MONOTONIC, `process.hrtime.bigint()`).
 */
export interface Grant {
  readonly resource: string;
  readonly token: bigint;
  /** When `acquire` was called. */
  readonly invokedNs: bigint;
  /** When `acquire` returned the grant. */
  readonly completedNs: bigint;
  /** Who got it (for messages). */
  readonly client: string;
}

export interface TokenViolation {
  readonly kind: 'duplicate' | 'not-increasing';
  readonly resource: string;
  readonly earlier: Grant;
  readonly later: Grant;
}

export function checkTokens(grants: readonly Grant[]): TokenViolation[] {
  const violations: TokenViolation[] = [];
  const byResource = new Map<string, Grant[]>();
  for (const g of grants) {
    const list = byResource.get(g.resource) ?? [];
    list.push(g);
    byResource.set(g.resource, list);
  }
  for (const [resource, list] of byResource) {
    const seen = new Map<bigint, Grant>();
    for (const g of list) {
      const other = seen.get(g.token);
      if (other !== undefined) violations.push({ kind: 'duplicate', resource, earlier: other, later: g });
      else seen.set(g.token, g);
    }
    // Sweep invocations in time order, keeping the highest token of all grants completed before.
    const completed = [...list].sort((a, b) => (a.completedNs < b.completedNs ? -1 : a.completedNs > b.completedNs ? 1 : 0));
    const invoked = [...list].sort((a, b) => (a.invokedNs < b.invokedNs ? -1 : a.invokedNs > b.invokedNs ? 1 : 0));
    let next = 0;
    let best: Grant | undefined;
    for (const g of invoked) {
      for (; next < completed.length; next += 1) {
        const c = completed[next];
        if (c === undefined || c.completedNs >= g.invokedNs) break;
        if (best === undefined || c.token > best.token) best = c;
      }
      if (best !== undefined && g.token <= best.token && best !== g) {
        violations.push({ kind: 'not-increasing', resource, earlier: best, later: g });
      }
    }
  }
  return violations;
}
