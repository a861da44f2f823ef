import calculateSlot from 'cluster-key-slot';
import { InvalidOptionsError } from '../errors.js';

/**
 * Key names and script arguments, in one place. Every key of a resource carries the resource as
 * its hash tag (`{prefix}{resource}:lk`), so a resource's keys share a Redis Cluster slot. The hot
 * scripts (acquire, release, leave-queue) get only the lease keys and derive the others from them
 * (include/keys.lua), and get their arguments packed in one string: ioredis spends about 0.15 µs
 * per argument of every request, and a quorum round makes one request per node.
 */
export interface ResourceKeys {
  /** `lk` keys (the leases), in resource order: KEYS of release, leave-queue and extend. */
  readonly locks: readonly string[];
  /** `fc` keys (fencing counters). */
  readonly counters: readonly string[];
  /** KEYS of the fence round (raiseFence): leases, counters. */
  readonly fence: readonly string[];
  /** KEYS of acquire and extend on a gated node: leases, then the ready key. */
  readonly gated: readonly string[];
}

/**
 * The most resources one lock may have: the scripts pass a lock's keys to single Redis calls, and
 * Lua's `unpack` fails at a few thousand values. Checked before anything is sent.
 */
export const MAX_RESOURCES = 1_000;

/**
 * One key of a resource: `lk` lease, `fc` fencing counter, `q` waiter queue (ticket → arrival),
 * `qe` queue expiries (ticket → expiry). The scripts derive the last two (include/keys.lua).
 */
export const resourceKey = (prefix: string, resource: string, kind: 'lk' | 'fc' | 'q' | 'qe'): string =>
  `${prefix}{${resource}}:${kind}`;

export function resourceKeys(prefix: string, resources: readonly string[]): ResourceKeys {
  const locks = resources.map((r) => resourceKey(prefix, r, 'lk'));
  const counters = resources.map((r) => resourceKey(prefix, r, 'fc'));
  return {
    locks,
    counters,
    fence: [...locks, ...counters],
    gated: [...locks, readyKey(prefix)],
  };
}

/**
 * ARGV of acquire.lua: one string, `<owner> <ttl> <floor> <ticket score> <ms to stay queued> <nodes>`
 * (nodes: how many nodes the Redlock has; a node of a cluster of another size refuses).
 */
export const acquireArgs = (owner: string, ttl: number, floor: string, score: string, stayMs: number, nodes: number): string =>
  `${owner} ${ttl} ${floor} ${score} ${stayMs} ${nodes}`;

/** ARGV of release.lua: one string, `<owner> <quiet 0|1> <floor> <wake channel prefix>` (the prefix last: it may hold spaces). */
export const releaseArgs = (owner: string, quiet: boolean, floor: string, wake: string): string =>
  `${owner} ${quiet ? 1 : 0} ${floor} ${wake}`;

/** ARGV of leave-queue.lua: one string, `<ticket> <floor> <wake channel prefix>`. */
export const leaveArgs = (ticket: string, floor: string, wake: string): string => `${ticket} ${floor} ${wake}`;

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
