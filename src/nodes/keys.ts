import calculateSlot from 'cluster-key-slot';
import { InvalidOptionsError } from '../errors.js';

/**
 * Key names, in one place. Every key of a resource carries the resource as its hash tag
 * (`{prefix}{resource}:lk`), so a resource's keys share a Redis Cluster slot.
 */
export interface ResourceKeys {
  /** `lk` keys (the leases), in resource order. */
  readonly locks: readonly string[];
  /** `fc` keys (fencing counters). */
  readonly counters: readonly string[];
  /** KEYS of the fence round (raiseFence): leases, counters. */
  readonly fence: readonly string[];
  /** KEYS of the acquire script: leases, counters, queues, queue expiries (and the ready key, gated). */
  readonly acquire: readonly string[];
  readonly acquireGated: readonly string[];
  /** KEYS of the release and leave-queue scripts: leases, counters, queues, queue expiries. */
  readonly release: readonly string[];
}

export function resourceKeys(prefix: string, resources: readonly string[]): ResourceKeys {
  const key = (suffix: string) => resources.map((r) => `${prefix}{${r}}:${suffix}`);
  const locks = key('lk');
  const counters = key('fc');
  const queues = key('q');
  const expiries = key('qe');
  const acquire = [...locks, ...counters, ...queues, ...expiries];
  return {
    locks,
    counters,
    fence: [...locks, ...counters],
    acquire,
    acquireGated: [...acquire, readyKey(prefix)],
    release: acquire,
  };
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

/**
 * Throws when a multi-resource lock would span Redis Cluster hash slots: one script must see all
 * keys, and Redis would answer CROSSSLOT.
 */
export function assertOneSlot(resources: readonly string[], keys: ResourceKeys): void {
  const first = keys.locks[0];
  if (first === undefined) return;
  const slot = calculateSlot(first);
  for (const [i, key] of keys.locks.entries()) {
    const other = calculateSlot(key);
    if (other !== slot) {
      throw new InvalidOptionsError(
        `Resources \`${resources[0]}\` (slot ${slot}) and \`${resources[i]}\` (slot ${other}) map to different ` +
          'Redis Cluster hash slots, and a lock on a Cluster node must keep all its resources in one slot. ' +
          'Give them a common hash tag, e.g. `{order:42}:row` and `{order:42}:stock`.',
      );
    }
  }
}
