import type { Clock } from '../clock.js';
import { LockLostError } from '../errors.js';
import { LockThread } from '../redlock/lock-thread.js';
import { redlockDefaults } from '../redlock/redlock-options.js';
import { type RenewalPolicy, Renewer } from '../redlock/renewer.js';
import type { QueueStore } from './queue-store.js';

/**
 * Keeps one delivery's lock key on the queue's Redis alive, through the one {@link Renewer}. The
 * key is what the stalled sweep looks at; the token in it never changes.
 *
 * - Without `keepAlive`: extended to `lockDuration` every `lockRenewTime`.
 * - With `keepAlive`: a lease of `keepAlive` ms renewed every third of it while the worker lives,
 *   so a killed worker's lock key is gone within `keepAlive`, whatever `lockDuration` is.
 * - `skipLockRenewal`: no renewal, except a keep-alive lease up to `lockDuration` from delivery.
 * - `useDedicatedLockThread`: the same renewals, run by the process's lock thread (its own
 *   connection to the queue's Redis, the same script), bounded by `lockThreadMaxBlockMs`.
 *
 * A renewal the script refuses (the token is no longer the job's current one, another delivery
 * holds the key, or the job left active) loses the lock: `lost` is called once with a
 * {@link LockLostError}. Redis errors are tried again at the next renewal until the lease the
 * last good renewal gave has run out; then the lock is lost too.
 */
export class JobRenewal {
  #renewer: Renewer | undefined;
  #unlease: (() => void) | undefined;
  #stopped = false;

  /** @param renewed called after each renewal that went through (its errors are ignored). */
  constructor(clock: Clock, store: QueueStore, id: string, token: string, lost: (error: LockLostError) => void, renewed?: () => Promise<unknown>) {
    const { keepAlive, lockDuration, lockRenewTime, skipLockRenewal } = store.settings;
    const leaseMs = store.leaseMs;
    const keepAliveOn = leaseMs < lockDuration;
    if (skipLockRenewal && !keepAliveOn) return;
    const resources = [store.lockResource(id)];
    const start = clock.now();
    // The lease's end as last renewed (the fetch or activation set the first one).
    let leaseEnd = start + leaseMs;
    const deadline = skipLockRenewal ? start + lockDuration : Number.POSITIVE_INFINITY;
    const every = keepAliveOn ? Math.max(1, Math.floor(keepAlive / 3)) : lockRenewTime;
    const { useDedicatedLockThread, distributedLock, redlock } = store.settings;
    const node = store.node.describe();
    if (useDedicatedLockThread && !distributedLock && node !== undefined) {
      // The lock thread renews the lease with a connection of its own (the same script), so a
      // blocked event loop keeps the job, for at most lockThreadMaxBlockMs.
      const thread = LockThread.shared();
      const leaseId = thread.lease(
        {
          node,
          script: 'queueLock',
          keys: store.keys.scriptKeys,
          args: ['extend', id, token, 0, ''],
          msIndex: 3,
          leaseMs,
          everyMs: every,
          deadline,
          maxBlockMs: (redlock?.settings ?? redlockDefaults).lockThreadMaxBlockMs,
          resources,
        },
        (error) => {
          if (this.#stopped) return;
          this.#stopped = true;
          lost(error);
        },
      );
      this.#unlease = () => thread.unlease(leaseId);
      return;
    }
    const policy: RenewalPolicy = {
      next: () => (this.#stopped || clock.now() >= deadline ? undefined : every),
      renew: async () => {
        const now = clock.now();
        const ms = Math.ceil(Math.min(leaseMs, deadline - now));
        if (ms <= 0 || this.#stopped) return;
        let ok: boolean;
        try {
          ok = await store.lock('extend', id, token, ms);
        } catch (error) {
          if (clock.now() < leaseEnd) return; // tried again at the next renewal
          throw new LockLostError(resources, 'extendFailed', `the job's lock could not be renewed before its lease ran out: ${String(error)}`, { cause: error });
        }
        if (!ok) throw new LockLostError(resources, 'extendFailed', 'the job is no longer this delivery\'s (its token is not current, or it left active)');
        leaseEnd = now + ms;
        await renewed?.().catch(() => undefined);
      },
      failed: (error) => {
        if (this.#stopped) return;
        this.#stopped = true;
        lost(error instanceof LockLostError ? error : new LockLostError(resources, 'extendFailed', String(error), { cause: error }));
      },
    };
    this.#renewer = new Renewer(clock, policy).start();
  }

  /** Ends the renewals (the attempt ended). */
  stop(): void {
    this.#stopped = true;
    this.#renewer?.stop();
    this.#unlease?.();
    this.#unlease = undefined;
  }
}
