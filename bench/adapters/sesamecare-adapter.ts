import { Redlock } from '@sesamecare-oss/redlock';
import { connect, type Implementation, pingAll, quitAll, TUNED_RETRY } from './adapter.js';

/** `@sesamecare-oss/redlock`: node-redlock's maintained fork (ioredis defineCommand scripts). */
export const sesamecare: Implementation = {
  id: 'sesamecare',
  label: '@sesamecare-oss/redlock',
  settings: (tuning) =>
    tuning === 'tuned'
      ? `retryDelay ${TUNED_RETRY.retryDelay}, retryJitter ${TUNED_RETRY.retryJitter}, retryCount ${TUNED_RETRY.retryCount}`
      : 'defaults (retryDelay 200, retryJitter 100, retryCount 10)',
  create(urls, tuning) {
    const clients = urls.map(connect);
    const redlock = new Redlock(clients, tuning === 'tuned' ? TUNED_RETRY : {});
    return {
      ready: () => pingAll(clients),
      async acquire(key, ttl) {
        const lock = await redlock.acquire([key], ttl);
        return {
          attempts: lock.attempts.length,
          release: async () => {
            await lock.release();
          },
        };
      },
      close: () => quitAll(clients),
    };
  },
};
