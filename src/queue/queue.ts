// Untyped job data and results are `any`, as in Bull and BullMQ: code that migrates keeps compiling.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { EventEmitter } from 'eventemitter3';
import { type Clock, systemClock } from '../clock.js';
import { describeValue, nonEmptyString, nonNegativeInteger, positiveInteger } from '../core/options.js';
import { InvalidOptionsError, JobError, type StaleTokenError } from '../errors.js';
import type { Backoff } from './backoff.js';
import type { LeaderElection } from '../election/leader-election.js';
import { Job, type JobHost } from './job.js';
import { type JobOptions, resolveJobOptions, serialize } from './job-options.js';
import { QueueLeader } from './queue-leader.js';
import { type BackoffStrategies, checkPrefix, checkQueueName, type QueueOptions, type QueueSettings, resolveQueueSettings } from './queue-options.js';
import { type JobState, type PreparedJob, QueueStore } from './queue-store.js';
import { Worker } from './worker.js';

/** Bull's handler: the job and a signal that aborts when the attempt must stop (timeout, close). */
export type Handler<D = any, R = any> = (job: Job<D, R>, signal: AbortSignal) => Promise<R> | R;

/** Events of a {@link Queue} (Bull style: job objects), for observability; `'error'` is never emitted. */
export interface QueueEventMap<D = any, R = any> {
  /** A job added by this Queue object is waiting (or delayed). */
  waiting: [job: Job<D, R>];
  /** The rest come from this queue's own `process()` handlers. */
  active: [job: Job<D, R>];
  completed: [job: Job<D, R>, result: R];
  failed: [job: Job<D, R>, error: Error];
  progress: [job: Job<D, R>, progress: number | object];
  /** A result was dropped: the delivery was no longer the job's current one (see Worker `stale`). */
  stale: [job: Job<D, R>, error: StaleTokenError | JobError];
  drained: [];
  paused: [];
  resumed: [];
  removed: [jobId: string];
  cleaned: [jobIds: string[], type: string];
  /** A Redis call of the queue's processing failed (retried); observability only. */
  redisError: [error: Error];
  /** The stalled sweep put a job back to waiting (Bull); `jobStalled` is bun-queue's name. */
  stalled: [job: Job<D, R>];
  jobStalled: [jobId: string];
  'lock-extension-failed': [job: Job<D, R>, error: Error];
  /**
   * With `horizontalScaling: true`: this instance was elected leader of the queue's instances; the
   * term (the seat's fencing token) fences its once-per-queue work.
   */
  leader: [term: bigint];
  /** With `horizontalScaling: true`: another instance leads (`not-elected`, once), or this one's term ended (the election's reason). */
  follower: [reason: string];
}

/** One job of `addBulk`. */
export interface BulkJob<D = any> {
  readonly name?: string;
  readonly data: D;
  readonly opts?: JobOptions | undefined;
}

/** States `getJobs` reads. */
export type JobType = JobState;

const TYPES: Record<JobType, 'list' | 'zset'> = {
  waiting: 'list', paused: 'list', active: 'list',
  prioritized: 'zset', delayed: 'zset', completed: 'zset', failed: 'zset',
};

const DEFAULT_NAME = '__default__';

/** Array.isArray without narrowing a typed array to any[]. */
const isList = (value: unknown): boolean => Array.isArray(value);

/**
 * A job queue with Bull's and BullMQ's names and meanings, on one Redis or Cluster (`connection`;
 * every key of a queue shares one hash tag). Delivering a job takes its lock and a fencing token —
 * the quorum lock on `redlock` with `distributedLock: true` — and finishing it is judged by that
 * token: a job completes at most once and is never lost (it ends completed or failed, or is still
 * queued). Effects outside the queue are exactly-once only in a store that checks
 * `job.fencingToken` (docs/queue.md).
 *
 * @example
 * const queue = new Queue('email', { connection: 'redis://localhost:6379' })
 * queue.process(5, async (job, signal) => send(job.data, { fence: job.fencingToken, signal }))
 * await queue.add({ to: 'a@example.com' }, { attempts: 3, backoff: { type: 'exponential', delay: 1000 } })
 */
export class Queue<D = any, R = any> extends EventEmitter<QueueEventMap<D, R>> implements AsyncDisposable {
  readonly name: string;
  readonly settings: QueueSettings;
  readonly #options: QueueOptions;
  readonly #store: QueueStore;
  readonly #clock: Clock;
  readonly #defaults: JobOptions | undefined;
  readonly #strategies: BackoffStrategies | undefined;
  readonly #host: JobHost;
  readonly #handlers = new Map<string, Handler<D, R>>();
  #worker: Worker<D, R> | undefined;
  readonly #leader: QueueLeader | undefined;
  #closing: Promise<void> | undefined;

  /** @throws {InvalidOptionsError} a bad name or option (also in `defaultJobOptions`). */
  constructor(name: string, options: QueueOptions) {
    super();
    this.name = checkQueueName(name);
    this.settings = resolveQueueSettings('Queue', options);
    checkPrefix(this.settings.prefix);
    this.#options = options;
    this.#strategies = options.settings?.backoffStrategies;
    if (this.#strategies !== undefined) {
      if (typeof this.#strategies !== 'object' || this.#strategies === null) throw new InvalidOptionsError(`Expected \`settings.backoffStrategies\` to be an object of functions, got ${describeValue(this.#strategies)}`);
      for (const [type, fn] of Object.entries(this.#strategies)) {
        if (typeof fn !== 'function') throw new InvalidOptionsError(`Expected \`settings.backoffStrategies.${type}\` to be a function, got ${describeValue(fn)}`);
      }
    }
    this.#defaults = options.defaultJobOptions;
    if (this.#defaults !== undefined) resolveJobOptions(undefined, this.#defaults, this.#knownBackoff, 'defaultJobOptions');
    this.#clock = options.clock ?? systemClock;
    this.#store = new QueueStore(this.name, options.connection, this.settings, this.#clock, (message) => process.emitWarning(message, 'RedfenceWarning'));
    this.#host = {
      store: this.#store,
      clock: this.#clock,
      redlock: this.settings.redlock,
      removeOnComplete: undefined,
      removeOnFail: undefined,
      customBackoff: (job, backoff, attemptsMade, error) => this.#customBackoff(job, backoff, attemptsMade, error),
    };
    if (options.horizontalScaling === true) {
      this.#leader = new QueueLeader(this.name, this.settings, this.#store.client, (leadership) => this.emit('leader', leadership.term), (reason) => this.emit('follower', reason));
      this.#leader.start();
    }
  }

  /**
   * With `horizontalScaling: true`, the election among this queue's instances (for `leader()`,
   * `observe()`, `leadership.signal`); otherwise undefined.
   */
  get election(): LeaderElection | undefined {
    return this.#leader?.election;
  }

  /** Whether this instance leads the queue's instances now (`horizontalScaling: true`; read before each leader action). */
  get isLeader(): boolean {
    return this.#leader?.election.isLeader ?? false;
  }

  /** A custom backoff type is known: Bull's strategies given here, or BullMQ's `custom` (a worker's `backoffStrategy`). */
  readonly #knownBackoff = (type: string): boolean => type === 'custom' || (this.#strategies !== undefined && Object.hasOwn(this.#strategies, type));

  #customBackoff(job: Job, backoff: Backoff, attemptsMade: number, error: Error): number | undefined {
    const strategy = this.#strategies?.[backoff.type];
    return strategy === undefined ? undefined : strategy(attemptsMade, error, job as never);
  }

  /**
   * Resolves once the queue's Redis answered and its eviction policy was checked.
   * @throws {RedfenceError} code `EVICTION_POLICY` (unless `evictionPolicy: 'warn'`).
   */
  waitUntilReady(): Promise<void> {
    return this.#store.ready();
  }

  // ---- adding -------------------------------------------------------------------------------------

  /**
   * Adds a job: `add(data, opts)` (Bull) or `add(name, data, opts)`. A `jobId` that exists already
   * returns that job and writes nothing.
   * @throws {InvalidOptionsError} bad options or data JSON cannot keep (nothing is written).
   */
  add(data: D, opts?: JobOptions): Promise<Job<D, R>>;
  add(name: string, data: D, opts?: JobOptions): Promise<Job<D, R>>;
  async add(nameOrData: string | D, dataOrOpts?: D | JobOptions, maybeOpts?: JobOptions): Promise<Job<D, R>> {
    const named = typeof nameOrData === 'string';
    const job = named ? { name: nameOrData, data: dataOrOpts as D, opts: maybeOpts } : { name: DEFAULT_NAME, data: nameOrData, opts: dataOrOpts as JobOptions | undefined };
    const [added] = await this.addBulk([job]);
    if (added === undefined) throw new Error('addBulk returned no job');
    return added;
  }

  /**
   * Adds jobs in one atomic step: all of them or, on bad input, none.
   * @throws {InvalidOptionsError} naming the first bad job.
   */
  async addBulk(jobs: readonly BulkJob<D>[]): Promise<Job<D, R>[]> {
    if (!isList(jobs)) throw new InvalidOptionsError(`Expected \`jobs\` to be an array of { name, data, opts }, got ${describeValue(jobs)}`);
    const prepared: PreparedJob[] = jobs.map((job, i) => {
      if (typeof job !== 'object' || job === null) throw new InvalidOptionsError(`Expected \`jobs[${i}]\` to be { name, data, opts }, got ${describeValue(job)}`);
      const name = job.name === undefined ? DEFAULT_NAME : nonEmptyString(`jobs[${i}].name`, job.name);
      const opts = resolveJobOptions(this.#defaults, job.opts, this.#knownBackoff);
      return {
        id: opts.jobId ?? '',
        name,
        data: serialize(jobs.length === 1 ? 'data' : `jobs[${i}].data`, job.data),
        opts: JSON.stringify(opts),
        delay: opts.delay,
        priority: opts.priority,
        lifo: opts.lifo,
      };
    });
    if (prepared.length === 0) return [];
    await this.#store.ready();
    const { timestamp, added } = await this.#store.add(prepared);
    return Promise.all(
      added.map(async ({ id, duplicate }, i) => {
        const job = prepared[i];
        if (duplicate || job === undefined) return (await this.getJob(id)) ?? this.#fresh(id, job ?? prepared[0], timestamp);
        const fresh = this.#fresh(id, job, timestamp);
        if (this.listenerCount('waiting') > 0) this.emit('waiting', fresh);
        return fresh;
      }),
    );
  }

  #fresh(id: string, job: PreparedJob | undefined, timestamp: number): Job<D, R> {
    return new Job<D, R>(this.#host, id, {
      name: job?.name ?? DEFAULT_NAME,
      data: job?.data ?? 'null',
      opts: job?.opts ?? '{}',
      timestamp: String(timestamp),
      delay: String(job?.delay ?? 0),
      priority: String(job?.priority ?? 0),
    });
  }

  // ---- processing (Bull) --------------------------------------------------------------------------

  /**
   * Processes jobs in this process (Bull): `process(handler)`, `process(concurrency, handler)`,
   * `process(name, handler)`, `process(name, concurrency, handler)`. A named handler takes the jobs
   * of that name; an unnamed one (or `'*'`) all others. Concurrencies add up. The handler gets the
   * job (with its `fencingToken`) and a signal; Bull's `done` callback is not supported.
   * @throws {InvalidOptionsError}
   */
  process(handler: Handler<D, R>): void;
  process(concurrency: number, handler: Handler<D, R>): void;
  process(name: string, handler: Handler<D, R>): void;
  process(name: string, concurrency: number, handler: Handler<D, R>): void;
  process(...args: unknown[]): void {
    const handler = args.pop();
    if (typeof handler !== 'function') throw new InvalidOptionsError(`Expected the last argument of \`process\` to be a handler function, got ${describeValue(handler)}`);
    const name = typeof args[0] === 'string' ? nonEmptyString('name', args.shift()) : '*';
    const concurrency = args.length > 0 ? positiveInteger('concurrency', args.shift()) : 1;
    if (args.length > 0) throw new InvalidOptionsError('Expected `process([name], [concurrency], handler)`');
    if (this.#handlers.has(name)) throw new InvalidOptionsError(`A handler for \`${name}\` is registered already on queue \`${this.name}\``);
    if (this.#closing !== undefined) throw new InvalidOptionsError('This queue was closed');
    this.#handlers.set(name, handler as Handler<D, R>);
    if (this.#worker !== undefined) {
      this.#worker.concurrency += concurrency;
      return;
    }
    const { defaultJobOptions: _d, settings: _s, stalledJobCheckInterval: _i, maxStalledJobRetries: _m, ...common } = this.#options;
    const worker = new Worker<D, R>(this.name, (job, _token, signal) => this.#dispatch(job, signal), {
      ...common,
      connection: this.#store.client,
      concurrency,
      ...(this.#strategies === undefined ? {} : { settings: { backoffStrategies: this.#strategies } }),
      lockDuration: this.settings.lockDuration,
      lockRenewTime: this.settings.lockRenewTime,
      stalledInterval: this.settings.stalledInterval,
      maxStalledCount: this.settings.maxStalledCount,
      keepAlive: this.settings.keepAlive,
      useDedicatedLockThread: this.settings.useDedicatedLockThread,
      skipLockRenewal: this.settings.skipLockRenewal,
      skipStalledCheck: this.settings.skipStalledCheck,
      drainDelay: this.settings.drainDelay,
    });
    worker.on('active', (job) => this.emit('active', job));
    worker.on('completed', (job, result) => this.emit('completed', job, result));
    worker.on('failed', (job, error) => job !== undefined && this.emit('failed', job, error));
    worker.on('progress', (job, progress) => this.emit('progress', job, progress));
    worker.on('stale', (job, error) => this.emit('stale', job, error));
    worker.on('drained', () => this.emit('drained'));
    worker.on('redisError', (error) => this.emit('redisError', error));
    worker.on('stalled', (id) => {
      this.emit('jobStalled', id);
      if (this.listenerCount('stalled') > 0) void this.getJob(id).then((job) => job !== undefined && this.emit('stalled', job), () => undefined);
    });
    worker.on('lockRenewalFailed', (ids) => {
      for (const job of worker.runningJobs) {
        if (ids.includes(job.id)) this.emit('lock-extension-failed', job, job.signal.reason instanceof Error ? job.signal.reason : new Error(String(job.signal.reason)));
      }
    });
    this.#worker = worker;
  }

  #dispatch(job: Job<D, R>, signal: AbortSignal): Promise<R> | R {
    const handler = this.#handlers.get(job.name) ?? this.#handlers.get('*');
    if (handler === undefined) throw new Error(`Missing process handler for job type ${job.name}`);
    return handler(job, signal);
  }

  // ---- reading ------------------------------------------------------------------------------------

  /** The job with this id, or undefined. */
  async getJob(jobId: string | number): Promise<Job<D, R> | undefined> {
    const id = String(jobId);
    const hash = await this.#store.hash(id);
    return hash === undefined ? undefined : new Job<D, R>(this.#host, id, hash);
  }

  /**
   * Jobs in the given states, each state's range `start`..`end` (inclusive; -1 = the last), newest
   * first unless `asc`.
   */
  async getJobs(types: JobType | readonly JobType[] = ['waiting', 'active', 'delayed', 'completed', 'failed'], start = 0, end = -1, asc = false): Promise<Job<D, R>[]> {
    const list = typeof types === 'string' ? [types] : types;
    const paused = await this.isPaused();
    const ids = new Set<string>();
    for (const type of list) {
      const kind = TYPES[type];
      if (kind === undefined) throw new InvalidOptionsError(`Expected a job state (${Object.keys(TYPES).join(', ')}), got ${describeValue(type)}`);
      if (type === 'paused' && !paused) continue;
      // 'waiting' and 'paused' are the same list (paused is a flag): read once.
      const key = type === 'waiting' || type === 'paused' ? this.#store.keys.wait : this.#store.keys[type];
      for (const id of await this.#store.ids(key, kind, start, end, asc)) ids.add(id);
    }
    const jobs = await Promise.all([...ids].map((id) => this.getJob(id)));
    return jobs.filter((job): job is Job<D, R> => job !== undefined);
  }

  /**
   * How many jobs are in each state (all states, or those named). `waiting` counts the wait list
   * while the queue runs, `paused` while it is paused.
   */
  async getJobCounts(...types: JobType[]): Promise<Record<string, number>> {
    const counts = await this.#store.counts();
    if (types.length === 0) return { ...counts };
    const out: Record<string, number> = {};
    for (const type of types.flat()) out[type] = counts[type] ?? 0;
    return out;
  }

  /** A job's log rows from `start` to `end` (inclusive; -1 = the last) and how many there are. */
  getJobLogs(jobId: string | number, start = 0, end = -1): Promise<{ logs: string[]; count: number }> {
    return this.#store.logs(String(jobId), start, end);
  }

  /** Waiting (also while paused), prioritized and delayed jobs: what has yet to run. */
  async count(): Promise<number> {
    const c = await this.#store.counts();
    return c.waiting + c.paused + c.prioritized + c.delayed;
  }

  getWaiting(start?: number, end?: number): Promise<Job<D, R>[]> {
    return this.getJobs(['waiting'], start, end, true);
  }

  getActive(start?: number, end?: number): Promise<Job<D, R>[]> {
    return this.getJobs(['active'], start, end);
  }

  getDelayed(start?: number, end?: number): Promise<Job<D, R>[]> {
    return this.getJobs(['delayed'], start, end, true);
  }

  getPrioritized(start?: number, end?: number): Promise<Job<D, R>[]> {
    return this.getJobs(['prioritized'], start, end, true);
  }

  getCompleted(start?: number, end?: number): Promise<Job<D, R>[]> {
    return this.getJobs(['completed'], start, end);
  }

  getFailed(start?: number, end?: number): Promise<Job<D, R>[]> {
    return this.getJobs(['failed'], start, end);
  }

  async getWaitingCount(): Promise<number> {
    const c = await this.#store.counts();
    return c.waiting + c.paused;
  }

  async getActiveCount(): Promise<number> {
    return (await this.#store.counts()).active;
  }

  async getDelayedCount(): Promise<number> {
    return (await this.#store.counts()).delayed;
  }

  async getPrioritizedCount(): Promise<number> {
    return (await this.#store.counts()).prioritized;
  }

  async getCompletedCount(): Promise<number> {
    return (await this.#store.counts()).completed;
  }

  async getFailedCount(): Promise<number> {
    return (await this.#store.counts()).failed;
  }

  // ---- control ------------------------------------------------------------------------------------

  /**
   * Pauses the queue for every worker (jobs can still be added), or with `isLocal` only this
   * queue's own `process()` handlers.
   */
  async pause(isLocal = false, doNotWaitActive = false): Promise<void> {
    if (isLocal) await this.#worker?.pause(doNotWaitActive);
    else {
      await this.#store.ready();
      await this.#store.pause(true);
    }
    this.emit('paused');
  }

  async resume(isLocal = false): Promise<void> {
    if (isLocal) this.#worker?.resume();
    else {
      await this.#store.ready();
      await this.#store.pause(false);
    }
    this.emit('resumed');
  }

  /** Whether the queue is paused for every worker. */
  async isPaused(): Promise<boolean> {
    return (await this.#store.client.hget(this.#store.keys.meta, 'paused')) === '1';
  }

  /**
   * Removes a job (any state but active-and-locked).
   * @returns 1 removed, 0 no such job
   * @throws {JobError} `JOB_LOCKED` while a worker holds it.
   */
  async remove(jobId: string | number): Promise<number> {
    const id = String(jobId);
    const reply = await this.#store.remove(id);
    if (reply === -1) throw new JobError('JOB_LOCKED', id, `Job ${id} is being processed (its lock is held); it cannot be removed now`);
    if (reply === 1) this.emit('removed', id);
    return reply;
  }

  /**
   * Removes up to `limit` (0 = all) jobs of one state older than `grace` ms (finished ones by when
   * they finished). Active jobs whose lock is held stay.
   * @returns the removed ids
   */
  async clean(grace: number, limit = 0, type: JobType | 'wait' = 'completed'): Promise<string[]> {
    const state = type === 'wait' ? 'waiting' : type;
    if (TYPES[state] === undefined) throw new InvalidOptionsError(`Expected \`type\` to be a job state (${Object.keys(TYPES).join(', ')}), got ${describeValue(type)}`);
    const removed = await this.#store.clean(state, nonNegativeInteger('grace', grace), nonNegativeInteger('limit', limit));
    this.emit('cleaned', removed, state);
    return removed;
  }

  /** Removes every job waiting to run (and the delayed ones with `delayed`); active and finished jobs stay. */
  async drain(delayed = false): Promise<void> {
    await this.#store.drain(delayed === true);
  }

  /** Bull's name of {@link Queue.drain}. */
  empty(): Promise<void> {
    return this.drain();
  }

  /**
   * Deletes the queue and all its jobs (in batches of `count`). Refused while jobs are active unless
   * `force`. The id and fencing counters stay: tokens never go back, also for a queue made again.
   * @throws {JobError} `JOB_LOCKED` when jobs are active and `force` is not set.
   */
  async obliterate(opts: { readonly force?: boolean; readonly count?: number } = {}): Promise<void> {
    const count = positiveInteger('count', opts.count ?? 1_000);
    for (;;) {
      const reply = await this.#store.obliterate(opts.force === true, count);
      if (reply === -1) throw new JobError('JOB_LOCKED', '*', `Queue \`${this.name}\` has active jobs; pass { force: true } to obliterate it anyway`);
      if (reply === 0) return;
    }
  }

  /**
   * Closes the queue: its `process()` handlers as `worker.close(opts)` does (stops fetching, waits
   * for running jobs; with `{ timeout }` aborts them then and puts them straight back to waiting),
   * then the connections it opened. With `horizontalScaling`, it first stops the election (a
   * leader resigns: another instance takes the seat at once).
   */
  close(opts?: boolean | { readonly timeout?: number }): Promise<void> {
    this.#closing ??= (async () => {
      await this.#leader?.stop();
      await this.#worker?.close(opts ?? false);
      await this.#store.close();
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
