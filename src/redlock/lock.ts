import type { Clock } from '../clock.js';
import { LockExpiredError, LockLostError, type LockLostReason } from '../errors.js';
import { type RenewalPolicy, Renewer } from './renewer.js';

/** Monotonic instants (ms) a grant or extension is good until. */
export interface Validity {
  /** The nodes' lease, as far as this client can trust it. */
  readonly until: number;
  /** The TTL's end. Later than `until` only while a keep-alive renews the lease. */
  readonly deadline: number;
}

/** @internal What a {@link Lock} needs from the {@link Redlock} that granted it. */
export interface LockHost {
  readonly clock: Clock;
  /** Extends on a quorum to `ttl` from now; resolves with the new validity, or throws. */
  extendLock(lock: Lock, ttl: number): Promise<Validity>;
  /** Keep-alive: renews the lease for `leaseMs`; resolves with the new validity end, or throws. */
  renewLock(lock: Lock, leaseMs: number): Promise<number>;
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
  #deadline: number;
  #expiryTimer: unknown;
  /** Keep-alive: renews the lease every third of `keepAliveMs` until the TTL ends. */
  readonly #keepAlive: Renewer | undefined;
  #ended: LockLostError | LockLostReason | undefined;
  #releasing: Promise<void> | undefined;

  /** @internal Locks are made by `Redlock`. */
  constructor(
    host: LockHost,
    resources: readonly string[],
    token: bigint,
    ttl: number,
    validity: Validity,
    options: { readonly watched?: boolean; readonly keepAliveMs?: number } = {},
  ) {
    this.#host = host;
    this.resources = resources;
    this.fencingToken = token;
    this.ttl = ttl;
    this.#validUntil = validity.until;
    this.#deadline = validity.deadline;
    if (options.watched === true) this.#armExpiry();
    const keepAliveMs = options.keepAliveMs ?? 0;
    this.#keepAlive = keepAliveMs === 0 ? undefined : new Renewer(host.clock, this.#keepAlivePolicy(keepAliveMs)).start();
  }

  /** Aborts (reason: {@link LockLostError}) when the lock is lost, expires, or is released. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#ended !== undefined) this.#controller.abort(this.#reason());
      else if (this.#validEnd() <= this.#host.clock.now()) this.#lose(this.#expired());
      else this.#armExpiry();
    }
    return this.#controller.signal;
  }

  /** Milliseconds of validity left on the monotonic clock (0 once expired, lost or released). */
  remainingMs(): number {
    if (this.#ended !== undefined) return 0;
    return Math.max(0, this.#validEnd() - this.#host.clock.now());
  }

  /**
   * Milliseconds until the TTL ends on the monotonic clock, drift allowance deducted (0 once
   * expired, lost or released): what `using()` and an election's renewal extend. Without a
   * keep-alive it equals {@link Lock.remainingMs}; with one it is longer, since `remainingMs()`
   * counts only the lease renewed so far.
   */
  ttlRemainingMs(): number {
    if (this.#ended !== undefined) return 0;
    return Math.max(0, this.#deadline - this.#host.clock.now());
  }

  /**
   * Extends the lock to `ttl` from now on a quorum. The same Lock object stays valid and keeps its
   * fencing token.
   * @throws {LockExpiredError} the validity already ran out (or the lock was released).
   * @throws {LockLostError} a quorum no longer confirms this owner; `signal` aborts too.
   * @throws {InvalidOptionsError} a bad `ttl`.
   */
  async extend(ttl: number = this.ttl): Promise<this> {
    this.#assertExtendable();
    let validity: Validity;
    try {
      validity = await this.#host.extendLock(this, ttl);
    } catch (error) {
      if (!(error instanceof LockLostError)) throw error;
      this.#lose(error);
      throw error;
    }
    // Lost or released while the extension was on its way: it does not bring the lock back.
    if (this.#ended !== undefined) {
      const reason = this.#reason();
      if (reason.reason !== 'released') throw reason;
      this.#assertExtendable();
    }
    this.#validUntil = validity.until;
    this.#deadline = validity.deadline;
    if (this.#expiryTimer !== undefined) this.#armExpiry();
    this.#keepAlive?.reschedule();
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

  /**
   * A lost lock throws its {@link LockLostError}; a released or expired one a
   * {@link LockExpiredError}.
   */
  #assertExtendable(): void {
    const ended = this.#ended;
    if (ended instanceof LockLostError && ended.reason === 'extendFailed') throw ended;
    if (this.#ended !== undefined || this.remainingMs() <= 0) {
      throw new LockExpiredError(
        this.resources,
        `Cannot extend the lock on ${this.resources.map((r) => `\`${r}\``).join(', ')}: it ` +
          `${this.#releasing ? 'was released' : 'expired'}; acquire it again.`,
      );
    }
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
    const clock = this.#host.clock;
    if (this.#expiryTimer !== undefined) clock.clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#keepAlive?.stop();
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
    this.#expiryTimer = clock.setTimeout(() => this.#lose(this.#expired()), Math.max(0, this.#validEnd() - clock.now()));
  }

  /** When validity ends: the lease, or the TTL if that comes first. */
  #validEnd(): number {
    return Math.min(this.#validUntil, this.#deadline);
  }

  /**
   * Keep-alive: while the TTL reaches past the lease, renew the lease every third of it (to at most
   * what is left of the TTL). A renewal that fails loses the lock, as a failed extend does.
   */
  #keepAlivePolicy(keepAliveMs: number): RenewalPolicy {
    const clock = this.#host.clock;
    return {
      next: () => (this.#ended !== undefined || this.#deadline <= this.#validUntil ? undefined : keepAliveMs / 3),
      renew: async () => {
        const leaseMs = Math.max(1, Math.min(keepAliveMs, Math.ceil(this.#deadline - clock.now())));
        const until = await this.#host.renewLock(this, leaseMs);
        if (this.#ended !== undefined) return;
        this.#validUntil = Math.max(this.#validUntil, until);
        if (this.#expiryTimer !== undefined) this.#armExpiry();
      },
      failed: (error) => this.#lose(lostBy(this.resources, error)),
    };
  }

  #expired(): LockLostError {
    return new LockLostError(this.resources, 'expired', 'its validity ran out before it was extended');
  }
}

/** A renewal's failure as the reason a lock is lost. */
export function lostBy(resources: readonly string[], error: unknown): LockLostError {
  return error instanceof LockLostError ? error : new LockLostError(resources, 'extendFailed', String(error), { cause: error });
}
