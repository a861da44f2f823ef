import { type Clock, randomOf, sleep } from '../clock.js';
import type { ResourceKeys } from '../core/keys.js';
import { LockExpiredError, LockHeldError, QuorumError } from '../errors.js';
import type { Granted, LockRounds, Ticket } from './lock-rounds.js';
import type { RedlockSettings } from './redlock-options.js';
import type { ReleaseNotifier } from './release-notifier.js';
import pRetry from 'p-retry';

/** After a wake-up whose attempt still found the lock held (a slower node), retry this soon. */
const RETRY_AFTER_WAKE_MS = 5;

/** One acquire call, as the loop needs it. */
export interface AcquireCall {
  readonly resources: readonly string[];
  readonly keys: ResourceKeys;
  readonly ttl: number;
  readonly settings: RedlockSettings;
  readonly ticket: Ticket;
  readonly signal: AbortSignal | undefined;
}

/** What the loop needs from its Redlock. */
export interface LoopHost {
  readonly clock: Clock;
  readonly rounds: LockRounds;
  /** The Redlock's wake-up notifier, made (and subscribed) on first use. */
  releases(settings: RedlockSettings): ReleaseNotifier;
}

/**
 * The acquire loop after a first attempt failed with `first`: waits (the retry delay, or until a
 * release wakes the ticket) and tries again — an ordinary attempt, or the grant a quorum of nodes
 * handed over on release — until granted, out of retries, or aborted. Wake-ups do not use up a
 * retry. Resolves with the grant; when it gives up, the ticket leaves the nodes' queues and the
 * last failure is thrown. A grant that an abort made unwanted is given back, never resolved.
 */
export async function retryAcquire(host: LoopHost, call: AcquireCall, first: unknown): Promise<Granted> {
  const { resources, keys, ttl, settings, ticket, signal } = call;
  const { clock, rounds } = host;
  let woken = false;
  let wokenBefore = false;
  let replayed = false;
  try {
    return await pRetry(
      () => {
        if (!replayed) {
          replayed = true;
          throw first; // the first attempt's failure, replayed so that p-retry handles its wait
        }
        const handedOver = ticket.watch?.grants();
        const attempt =
          handedOver !== undefined
            ? rounds.handedOver(resources, keys, ttl, settings, ticket, handedOver)
            : rounds.attempt(resources, keys, ttl, settings, ticket);
        return attempt.then((granted) => {
          // Aborted while this attempt succeeded: p-retry has rejected already, and nobody will
          // see this lock. Give it back without making a Lock (no timer, no lockLost).
          if (signal?.aborted === true) {
            void rounds.release(granted.grant);
            throw signal.reason;
          }
          return granted;
        });
      },
      {
        retries: settings.retryCount,
        minTimeout: 0,
        factor: 1,
        maxRetryTime: (settings.retryCount + 1) * (settings.retryDelay + settings.retryJitter + settings.nodeTimeout),
        ...(signal === undefined ? {} : { signal }),
        onFailedAttempt: async ({ error, retriesLeft }) => {
          wokenBefore = woken;
          woken = false;
          if (!(error instanceof QuorumError || error instanceof LockExpiredError)) throw error;
          ticket.watch?.attempted(ticket.replies);
          if (retriesLeft === 0) return;
          // Woken, but the lock was still held on some node (it is changing hands): look again
          // soon; otherwise sleep the retry delay (or until woken).
          const jittered = settings.retryDelay + Math.round((randomOf(clock) * 2 - 1) * settings.retryJitter);
          const delay = Math.max(0, wokenBefore ? Math.min(RETRY_AFTER_WAKE_MS, jittered) : jittered);
          if (settings.waitForRelease && error instanceof LockHeldError) {
            let watch = ticket.watch;
            if (watch === undefined) {
              watch = ticket.watch = host.releases(settings).watch(ticket.id);
              watch.attempted(ticket.replies);
              await watch.ready;
              if (watch.fresh) {
                // Just subscribed: a wake-up sent before that was missed, so look again now.
                woken = true;
                return;
              }
            }
            woken = await watch.wait(delay, signal);
          } else {
            await sleep(clock, delay, signal);
          }
        },
        shouldConsumeRetry: () => !woken,
      },
    );
  } catch (error) {
    rounds.leaveQueue(keys, settings, ticket);
    throw error;
  } finally {
    ticket.watch?.[Symbol.dispose]();
  }
}
