import { AsyncLocalStorage } from 'node:async_hooks';
import type { Lock } from '../redlock/lock.js';

/**
 * What a method decorated with `@DistributedLock` or `@LeaderOnly` holds while it runs, as
 * {@link currentLock} returns it.
 */
export interface LockContext {
  /**
   * The lock the method runs under: the decorator's lock, or for `@LeaderOnly` the election's seat.
   * Do not release it; the decorator does.
   */
  readonly lock: Lock;
  /**
   * Aborts (reason: a `LockLostError`) as soon as the lock can no longer be trusted, or the
   * leadership ended: stop, and write nothing more.
   */
  readonly signal: AbortSignal;
  /**
   * The token to hand to every store the method writes to (`RedisFence`, `UPDATE … WHERE fence <= $token`):
   * the lock's fencing token, or for `@LeaderOnly` the term.
   */
  readonly fencingToken: bigint;
  /** The locked resources (for `@LeaderOnly`: the election's seat, `election:<name>`). */
  readonly resources: readonly string[];
  /**
   * `true` when the lock is the in-process fallback of `onUnavailable: 'memory'` (Redis was
   * unavailable): it excludes only calls in this process, and its token is not comparable with the
   * distributed lock's tokens, so do not hand it to a store that the distributed lock fences.
   */
  readonly inMemory: boolean;
}

const storage = new AsyncLocalStorage<LockContext>();

/**
 * Returns the lock of the innermost `@DistributedLock` or `@LeaderOnly` method running in this
 * async context (AsyncLocalStorage), or `undefined` outside one.
 *
 * @example
 * \@DistributedLock({ key: 'report' })
 * async buildReport() {
 *   const { signal, fencingToken } = currentLock()!
 *   await store.save(report, { fence: fencingToken, signal })
 * }
 */
export function currentLock(): LockContext | undefined {
  return storage.getStore();
}

/** @internal Runs `routine` with `context` as {@link currentLock}. */
export function runWithLock<T>(context: LockContext, routine: () => T): T {
  return storage.run(context, routine);
}
