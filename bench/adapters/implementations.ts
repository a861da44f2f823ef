import type { ImplId, Implementation } from './adapter.js';
import { nodeRedlock } from './node-redlock-adapter.js';
import { rawFloor } from './raw-floor-adapter.js';
import { redfence, redfenceBase, redfenceKeepAlive } from './redfence-adapter.js';
import { redisSemaphore } from './redis-semaphore-adapter.js';
import { sesamecare } from './sesamecare-adapter.js';

/** Every implementation, raw floor first (it is the base of every ratio). */
export const implementations: readonly Implementation[] = [rawFloor, redfence, nodeRedlock, sesamecare, redisSemaphore];

export function implementation(id: ImplId): Implementation {
  const impl = [...implementations, redfenceKeepAlive, redfenceBase].find((i) => i.id === id);
  if (impl === undefined) throw new Error(`unknown implementation ${id}`);
  return impl;
}

/** Rotates the order per repetition (A B C, B C A, C A B …) so no library always goes first. */
export function interleaved<T>(items: readonly T[], rep: number): T[] {
  const shift = rep % Math.max(1, items.length);
  return [...items.slice(shift), ...items.slice(0, shift)];
}
