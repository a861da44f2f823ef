import type { Redis } from 'ioredis';
import { connect, type Implementation, type ImplId, pingAll, quitAll, TUNED_RETRY } from './adapter.js';

/** What node-redlock v5 and its fork @sesamecare-oss/redlock have in common. */
interface RedlockLike {
  acquire(keys: string[], ttl: number): Promise<{ attempts: readonly unknown[]; release(): Promise<unknown> }>;
}

/** One adapter for the node-redlock family: same API, same defaults, different constructor. */
export function redlockFamily(
  id: ImplId,
  label: string,
  make: (clients: Redis[], settings: typeof TUNED_RETRY | Record<string, never>) => RedlockLike,
): Implementation {
  return {
    id,
    label,
    settings: (tuning) =>
      tuning === 'tuned'
        ? `retryDelay ${TUNED_RETRY.retryDelay}, retryJitter ${TUNED_RETRY.retryJitter}, retryCount ${TUNED_RETRY.retryCount}`
        : 'defaults (retryDelay 200, retryJitter 100, retryCount 10)',
    create(urls, tuning) {
      const clients = urls.map(connect);
      const redlock = make(clients, tuning === 'tuned' ? TUNED_RETRY : {});
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
}
