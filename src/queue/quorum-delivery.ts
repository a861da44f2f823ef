import type { Lock } from '../redlock/lock.js';
import type { AcquireOptions, Redlock } from '../redlock/redlock.js';
import type { Job } from './job.js';
import { QuorumJobLock } from './job-lock.js';
import type { QueueStore } from './queue-store.js';

/**
 * How a job's quorum lock renews itself: the Lock's own `refreshInterval` (extend to
 * lockDuration every lockRenewTime, unless `skipLockRenewal`), its keep-alive lease and the lock
 * thread — the Redlock's one renewer, not a loop of the queue's.
 */
export function quorumRenewal(store: QueueStore): AcquireOptions {
  const { lockRenewTime, keepAlive, lockDuration, skipLockRenewal, useDedicatedLockThread } = store.settings;
  return {
    refreshInterval: skipLockRenewal ? 0 : lockRenewTime,
    ...(keepAlive > 0 && keepAlive < lockDuration ? { keepAlive } : {}),
    ...(useDedicatedLockThread ? { useDedicatedLockThread } : {}),
  };
}

/**
 * `distributedLock`: turns a job the fetch script claimed into a delivery. Takes the quorum lock
 * `<queue>:job:<id>` for `lockDuration`, then records its fencing token on the job
 * (queue-activate.lua) if the claim is still this worker's. A claim whose lock cannot be taken is
 * put back to waiting. Resolves true when `job` now holds the delivery.
 */
export async function deliverByQuorum(
  store: QueueStore,
  redlock: Redlock,
  job: Job,
  claim: string,
  signal: AbortSignal,
  failed: (error: unknown) => void,
): Promise<boolean> {
  // The job's token when it was claimed: the claim is still this worker's while it is unchanged.
  const claimedToken = job.fencingToken === 0n ? '' : job.fencingToken.toString();
  let lock: Lock;
  try {
    lock = await redlock.acquire(store.lockResource(job.id), store.settings.lockDuration, quorumRenewal(store));
  } catch (error) {
    failed(error);
    await store.requeue(job.id, claim, claimedToken).catch(failed);
    return false;
  }
  try {
    // The holder note, on the lock's own leases: what the stalled sweep reads (redlock.holder) to
    // leave a job whose quorum lock is still held alone, even when its queue lock key ran out.
    await redlock.setHolder(lock, claim).catch(() => 0);
    const activated = await store.activate(job.id, claim, lock.fencingToken, claimedToken);
    if (activated === false) {
      await lock.release();
      return false;
    }
    job.attemptsStarted = activated.attemptsStarted;
    job.processedOn = activated.processedOn;
    job.deliver(new QuorumJobLock(store, job.id, lock), signal);
    return true;
  } catch (error) {
    await lock.release();
    failed(error);
    await store.requeue(job.id, claim, claimedToken).catch(failed);
    return false;
  }
}
