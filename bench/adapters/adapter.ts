import { Redis } from 'ioredis';

/**
 * The one interface every implementation is benchmarked through (BENCH.md). An Implementation
 * makes LockClients; each LockClient owns its own connections (one per node, plus whatever the
 * library opens itself), so "8 clients" in S3 means 8 independent sets of connections.
 */

export type ImplId = 'raw' | 'redfence' | 'redfence-base' | 'redfence-keepalive' | 'redfence-quorum' | 'node-redlock' | 'sesamecare' | 'redis-semaphore' | 'bullmq';

/** `defaults`: the library as installed. `tuned`: retry every 10 ± 5 ms (BENCH.md S3). */
export type Tuning = 'defaults' | 'tuned';

/** A granted lock. */
export interface Held {
  /** Attempts the grant took, when the library tells (undefined otherwise). */
  readonly attempts: number | undefined;
  release(): Promise<void>;
}

export interface LockClient {
  /** Resolves when every connection of this client answers PING. */
  ready(): Promise<void>;
  /**
   * Acquires `key` for `ttl` ms with the library's own retry policy for the tuning. Rejects when
   * the library gives up (its error is passed through) or when `signal` aborts (where the library
   * supports cancelling; the others finish their retry window).
   */
  acquire(key: string, ttl: number, signal?: AbortSignal): Promise<Held>;
  /** Closes every connection this client opened. */
  close(): Promise<void>;
}

export interface Implementation {
  readonly id: ImplId;
  /** Name in tables, e.g. `node-redlock v5`. */
  readonly label: string;
  /** The retry settings the tuning resolves to, for the report. */
  settings(tuning: Tuning): string;
  create(urls: readonly string[], tuning: Tuning): LockClient;
}

/** The retry policy BENCH.md calls "tuned" for libraries that take delay ± jitter and a count. */
export const TUNED_RETRY = Object.freeze({
  retryDelay: 10,
  retryJitter: 5,
  /** Keeps the give-up window near the defaults' (10 × 200 ms ≈ 2 s): 200 × 10 ms. */
  retryCount: 200,
});

let requestsSent = 0;
/** Commands the bench clients of this process sent to Redis so far (commands a script runs inside Redis are not sent). */
export const requestCount = (): number => requestsSent;

/** Counts every command `client` sends from now on (S3's requests per acquisition). */
export function countRequests(client: Redis): Redis {
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    requestsSent += 1;
    return send(...args);
  });
  return client;
}

/** One ioredis connection as a user would open it (library defaults), errors kept off stderr; its commands are counted. */
export function connect(url: string): Redis {
  const client = new Redis(url);
  client.on('error', () => undefined);
  return countRequests(client);
}

export async function pingAll(clients: readonly Redis[]): Promise<void> {
  await Promise.all(clients.map((c) => c.ping()));
}

export async function quitAll(clients: readonly Redis[]): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      try {
        if (c.status === 'ready') await c.quit();
        else c.disconnect();
      } catch {
        c.disconnect();
      }
    }),
  );
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** One uncontended acquire+release (S0, S1, S2). */
export async function pair(client: LockClient, key: string, ttl: number): Promise<void> {
  const held = await client.acquire(key, ttl);
  await held.release();
}
