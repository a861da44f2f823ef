import { EventEmitter } from 'eventemitter3';
import type { Cluster, Redis } from 'ioredis';
import { type Clock, sleep, systemClock } from '../clock.js';
import { describeValue, nonEmptyString } from '../core/options.js';
import { InvalidOptionsError, JobError } from '../errors.js';
import { RedisNode } from '../nodes/redis/redis-node.js';
import { deserialize } from './job-options.js';
import type { ConnectionInput } from './queue-options.js';
import { checkPrefix, checkQueueName } from './queue-options.js';
import { QueueKeys } from './queue-keys.js';
import type { JobHash } from './queue-store.js';

/** Options of `new QueueEvents(name, options)`. */
export interface QueueEventsOptions {
  readonly connection: ConnectionInput;
  /** @defaultValue 'redfence' */
  readonly prefix?: string;
  /** The stream entry to read after: '$' (only what comes after start-up) or an entry id. @defaultValue '$' */
  readonly lastEventId?: string;
  /** Start reading at once; false: call `run()`. @defaultValue true */
  readonly autorun?: boolean;
  /** ms one blocking read waits before it reads again. @defaultValue 10000 */
  readonly blockingTimeout?: number;
  readonly clock?: Clock;
}

type Args<T> = [args: T & { readonly jobId: string }, id: string];

/** Events of a queue, from any process, as {@link QueueEvents} reads them (BullMQ names). */
export interface QueueEventsEvents {
  waiting: Args<{ readonly prev?: string }>;
  delayed: Args<{ readonly delay: number }>;
  active: Args<{ readonly prev?: string }>;
  progress: Args<{ readonly data: unknown }>;
  completed: Args<{ readonly returnvalue: unknown; readonly prev?: string }>;
  /** A job failed for good (no attempts left). A failed attempt that is retried shows as `waiting` or `delayed`. */
  failed: Args<{ readonly failedReason: string; readonly prev?: string }>;
  /** A delivery whose token was no longer current tried to finish the job: its result was dropped. */
  stale: Args<{ readonly token: string; readonly current: string }>;
  removed: Args<{ readonly prev?: string }>;
  duplicated: Args<object>;
  /** The stalled sweep put the job back to waiting. */
  stalled: Args<object>;
  drained: [id: string];
  paused: [id: string];
  resumed: [id: string];
  /** Reading the stream failed (it is retried); observability only. */
  redisError: [error: Error];
}

/**
 * The events of one queue as other processes see them: a reader of the queue's event stream (a
 * Redis stream: entries are kept, about the last 10,000, so a reader that reconnects misses none
 * of them). What `job.waitUntilFinished` listens on.
 *
 * @example
 * const events = new QueueEvents('email', { connection })
 * events.on('completed', ({ jobId, returnvalue }) => console.log(jobId, returnvalue))
 */
export class QueueEvents extends EventEmitter<QueueEventsEvents> implements AsyncDisposable {
  readonly name: string;
  readonly #node: RedisNode;
  /** The blocking reader: the node's own connection when redfence opened it, else a duplicate. */
  readonly #reader: Redis | Cluster;
  readonly #key: string;
  readonly #clock: Clock;
  readonly #blockMs: number;
  #lastId: string;
  #ready: Promise<void> | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(name: string, options: QueueEventsOptions) {
    super();
    this.name = checkQueueName(name);
    if (typeof options !== 'object' || options === null) throw new InvalidOptionsError(`Expected the options of QueueEvents to be an object with \`connection\`, got ${describeValue(options)}`);
    const known = ['connection', 'prefix', 'lastEventId', 'autorun', 'blockingTimeout', 'clock'];
    for (const key of Object.keys(options)) {
      if (!known.includes(key)) throw new InvalidOptionsError(`Unknown option \`${key}\` for QueueEvents; known options: ${known.join(', ')}`);
    }
    const prefix = checkPrefix(nonEmptyString('prefix', options.prefix ?? 'redfence'));
    this.#lastId = nonEmptyString('lastEventId', options.lastEventId ?? '$');
    this.#blockMs = options.blockingTimeout ?? 10_000;
    if (!Number.isSafeInteger(this.#blockMs) || this.#blockMs < 1) throw new InvalidOptionsError(`Expected \`blockingTimeout\` to be a positive integer, got ${describeValue(this.#blockMs)}`);
    this.#clock = options.clock ?? systemClock;
    this.#key = new QueueKeys(prefix, this.name).events;
    this.#node = new RedisNode(options.connection, 'connection', this.#clock);
    this.#reader = this.#node.owned ? this.#node.client : this.#node.client.duplicate();
    if (!this.#node.owned) this.#reader.on('error', () => undefined);
    if (options.autorun !== false) void this.run();
  }

  /** Resolves once the reader knows where the stream ends: events from then on are all seen. */
  waitUntilReady(): Promise<void> {
    this.#ready ??= (async () => {
      if (this.#lastId !== '$') return;
      const last = (await this.#reader.xrevrange(this.#key, '+', '-', 'COUNT', 1))[0];
      this.#lastId = last?.[0] ?? '0-0';
    })();
    return this.#ready;
  }

  /** Reads the stream until `close()`; started by the constructor unless `autorun: false`. */
  run(): Promise<void> {
    this.#running ??= this.#read();
    return this.#running;
  }

  async #read(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.waitUntilReady();
        const reply = await this.#reader.xread('COUNT', 1_000, 'BLOCK', this.#blockMs, 'STREAMS', this.#key, this.#lastId);
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            this.#lastId = id;
            this.#dispatch(id, fields);
          }
        }
      } catch (error) {
        if (this.#closed) return;
        this.#ready = undefined;
        this.emit('redisError', error instanceof Error ? error : new Error(String(error)));
        await sleep(this.#clock, 200);
      }
    }
  }

  #dispatch(id: string, fields: readonly string[]): void {
    const args: Record<string, unknown> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) args[fields[i] ?? ''] = fields[i + 1];
    const { event, ...rest } = args;
    if (typeof event !== 'string') return;
    if (event === 'drained' || event === 'paused' || event === 'resumed') {
      this.emit(event, id);
      return;
    }
    if ('returnvalue' in rest) rest['returnvalue'] = deserialize(rest['returnvalue'] as string);
    if ('data' in rest) rest['data'] = deserialize(rest['data'] as string);
    if ('delay' in rest) rest['delay'] = Number(rest['delay']);
    (this.emit as (event: string, ...args: unknown[]) => boolean)(event, rest, id);
  }

  /**
   * @internal Resolves with job `jobId`'s result once it completes; rejects once it fails for
   * good, or after `ttl` ms. Checks the job itself too (`read`), so a job finished before the
   * call is seen.
   */
  async waitFor<R>(jobId: string, ttl: number | undefined, read: () => Promise<JobHash | undefined>): Promise<R> {
    await this.waitUntilReady();
    return new Promise<R>((resolve, reject) => {
      let timer: unknown;
      const done = (): void => {
        this.off('completed', onCompleted);
        this.off('failed', onFailed);
        if (timer !== undefined) this.#clock.clearTimeout(timer);
      };
      const failed = (reason: string): JobError => new JobError('JOB_FAILED', jobId, reason);
      const onCompleted = ({ jobId: id, returnvalue }: { jobId: string; returnvalue: unknown }): void => {
        if (id !== jobId) return;
        done();
        resolve(returnvalue as R);
      };
      const onFailed = ({ jobId: id, failedReason }: { jobId: string; failedReason: string }): void => {
        if (id !== jobId) return;
        done();
        reject(failed(failedReason));
      };
      this.on('completed', onCompleted);
      this.on('failed', onFailed);
      if (ttl !== undefined) {
        timer = this.#clock.setTimeout(() => {
          done();
          reject(new JobError('JOB_TIMEOUT', jobId, `Job ${jobId} did not finish within ${ttl} ms`));
        }, ttl);
      }
      read().then(
        (hash) => {
          if (hash === undefined || hash['finishedOn'] === undefined) return;
          done();
          // Only a completion writes returnvalue (a retry clears it).
          if (hash['returnvalue'] !== undefined) resolve(deserialize(hash['returnvalue']) as R);
          else reject(failed(hash['failedReason'] ?? 'failed'));
        },
        () => undefined,
      );
    });
  }

  /** Stops reading and closes the connections it opened. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#node.owned) this.#reader.disconnect();
    else this.#node.client.disconnect();
    await this.#running?.catch(() => undefined);
    await this.#node.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
