import { Mutex, RedlockMutex } from 'redis-semaphore';
import { connect, type Implementation, pingAll, quitAll } from './adapter.js';

/**
 * `redis-semaphore`: RedlockMutex over N nodes, Mutex for one node. One lock object per acquire
 * (that is its API). Its defaults already poll every 10 ms (no jitter option) for up to 10 s, so
 * "tuned" is the same configuration.
 */
export const redisSemaphore: Implementation = {
  id: 'redis-semaphore',
  label: 'redis-semaphore',
  settings: () => 'defaults (retryInterval 10, acquireTimeout 10000; tuned = defaults)',
  create(urls) {
    const clients = urls.map(connect);
    const single = clients.length === 1 ? clients[0] : undefined;
    return {
      ready: () => pingAll(clients),
      async acquire(key, ttl, signal) {
        // onLockLost: the default throws from a timer (would crash the bench); timing is unaffected.
        const options = { lockTimeout: ttl, onLockLost: () => undefined };
        const mutex = single === undefined ? new RedlockMutex(clients, key, options) : new Mutex(single, key, options);
        await mutex.acquire(signal);
        return { attempts: undefined, release: () => mutex.release() };
      },
      close: () => quitAll(clients),
    };
  },
};
