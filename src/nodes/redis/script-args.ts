import calculateSlot from 'cluster-key-slot';
import type { ResourceKeys } from '../../core/keys.js';
import { InvalidOptionsError } from '../../errors.js';

/**
 * The arguments of the Redis scripts. The hot scripts (acquire, release, leave-queue) get only
 * the lease keys and derive the others from them (include/keys.lua), and get their arguments
 * packed in one string: ioredis spends about 0.15 µs per argument of every request, and a quorum
 * round makes one request per node.
 */

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
