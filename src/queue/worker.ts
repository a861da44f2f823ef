// Untyped job data and results are `any`, as in Bull and BullMQ: code that migrates keeps compiling.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import type { Cluster, Redis } from 'ioredis';
import { type Clock, sleep, systemClock } from '../clock.js';
import { describeValue, positiveInteger } from '../core/options.js';
import { InvalidOptionsError, JobError, LockLostError, StaleTokenError } from '../errors.js';
import type { Backoff } from './backoff.js';
import { Job, type JobHost } from './job.js';
import { QuorumJobLock, StoreJobLock } from './job-lock.js';
import { JobRenewal } from './job-renewal.js';
import { runAttempt } from './attempt.js';
import { deliverByQuorum } from './quorum-delivery.js';
import type { KeepJobs } from './job-options.js';
import { resolveJobOptions } from './job-options.js';
import { checkPrefix, checkQueueName, type QueueSettings, resolveQueueSettings, type WorkerOptions } from './queue-options.js';
import { type Fetched, QueueStore } from './queue-store.js';

/** BullMQ's processor: the job, its lock token, and a signal that aborts when the attempt must stop. */
export type Processor<D = any, R = any> = (job: Job<D, R>, token: string, signal: AbortSignal) => Promise<R> | R;

/** Events of a {@link Worker} (BullMQ names), for observability; `'error'` is never emitted. */
export interface WorkerEvents<D = any, R = any> {
  /** Connected, start-up checks passed, fetching. */
  ready: [];
  active: [job: Job<D, R>, prev: string];
  completed: [job: Job<D, R>, result: R, prev: string];
  /** An attempt failed (also when the job will run again: see `job.attemptsMade` and `opts.attempts`). */
  failed: [job: Job<D, R> | undefined, error: Error, prev: string];
  progress: [job: Job<D, R>, progress: number | object];
  /**
   * A result was dropped: the delivery's token was no longer the job's current one
   * ({@link StaleTokenError}: a newer delivery holds the job), or the job was removed or finished
   * meanwhile ({@link JobError}).
   */
  stale: [job: Job<D, R>, error: StaleTokenError | JobError];
  /** No job is waiting (after some were processed). */
  drained: [];
  paused: [];
  resumed: [];
  closing: [reason: string];
  closed: [];
  /** A Redis call failed (fetching is retried; a finish that failed leaves the job active). */
  redisError: [error: Error];
  /** The stalled sweep (run by this worker) put a job back to waiting. */
  stalled: [jobId: string, prev: string];
  /** These running jobs' locks were lost (renewal refused or failed): their signals aborted with a LockLostError. */
  lockRenewalFailed: [jobIds: string[]];
}

interface Running {
  readonly job: Job;
  readonly controller: AbortController;
  /** The delivery's token, or the claim id until the quorum lock is granted. */
  holder: string;
  abandoned: boolean;
  /** The attempt ended: a lock released from here on is no loss. */
  settled: boolean;
  /** Why the lock was lost while the attempt ran (seppuku: its signal aborted with it). */
  lost: LockLostError | undefined;
  done: Promise<void>;
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
const NEVER = new AbortController().signal;
/** Tries of a finish call that Redis failed (see #finishing). */
const FINISH_TRIES = 6;
/** Pause after a failed Redis call before the loop tries again. */
const RETRY_PAUSE_MS = 500;

/**
 * Fetches jobs of a queue and runs them, up to `concurrency` at a time (BullMQ's Worker). Every
 * delivery takes the job's lock and a fencing token, strictly larger than every earlier delivery's
 * of that job; the result is accepted only while that token is still the job's current one.
 *
 * @example
 * const worker = new Worker('email', async (job, token, signal) => send(job.data, { fence: job.fencingToken, signal }), { connection })
 * worker.on('failed', (job, err) => log(job?.id, err))
 */
export class Worker<D = any, R = any> extends EventEmitter<WorkerEvents<D, R>> implements AsyncDisposable {
  readonly name: string;
  /** This worker's identity (in its claim ids). */
  readonly id: string;
  readonly settings: QueueSettings;
  readonly #store: QueueStore;
  readonly #clock: Clock;
  readonly #processor: Processor<D, R> | null;
  readonly #host: JobHost;
  readonly #running = new Set<Running>();
  readonly #stop = new AbortController();
  readonly #backoffStrategy: NonNullable<WorkerOptions['settings']>['backoffStrategy'];
  readonly #strategies: NonNullable<WorkerOptions['settings']>['backoffStrategies'];
  #concurrency: number;
  #blocking: Redis | Cluster | undefined;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #stopping = false;
  #paused = false;
  #wake: (() => void) | undefined;
  #claims = 0;
  #hadJobs = false;
  #sweepTimer: unknown;

  /**
   * @param processor runs each job; `null` for manual processing (`getNextJob`, `job.moveToCompleted`).
   * @throws {InvalidOptionsError} a bad option.
   */
  constructor(name: string, processor: Processor<D, R> | null, options: WorkerOptions) {
    super();
    this.name = checkQueueName(name);
    if (processor !== null && typeof processor !== 'function') {
      throw new InvalidOptionsError(`Expected \`processor\` to be a function (or null), got ${describeValue(processor)}`);
    }
    this.settings = resolveQueueSettings('Worker', options);
    checkPrefix(this.settings.prefix);
    this.#concurrency = positiveInteger('concurrency', options.concurrency ?? 1);
    const autorun = options.autorun ?? true;
    if (typeof autorun !== 'boolean') throw new InvalidOptionsError(`Expected \`autorun\` to be a boolean, got ${describeValue(autorun)}`);
    if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) throw new InvalidOptionsError(`Expected \`name\` to be a non-empty string, got ${describeValue(options.name)}`);
    const settings = options.settings ?? {};
    if (settings.backoffStrategy !== undefined && typeof settings.backoffStrategy !== 'function') {
      throw new InvalidOptionsError(`Expected \`settings.backoffStrategy\` to be a function, got ${describeValue(settings.backoffStrategy)}`);
    }
    this.#backoffStrategy = settings.backoffStrategy;
    this.#strategies = settings.backoffStrategies;
    // The worker-level defaults, checked as job options are.
    const defaults = resolveJobOptions(undefined, { removeOnComplete: options.removeOnComplete, removeOnFail: options.removeOnFail }, () => true, 'worker options');
    this.#clock = options.clock ?? systemClock;
    this.#processor = processor;
    this.id = `${options.name ?? 'worker'}:${randomUUID()}`;
    this.#store = new QueueStore(this.name, options.connection, this.settings, this.#clock, (message) => process.emitWarning(message, 'RedfenceWarning'));
    if (this.settings.useDedicatedLockThread && !this.settings.distributedLock && (this.#clock !== systemClock || this.#store.node.describe() === undefined)) {
      void this.#store.close();
      throw new InvalidOptionsError(
        '`useDedicatedLockThread` with the single-node lock needs the system clock and a standalone Redis (a URL, options or an ioredis client) the lock thread can connect to on its own; not a Cluster or an injected `clock`',
      );
    }
    const removeOnComplete: KeepJobs | undefined = defaults.removeOnComplete;
    const removeOnFail: KeepJobs | undefined = defaults.removeOnFail;
    this.#host = {
      store: this.#store,
      clock: this.#clock,
      redlock: this.settings.redlock,
      removeOnComplete,
      removeOnFail,
      customBackoff: (job, backoff, attemptsMade, error) => this.#customBackoff(job, backoff, attemptsMade, error),
      progressed: (job, progress) => this.emit('progress', job as Job<D, R>, progress as number | object),
    };
    if (autorun && processor !== null) void this.run().catch(() => undefined);
  }

  /** Jobs run at the same time; can be changed while running. */
  get concurrency(): number {
    return this.#concurrency;
  }

  set concurrency(value: number) {
    this.#concurrency = positiveInteger('concurrency', value);
    this.#wakeLoop();
  }

  /**
   * Resolves once the queue's Redis answered and its eviction policy was checked.
   * @throws {RedfenceError} code `EVICTION_POLICY`.
   */
  waitUntilReady(): Promise<void> {
    return this.#store.ready();
  }

  /**
   * Fetches and runs jobs until `close()`; started by the constructor unless `autorun: false`.
   * Resolves when the worker closed; rejects when start-up fails (also emitted as `redisError`).
   */
  run(): Promise<void> {
    if (this.#processor === null) throw new InvalidOptionsError('This worker has no processor (manual processing): use getNextJob()');
    if (this.#closing !== undefined) throw new InvalidOptionsError('This worker was closed');
    this.#loop ??= this.#fetchLoop();
    return this.#loop;
  }

  isRunning(): boolean {
    return this.#loop !== undefined && !this.#stopping;
  }

  isPaused(): boolean {
    return this.#paused;
  }

  /** Stops fetching on this worker (the queue goes on for others); waits for running jobs unless told not to. */
  async pause(doNotWaitActive = false): Promise<void> {
    if (this.#paused) return;
    this.#paused = true;
    if (!doNotWaitActive) await Promise.all([...this.#running].map((r) => r.done));
    this.emit('paused');
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#wakeLoop();
    this.emit('resumed');
  }

  /**
   * @internal The jobs running now, each with its delivery's lock (`job.lock`), renewed every
   * `lockRenewTime` while they run (see #keepLock).
   */
  get runningJobs(): readonly Job<D, R>[] {
    return [...this.#running].filter((r) => !r.abandoned && r.job.lock !== undefined).map((r) => r.job as Job<D, R>);
  }

  /** Aborts a running job's signal (the attempt fails with `reason`); false when it does not run here. */
  cancelJob(jobId: string, reason = 'cancelled'): boolean {
    let found = false;
    for (const running of this.#running) {
      if (running.job.id !== jobId) continue;
      running.controller.abort(new Error(reason));
      found = true;
    }
    return found;
  }

  cancelAllJobs(reason = 'cancelled'): void {
    for (const running of this.#running) running.controller.abort(new Error(reason));
  }

  /**
   * Manual processing: moves the next job to active and locks it for you, with a fresh fencing
   * token (`job.token`, `job.fencingToken`); finish it with `job.moveToCompleted(value, job.token)`
   * or `job.moveToFailed(err, job.token)`. `undefined` when none is waiting.
   */
  async getNextJob(_token?: string): Promise<Job<D, R> | undefined> {
    await this.#store.ready();
    const claim = this.#claimId();
    const reply = await this.#store.fetch(this.#mode(), claim, 1);
    if (reply.status !== 'jobs') return undefined;
    const fetched = reply.jobs[0];
    if (fetched === undefined) return undefined;
    const job = new Job<D, R>(this.#host, fetched.id, fetched.hash);
    return (await this.#deliver(job, fetched.token, claim, NEVER)) ? job : undefined;
  }

  /**
   * Stops fetching and waits for the running jobs. With `{ timeout }` (ms), or `true` (no wait), the
   * jobs still running then have their signal aborted and are put straight back to waiting (their
   * tokens stop being current). Closes the connections the worker opened.
   */
  close(force: boolean | { readonly timeout?: number } = false): Promise<void> {
    let timeout: number | undefined;
    if (force === true) timeout = 0;
    else if (typeof force === 'object' && force !== null && force.timeout !== undefined) {
      if (!Number.isSafeInteger(force.timeout) || force.timeout < 0) throw new InvalidOptionsError(`Expected \`timeout\` to be a non-negative integer, got ${describeValue(force.timeout)}`);
      timeout = force.timeout;
    } else if (force !== false && (typeof force !== 'object' || force === null)) {
      throw new InvalidOptionsError(`Expected \`close\`'s argument to be a boolean or { timeout }, got ${describeValue(force)}`);
    }
    this.#closing ??= this.#close(timeout);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- the fetch loop ----------------------------------------------------------------------------

  #mode(): 'fence' | 'claim' {
    return this.settings.distributedLock ? 'claim' : 'fence';
  }

  #claimId(): string {
    return `${this.id}:${(this.#claims += 1)}`;
  }

  #wakeLoop(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #redisError(error: unknown): void {
    if (!this.#stopping || this.listenerCount('redisError') > 0) this.emit('redisError', asError(error));
  }

  async #pauseFor(ms: number): Promise<void> {
    await sleep(this.#clock, ms, this.#stop.signal).catch(() => undefined);
  }

  async #fetchLoop(): Promise<void> {
    try {
      await this.#store.ready();
    } catch (error) {
      this.#redisError(error);
      throw error;
    }
    this.emit('ready');
    this.#startSweeps();
    while (!this.#stopping) {
      if (this.#paused || this.#running.size >= this.#concurrency) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      const claim = this.#claimId();
      let reply;
      try {
        reply = await this.#store.fetch(this.#mode(), claim, this.#concurrency - this.#running.size);
      } catch (error) {
        if (this.#stopping) break;
        this.#redisError(error);
        await this.#pauseFor(RETRY_PAUSE_MS);
        continue;
      }
      if (reply.status === 'jobs') {
        this.#hadJobs = true;
        for (const fetched of reply.jobs) this.#start(fetched, claim);
        continue;
      }
      if (reply.status === 'empty' && this.#hadJobs) {
        this.#hadJobs = false;
        this.emit('drained');
      }
      if (reply.status === 'limited') await this.#pauseFor(reply.waitMs);
      else await this.#waitForWork(reply.waitMs);
    }
  }

  /** Blocks on the queue's marker (woken when a job is added) for at most drainDelay, or until `ms` (a delayed job is due). */
  async #waitForWork(ms: number): Promise<void> {
    const most = this.settings.drainDelay * 1_000;
    const waitMs = ms < 0 ? most : Math.min(ms, most);
    if (waitMs <= 0 || this.#stopping) return;
    if (this.#blocking === undefined) {
      const blocking = this.#store.client.duplicate();
      blocking.on('error', () => undefined);
      this.#blocking = blocking;
    }
    try {
      await this.#blocking.bzpopmin(this.#store.keys.marker, Math.max(0.01, waitMs / 1_000));
    } catch (error) {
      if (this.#stopping) return;
      this.#redisError(error);
      await this.#pauseFor(RETRY_PAUSE_MS);
    }
  }

  #start(fetched: Fetched, claim: string): void {
    const job = new Job<D, R>(this.#host, fetched.id, fetched.hash);
    const running: Running = { job, controller: new AbortController(), holder: fetched.token || claim, abandoned: false, settled: false, lost: undefined, done: Promise.resolve() };
    this.#running.add(running);
    running.done = this.#execute(running, fetched.token, claim).finally(() => {
      this.#running.delete(running);
      this.#wakeLoop();
    });
  }

  /**
   * Makes a fetched job this worker's delivery: with a token already (single-node lock), at once;
   * a claimed one (distributedLock) once the quorum lock is granted and its token recorded. A claim
   * that fails is put back. False when the job is not delivered.
   */
  async #deliver(job: Job<D, R>, token: string, claim: string, signal: AbortSignal): Promise<boolean> {
    const store = this.#store;
    if (token !== '') {
      job.deliver(new StoreJobLock(store, job.id, token), signal);
      return true;
    }
    const redlock = this.settings.redlock;
    if (redlock === undefined) return false;
    if (await deliverByQuorum(store, redlock, job, claim, signal, (error) => this.#redisError(error))) return true;
    // Holding the slot a moment keeps a quorum that is down from being asked in a tight loop.
    await this.#pauseFor(RETRY_PAUSE_MS);
    return false;
  }

  async #execute(running: Running, token: string, claim: string): Promise<void> {
    const { job, controller } = running;
    try {
      if (!(await this.#deliver(job as Job<D, R>, token, claim, controller.signal))) return;
      running.holder = job.token ?? claim;
      if (running.abandoned) {
        // The close gave up on it while its quorum lock was being granted: put it back now.
        await this.#store.requeue(job.id, running.holder).catch((e: unknown) => this.#redisError(e));
        await job.lock?.release().catch(() => undefined);
        return;
      }
      this.emit('active', job as Job<D, R>, 'waiting');
      const processor = this.#processor;
      if (processor === null) return;
      const renewal = this.#keepLock(running);
      let outcome;
      try {
        outcome = await runAttempt(job, controller, this.#clock, (signal) => processor(job as Job<D, R>, job.token ?? '', signal));
      } finally {
        running.settled = true;
        renewal.stop();
      }
      // Seppuku: the lock was lost and the signal aborted. The job is left to the stalled sweep (or
      // to the delivery that took it over); whatever this attempt gives is dropped.
      if (running.abandoned || running.lost !== undefined) return;
      let error: Error;
      if (outcome.ok) {
        try {
          await this.#finishing(() => job.moveToCompleted(outcome.value));
          this.emit('completed', job as Job<D, R>, outcome.value, 'active');
          return;
        } catch (refused) {
          // A result JSON cannot keep fails the attempt; anything else goes to the handler below.
          if (!(refused instanceof InvalidOptionsError)) throw refused;
          error = refused;
        }
      } else {
        error = outcome.error;
      }
      await this.#finishing(() => job.moveToFailed(error));
      this.emit('failed', job as Job<D, R>, error, 'active');
    } catch (error) {
      if (error instanceof StaleTokenError || (error instanceof JobError && (error.code === 'JOB_NOT_FOUND' || error.code === 'JOB_STATE'))) {
        this.emit('stale', job as Job<D, R>, error);
      } else {
        this.#redisError(error);
      }
    }
  }

  /**
   * Renews a running job's lock until the attempt ends: the lock key on the queue's
   * Redis through a {@link JobRenewal}; a quorum lock renews itself (`refreshInterval`, keep-alive,
   * lock thread: see quorumRenewal). Either one lost ends the attempt: its signal aborts with the
   * {@link LockLostError}, and `lockRenewalFailed` is emitted.
   */
  #keepLock(running: Running): { stop(): void } {
    const { job } = running;
    const lock = job.lock;
    if (lock === undefined) return { stop: () => undefined };
    const lost = (error: LockLostError): void => {
      if (running.settled || running.lost !== undefined) return;
      running.lost = error;
      renewal.stop();
      running.controller.abort(error);
      this.emit('lockRenewalFailed', [job.id]);
      if (lock instanceof QuorumJobLock) {
        // The queue's lock key goes too, so the sweep can put the job back once the quorum lock is free.
        void this.#store.lock('release', job.id, lock.token, 0).catch(() => undefined);
        void lock.lock.release().catch(() => undefined);
      }
    };
    // A quorum lock's holder note (see deliverByQuorum) lives maxTtl: written again well before.
    const redlock = this.settings.redlock;
    let noted = this.#clock.now();
    const renote =
      lock instanceof QuorumJobLock && redlock !== undefined
        ? async (): Promise<void> => {
            if (this.#clock.now() - noted < redlock.settings.maxTtl / 3) return;
            noted = this.#clock.now();
            await redlock.setHolder(lock.lock, this.id);
          }
        : undefined;
    const renewal = new JobRenewal(this.#clock, this.#store, job.id, lock.token, lost, renote);
    if (lock instanceof QuorumJobLock) {
      const signal = lock.lock.signal;
      const onAbort = (): void => {
        const reason: unknown = signal.reason;
        // Released or abandoned by its holder here (job.releaseLock()): not a loss.
        if (reason instanceof LockLostError && reason.reason === 'released') return;
        lost(reason instanceof LockLostError ? reason : new LockLostError(lock.lock.resources, 'extendFailed', String(reason)));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    return renewal;
  }

  // ---- the stalled sweep ---------------------------------------------------------------------------

  #startSweeps(): void {
    if (this.settings.skipStalledCheck || this.#stopping) return;
    const tick = (): void => {
      if (this.#stopping) return;
      this.#sweepTimer = this.#clock.setTimeout(() => {
        this.#sweepTimer = undefined;
        void this.#sweep().finally(tick);
      }, this.settings.stalledInterval);
    };
    void this.#sweep().finally(tick);
  }

  /**
   * One sweep, if no other worker swept within the interval: jobs marked by the previous sweep and
   * still active without a lock are put back (`stalled`), or, past maxStalledCount, failed through
   * their attempts. With distributedLock a job is put back only when no quorum shows its lock held.
   */
  async #sweep(): Promise<void> {
    const { stalledInterval, maxStalledCount, distributedLock, redlock } = this.settings;
    try {
      // The guard lasts a little less than the interval, so each worker's timer finds it gone.
      let ids = await this.#store.stalledSweep(Math.max(1, stalledInterval - Math.min(100, Math.floor(stalledInterval / 10))));
      if (ids === null || ids.length === 0 || this.#stopping) return;
      if (distributedLock && redlock !== undefined) {
        const free = await Promise.all(ids.map((id) => redlock.holder(this.#store.lockResource(id)).then((h) => (h === null ? id : undefined), () => undefined)));
        ids = free.filter((id): id is string => id !== undefined);
        if (ids.length === 0) return;
      }
      const { moved, over } = await this.#store.moveStalled(ids, maxStalledCount);
      for (const id of moved) this.emit('stalled', id, 'active');
      for (const id of over) await this.#failStalled(id);
    } catch (error) {
      if (!this.#stopping) this.#redisError(error);
    }
  }

  /** A job past maxStalledCount: taken with a new token and failed through its attempts and backoff. */
  async #failStalled(id: string): Promise<void> {
    const hash = await this.#store.hash(id);
    if (hash === undefined) return;
    const job = new Job<D, R>(this.#host, id, hash);
    if ((await job.takeLock()) === false) return;
    const error = new Error('job stalled more than allowable limit');
    try {
      await job.moveToFailed(error);
      this.emit('failed', job, error, 'active');
    } catch (refused) {
      if (refused instanceof StaleTokenError || refused instanceof JobError) this.emit('stale', job, refused);
      else throw refused;
    }
  }

  /**
   * A finish call, tried again when Redis fails it (a restart, a reconnect): 6 tries over about 3 s,
   * waits doubling from 100 ms. The token makes a repeat safe (a finish that did go through makes
   * the repeat answer "finished already"). After that the job stays active for the stalled sweep.
   */
  async #finishing<T>(finish: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await finish();
      } catch (error) {
        if (attempt >= FINISH_TRIES || error instanceof StaleTokenError || error instanceof JobError || error instanceof InvalidOptionsError) throw error;
        await sleep(this.#clock, 100 * 2 ** (attempt - 1));
      }
    }
  }

  #customBackoff(job: Job, backoff: Backoff, attemptsMade: number, error: Error): number | undefined {
    const named = this.#strategies?.[backoff.type];
    if (named !== undefined) return named(attemptsMade, error, job as never);
    if (this.#backoffStrategy !== undefined) return this.#backoffStrategy(attemptsMade, backoff.type, error, job as never);
    return undefined;
  }

  async #close(timeoutMs: number | undefined): Promise<void> {
    this.emit('closing', 'close');
    this.#stopping = true;
    this.#stop.abort();
    if (this.#sweepTimer !== undefined) this.#clock.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#wakeLoop();
    this.#blocking?.disconnect();
    await this.#loop?.catch(() => undefined);
    this.#blocking?.disconnect();
    const all = Promise.all([...this.#running].map((r) => r.done));
    if (timeoutMs === undefined) {
      await all;
    } else {
      let timer: unknown;
      const timedOut = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((resolve) => (timer = this.#clock.setTimeout(() => resolve(true), timeoutMs))),
      ]);
      this.#clock.clearTimeout(timer);
      if (timedOut) await Promise.all([...this.#running].map((running) => this.#abandon(running)));
    }
    await this.#store.close();
    this.emit('closed');
  }

  /** Close timed out: abort the job's signal and put it straight back to waiting. */
  async #abandon(running: Running): Promise<void> {
    running.abandoned = true;
    running.controller.abort(new JobError('JOB_ABANDONED', running.job.id, `The worker closed before job ${running.job.id} finished; it was put back to waiting`));
    try {
      const { job } = running;
      const claimed = job.token === undefined ? (job.fencingToken === 0n ? '' : job.fencingToken.toString()) : undefined;
      await this.#store.requeue(job.id, running.holder, claimed);
    } catch (error) {
      this.#redisError(error);
    }
    const lock = running.job.lock;
    if (lock instanceof QuorumJobLock) await lock.lock.release().catch(() => undefined);
  }
}
