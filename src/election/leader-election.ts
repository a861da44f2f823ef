import { EventEmitter } from 'eventemitter3';
import { type Clock, sleep, wallClockMs } from '../clock.js';
import { abortSignal, describeValue, nonEmptyString } from '../core/options.js';
import { InvalidOptionsError, LockExpiredError, LockLostError, QuorumError } from '../errors.js';
import type { Lock } from '../redlock/lock.js';
import { type AcquireOptions, Redlock } from '../redlock/redlock.js';
import { checkTtl, driftMs, resolveRedlockSettings } from '../redlock/redlock-options.js';
import { type ElectionSettings, type LeaderElectionOptions, resolveElectionSettings } from './election-options.js';

/** Who leads, as anyone can read it: the leader's id and its term (the grant's fencing token). */
export interface LeaderInfo {
  readonly id: string;
  readonly term: bigint;
}

/**
 * One term of leadership. `signal` aborts (before `'follower'` is emitted) when the term ends:
 * resigned, stopped, not renewed within `renewDeadline`, or the lock was lost.
 */
export interface Leadership extends LeaderInfo, AsyncDisposable {
  readonly signal: AbortSignal;
  /** When the term began, ms since the epoch (wall clock; for display). */
  readonly since: number;
  /** Ends the term and frees the seat on the nodes (a waiting follower takes it at once). Idempotent. */
  resign(): Promise<void>;
}

/**
 * Why this candidate is a follower: `not-elected` (started, and another leads: once per start,
 * bun-queue's startup event), or why its term ended: `resigned` (resign() or dispose), `stopped` (stop() or the election's signal),
 * `renewDeadline` (not renewed in time: stepped down before the lease could end), `lost` (the lock
 * was taken over, expired, or its keep-alive failed).
 */
export type FollowerReason = 'not-elected' | 'resigned' | 'stopped' | 'renewDeadline' | 'lost';

/** Events of a {@link LeaderElection}. `'error'` is never emitted. */
export interface LeaderElectionEvents {
  /** This candidate was elected. */
  leader: [leadership: Leadership];
  /**
   * This candidate's term ended (`isLeader` is false and the term's signal aborted already), or,
   * once after `start()`, another candidate leads (`not-elected`). Only a candidate that led or
   * was started emits it.
   */
  follower: [reason: FollowerReason, error?: Error];
  /** The leader changed, as this candidate sees it (while started; `null`: the seat is vacant). */
  leaderChanged: [info: LeaderInfo | null];
  /**
   * A campaign attempt failed for a reason other than "held" or a node outage (say the nodes refuse
   * the ttl): `start()` keeps campaigning, backing off up to 30 s, until the Redlock is closed.
   */
  campaignError: [error: Error];
}

const aborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true;

/** The longest wait between failed campaign attempts. */
const MAX_BACKOFF_MS = 30_000;

/** How many attempts one acquire call of a campaign makes before the next call starts (it never gives up). */
const CAMPAIGN_RETRIES = 1_000;

/** A term while it lasts. */
class Term implements Leadership {
  readonly id: string;
  readonly term: bigint;
  readonly since: number;
  readonly lock: Lock;
  readonly controller = new AbortController();
  /** Writes the holder note again every `renewInterval` (for leader() elsewhere). */
  noteTimer: unknown;
  ended: FollowerReason | undefined;
  released: Promise<void> | undefined;
  readonly #end: (reason: FollowerReason) => Promise<void>;
  #resolveOver!: (reason: FollowerReason) => void;
  /** Resolves when the term ended. */
  readonly over = new Promise<FollowerReason>((resolve) => (this.#resolveOver = resolve));

  constructor(id: string, lock: Lock, since: number, end: (reason: FollowerReason) => Promise<void>) {
    this.id = id;
    this.term = lock.fencingToken;
    this.lock = lock;
    this.since = since;
    this.#end = end;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  finish(reason: FollowerReason): void {
    this.ended = reason;
    this.#resolveOver(reason);
  }

  async resign(): Promise<void> {
    await this.#end('resigned');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.resign();
  }
}

/** @internal The lock that holds a leadership's seat (for `@LeaderOnly`'s `currentLock()`), if it is one of ours. */
export function seatLock(leadership: Leadership): Lock | undefined {
  return leadership instanceof Term ? leadership.lock : undefined;
}

/**
 * Leader election on a Redlock key, to client-go's standard: one leader per term, the term is the
 * grant's fencing token (strictly larger for every new leadership, also after restarts), and the
 * leader steps down at `renewDeadline` on the monotonic clock — before its lease can end and before
 * anyone else can be elected. Followers wake when the seat is released, not only by polling.
 *
 * Not guaranteed: that no two processes believe they lead at once (a paused leader learns late).
 * Fence every leader action with {@link LeaderElection.term} (docs/election.md).
 *
 * @example
 * const election = new LeaderElection(redlock, 'scheduler', { ttl: 15_000 })
 * election.on('leader', (leadership) => runScheduler(leadership.signal, leadership.term))
 * await election.start()
 */
export class LeaderElection extends EventEmitter<LeaderElectionEvents> implements AsyncDisposable {
  /** The election's name: every candidate of one election uses the same name and Redlock nodes. */
  readonly name: string;
  readonly #redlock: Redlock;
  readonly #clock: Clock;
  readonly #settings: ElectionSettings;
  readonly #resource: string;
  #term: Term | undefined;
  #campaigning = false;
  #run: { readonly controller: AbortController; readonly done: Promise<void> } | undefined;
  /** `'follower'` was emitted since this candidate last led or started. */
  #follower = false;
  /** Waiters for the next local change of leadership (observe()). */
  #changed = new Set<() => void>();
  /** Aborted by stop(): ends campaign() and runWhileLeader() calls under way too. */
  #stops = new AbortController();
  #stopping: Promise<void> | undefined;
  readonly #onSignal = (): void => void this.stop();

  /**
   * @param redlock the Redlock whose nodes hold the seat (every candidate uses the same nodes and prefix).
   * @param name the election's name; its seat is the Redlock resource `election:<name>`.
   * @throws {InvalidOptionsError} synchronously, for any bad option (client-go's rules).
   */
  constructor(redlock: Redlock, name: string, options: LeaderElectionOptions = {}) {
    super();
    if (!(redlock instanceof Redlock)) throw new InvalidOptionsError(`Expected \`redlock\` to be a Redlock, got ${describeValue(redlock)}`);
    this.name = nonEmptyString('name', name);
    this.#settings = resolveElectionSettings(options);
    const { ttl, renewDeadline, renewInterval } = this.#settings;
    const drift = driftMs(ttl, redlock.settings.driftFactor);
    if (!(renewDeadline - drift > renewInterval)) {
      throw new InvalidOptionsError(
        `Expected \`renewDeadline\` (${renewDeadline}) less the drift allowance of the ttl (${drift} ms) to be longer than \`renewInterval\` ` +
          `(${renewInterval}): the leader would step down between renewals`,
      );
    }
    // The campaign's acquire settings, checked now rather than at the first acquire.
    checkTtl(ttl, resolveRedlockSettings('LeaderElection', redlock.settings, this.#acquireSettings()));
    this.#redlock = redlock;
    this.#clock = redlock.clock;
    this.#resource = `election:${name}`;
  }

  /** This candidate's identity. */
  get id(): string {
    return this.#settings.id;
  }

  /**
   * Whether this candidate leads now. Read from the monotonic clock at every access: after a pause
   * (SIGSTOP, a blocked event loop) longer than the renew deadline it is false at once, before
   * any timer ran.
   */
  get isLeader(): boolean {
    const term = this.#term;
    return term !== undefined && this.#live(term);
  }

  /** The current term while this candidate leads (the fencing token to hand to stores), else `undefined`. */
  get term(): bigint | undefined {
    const term = this.#term;
    return term !== undefined && this.#live(term) ? term.term : undefined;
  }

  /**
   * The current leadership while this candidate leads (as `'leader'` handed it out: its `signal`
   * aborts when the term ends), else `undefined`. Read from the monotonic clock, as `isLeader`.
   */
  get leadership(): Leadership | undefined {
    const term = this.#term;
    return term !== undefined && this.#live(term) ? term : undefined;
  }

  /**
   * Campaigns in the background until {@link LeaderElection.stop}: after a term ends it campaigns
   * again. Emits `'leader'`, `'follower'` and `'leaderChanged'`. Resolves at once.
   */
  async start(): Promise<void> {
    this.#settings.signal?.throwIfAborted();
    if (this.#stopping !== undefined) await this.#stopping;
    if (this.#run !== undefined) return;
    if (this.#campaigning || this.#term !== undefined) {
      throw new InvalidOptionsError('This election is already campaigning with campaign(); start() would compete with it');
    }
    const controller = new AbortController();
    this.#follower = false;
    this.#settings.signal?.addEventListener('abort', this.#onSignal, { once: true });
    const run = {
      controller,
      done: Promise.all([this.#loop(controller.signal), this.#watch(controller.signal)]).then(() => {
        // The loop ends only when stopped, or when the Redlock was closed.
        if (this.#run === run) this.#run = undefined;
      }),
    };
    this.#run = run;
  }

  /**
   * Stops campaigning and ends the term, if any: with `releaseOnStop` (the default) the seat is
   * released, so a follower takes it within about one round trip. Resolves when all is done.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop().finally(() => (this.#stopping = undefined));
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const run = this.#run;
    this.#run = undefined;
    this.#settings.signal?.removeEventListener('abort', this.#onSignal);
    const stops = this.#stops;
    this.#stops = new AbortController();
    const stopped = new Error('the election was stopped');
    run?.controller.abort(stopped);
    stops.abort(stopped);
    const term = this.#term;
    if (term !== undefined) await this.#stepDown(term, 'stopped', undefined, this.#settings.releaseOnStop);
    await run?.done;
  }

  /** Stops, as {@link LeaderElection.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * Campaigns once: resolves with the leadership when elected. Resigning (or disposing) it ends
   * the term; nothing campaigns again. Rejects with the signal's reason when `signal` aborts first.
   */
  async campaign(options: { readonly signal?: AbortSignal } = {}): Promise<Leadership> {
    const own = abortSignal('signal', options?.signal);
    const signal = AbortSignal.any([own, this.#settings.signal, this.#stops.signal].filter((s): s is AbortSignal => s !== undefined));
    signal.throwIfAborted();
    if (this.#run !== undefined || this.#campaigning || this.#term !== undefined) {
      throw new InvalidOptionsError('This election is already campaigning or leading (start() or another campaign()); use one at a time');
    }
    this.#campaigning = true;
    try {
      return await this.#elect(signal);
    } finally {
      this.#campaigning = false;
    }
  }

  /**
   * Campaigns once, runs `routine` as leader (client-go's `OnStartedLeading(ctx)`), and resigns
   * when it settles. `leadership.signal` aborts if the term ends first: stop then.
   */
  async runWhileLeader<T>(routine: (leadership: Leadership) => Promise<T>, options: { readonly signal?: AbortSignal } = {}): Promise<T> {
    if (typeof routine !== 'function') throw new InvalidOptionsError('Expected `routine` to be a function');
    const leadership = await this.campaign(options);
    try {
      return await routine(leadership);
    } finally {
      await leadership.resign();
    }
  }

  /**
   * Who leads: `{ id, term }`, or `null` when the seat is vacant. Readable by anyone, also a
   * process that never campaigns; this candidate answers from its own state while it leads.
   * @throws {QuorumError} fewer than a majority of nodes answered.
   */
  async leader(): Promise<LeaderInfo | null> {
    const term = this.#term;
    if (term !== undefined && this.#live(term)) return { id: term.id, term: term.term };
    const holder = await this.#redlock.holder(this.#resource);
    return holder === null ? null : { id: holder.label, term: holder.fencingToken };
  }

  /**
   * The leader as it changes: yields `leader()` at once, then whenever it changed (read every
   * `renewInterval`, and at once when this candidate's own leadership changes). Reads that reach
   * no quorum are skipped. Ends when `signal` aborts.
   */
  async *observe(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<LeaderInfo | null, void, undefined> {
    const signal = abortSignal('signal', options?.signal);
    let last: string | undefined;
    let newest = -1n;
    while (signal?.aborted !== true) {
      let info: LeaderInfo | null | undefined;
      try {
        info = await this.leader();
      } catch (error) {
        if (!(error instanceof QuorumError)) throw error;
      }
      if (aborted(signal)) return;
      // Terms only grow: an older leader read late (a slow node) is not news.
      if (info != null && info.term < newest) info = undefined;
      const key = info === undefined ? last : info === null ? 'vacant' : String(info.term);
      if (info !== undefined && key !== last) {
        last = key;
        if (info !== null) newest = info.term;
        yield info;
      }
      if (!(await this.#nextChange(signal))) return;
    }
  }

  // ---- campaigning -----------------------------------------------------------------------------

  /** The background campaign of start(): elected, serve the term, campaign again. */
  async #loop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const term = await this.#elect(signal);
        failures = 0;
        await term.over;
      } catch (error) {
        if (signal.aborted) return;
        // Anything else than a node outage — the nodes refuse the ttl, a duplicate node — is
        // reported and tried again, backing off; only a closed Redlock ends the campaign.
        failures += 1;
        this.#emit('campaignError', error instanceof Error ? error : new Error(String(error)));
        if (this.#redlock.closed) return;
        const backoff = Math.min(MAX_BACKOFF_MS, this.#settings.renewInterval * 2 ** Math.min(failures - 1, 16));
        await sleep(this.#clock, backoff, signal).catch(() => undefined);
      }
    }
  }

  /** Emits `'leaderChanged'` while started. */
  async #watch(signal: AbortSignal): Promise<void> {
    try {
      for await (const info of this.observe({ signal })) {
        this.#emit('leaderChanged', info);
        if (info !== null && info.id !== this.id && !this.isLeader && !this.#follower && !signal.aborted) {
          this.#follower = true;
          this.#emit('follower', 'not-elected');
        }
      }
    } catch {
      // observe() only throws what leader() cannot recover from (the Redlock was closed).
    }
  }

  /**
   * Acquires the seat, waiting as long as it takes: woken when the seat is released, else trying
   * every `renewInterval`. Node outages are waited out.
   */
  async #elect(signal: AbortSignal): Promise<Term> {
    const { ttl, renewInterval } = this.#settings;
    for (;;) {
      signal.throwIfAborted();
      try {
        const lock = await this.#redlock.acquire(this.#resource, ttl, { ...this.#acquireSettings(), signal });
        if (signal.aborted) {
          // Granted as the campaign was called off (stop() ran meanwhile): give the seat back.
          await lock.release();
          throw signal.reason;
        }
        if (lock.remainingMs() === 0) {
          // Granted, but its validity (the term's deadline) ran out before this ran (a pause, a
          // blocked event loop): no term to begin. Give it back and campaign on.
          await lock.release();
          continue;
        }
        return this.#begin(lock);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (!(error instanceof QuorumError || error instanceof LockExpiredError)) throw error;
        await sleep(this.#clock, renewInterval, signal);
      }
    }
  }

  /**
   * How the seat is held: renewed to `ttl` every `renewInterval` by the lock itself (the one
   * renewer, or the lock thread), and valid only until `renewDeadline` after the start of the last
   * renewal (`safetyMargin` = ttl − renewDeadline), so the lock's validity is the term's deadline.
   */
  #acquireSettings(): AcquireOptions {
    const { ttl, renewDeadline, renewInterval, keepAlive, useDedicatedLockThread } = this.#settings;
    return {
      retryCount: CAMPAIGN_RETRIES,
      retryDelay: renewInterval,
      retryJitter: Math.floor(renewInterval / 4),
      refreshInterval: renewInterval,
      safetyMargin: ttl - renewDeadline,
      ...(keepAlive === undefined ? {} : { keepAlive }),
      ...(useDedicatedLockThread === undefined ? {} : { useDedicatedLockThread }),
    };
  }

  /**
   * A new term on a granted lock, then `'leader'`. The term ends when the lock does: its validity
   * ran out (the renew deadline: `renewDeadline`), or a renewal failed (`lost`).
   */
  #begin(lock: Lock): Term {
    const term: Term = new Term(this.id, lock, wallClockMs(this.#clock), (reason): Promise<void> => this.#stepDown(term, reason));
    this.#term = term;
    // Reading the signal arms the lock's expiry timer. The step-down runs a microtask later, so
    // that reading `isLeader` (which may find the lock expired) never emits events itself.
    const ended = (): void =>
      queueMicrotask(() => {
        const reason = lock.signal.reason as unknown;
        const expired = reason instanceof LockLostError && reason.reason === 'expired';
        void this.#stepDown(term, expired ? 'renewDeadline' : 'lost', reason instanceof Error ? reason : undefined);
      });
    if (lock.signal.aborted) ended();
    else lock.signal.addEventListener('abort', ended, { once: true });
    this.#note(term);
    const renote = (): void => {
      term.noteTimer = undefined;
      if (!this.#live(term)) return;
      this.#note(term);
      term.noteTimer = this.#clock.setTimeout(renote, this.#settings.renewInterval);
    };
    term.noteTimer = this.#clock.setTimeout(renote, this.#settings.renewInterval);
    this.#follower = false;
    if (term.ended === undefined) this.#emit('leader', term);
    this.#notifyChange();
    return term;
  }

  /** The lock's validity is the term's: it reads the monotonic clock, and never comes back once ended. */
  #live(term: Term): boolean {
    return term.ended === undefined && term.lock.remainingMs() > 0;
  }

  /** Writes who leads beside the seat, for leader() in other processes (best effort). */
  #note(term: Term): void {
    this.#redlock.setHolder(term.lock, term.id).catch(() => undefined);
  }

  /**
   * Ends a term: `isLeader` false and the signal aborted first, then `'follower'`, then the seat is
   * released (unless `release` is false: the lease runs out). Idempotent.
   */
  #stepDown(term: Term, reason: FollowerReason, error?: Error, release = true): Promise<void> {
    if (term.ended !== undefined) return term.released ?? Promise.resolve();
    term.finish(reason);
    if (term.noteTimer !== undefined) this.#clock.clearTimeout(term.noteTimer);
    term.noteTimer = undefined;
    if (this.#term === term) this.#term = undefined;
    term.controller.abort(
      error instanceof LockLostError
        ? error
        : new LockLostError(term.lock.resources, reason === 'renewDeadline' ? 'expired' : reason === 'lost' ? 'extendFailed' : 'released', `leadership ended (${reason})`, {
            cause: error,
          }),
    );
    // The seat is given up before anyone hears of it, so a listener cannot keep it.
    if (!release) term.lock.abandon();
    term.released = release ? term.lock.release() : Promise.resolve();
    this.#follower = true;
    this.#emit('follower', reason, ...(error === undefined ? [] : [error]));
    this.#notifyChange();
    return term.released;
  }

  // ---- observing -------------------------------------------------------------------------------

  /**
   * Emits without letting a listener's exception into the election's own state changes: it is
   * thrown again on its own (an uncaught exception, as from any event listener).
   */
  #emit<E extends keyof LeaderElectionEvents>(event: E, ...args: EventEmitter.ArgumentMap<LeaderElectionEvents>[Extract<E, keyof LeaderElectionEvents>]): void {
    try {
      this.emit(event, ...args);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  #notifyChange(): void {
    const waiters = [...this.#changed];
    this.#changed.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves true after `renewInterval` or at this candidate's next change; false once `signal` aborted. */
  #nextChange(signal: AbortSignal | undefined): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal?.aborted === true) {
        resolve(false);
        return;
      }
      const finish = (value: boolean): void => {
        this.#clock.clearTimeout(timer);
        this.#changed.delete(onChange);
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onChange = (): void => finish(true);
      const onAbort = (): void => finish(false);
      const timer = this.#clock.setTimeout(onChange, this.#settings.renewInterval);
      this.#changed.add(onChange);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
