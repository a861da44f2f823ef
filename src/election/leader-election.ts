import { EventEmitter } from 'eventemitter3';
import { type Clock, sleep, wallClockMs } from '../clock.js';
import { abortSignal, describeValue, nonEmptyString } from '../core/options.js';
import { InvalidOptionsError, LockExpiredError, LockLostError, QuorumError } from '../errors.js';
import type { Lock } from '../redlock/lock.js';
import { Redlock } from '../redlock/redlock.js';
import { checkTtl, resolveRedlockSettings } from '../redlock/redlock-options.js';
import { Renewer } from '../redlock/renewer.js';
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
}

/** How many attempts one acquire call of a campaign makes before the next call starts (it never gives up). */
const CAMPAIGN_RETRIES = 1_000;

/** A term while it lasts. */
class Term implements Leadership {
  readonly id: string;
  readonly term: bigint;
  readonly since: number;
  readonly lock: Lock;
  readonly controller = new AbortController();
  /** Monotonic ms: the term ends here unless renewed before. */
  deadlineAt = 0;
  timer: unknown;
  renewer: Renewer | undefined;
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

  resign(): Promise<void> {
    return this.#end('resigned');
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
    const { ttl, keepAlive, renewInterval } = this.#settings;
    // The campaign's acquire settings, checked now rather than at the first acquire.
    const settings = resolveRedlockSettings('LeaderElection', redlock.settings, {
      retryDelay: renewInterval,
      ...(keepAlive === undefined ? {} : { keepAlive }),
    });
    checkTtl(ttl, settings);
    this.#redlock = redlock;
    this.#clock = redlock.clock;
    this.#resource = `election:${name}`;
    this.#settings.signal?.addEventListener('abort', () => void this.stop(), { once: true });
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
    if (this.#run !== undefined) return;
    if (this.#campaigning || this.#term !== undefined) {
      throw new InvalidOptionsError('This election is already campaigning with campaign(); start() would compete with it');
    }
    const controller = new AbortController();
    this.#follower = false;
    const done = Promise.all([this.#loop(controller.signal), this.#watch(controller.signal)]).then(() => undefined);
    this.#run = { controller, done };
  }

  /**
   * Stops campaigning and ends the term, if any: with `releaseOnStop` (the default) the seat is
   * released, so a follower takes it within about one round trip. Resolves when all is done.
   */
  async stop(): Promise<void> {
    const run = this.#run;
    this.#run = undefined;
    run?.controller.abort(new Error('the election was stopped'));
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
    const signals = [own, this.#settings.signal].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length === 0 ? new AbortController().signal : signals.length === 1 ? (signals[0] as AbortSignal) : AbortSignal.any(signals);
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
    while (signal?.aborted !== true) {
      let info: LeaderInfo | null | undefined;
      try {
        info = await this.leader();
      } catch (error) {
        if (!(error instanceof QuorumError)) throw error;
      }
      const key = info === undefined ? last : info === null ? 'vacant' : String(info.term);
      if (info !== undefined && key !== last) {
        last = key;
        yield info;
      }
      if (!(await this.#nextChange(signal))) return;
    }
  }

  // ---- campaigning -----------------------------------------------------------------------------

  /** The background campaign of start(): elected, serve the term, campaign again. */
  async #loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const term = await this.#elect(signal);
        await term.over;
      } catch (error) {
        if (signal.aborted) return;
        // Anything but a node outage (the Redlock was closed, a bad option) cannot get better.
        if (!(error instanceof QuorumError || error instanceof LockExpiredError)) return;
        await sleep(this.#clock, this.#settings.renewInterval, signal).catch(() => undefined);
      }
    }
  }

  /** Emits `'leaderChanged'` while started. */
  async #watch(signal: AbortSignal): Promise<void> {
    try {
      for await (const info of this.observe({ signal })) {
        this.emit('leaderChanged', info);
        if (info !== null && info.id !== this.id && !this.isLeader && !this.#follower && !signal.aborted) {
          this.#follower = true;
          this.emit('follower', 'not-elected');
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
    const { ttl, renewInterval, keepAlive } = this.#settings;
    for (;;) {
      signal.throwIfAborted();
      try {
        const lock = await this.#redlock.acquire(this.#resource, ttl, {
          retryCount: CAMPAIGN_RETRIES,
          retryDelay: renewInterval,
          retryJitter: Math.floor(renewInterval / 4),
          signal,
          ...(keepAlive === undefined ? {} : { keepAlive }),
        });
        if (signal.aborted) {
          // Granted as the campaign was called off (stop() ran meanwhile): give the seat back.
          await lock.release();
          throw signal.reason;
        }
        return this.#begin(lock);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (!(error instanceof QuorumError || error instanceof LockExpiredError)) throw error;
        await sleep(this.#clock, renewInterval, signal);
      }
    }
  }

  /** A new term on a granted lock: deadline, renewal, the holder note, then `'leader'`. */
  #begin(lock: Lock): Term {
    const term: Term = new Term(this.id, lock, wallClockMs(this.#clock), (reason): Promise<void> => this.#stepDown(term, reason));
    this.#term = term;
    this.#extendDeadline(term);
    const lost = (): void => void this.#stepDown(term, 'lost', lock.signal.reason as Error);
    if (lock.signal.aborted) lost();
    else lock.signal.addEventListener('abort', lost, { once: true });
    term.renewer = new Renewer(this.#clock, {
      next: () => (term.ended === undefined ? this.#settings.renewInterval : undefined),
      renew: () => this.#renew(term),
      failed: (error) => void this.#stepDown(term, 'lost', error instanceof Error ? error : new Error(String(error))),
    }).start();
    this.#note(term);
    this.#follower = false;
    if (term.ended === undefined) this.emit('leader', term);
    this.#notifyChange();
    return term;
  }

  /**
   * One renewal (the Renewer never runs two at once). A renewal that fails ends the term; one that
   * completes after the deadline does not bring the term back.
   */
  async #renew(term: Term): Promise<void> {
    if (term.ended !== undefined) return;
    if (!this.#live(term)) {
      void this.#stepDown(term, 'renewDeadline');
      return;
    }
    try {
      await term.lock.extend(this.#settings.ttl);
    } catch (error) {
      // An extension a quorum did not confirm gives the lease up (the lock is lost and released):
      // the term ends now, earlier than the deadline, and start() campaigns again.
      void this.#stepDown(term, 'lost', error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (term.ended !== undefined) return;
    if (!this.#live(term)) {
      void this.#stepDown(term, 'renewDeadline');
      return;
    }
    this.#extendDeadline(term);
    this.#note(term);
  }

  /**
   * The term's deadline: `renewDeadline` after the start of the last grant or renewal (less the
   * drift allowance), read off the lock's TTL end — so always before the lease can end.
   */
  #extendDeadline(term: Term): void {
    const { ttl, renewDeadline } = this.#settings;
    const now = this.#clock.now();
    term.deadlineAt = now + term.lock.ttlRemainingMs() - (ttl - renewDeadline);
    if (term.timer !== undefined) this.#clock.clearTimeout(term.timer);
    const check = (): void => {
      term.timer = undefined;
      if (term.ended !== undefined) return;
      if (!this.#live(term)) void this.#stepDown(term, 'renewDeadline');
      else term.timer = this.#clock.setTimeout(check, term.deadlineAt - this.#clock.now());
    };
    term.timer = this.#clock.setTimeout(check, Math.max(0, term.deadlineAt - now));
  }

  #live(term: Term): boolean {
    return term.ended === undefined && this.#clock.now() < term.deadlineAt && term.lock.remainingMs() > 0;
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
    if (term.timer !== undefined) this.#clock.clearTimeout(term.timer);
    term.timer = undefined;
    term.renewer?.stop();
    if (this.#term === term) this.#term = undefined;
    term.controller.abort(
      error instanceof LockLostError
        ? error
        : new LockLostError(term.lock.resources, reason === 'renewDeadline' ? 'expired' : reason === 'lost' ? 'extendFailed' : 'released', `leadership ended (${reason})`, {
            cause: error,
          }),
    );
    this.#follower = true;
    this.emit('follower', reason, ...(error === undefined ? [] : [error]));
    this.#notifyChange();
    term.released = release ? term.lock.release() : Promise.resolve();
    return term.released;
  }

  // ---- observing -------------------------------------------------------------------------------

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
