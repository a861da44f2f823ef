import type { Clock } from '../clock.js';
import { LockExpiredError, LockLostError, type LockLostReason } from '../errors.js';

/** What a {@link Lock} needs from the {@link Redlock} that granted it. */
export interface LockHost {
  readonly clock: Clock;
  /** Extends on a quorum; resolves with the new monotonic validity end, or throws. */
  extendLock(lock: Lock, ttl: number): Promise<number>;
  /** Deletes the lock on every node (best effort; node errors are reported as events). */
  releaseLock(lock: Lock): Promise<void>;
  /** Reports a lock that stopped being trustworthy. */
  lockLost(lock: Lock, error: LockLostError): void;
}

/**
 * A granted lock on one or more resources. Pass {@link Lock.fencingToken} to every store you
 * write to; watch {@link Lock.signal}, which aborts with a {@link LockLostError} as soon as the lock
 * can no longer be trusted.
 *
 * Not guaranteed: that no one else holds the lock once `signal` aborted or `remainingMs()` is 0,
 * nor, under process pauses or clock jumps, even before. The fencing token is what keeps a store
 * safe (docs/guarantees.md).
 */
export class Lock implements AsyncDisposable, Disposable {
  /** The locked resources, in the order given. */
  readonly resources: readonly string[];
  /** Unique, and greater than every token of a grant of these resources that completed before this one began. */
  readonly fencingToken: bigint;
  /** The TTL the lock was acquired with; the default for {@link Lock.extend}. */
  readonly ttl: number;

  readonly #host: LockHost;
  // The AbortController and the expiry timer are made only when someone watches (the signal is
  // read, or the Redlock has lockLost listeners): most locks are released long before expiry.
  #controller: AbortController | undefined;
  #validUntil: number;
  #expiryTimer: unknown;
  #ended: LockLostError | LockLostReason | undefined;
  #releasing: Promise<void> | undefined;

  /** @internal Locks are made by `Redlock`. */
  constructor(host: LockHost, resources: readonly string[], token: bigint, ttl: number, validUntil: number, watched = false) {
    this.#host = host;
    this.resources = resources;
    this.fencingToken = token;
    this.ttl = ttl;
    this.#validUntil = validUntil;
    if (watched) this.#armExpiry();
  }

  /** Aborts (reason: {@link LockLostError}) when the lock is lost, expires, or is released. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#ended !== undefined) this.#controller.abort(this.#reason());
      else if (this.#validUntil <= this.#host.clock.now()) this.#lose(this.#expired());
      else this.#armExpiry();
    }
    return this.#controller.signal;
  }

  /** Milliseconds of validity left on the monotonic clock (0 once expired, lost or released). */
  remainingMs(): number {
    if (this.#ended !== undefined) return 0;
    return Math.max(0, this.#validUntil - this.#host.clock.now());
  }

  /**
   * Extends the lock to `ttl` from now on a quorum. The same Lock object stays valid and keeps its
   * fencing token.
   * @throws {LockExpiredError} the validity already ran out (or the lock was released).
   * @throws {LockLostError} a quorum no longer confirms this owner; `signal` aborts too.
   * @throws {InvalidOptionsError} a bad `ttl`.
   */
  async extend(ttl: number = this.ttl): Promise<this> {
    if (this.remainingMs() <= 0) {
      throw new LockExpiredError(
        this.resources,
        `Cannot extend the lock on ${this.resources.map((r) => `\`${r}\``).join(', ')}: it ` +
          `${this.#releasing ? 'was released' : 'expired'}; acquire it again.`,
      );
    }
    let validUntil: number;
    try {
      validUntil = await this.#host.extendLock(this, ttl);
    } catch (error) {
      if (!(error instanceof LockLostError)) throw error;
      this.#lose(error);
      throw error;
    }
    if (this.#ended !== undefined) return this;
    this.#validUntil = validUntil;
    if (this.#expiryTimer !== undefined) this.#armExpiry();
    return this;
  }

  /**
   * Releases the lock on every node. Idempotent; never throws for node failures (locks left on
   * unreachable nodes expire with their TTL, and each failure is reported as a `nodeError` event).
   */
  release(): Promise<void> {
    if (this.#releasing === undefined) {
      this.#end('released');
      this.#releasing = this.#host.releaseLock(this);
    }
    return this.#releasing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  /** Starts the release without waiting for it (`using`, not `await using`). */
  [Symbol.dispose](): void {
    void this.release();
  }

  /** @internal Marks the lock lost (extension failed, another owner seen): aborts the signal. */
  lose(error: LockLostError): void {
    this.#lose(error);
  }

  #lose(error: LockLostError): void {
    if (this.#ended !== undefined) return;
    this.#end(error);
    this.#host.lockLost(this, error);
  }

  #end(reason: LockLostError | LockLostReason): void {
    if (this.#ended !== undefined) return;
    this.#ended = reason;
    if (this.#expiryTimer !== undefined) this.#host.clock.clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#controller?.abort(this.#reason());
  }

  #reason(): LockLostError {
    const ended = this.#ended;
    if (ended instanceof LockLostError) return ended;
    const error =
      ended === 'released'
        ? new LockLostError(this.resources, 'released', 'released by its holder')
        : this.#expired();
    this.#ended = error;
    return error;
  }

  #armExpiry(): void {
    const clock = this.#host.clock;
    if (this.#expiryTimer !== undefined) clock.clearTimeout(this.#expiryTimer);
    this.#expiryTimer = clock.setTimeout(() => this.#lose(this.#expired()), Math.max(0, this.#validUntil - clock.now()));
  }

  #expired(): LockLostError {
    return new LockLostError(this.resources, 'expired', 'its validity ran out before it was extended');
  }
}
