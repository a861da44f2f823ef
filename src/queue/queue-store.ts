import type { Cluster, Redis } from 'ioredis';
import { type Clock, bounded } from '../clock.js';
import { JobError, RedfenceError, StaleTokenError } from '../errors.js';
import type { LuaScriptName } from '../generated/lua-scripts.js';
import { RedisNode } from '../nodes/redis/redis-node.js';
import type { ConnectionInput, QueueSettings } from './queue-options.js';
import { QueueKeys } from './queue-keys.js';

/** A job as `add` sends it (checked and serialised). */
export interface PreparedJob {
  readonly id: string;
  readonly name: string;
  readonly data: string;
  readonly opts: string;
  readonly delay: number;
  readonly priority: number;
  readonly lifo: boolean;
}

/** A job's hash as a script or HGETALL returned it. */
export type JobHash = Readonly<Record<string, string>>;

/** A job moved to active: its hash and, in 'fence' mode, its new token ('' when only claimed). */
export interface Fetched {
  readonly id: string;
  readonly token: string;
  readonly hash: JobHash;
}

export type FetchReply =
  | { readonly status: 'jobs'; readonly jobs: readonly Fetched[] }
  /** `waitMs`: until the next delayed job is due (-1: none); for 'limited', until the window ends. */
  | { readonly status: 'empty' | 'paused' | 'limited'; readonly waitMs: number };

export type FinishTarget = 'completed' | 'failed' | 'retry' | 'delayed';

export type JobState = 'completed' | 'failed' | 'delayed' | 'active' | 'prioritized' | 'waiting' | 'paused';

export interface JobCounts {
  waiting: number;
  paused: number;
  prioritized: number;
  delayed: number;
  active: number;
  completed: number;
  failed: number;
}

/** A token string as a bigint (0n for none or a claim id). */
export const tokenOf = (token: string): bigint => (/^\d+$/.test(token) ? BigInt(token) : 0n);

/** How long the start-up check may take. */
const READY_TIMEOUT_MS = 10_000;

function pairs(flat: readonly unknown[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/**
 * One queue's storage: its connection (a {@link RedisNode}: redfence's script sending and
 * connection hygiene), its keys, and a typed call per script. The script replies are decoded and
 * their error codes turned into errors here, in one place.
 */
export class QueueStore {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly node: RedisNode;
  readonly settings: QueueSettings;
  readonly clock: Clock;
  #ready: Promise<void> | undefined;
  #closed = false;
  readonly #warn: (message: string) => void;

  constructor(name: string, connection: ConnectionInput, settings: QueueSettings, clock: Clock, warn: (message: string) => void) {
    this.name = name;
    this.settings = settings;
    this.clock = clock;
    this.#warn = warn;
    this.keys = new QueueKeys(settings.prefix, name);
    this.node = new RedisNode(connection, 'connection', clock, undefined, { batchWrites: false });
  }

  get client(): Redis | Cluster {
    return this.node.client;
  }

  /** The Redlock resource of a job's quorum lock. */
  lockResource(id: string): string {
    return `${this.name}:job:${id}`;
  }

  /**
   * Resolves once the queue's Redis answered and its eviction policy was checked (once).
   * @throws {RedfenceError} code `EVICTION_POLICY` when it may evict keys and `evictionPolicy` is 'refuse'.
   */
  ready(): Promise<void> {
    this.#ready ??= bounded(this.clock, READY_TIMEOUT_MS, this.#checkEviction(), `${this.node.name}: start-up check`);
    return this.#ready;
  }

  async #checkEviction(): Promise<void> {
    const client = this.node.client;
    let servers: (Redis | Cluster)[] = [client];
    if (this.node.isCluster) {
      await client.ping();
      servers = (client as Cluster).nodes('master');
    }
    for (const server of servers) {
      let info: string;
      try {
        info = await server.info('memory');
      } catch (error) {
        this.#warn(`redfence queue \`${this.name}\`: could not read the eviction policy of ${this.node.name} (${String(error)}); make sure it is noeviction`);
        continue;
      }
      const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
      if (policy === undefined || policy === 'noeviction') continue;
      const message =
        `The queue's Redis (${this.node.name}) has maxmemory-policy \`${policy}\`: it may evict job and fencing keys, losing jobs ` +
        'and letting fencing tokens go back. Set `maxmemory-policy noeviction` (CONFIG SET, or redis.conf), or pass ' +
        "`evictionPolicy: 'warn'` to run anyway.";
      if (this.settings.evictionPolicy === 'refuse') throw new RedfenceError('EVICTION_POLICY', message);
      this.#warn(message);
    }
  }

  run(script: LuaScriptName, args: readonly (string | number)[]): Promise<unknown> {
    return this.node.run(script, this.keys.scriptKeys, args);
  }

  async add(jobs: readonly PreparedJob[]): Promise<{ timestamp: number; added: { id: string; duplicate: boolean }[] }> {
    const args: (string | number)[] = [jobs.length];
    for (const job of jobs) args.push(job.id, job.name, job.data, job.opts, job.delay, job.priority, job.lifo ? '1' : '0');
    const reply = (await this.run('queueAdd', args)) as unknown[];
    const added: { id: string; duplicate: boolean }[] = [];
    for (let i = 1; i + 1 < reply.length; i += 2) added.push({ id: String(reply[i]), duplicate: Number(reply[i + 1]) === 1 });
    return { timestamp: Number(reply[0]), added };
  }

  async fetch(mode: 'fence' | 'claim', claim: string, count: number): Promise<FetchReply> {
    const limiter = this.settings.limiter;
    const reply = (await this.run('queueFetch', [mode, claim, this.leaseMs, count, limiter?.max ?? 0, limiter?.duration ?? 0])) as unknown[];
    const status = Number(reply[0]);
    if (status === 1) {
      const jobs = reply.slice(2).map((raw) => {
        const [id, token, ...fields] = raw as unknown[];
        return { id: String(id), token: String(token), hash: pairs(fields) };
      });
      return { status: 'jobs', jobs };
    }
    return { status: status === 2 ? 'paused' : status === 3 ? 'limited' : 'empty', waitMs: Number(reply[1]) };
  }

  /**
   * distributedLock: records a granted quorum lock's token on a claimed job; false when the claim is
   * gone. `claimedToken`: the job's token when it was claimed (its `ftok`, '' for none).
   */
  async activate(id: string, claim: string, token: bigint, claimedToken: string): Promise<{ attemptsStarted: number; processedOn: number } | false> {
    const reply = (await this.run('queueActivate', [id, claim, token.toString(), this.leaseMs, claimedToken])) as unknown[];
    const code = Number(reply[0]);
    if (code === -2) throw new StaleTokenError(this.lockResource(id), token, BigInt(String(reply[1])));
    if (code !== 1) return false;
    return { attemptsStarted: Number(reply[1]), processedOn: Number(reply[2]) };
  }

  /**
   * Finishes an attempt by its token.
   * @throws {StaleTokenError} the token is no longer the job's current one: nothing was written.
   * @throws {JobError} `JOB_NOT_FOUND` (removed) or `JOB_STATE` (finished already).
   */
  async finish(
    id: string,
    token: string,
    target: FinishTarget,
    value: string,
    stacktrace: string,
    delayMs: number,
    keep: readonly [number, number],
  ): Promise<{ attemptsMade: number; finishedOn: number }> {
    const reply = (await this.run('queueFinish', [id, token, target, value, stacktrace, delayMs, keep[0], keep[1]])) as unknown[];
    this.#check(reply, id, token, 'finish');
    return { attemptsMade: Number(reply[1]), finishedOn: Number(reply[2]) };
  }

  /**
   * Puts an active job back to run next, unfinished; false when it is no longer this holder's.
   * `claimedToken` (a claim): the job's token when it was claimed.
   */
  async requeue(id: string, holder: string, claimedToken?: string): Promise<boolean> {
    return Number(await this.run('queueRequeue', claimedToken === undefined ? [id, holder] : [id, holder, claimedToken])) === 1;
  }

  /**
   * The stalled sweep's first step: null when another worker swept within `guardMs`; else the jobs
   * the previous sweep marked that are still active and unlocked (the new marks are set).
   */
  async stalledSweep(guardMs: number): Promise<string[] | null> {
    const reply = (await this.run('queueStalled', ['sweep', guardMs])) as unknown[];
    return Number(reply[0]) === 1 ? reply.slice(1).map(String) : null;
  }

  /** Puts stalled jobs back (`moved`); those past maxStalledCount are left for the caller to fail (`over`). */
  async moveStalled(ids: readonly string[], maxStalledCount: number): Promise<{ moved: string[]; over: string[] }> {
    const [moved, over] = (await this.run('queueStalled', ['move', maxStalledCount, ...ids])) as [unknown[], unknown[]];
    return { moved: moved.map(String), over: over.map(String) };
  }

  /**
   * How long a delivery's lock key lasts from its delivery or a renewal: the keep-alive lease when
   * there is one (shorter than lockDuration), else lockDuration.
   */
  get leaseMs(): number {
    const { keepAlive, lockDuration } = this.settings;
    return keepAlive > 0 && keepAlive < lockDuration ? keepAlive : lockDuration;
  }

  async lock(op: 'extend' | 'release', id: string, token: string, ms: number): Promise<boolean> {
    return Number(await this.run('queueLock', [op, id, token, ms, ''])) === 1;
  }

  /** Takes an active job's free lock with a new token (`newToken`, or the queue's next): the token, or false. */
  async take(id: string, token: string, ms: number, newToken: string): Promise<string | false> {
    const reply = (await this.run('queueLock', ['take', id, token, ms, newToken])) as unknown[];
    return Number(reply[0]) === 1 ? String(reply[1]) : false;
  }

  /**
   * Updates a job's progress, logs or data; with a token, only while it is current.
   * @throws {StaleTokenError}
   * @throws {JobError} `JOB_NOT_FOUND`
   */
  async update(op: 'progress' | 'log' | 'data', id: string, token: string, value: string, keepLogs: number): Promise<number> {
    const reply = (await this.run('queueUpdate', [op, id, token, value, keepLogs])) as unknown[];
    this.#check(reply, id, token, op);
    return Number(reply[1]);
  }

  async state(id: string): Promise<JobState | 'unknown'> {
    return String(await this.run('queueState', [id])) as JobState | 'unknown';
  }

  /** @returns 1 removed, 0 no such job, -1 locked */
  async remove(id: string): Promise<number> {
    return Number(await this.run('queueRemove', [id]));
  }

  /**
   * @throws {JobError} `JOB_NOT_FOUND`, or `JOB_STATE` when the job is not in `from`.
   */
  async move(op: 'retry' | 'promote', id: string, from: 'failed' | 'completed' | 'delayed'): Promise<void> {
    const code = Number(await this.run('queueMove', [op, id, from]));
    if (code === 0) throw new JobError('JOB_NOT_FOUND', id, `Job ${id} of queue \`${this.name}\` does not exist`);
    if (code === -1) throw new JobError('JOB_STATE', id, `Job ${id} of queue \`${this.name}\` is not ${from}; \`${op}\` moves only ${from} jobs`);
  }

  async pause(paused: boolean): Promise<void> {
    await this.run('queuePause', [paused ? '1' : '0']);
  }

  async counts(): Promise<JobCounts> {
    const [waiting, paused, prioritized, delayed, active, completed, failed] = ((await this.run('queueCounts', [''])) as unknown[]).map(Number);
    return { waiting: waiting ?? 0, paused: paused ?? 0, prioritized: prioritized ?? 0, delayed: delayed ?? 0, active: active ?? 0, completed: completed ?? 0, failed: failed ?? 0 };
  }

  async clean(state: string, graceMs: number, limit: number): Promise<string[]> {
    return ((await this.run('queueClean', [state, graceMs, limit])) as unknown[]).map(String);
  }

  async drain(delayed: boolean): Promise<number> {
    return Number(await this.run('queueDrain', [delayed ? '1' : '0']));
  }

  /** @returns 0 done, 1 more to delete, -1 jobs are active (and not forced) */
  async obliterate(force: boolean, count: number): Promise<number> {
    return Number(await this.run('queueObliterate', [force ? '1' : '0', count]));
  }

  async hash(id: string): Promise<JobHash | undefined> {
    const hash = await this.node.client.hgetall(this.keys.job(id));
    return Object.keys(hash).length === 0 ? undefined : hash;
  }

  async ids(key: string, kind: 'list' | 'zset', start: number, end: number, asc: boolean): Promise<string[]> {
    const client = this.node.client;
    if (kind === 'zset') return asc ? client.zrange(key, start, end) : client.zrevrange(key, start, end);
    if (!asc) return client.lrange(key, start, end);
    // A list's newest entries are at its left: ascending order reads it from the right.
    const all = (await client.lrange(key, 0, -1)).reverse();
    return end < 0 ? all.slice(start, all.length + 1 + end) : all.slice(start, end + 1);
  }

  async logs(id: string, start: number, end: number): Promise<{ logs: string[]; count: number }> {
    const key = this.keys.logs(id);
    const [logs, count] = await Promise.all([this.node.client.lrange(key, start, end), this.node.client.llen(key)]);
    return { logs, count };
  }

  #check(reply: readonly unknown[], id: string, token: string, what: string): void {
    const code = Number(reply[0]);
    if (code === 1) return;
    if (code === -1) throw new JobError('JOB_NOT_FOUND', id, `Job ${id} of queue \`${this.name}\` does not exist (removed?); \`${what}\` was dropped`);
    if (code === -2) {
      const current = typeof reply[1] === 'string' ? reply[1] : '';
      throw new StaleTokenError(this.lockResource(id), tokenOf(token), tokenOf(current));
    }
    throw new JobError('JOB_STATE', id, `Job ${id} of queue \`${this.name}\` is finished already; \`${what}\` was dropped`);
  }

  /** Closes the connection when the queue opened it (not a client given as `connection`). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.node.close();
  }
}
