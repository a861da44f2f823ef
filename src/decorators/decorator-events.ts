import { EventEmitter } from 'eventemitter3';
import type { LockExpiredError, QuorumError } from '../errors.js';

/** Why a decorated call did not run (it returned `undefined`). */
export type SkipReason = 'locked' | 'unavailable' | 'notLeader';

/** Events of `@DistributedLock` and `@LeaderOnly` (`DistributedLock.events`), for logs and metrics. `'error'` is never emitted. */
export interface DecoratorEvents {
  /**
   * A call was skipped and returned `undefined`: `locked` (another holder, `onLocked: 'skip'`),
   * `unavailable` (no quorum of Redis nodes answered, `onUnavailable: 'skip'`), `notLeader` (`@LeaderOnly`).
   */
  skipped: [event: { readonly method: string; readonly resources: readonly string[]; readonly reason: SkipReason; readonly error?: Error }];
  /**
   * A warning: no quorum of Redis nodes answered and the call ran under the in-process lock
   * instead (`onUnavailable: 'memory'`): other processes were **not** excluded.
   */
  memoryFallback: [event: { readonly method: string; readonly resources: readonly string[]; readonly error: QuorumError | LockExpiredError }];
}

/** @internal The one emitter of both decorators. */
export const decoratorEvents = new EventEmitter<DecoratorEvents>();
