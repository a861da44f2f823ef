import { RawFloor } from '../raw-floor.js';
import { countRequests, type Implementation, sleep, TUNED_RETRY } from './adapter.js';

/**
 * The raw floor as a lock client. It has no defaults of its own: in every tuning it retries every
 * 10 ± 5 ms, up to 200 times (≈ 2 s), and cleans up after each failed attempt.
 */
export const rawFloor: Implementation = {
  id: 'raw',
  label: 'raw floor',
  settings: () => `SET NX PX on all N, quorum; retry ${TUNED_RETRY.retryDelay} ± ${TUNED_RETRY.retryJitter} ms × ${TUNED_RETRY.retryCount}`,
  create(urls) {
    const floor = new RawFloor(urls);
    for (const client of floor.clients) countRequests(client);
    return {
      ready: () => floor.ping(),
      async acquire(key, ttl, signal) {
        for (let attempt = 1; ; attempt += 1) {
          signal?.throwIfAborted();
          const owner = await floor.acquire(key, ttl);
          if (owner !== null) return { attempts: attempt, release: () => floor.release(key, owner) };
          if (attempt > TUNED_RETRY.retryCount) throw Object.assign(new Error(`raw floor: ${key} not granted`), { name: 'NotGranted' });
          const jitter = Math.round((Math.random() * 2 - 1) * TUNED_RETRY.retryJitter);
          await sleep(TUNED_RETRY.retryDelay + jitter, signal);
        }
      },
      close: () => floor.quit(),
    };
  },
};
