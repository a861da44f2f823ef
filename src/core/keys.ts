/**
 * Key names, in one place, for every node kind. Every key of a resource carries the resource as
 * its hash tag (`{prefix}{resource}:lk`), so a resource's keys share a Redis Cluster slot. The key
 * lists a lock's operations need are derived once per acquire call and shared by every node and
 * attempt (the hot path builds no arrays).
 */
export interface ResourceKeys {
  /** `lk` keys (the leases), in resource order. */
  readonly locks: readonly string[];
  /** `fc` keys (fencing counters). */
  readonly counters: readonly string[];
  /** The ready marker of the lock's prefix. */
  readonly ready: string;
  /** Leases, then counters (a Redis node's fence round takes them so). */
  readonly fence: readonly string[];
  /** Leases, then the ready key (a gated Redis node's acquire and extend take them so). */
  readonly gated: readonly string[];
}

/**
 * The most resources one lock may have: the scripts pass a lock's keys to single Redis calls, and
 * Lua's `unpack` fails at a few thousand values. Checked before anything is sent.
 */
export const MAX_RESOURCES = 1_000;

/**
 * One key of a resource: `lk` lease, `fc` fencing counter, `q` waiter queue (ticket → arrival),
 * `qe` queue expiries (ticket → expiry), `h` holder note (who holds the lease, for readers). The
 * scripts derive `q` and `qe` (include/keys.lua).
 */
export const resourceKey = (prefix: string, resource: string, kind: 'lk' | 'fc' | 'q' | 'qe' | 'h'): string =>
  `${prefix}{${resource}}:${kind}`;

export function resourceKeys(prefix: string, resources: readonly string[]): ResourceKeys {
  const locks = resources.map((r) => resourceKey(prefix, r, 'lk'));
  const counters = resources.map((r) => resourceKey(prefix, r, 'fc'));
  const ready = readyKey(prefix);
  return { locks, counters, ready, fence: [...locks, ...counters], gated: [...locks, ready] };
}

/**
 * Wake-up channels: a Redlock listens on `<prefix>wake:<client id>` and its tickets read
 * `<client id>/<seq>/<ttl>`, so a release tells the next waiter alone (include/queue.lua).
 */
export const wakePrefix = (prefix: string): string => `${prefix}wake:`;

/** The per-node marker that the node kept its fencing counters (absent after data loss). */
export const readyKey = (prefix: string): string => `${prefix}__ready`;

/** Written on a node while it is repaired; gone if the node restarts before the repair ends. */
export const repairKey = (prefix: string): string => `${prefix}__repairing`;

/** The SCAN pattern that finds every fencing counter under `prefix`. */
export function counterPattern(prefix: string): string {
  return `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}{*}:fc`;
}
