import type { Lock } from '../redlock/lock.js';
import type { QueueStore } from './queue-store.js';

/**
 * The lock of one delivery of a job, as a renewer sees it (renewed every
 * `lockRenewTime`). The fencing token is fixed for the delivery; extending never changes it.
 */
export interface JobLock {
  /** The delivery's token as the queue's scripts know it (decimal). */
  readonly token: string;
  readonly fencingToken: bigint;
  /** Extends the lock to `ms` from now; false when it is no longer this delivery's. Never throws for a lost lock. */
  extend(ms: number): Promise<boolean>;
  /** Releases the lock; the token stays the job's current one (a late result is still accepted). */
  release(): Promise<void>;
}

/** `distributedLock: false`: the lock key on the queue's Redis, holding the token. */
export class StoreJobLock implements JobLock {
  readonly token: string;
  readonly fencingToken: bigint;
  readonly #store: QueueStore;
  readonly #id: string;

  constructor(store: QueueStore, id: string, token: string) {
    this.#store = store;
    this.#id = id;
    this.token = token;
    this.fencingToken = BigInt(token);
  }

  extend(ms: number): Promise<boolean> {
    return this.#store.lock('extend', this.#id, this.token, ms);
  }

  async release(): Promise<void> {
    await this.#store.lock('release', this.#id, this.token, 0);
  }
}

/**
 * `distributedLock: true`: the quorum lock `<queue>:job:<id>` on the Redlock, whose token is the
 * delivery's; the queue's lock key follows it (what the stalled sweep looks at).
 */
export class QuorumJobLock implements JobLock {
  readonly token: string;
  readonly fencingToken: bigint;
  readonly lock: Lock;
  readonly #store: QueueStore;
  readonly #id: string;

  constructor(store: QueueStore, id: string, lock: Lock) {
    this.#store = store;
    this.#id = id;
    this.lock = lock;
    this.fencingToken = lock.fencingToken;
    this.token = lock.fencingToken.toString();
  }

  async extend(ms: number): Promise<boolean> {
    try {
      await this.lock.extend(ms);
    } catch {
      return false;
    }
    return this.#store.lock('extend', this.#id, this.token, ms);
  }

  async release(): Promise<void> {
    await Promise.all([this.lock.release(), this.#store.lock('release', this.#id, this.token, 0)]);
  }
}
