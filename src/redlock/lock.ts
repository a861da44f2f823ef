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

/**
 * Where a lock keeps its validity: in the Lock ({@link localCell}), or in memory shared with the
 * lock thread, which renews the lock and is then the only one to write it (lock-thread.ts).
 */
export interface ValidityCell {
  /** The lease's end (monotonic ms on the Lock's clock). */
  until: number;
  /** The TTL's end. */
  deadline: number;
  /** Set by the writer when it lost the lock (the lock thread); the Lock then ends too. */
  readonly lost?: LockLostError | undefined;
}

/** A validity kept in the Lock itself. */
export function localCell(validity: Validity): ValidityCell {
  return { until: validity.until, deadline: validity.deadline };
}

/** How a Lock renews itself (options of the Redlock or of the acquire call). */
export interface LockOptions {
  /** Arm the expiry timer at once (the Redlock has lockLost listeners). */
  readonly watched?: boolean;
  /** Keep-alive lease, ms (0: off). */
  readonly keepAliveMs?: number;
  /** Extend to the TTL every this many ms (0: off). */
  readonly refreshMs?: number;
  /** Taken off the TTL's validity end. */
  readonly marginMs?: number;
  /** Where the validity lives. @defaultValue a cell of this Lock's own */
  readonly cell?: ValidityCell;
  /** Another writer (the lock thread) renews this lock and writes its cell: this Lock runs no renewal. */
  readonly remote?: boolean;
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
  /** The lock was abandoned (ended here, not released): whoever renews it must stop. */
  lockAbandoned(lock: Lock): void;
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
  readonly #cell: ValidityCell;
  /** Taken off the TTL's validity end (`safetyMargin`). */
  readonly #marginMs: number;
  #expiryTimer: unknown;
  /** Keep-alive: renews the lease every third of `keepAliveMs` until the TTL ends. */
  readonly #keepAlive: Renewer | undefined;
  /** `refreshInterval`: extends to the TTL every `refreshMs`. */
  readonly #refresh: Renewer | undefined;
  #ended: LockLostError | LockLostReason | undefined;
  #releasing: Promise<void> | undefined;

  /** @internal Locks are made by `Redlock`. */
  constructor(host: LockHost, resources: readonly string[], token: bigint, ttl: number, validity: Validity, options: LockOptions = {}) {
    this.#host = host;
    this.resources = resources;
    this.fencingToken = token;
    this.ttl = ttl;
    this.#marginMs = options.marginMs ?? 0;
    this.#cell = options.cell ?? localCell(validity);
    if (options.watched === true) this.#armExpiry();
    // A lock renewed elsewhere (the lock thread) runs no renewal here.
    const renews = options.remote !== true;
    const keepAliveMs = options.keepAliveMs ?? 0;
    this.#keepAlive = keepAliveMs === 0 || !renews ? undefined : new Renewer(host.clock, this.#keepAlivePolicy(keepAliveMs)).start();
    const refreshMs = options.refreshMs ?? 0;
    this.#refresh = refreshMs === 0 || !renews ? undefined : new Renewer(host.clock, this.#refreshPolicy(refreshMs)).start();
  }

  /** Aborts (reason: {@link LockLostError}) when the lock is lost, expires, or is released. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#ended !== undefined) this.#controller.abort(this.#reason());
      else if (this.#validEnd() <= this.#host.clock.now()) this.#lose(this.#cell.lost ?? this.#expired());
      else this.#armExpiry();
    }
    return this.#controller.signal;
  }

  /**
   * Milliseconds of validity left on the monotonic clock, `safetyMargin` deducted (0 once expired,
   * lost or released). Once it read 0, the lock stays ended: nothing revives it.
   */
  remainingMs(): number {
    if (this.#ended !== undefined) return 0;
    const left = this.#validEnd() - this.#host.clock.now();
    if (left > 0) return left;
    this.#lose(this.#cell.lost ?? this.#expired());
    return 0;
  }

  /**
   * Milliseconds until the TTL ends on the monotonic clock, drift allowance deducted (0 once
   * expired, lost or released): what `using()` and an election's renewal extend. Without a
   * keep-alive it equals {@link Lock.remainingMs}; with one it is longer, since `remainingMs()`
   * counts only the lease renewed so far.
   */
  ttlRemainingMs(): number {
    if (this.#ended !== undefined) return 0;
    return Math.max(0, this.#cell.deadline - this.#host.clock.now());
  }

  /**
   * Extends the lock to `ttl` from now on a quorum. The same Lock object stays valid and keeps its
   * fencing token. An extension whose reply comes after the validity ran out does not bring the
   * lock back: the lock is lost (expired) and this throws.
   * @throws {LockExpiredError} the validity already ran out (or the lock was released).
   * @throws {LockLostError} a quorum no longer confirms this owner, or the validity ran out while
   *   the extension was on its way; `signal` aborts too.
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
    // Nor does an extension that comes back after the validity ran out (read before it applies).
    if (this.remainingMs() === 0) throw this.#reason();
    this.#cell.until = validity.until;
    this.#cell.deadline = validity.deadline;
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

  /**
   * Ends the lock here without releasing it on the nodes: renewals stop, `signal` aborts, and the
   * lease runs out by itself (after at most its keep-alive lease or TTL). For a holder that must
   * not hand over early — client-go without `ReleaseOnCancel`. Idempotent.
   */
  abandon(): void {
    if (this.#ended !== undefined) return;
    this.#end(new LockLostError(this.resources, 'released', 'abandoned by its holder: the lease runs out'));
    this.#host.lockAbandoned(this);
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
    this.#refresh?.stop();
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
    this.#expiryTimer = clock.setTimeout(() => {
      this.#expiryTimer = undefined;
      // Another writer (the lock thread) may have renewed meanwhile: look again.
      if (this.remainingMs() > 0) this.#armExpiry();
    }, Math.max(0, this.#validEnd() - clock.now()));
  }

  /** When validity ends: the lease, or the TTL less the safety margin if that comes first. */
  #validEnd(): number {
    const cell = this.#cell;
    if (cell.lost !== undefined) return Number.NEGATIVE_INFINITY;
    return Math.min(cell.until, cell.deadline - this.#marginMs);
  }

  /**
   * Keep-alive: while the TTL reaches past the lease, renew the lease every third of it (to at most
   * what is left of the TTL). A renewal that fails loses the lock, as a failed extend does.
   */
  #keepAlivePolicy(keepAliveMs: number): RenewalPolicy {
    const clock = this.#host.clock;
    const cell = this.#cell;
    return {
      next: () => (this.#ended !== undefined || cell.deadline <= cell.until ? undefined : keepAliveMs / 3),
      renew: async () => {
        const leaseMs = Math.max(1, Math.min(keepAliveMs, Math.ceil(cell.deadline - clock.now())));
        const until = await this.#host.renewLock(this, leaseMs);
        // A renewal that comes back after the validity ran out does not bring the lock back.
        if (this.remainingMs() === 0) return;
        cell.until = Math.max(cell.until, until);
        if (this.#expiryTimer !== undefined) this.#armExpiry();
      },
      failed: (error) => this.#lose(lostBy(this.resources, error)),
    };
  }

  /**
   * `refreshInterval`: extend to the TTL every `refreshMs` (after each extension ends) until the
   * lock ends — or sooner, halfway to the end of its validity, when less is left (a lock handed
   * over after a long wait starts with less validity than its TTL).
   */
  #refreshPolicy(refreshMs: number): RenewalPolicy {
    return {
      next: () => (this.#ended !== undefined ? undefined : Math.min(refreshMs, Math.max(1, (this.#validEnd() - this.#host.clock.now()) / 2))),
      renew: async () => {
        if (this.#ended !== undefined) return;
        await this.extend(this.ttl);
      },
      failed: (error) => this.#lose(lostBy(this.resources, error)),
    };
  }

  #expired(): LockLostError {
    return new LockLostError(this.resources, 'expired', 'its validity ran out before it was extended');
  }
}

/** A renewal's failure as the reason a lock is lost. */
function lostBy(resources: readonly string[], error: unknown): LockLostError {
  return error instanceof LockLostError ? error : new LockLostError(resources, 'extendFailed', String(error), { cause: error });
}
