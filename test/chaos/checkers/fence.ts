/**
 * Checker FENCE (reference §4.4), over the store's serial log, per resource:
 *
 *   accepted → token ≥ max seen so far (no stale op accepted); max ← token
 *   rejected → token < max (store sanity: no spurious reject)
 *   every op belongs to a grant that returned ok, with the same token and key (no phantom writes)
 */
import type { StoreEntry } from '../fenced-store.js';

export interface GrantFacts {
  readonly token: bigint;
  readonly key: string;
}

export interface FenceViolation {
  readonly kind: 'stale-accepted' | 'spurious-reject' | 'phantom-grant' | 'token-mismatch' | 'key-mismatch';
  readonly entry: StoreEntry;
  /** The highest token accepted before the entry. */
  readonly max: bigint;
}

/** `grants`: every granted acquire by grant id. */
export function checkFence(log: readonly StoreEntry[], grants: ReadonlyMap<string, GrantFacts>): FenceViolation[] {
  const out: FenceViolation[] = [];
  const max = new Map<string, bigint>();
  const sorted = [...log].sort((a, b) => a.seq - b.seq);
  for (const e of sorted) {
    const m = max.get(e.resource) ?? 0n;
    if (e.accepted) {
      if (e.token < m) out.push({ kind: 'stale-accepted', entry: e, max: m });
      else max.set(e.resource, e.token);
    } else if (e.token >= m) {
      out.push({ kind: 'spurious-reject', entry: e, max: m });
    }
    const g = grants.get(e.grantId);
    if (g === undefined) out.push({ kind: 'phantom-grant', entry: e, max: m });
    else if (g.token !== e.token) out.push({ kind: 'token-mismatch', entry: e, max: m });
    else if (g.key !== e.resource) out.push({ kind: 'key-mismatch', entry: e, max: m });
  }
  return out;
}
