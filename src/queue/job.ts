// Untyped job data and results are `any`, as in Bull and BullMQ: code that migrates keeps compiling.
/* eslint-disable @typescript-eslint/no-explicit-any */
import type { Clock } from '../clock.js';
import { describeValue } from '../core/options.js';
import { InvalidOptionsError, JobError, UnrecoverableError } from '../errors.js';
import type { Redlock } from '../redlock/redlock.js';
import type { Backoff } from './backoff.js';
import { builtInDelay } from './backoff.js';
import { type JobLock, QuorumJobLock, StoreJobLock } from './job-lock.js';
import { deserialize, type KeepJobs, keepArgs, serialize, type StoredJobOptions } from './job-options.js';
import type { QueueEvents } from './queue-events.js';
import { type FinishTarget, type JobHash, type JobState, type QueueStore, tokenOf } from './queue-store.js';

/** @internal What a {@link Job} needs from the Queue or Worker it came from. */
export interface JobHost {
  readonly store: QueueStore;
  readonly clock: Clock;
  readonly redlock: Redlock | undefined;
  /** A custom backoff's delay (ms; < 0: no retry), or undefined when no strategy has that type. */
  customBackoff(job: Job, backoff: Backoff, attemptsMade: number, error: Error): number | undefined;
  /** The worker's defaults for jobs without their own. */
  readonly removeOnComplete: KeepJobs | undefined;
  readonly removeOnFail: KeepJobs | undefined;
  /** A delivered job reported progress. */
  progressed?(job: Job, progress: unknown): void;
}

const NEVER = new AbortController().signal;

const num = (value: string | undefined): number | undefined => (value === undefined || value === '' ? undefined : Number(value));

/**
 * One job of a queue: its data and options, its progress and outcome, and — once delivered to a
 * worker — the delivery's lock and fencing token. Handlers get it with `fencingToken` set: pass it
 * to every store the job writes to, so a stale delivery's writes are refused there too.
 */
export class Job<D = any, R = any> {
  readonly id: string;
  readonly queueName: string;
  readonly name: string;
  data: D;
  readonly opts: StoredJobOptions;
  /** Attempts finished (failed or completed). */
  attemptsMade: number;
  /** Attempts started (deliveries). */
  attemptsStarted: number;
  progress: number | object;
  returnvalue: R | undefined;
  failedReason: string | undefined;
  stacktrace: string[];
  /** When the job was added (the queue's Redis clock, ms since the epoch). */
  timestamp: number;
  delay: number;
  priority: number;
  processedOn: number | undefined;
  finishedOn: number | undefined;
  /** The delivery's lock token (BullMQ's `job.token`): the fencing token in decimal. */
  token: string | undefined;
  /**
   * The delivery's fencing token: strictly larger on every (re)delivery of this job. For a job read
   * from the queue (`getJob`), the token of its latest delivery (0n: none); its `token` is then
   * undefined, so it cannot finish the job (`takeLock()` makes it a delivery of its own).
   */
  fencingToken: bigint;

  readonly #host: JobHost;
  #lock: JobLock | undefined;
  #signal: AbortSignal = NEVER;

  /** @internal Jobs are made by Queue (add, getJob) and Worker (deliveries). */
  constructor(host: JobHost, id: string, hash: JobHash) {
    this.#host = host;
    this.id = id;
    this.queueName = host.store.name;
    this.name = hash['name'] ?? '__default__';
    this.data = deserialize(hash['data']) as D;
    this.opts = (deserialize(hash['opts']) ?? {}) as StoredJobOptions;
    this.attemptsMade = num(hash['atm']) ?? 0;
    this.attemptsStarted = num(hash['ats']) ?? 0;
    this.progress = deserialize(hash['progress'] ?? '0') as number | object;
    this.returnvalue = deserialize(hash['returnvalue']) as R | undefined;
    this.failedReason = hash['failedReason'];
    this.stacktrace = (deserialize(hash['stacktrace']) ?? []) as string[];
    this.timestamp = num(hash['timestamp']) ?? 0;
    this.delay = num(hash['delay']) ?? 0;
    this.priority = num(hash['priority']) ?? 0;
    this.processedOn = num(hash['processedOn']);
    this.finishedOn = num(hash['finishedOn']);
    this.token = undefined;
    this.fencingToken = tokenOf(hash['ftok'] ?? '');
  }

  /** Aborts when the attempt must stop: its `timeout`, `worker.cancelJob`, or a close that put it back. */
  get signal(): AbortSignal {
    return this.#signal;
  }

  /** @internal A delivery: this job now holds `lock`. */
  deliver(lock: JobLock, signal: AbortSignal): void {
    this.#lock = lock;
    this.token = lock.token;
    this.fencingToken = lock.fencingToken;
    this.#signal = signal;
  }

  /** @internal The delivery's lock (what a renewer extends). */
  get lock(): JobLock | undefined {
    return this.#lock;
  }

  // ---- data, progress, logs -----------------------------------------------------------------------

  /**
   * Records progress (a number or an object) and emits `progress`. From a delivered job, only while
   * its token is current.
   * @throws {StaleTokenError} a newer delivery holds the job.
   */
  async updateProgress(progress: number | object): Promise<void> {
    if (typeof progress !== 'number' && (typeof progress !== 'object' || progress === null)) {
      throw new InvalidOptionsError(`Expected \`progress\` to be a number or an object, got ${describeValue(progress)}`);
    }
    await this.#host.store.update('progress', this.id, this.token ?? '', serialize('progress', progress), 0);
    this.progress = progress;
    this.#host.progressed?.(this, progress);
  }

  /**
   * Appends a row to the job's log (keeping the last `keepLogs`); resolves with the number of rows.
   * @throws {StaleTokenError}
   */
  async log(row: string): Promise<number> {
    if (typeof row !== 'string') throw new InvalidOptionsError(`Expected \`row\` to be a string, got ${describeValue(row)}`);
    return this.#host.store.update('log', this.id, this.token ?? '', row, this.opts.keepLogs ?? 0);
  }

  /**
   * Replaces the job's data.
   * @throws {StaleTokenError}
   * @throws {InvalidOptionsError} data that JSON cannot keep
   */
  async updateData(data: D): Promise<void> {
    await this.#host.store.update('data', this.id, this.token ?? '', serialize('data', data), 0);
    this.data = data;
  }

  // ---- state --------------------------------------------------------------------------------------

  getState(): Promise<JobState | 'unknown'> {
    return this.#host.store.state(this.id);
  }

  async isCompleted(): Promise<boolean> {
    return (await this.getState()) === 'completed';
  }

  async isFailed(): Promise<boolean> {
    return (await this.getState()) === 'failed';
  }

  /**
   * Runs a failed (or completed) job again, its attempts counted from zero. An old delivery's
   * token stops being current.
   * @throws {JobError} `JOB_STATE` when the job is not in that state.
   */
  async retry(state: 'failed' | 'completed' = 'failed'): Promise<void> {
    if (state !== 'failed' && state !== 'completed') throw new InvalidOptionsError(`Expected \`state\` to be 'failed' or 'completed', got ${describeValue(state)}`);
    await this.#host.store.move('retry', this.id, state);
    this.attemptsMade = 0;
    this.failedReason = undefined;
    this.finishedOn = undefined;
  }

  /**
   * Runs a delayed job now.
   * @throws {JobError} `JOB_STATE` when the job is not delayed.
   */
  async promote(): Promise<void> {
    await this.#host.store.move('promote', this.id, 'delayed');
    this.delay = 0;
  }

  /**
   * Removes the job and its logs.
   * @throws {JobError} `JOB_LOCKED` while a worker holds it.
   */
  async remove(): Promise<void> {
    if ((await this.#host.store.remove(this.id)) === -1) {
      throw new JobError('JOB_LOCKED', this.id, `Job ${this.id} is being processed (its lock is held); it cannot be removed now`);
    }
  }

  /** Log rows from `start` to `end` (inclusive; -1 = the last) and how many there are. */
  getLogs(start = 0, end = -1): Promise<{ logs: string[]; count: number }> {
    return this.#host.store.logs(this.id, start, end);
  }

  // ---- the lock (Bull's and BullMQ's manual locking) ----------------------------------------------

  /** The Redis key of the job's lock (it holds the current delivery's token). */
  lockKey(): string {
    return this.#host.store.keys.lock(this.id);
  }

  /**
   * Takes the lock of an active job that no live delivery holds (or that this one holds): a new
   * delivery with a new fencing token, strictly larger than every earlier one of this job, so any
   * earlier holder becomes stale. With `distributedLock`, the quorum lock is taken first.
   * @returns the new fencing token as a number, or false when another delivery holds the lock or
   *   the job is not active.
   */
  async takeLock(): Promise<number | false> {
    const { store, redlock } = this.#host;
    const ms = store.settings.lockDuration;
    if (store.settings.distributedLock && redlock !== undefined) {
      const lock = await redlock.tryAcquire(store.lockResource(this.id), ms);
      if (lock === null) return false;
      const taken = await store.take(this.id, this.token ?? '', ms, lock.fencingToken.toString());
      if (taken === false) {
        await lock.release();
        return false;
      }
      this.deliver(new QuorumJobLock(store, this.id, lock), this.#signal);
      return Number(lock.fencingToken);
    }
    const taken = await store.take(this.id, this.token ?? '', ms, '');
    if (taken === false) return false;
    this.deliver(new StoreJobLock(store, this.id, taken), this.#signal);
    return Number(taken);
  }

  /** Releases this delivery's lock (its token stays current: a later result is still accepted). */
  async releaseLock(): Promise<void> {
    await this.#lock?.release();
  }

  /**
   * Extends this delivery's lock: Bull's `extendLock(ms)` and BullMQ's `extendLock(token, ms)`.
   * @returns 1 extended, 0 the lock is not this token's (another delivery holds the job).
   */
  extendLock(ms: number): Promise<0 | 1>;
  extendLock(token: string, ms: number): Promise<0 | 1>;
  async extendLock(tokenOrMs: string | number, maybeMs?: number): Promise<0 | 1> {
    const token = typeof tokenOrMs === 'string' ? tokenOrMs : this.token;
    const ms = typeof tokenOrMs === 'string' ? maybeMs : tokenOrMs;
    if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 1) throw new InvalidOptionsError(`Expected \`ms\` to be a positive integer, got ${describeValue(ms)}`);
    if (token === undefined) return 0;
    if (this.#lock !== undefined && token === this.#lock.token) return (await this.#lock.extend(ms)) ? 1 : 0;
    return (await this.#host.store.lock('extend', this.id, token, ms)) ? 1 : 0;
  }

  // ---- finishing (what a worker does; also for manual processing) ---------------------------------

  #tokenFor(token: unknown): string {
    if (token === true) {
      throw new InvalidOptionsError('`ignoreLock` is not supported: a job is finished only by its current fencing token (docs/queue.md)');
    }
    if (typeof token === 'string' && token !== '') return token;
    if (token !== undefined && token !== false && token !== null) throw new InvalidOptionsError(`Expected \`token\` to be the delivery's token (job.token), got ${describeValue(token)}`);
    if (this.token === undefined) {
      throw new InvalidOptionsError(`Job ${this.id} was not delivered to you: fetch it with a worker (or worker.getNextJob()) and pass job.token`);
    }
    return this.token;
  }

  /**
   * Completes the job with `returnValue`, if `token` (default: this delivery's) is the job's current
   * token — even when the lock ran out. A job completes at most once.
   * @throws {StaleTokenError} a newer delivery holds the job: the result was dropped.
   * @throws {JobError} `JOB_NOT_FOUND` (removed) or `JOB_STATE` (finished already).
   * @throws {InvalidOptionsError} a result JSON cannot keep, or `ignoreLock` (`true`) as the token.
   */
  async moveToCompleted(returnValue: R, token?: string, _fetchNext?: boolean): Promise<void> {
    const holder = this.#tokenFor(token);
    const value = serialize('returnvalue', returnValue);
    const { store } = this.#host;
    try {
      const done = await store.finish(this.id, holder, 'completed', value, '', 0, keepArgs(this.opts.removeOnComplete ?? this.#host.removeOnComplete));
      this.attemptsMade = done.attemptsMade;
      this.finishedOn = done.finishedOn;
      this.returnvalue = returnValue;
    } finally {
      if (this.#lock?.token === holder) void this.#lockDone();
    }
  }

  /**
   * Fails this attempt with `error`, if `token` is current: the job runs again (after its backoff)
   * while attempts remain and the error is not an {@link UnrecoverableError}, else it fails.
   * @returns where the job went: 'failed', 'retry' (waiting) or 'delayed'.
   * @throws {StaleTokenError}, {JobError} as {@link Job.moveToCompleted}.
   */
  async moveToFailed(error: Error, token?: string, _fetchNext?: boolean): Promise<FinishTarget> {
    const holder = this.#tokenFor(token);
    const err = error instanceof Error ? error : new Error(String(error));
    const attemptsMade = this.attemptsMade + 1;
    let target: FinishTarget = 'failed';
    let delayMs = 0;
    let reason = err.message;
    if (attemptsMade < (this.opts.attempts ?? 1) && !(err instanceof UnrecoverableError)) {
      const delay = this.#backoffDelay(attemptsMade, err);
      if (delay === undefined) reason = `${reason} (no retry: no backoff strategy \`${this.opts.backoff?.type ?? ''}\` on this worker)`;
      else if (delay >= 0) {
        target = delay > 0 ? 'delayed' : 'retry';
        delayMs = delay;
      }
    }
    const limit = this.opts.stackTraceLimit ?? 10;
    const stacktrace = limit === 0 ? [] : [...this.stacktrace, err.stack ?? String(err)].slice(-limit);
    const { store } = this.#host;
    try {
      const done = await store.finish(this.id, holder, target, reason, JSON.stringify(stacktrace), delayMs, keepArgs(this.opts.removeOnFail ?? this.#host.removeOnFail));
      this.attemptsMade = done.attemptsMade;
      this.failedReason = reason;
      this.stacktrace = stacktrace;
      if (target === 'failed') this.finishedOn = done.finishedOn;
      return target;
    } finally {
      if (this.#lock?.token === holder) void this.#lockDone();
    }
  }

  /** The delay before the next attempt: the built-in strategies, else the host's custom ones. */
  #backoffDelay(attemptsMade: number, error: Error): number | undefined {
    const backoff = this.opts.backoff;
    if (backoff === undefined) return 0;
    const random = this.#host.clock.random?.() ?? Math.random();
    return builtInDelay(backoff, attemptsMade, random) ?? this.#host.customBackoff(this, backoff, attemptsMade, error);
  }

  /** After finishing: a quorum lock is released (the queue's lock key went with the finish). */
  async #lockDone(): Promise<void> {
    const lock = this.#lock;
    if (lock instanceof QuorumJobLock) await lock.lock.release().catch(() => undefined);
  }

  /**
   * Resolves with the job's result once it completes, or rejects with a {@link JobError}
   * (`JOB_FAILED`, the failedReason as message) once it fails for good; `ttl` bounds the wait
   * (`JOB_TIMEOUT`). Needs a {@link QueueEvents} of this queue (another process may run the job).
   */
  async waitUntilFinished(events: QueueEvents, ttl?: number): Promise<R> {
    return events.waitFor<R>(this.id, ttl, () => this.#host.store.hash(this.id));
  }

  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      name: this.name,
      data: this.data,
      opts: this.opts,
      progress: this.progress,
      attemptsMade: this.attemptsMade,
      attemptsStarted: this.attemptsStarted,
      returnvalue: this.returnvalue,
      failedReason: this.failedReason,
      stacktrace: this.stacktrace,
      timestamp: this.timestamp,
      processedOn: this.processedOn,
      finishedOn: this.finishedOn,
      fencingToken: this.fencingToken.toString(),
    };
  }
}
