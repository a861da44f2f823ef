import type { Writable } from 'node:stream';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { bounded, type Clock } from '../../clock.js';
import type {
  AcquireReply,
  AcquireRequest,
  ExtendReply,
  ExtendRequest,
  FenceRequest,
  HolderNote,
  HolderWrite,
  LeaveRequest,
  LockNode,
  Done as NodeDone,
  ReleaseRequest,
} from '../../core/lock-node.js';
import { InvalidOptionsError } from '../../errors.js';
import { type LuaScriptName, luaScripts } from '../../generated/lua-scripts.js';
import { unsafe } from '../../unsafe.js';
import { acquireArgs, leaveArgs, releaseArgs } from './script-args.js';

/**
 * An ioredis `Redis` or `Cluster` from any copy of ioredis (5.x or 6.x): the two methods by which
 * redfence tells a client from an options object at run time. Needed because TypeScript never takes
 * one copy's `Redis` class for another's (private members make classes nominal: TS2345), so a
 * client from an application's own ioredis, when redfence resolves another copy (another major,
 * a nested node_modules, an npm alias), would not type-check as `Redis`.
 */
export interface IORedisClient {
  defineCommand(...args: never[]): unknown;
  evalsha(...args: never[]): unknown;
}

/** What a node can be given as: an ioredis client or Cluster, a `redis://` URL, or ioredis options. */
export type NodeInput = Redis | Cluster | IORedisClient | string | RedisOptions;

type Client = Redis | Cluster;

/** Called once with a node's reply, or with the error (then `reply` is undefined). */
export type Done = (error: Error | undefined, reply?: unknown) => void;


/**
 * How long a connection must stay silent after a request timed out before it is recycled: long
 * enough not to kill the in-flight requests of a node that is only slow, short enough that a
 * black-holed socket is replaced well within a second.
 */
const RECYCLE_SILENCE_MS = 300;

/**
 * In-flight requests from which a node counts as busy and corked requests wait for the end of the
 * event-loop turn rather than the tick: many concurrent locks (S2 in bench/), not one caller.
 */
const BUSY_IN_FLIGHT = 4;

/**
 * How long a connection closed while still connecting may stay half-open before its socket is
 * destroyed. ioredis's default (2 s) keeps a process alive that long after `quit()` when a
 * background connection (the wake-up subscriber) was still starting.
 */
const DISCONNECT_TIMEOUT_MS = 50;

/** Options for the connections redfence opens itself (from URLs or option objects). */
const OWNED_CONNECTION_OPTIONS: RedisOptions = {
  maxRetriesPerRequest: 1,
  autoResendUnfulfilledCommands: false,
  connectTimeout: 2_000,
  disconnectTimeout: DISCONNECT_TIMEOUT_MS,
  retryStrategy: (attempt: number) => Math.min(attempt * 20, 500),
};

/** The connection options a lock thread may copy from a client to open its own connection. */
const PORTABLE_OPTIONS = ['host', 'port', 'path', 'username', 'password', 'db', 'tls', 'family', 'connectTimeout'] as const;

/** `value` if it can be posted to a worker thread (no functions, no class instances), else undefined. */
function portable<T>(value: T): T | undefined {
  try {
    return structuredClone(value);
  } catch {
    return undefined;
  }
}

/** Keys per SCAN step, and counters per copy script. */
const SCAN_COUNT = 1_000;

/**
 * A script's packed arguments for one request, built by the first node that sends it and shared
 * by the others (a request object is made once per round and given to every node).
 */
let lastRequest: object | undefined;
let lastArgs: readonly string[] = [];
function packedOnce(request: object, build: () => readonly string[]): readonly string[] {
  if (request !== lastRequest) {
    lastRequest = request;
    lastArgs = build();
  }
  return lastArgs;
}

const unexpected = (reply: unknown): Error => new Error(`unexpected reply ${JSON.stringify(reply)}`);

/** A request's connection closed before its reply (ioredis may never settle such a request). */
class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError';
}

function isClient(value: unknown): value is Client {
  if (value instanceof Redis || value instanceof Cluster) return true;
  // Another copy of ioredis (a different version in node_modules) fails instanceof; accept its shape.
  const v = value as Partial<Redis> | null;
  return typeof v === 'object' && v !== null && typeof v.defineCommand === 'function' && typeof v.evalsha === 'function';
}

function isPlainObject(value: unknown): value is RedisOptions {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return !('then' in value) && typeof (value as { sendCommand?: unknown }).sendCommand !== 'function';
}

/** What a node input that is neither a client, a URL nor options is, for the error message. */
function describeInput(input: unknown): string {
  if (typeof input !== 'object' || input === null) return `\`${String(input)}\` (${input === null ? 'null' : typeof input})`;
  const name = (input).constructor?.name ?? 'object';
  return `an instance of \`${name}\`${typeof (input as { sendCommand?: unknown }).sendCommand === 'function' ? ' (a node-redis client?)' : ''}`;
}

/** The `keyPrefix` an ioredis client or Cluster adds to every key, if any. */
function keyPrefixOf(client: Client): string | undefined {
  const options = client.options as { keyPrefix?: string; redisOptions?: { keyPrefix?: string } };
  return options.keyPrefix || options.redisOptions?.keyPrefix || undefined;
}

function nameOf(client: Client): string {
  if (client instanceof Cluster || (client as { isCluster?: boolean }).isCluster === true) {
    const first = (client as unknown as { startupNodes: unknown[] }).startupNodes[0] as { host?: string; port?: number } | string | number;
    return typeof first === 'object' ? `cluster:${first.host ?? '127.0.0.1'}:${first.port ?? 6379}` : `cluster:${String(first)}`;
  }
  const { host, port, path } = (client).options;
  return path ?? `${host ?? '127.0.0.1'}:${port ?? 6379}`;
}

/**
 * One independent Redis (a standalone server, or a Cluster) taking part in quorums. Owns the
 * script registration and the connection hygiene: a connection whose command timed out with no
 * reply since is recycled, so a paused or black-holed node cannot poison later commands.
 */
export class RedisNode implements LockNode {
  readonly name: string;
  readonly client: Client;
  readonly isCluster: boolean;
  /** The ready gate needs the marker key in the same script, which a Cluster cannot do across slots. */
  readonly gated: boolean;
  readonly slotted: boolean;
  /** True when redfence opened the connection (and so closes it). */
  readonly owned: boolean;
  readonly #clock: Clock;
  readonly #listeners = new Set<(operation: string, error: Error) => void>();
  #lastReplyAt = Number.NEGATIVE_INFINITY;
  #silenceCheck: unknown;
  #subscriber: Client | undefined;
  #corked: Writable | undefined;
  #inFlight = 0;
  #wasReady = false;
  /** Requests sent and not yet answered: failed when the connection closes (ioredis may drop them). */
  readonly #pending = new Set<Done>();
  /** The server's `run_id` on the current connection (learned before its first reply counts). */
  #identity: string | undefined;
  /** The last connection error (ECONNREFUSED, ETIMEDOUT, an auth failure): what reports name. */
  #lastError: Error | undefined;
  /** Operations reported failing since the node was last healthy: each is reported once an outage. */
  readonly #reported = new Set<string>();
  /** Bumped on every close: an identity learned on an older connection is ignored. */
  #epoch = 0;
  /** What the node was made from (a URL or options), for {@link RedisNode.describe}. */
  readonly #input: NodeInput;
  #identifying = false;
  /** Whether requests made together while others are in flight leave in one write (see send). */
  readonly #batchWrites: boolean;

  /**
   * @param index the node's place in a Redlock's list, or the option it was given as (a queue's
   *   `connection`): what error messages name.
   * @param options.batchWrites (default true) requests made together while others are in flight
   *   leave in one write. Right for a lock node, whose rounds send many requests at once; not for a
   *   queue's connection, where each request should reach Redis at once so that Redis works while
   *   the client prepares the next (S4 in docs/performance.md).
   */
  constructor(
    input: NodeInput,
    index: number | string,
    clock: Clock,
    onError?: (node: RedisNode, operation: string, error: Error) => void,
    options: { readonly batchWrites?: boolean } = {},
  ) {
    this.#clock = clock;
    this.#batchWrites = options.batchWrites ?? true;
    this.#input = input;
    const where = typeof index === 'number' ? `nodes[${index}]` : index;
    if (onError !== undefined) this.#listeners.add((operation, error) => onError(this, operation, error));
    if (isClient(input)) {
      this.client = input;
      this.owned = false;
    } else if (typeof input === 'string') {
      if (!/^rediss?:\/\//.test(input)) {
        throw new InvalidOptionsError(`Expected \`${where}\` to be a redis:// URL, got \`'${input}'\` (string)`);
      }
      this.client = new Redis(input, OWNED_CONNECTION_OPTIONS);
      this.owned = true;
    } else if (isPlainObject(input)) {
      // ioredis options are a plain object; anything else (a node-redis client, a promise) is not
      // options, and taking it for them would connect to localhost:6379.
      this.client = new Redis({ ...OWNED_CONNECTION_OPTIONS, ...input });
      this.owned = true;
    } else {
      throw new InvalidOptionsError(
        `Expected \`${where}\` to be an ioredis Redis or Cluster, a redis:// URL or ioredis options, ` +
          `got ${describeInput(input)}. ` +
          'Other clients (node-redis) are not supported: wrap the server in `new Redis(url)` from ioredis.',
      );
    }
    this.isCluster = this.client instanceof Cluster || (this.client as { isCluster?: boolean }).isCluster === true;
    this.gated = !this.isCluster;
    this.slotted = this.isCluster;
    this.name = nameOf(this.client);
    const keyPrefix = keyPrefixOf(this.client);
    if (keyPrefix !== undefined && !unsafe.acceptKeyPrefix) {
      if (this.owned) this.client.disconnect();
      throw new InvalidOptionsError(
        `Expected \`${where}\` to have no \`keyPrefix\`, got \`'${keyPrefix}'\`: redfence's scripts and its repair ` +
          'must see the same key names. Use the `prefix` option (of the Redlock, Queue or Worker) instead.',
      );
    }
    if (this.owned) {
      this.client.on('error', (error: Error) => {
        this.#lastError = error;
        this.reportError('connection', error);
      });
    }
    if (this.client.status === 'ready') {
      this.#wasReady = true;
      this.#preload();
    }
    this.client.on('ready', () => {
      this.#wasReady = true;
      this.#healthy();
      this.#preload();
    });
    this.client.on('close', () => {
      this.#epoch += 1;
      this.#identity = undefined;
      this.#identifying = false;
      // With autoResendUnfulfilledCommands off (redfence's own connections), ioredis drops the
      // requests that were in flight without settling them: settle them here, once.
      if (this.#pending.size > 0) {
        const error = new ConnectionClosedError(`${this.name}: the connection closed before the reply`);
        for (const settle of [...this.#pending]) settle(error);
      }
    });
  }

  /**
   * Loads the lock's scripts on a (re)connected server, so that no request depends on the EVAL
   * fallback after NOSCRIPT: that fallback needs the reply to the EVALSHA, which a connection
   * recycled while the server was paused never delivers — and a quiet undo or release that did
   * not run leaves a lease behind for its whole TTL. Best effort: a failure leaves the fallback.
   */
  #preload(): void {
    if (this.isCluster) return;
    const client = this.client as Redis;
    for (const { file, lua } of Object.values(luaScripts)) {
      if (file.startsWith('src/nodes/redis/lua/')) client.script('LOAD', lua).catch(() => undefined);
    }
  }

  /**
   * How another thread (the lock thread) connects to the same server: the URL or options this node
   * was made from, or the address and credentials of the client it was given. `undefined` for a
   * Cluster, and for options that cannot leave this thread (functions, class instances).
   */
  describe(): string | RedisOptions | undefined {
    if (this.isCluster) return undefined;
    const input = this.#input;
    if (typeof input === 'string') return input;
    if (this.owned) return portable(input as RedisOptions);
    const options = (this.client as Redis).options as Record<string, unknown>;
    const picked: Record<string, unknown> = {};
    for (const key of PORTABLE_OPTIONS) if (options[key] !== undefined) picked[key] = options[key];
    return portable(picked as RedisOptions);
  }

  /**
   * Reports a failed operation (a `nodeError` event) once per outage: not again for the same
   * operation until the node answered or reconnected, so a node that is down does not flood.
   */
  reportError(operation: string, error: Error): void {
    if (this.#reported.has(operation)) return;
    this.#reported.add(operation);
    for (const listener of this.#listeners) listener(operation, error);
  }

  onError(listener: (operation: string, error: Error) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ---- LockNode: the lock operations (hot path) --------------------------------------------------

  acquire(request: AcquireRequest, done: NodeDone<AcquireReply>): void {
    const { keys } = request;
    const args = packedOnce(request, () => [
      acquireArgs(request.owner, request.ttl, request.floor, request.score, request.stayMs, request.clusterSize),
    ]);
    this.send('acquire', this.gated ? keys.gated : keys.locks, args, (error, reply) => {
      if (error !== undefined) done(error);
      else if (Array.isArray(reply) && reply[0] === 1) done(undefined, { locked: true, token: String(reply[1]) });
      else if (Array.isArray(reply) && reply[0] === 0) done(undefined, { locked: false, counter: String(reply[2] ?? '0') });
      else done(unexpected(reply));
    });
  }

  extend(request: ExtendRequest, done: NodeDone<ExtendReply>): void {
    const { keys } = request;
    this.send('extend', this.gated ? keys.gated : keys.locks, [request.owner, request.ttl], (error, reply) => {
      if (error !== undefined) done(error);
      else done(undefined, reply === 1 ? 'extended' : reply === -1 ? 'otherOwner' : 'gone');
    });
  }

  release(request: ReleaseRequest, done: NodeDone<number>): void {
    const args = packedOnce(request, () => [releaseArgs(request.owner, request.quiet, request.floor, request.wake)]);
    this.send('release', request.keys.locks, args, (error, reply) => (error !== undefined ? done(error) : done(undefined, Number(reply))));
  }

  leaveQueue(request: LeaveRequest, done: NodeDone<number>): void {
    const args = [leaveArgs(request.ticket, request.floor, request.wake)];
    this.send('leaveQueue', request.keys.locks, args, (error, reply) => (error !== undefined ? done(error) : done(undefined, Number(reply))));
  }

  raiseFence(request: FenceRequest, done: NodeDone<boolean>): void {
    this.send('raiseFence', request.keys.fence, [request.owner, request.token], (error, reply) =>
      error !== undefined ? done(error) : done(undefined, reply === 1),
    );
  }

  subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    const sub = this.subscriber();
    sub.on('message', (from: string, message: string) => {
      if (from === channel) onMessage(message);
    });
    // After a reconnect (wake-ups sent meanwhile are lost; waiters poll until then).
    let subscribed = false;
    sub.on('ready', () => {
      if (subscribed) sub.subscribe(channel).catch(() => undefined);
    });
    return sub.subscribe(channel).then(() => {
      subscribed = true;
    });
  }

  // ---- LockNode: holder notes -------------------------------------------------------------------

  async writeHolder(request: HolderWrite): Promise<number> {
    const { keys, notes, owner, token, label, ttl } = request;
    return Number(await this.run('holderWrite', [...keys.locks, ...notes], [owner, token, label, ttl]));
  }

  async readHolder(lease: string, note: string): Promise<HolderNote | null> {
    const reply = await this.run('holderRead', [lease, note], []);
    if (!Array.isArray(reply)) return null;
    const [token, label, leaseMs] = reply as [unknown, unknown, unknown];
    return { token: String(token), label: String(label), leaseMs: Math.max(0, Number(leaseMs)) };
  }

  // ---- LockNode: the ready gate's admin operations -------------------------------------------------

  async marker(key: string, value?: string, claim?: { readonly key: string; readonly id: string }): Promise<string | null> {
    const reply = claim === undefined
      ? await this.run('ready', [key], [value ?? ''])
      : await this.run('ready', [key, claim.key], [value ?? '', claim.id]);
    return typeof reply === 'string' ? reply : null;
  }

  async claimRepair(key: string, id: string, ms: number): Promise<boolean> {
    return (await this.client.set(key, id, 'PX', ms, 'NX')) === 'OK';
  }

  async unclaimRepair(key: string, id: string): Promise<void> {
    await this.run('unclaim', [key], [id]);
  }

  async counters(pattern: string, options: { readonly limit?: number | undefined; readonly requestTimeoutMs: number }): Promise<[string, string][]> {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const bound = <T>(request: Promise<T>, what: string): Promise<T> => bounded(this.#clock, options.requestTimeoutMs, request, `${this.name} ${what}`);
    const found: [string, string][] = [];
    const clients = this.isCluster ? (this.client as Cluster).nodes('master') : [this.client as Redis];
    for (const client of clients) {
      let cursor = '0';
      do {
        const [next, keys] = await bound(client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT), 'SCAN');
        cursor = next;
        if (keys.length > 0) {
          const values = await bound(Promise.all(keys.map((k) => client.get(k))), 'GET');
          for (const [i, key] of keys.entries()) {
            const value = values[i];
            if (typeof value === 'string') found.push([key, value]);
          }
          if (found.length >= limit) return found;
        }
      } while (cursor !== '0');
    }
    return found;
  }

  async raiseCounters(readyKey: string, entries: readonly (readonly [string, string])[]): Promise<number> {
    let raised = 0;
    for (let i = 0; i < entries.length; i += SCAN_COUNT) {
      const batch = entries.slice(i, i + SCAN_COUNT);
      raised += Number(await this.run('repairCounters', [readyKey, ...batch.map(([key]) => key)], batch.map(([, value]) => value)));
    }
    return raised;
  }

  async uptimeSeconds(): Promise<number> {
    return Number(/uptime_in_seconds:(\d+)/.exec(String(await this.client.info('server')))?.[1] ?? 0);
  }

  #healthy(): void {
    this.#lastError = undefined;
    if (this.#reported.size > 0) this.#reported.clear();
  }

  /** A request's error as reports show it: an unreachable node's cause, not ioredis's retry limit. */
  #named(error: Error): Error {
    if (error.name !== 'MaxRetriesPerRequestError') return error;
    return new Error(`${this.name} is unreachable: ${this.#lastError?.message ?? 'no connection'}`, { cause: error });
  }

  /**
   * The server behind this node (its `run_id`), once learned on the current connection: an INFO
   * sent ahead of the first request on each connection, so it is known before any reply arrives.
   * Two nodes with the same identity are one server. `undefined` before that, and on a Cluster.
   */
  get identity(): string | undefined {
    return this.#identity;
  }

  #identify(): void {
    this.#identifying = true;
    const epoch = this.#epoch;
    this.client.info('server').then(
      (text) => {
        if (epoch !== this.#epoch) return;
        this.#identity = /run_id:(\w+)/.exec(String(text))?.[1] ?? `unknown:${this.name}`;
      },
      () => {
        // INFO refused (an ACL without +info): the node cannot be told apart from the others.
        // (A broken connection bumps the epoch, and the next connection tries again.)
        if (epoch === this.#epoch) this.#identity = `unknown:${this.name}`;
      },
    );
  }

  /**
   * Sends one of redfence's scripts to this node; `done` gets the reply. Not bounded in time: the
   * caller's round is. Callback style, because a quorum round sends one request per node on every
   * acquire and release, and each promise layer there costs.
   * While requests are in flight, requests made together leave in one write (unless
   * `batchWrites` is off, as for a queue's connection): the first corks the
   * socket (one writev instead of a syscall per request; Redis then answers them in one write
   * too). A lone caller's request goes straight out. With a few requests out, the socket is
   * uncorked at the end of the tick; when the node is busy (BUSY_IN_FLIGHT or more), only after
   * this event-loop turn's I/O callbacks, so the requests made while handling every node's
   * replies share one write (fewer syscalls on both sides under load, a few µs later).
   */
  send(script: LuaScriptName, keys: readonly string[], args: readonly (string | number)[], done: Done): void {
    if (this.#wasReady && this.client.status !== 'ready') {
      // The connection broke (reset, refused, closed) and is reconnecting: fail at once instead of
      // waiting in the offline queue until nodeTimeout. A first connect is still waited for.
      done(new Error(`${this.name} is unreachable: ${this.#lastError?.message ?? `not connected (${this.client.status})`}`));
      return;
    }
    if (this.#batchWrites && this.#inFlight > 0 && this.#corked === undefined && !this.isCluster) {
      const stream = (this.client as Redis).stream as Writable | undefined;
      if (stream !== undefined && this.client.status === 'ready' && stream.writableCorked === 0) {
        stream.cork();
        this.#corked = stream;
        if (this.#inFlight >= BUSY_IN_FLIGHT) setImmediate(this.#uncork);
        else process.nextTick(this.#uncork);
      }
    }
    if (this.#identity === undefined && !this.#identifying && !this.isCluster) this.#identify();
    this.#inFlight += 1;
    const settle: Done = (error, reply) => {
      if (!this.#pending.delete(settle)) return;
      this.#inFlight -= 1;
      if (error === undefined) {
        this.#lastReplyAt = this.#clock.now();
        if (this.#reported.size > 0) this.#healthy();
        done(undefined, reply);
        return;
      }
      if (!(error instanceof ConnectionClosedError)) this.#lastReplyAt = this.#clock.now();
      done(this.#named(error), reply);
    };
    this.#pending.add(settle);
    sendScript(this.client, script, keys, args, settle);
  }

  /** {@link RedisNode.send} as a promise, for the calls that are not on the hot path. */
  run(script: LuaScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.send(script, keys, args, (error, reply) => (error === undefined ? resolve(reply) : reject(error)));
    });
  }

  readonly #uncork = (): void => {
    const stream = this.#corked;
    this.#corked = undefined;
    stream?.uncork();
  };

  /**
   * Tells the node that a request sent at `sentAt` (monotonic ms) got no reply in time. When the
   * connection then stays silent for RECYCLE_SILENCE_MS (a black-holed or stuck socket, not just a
   * slow node), it is closed and reopened so later requests are not stuck behind it.
   */
  timedOut(sentAt: number): void {
    if (this.#silenceCheck !== undefined || this.#lastReplyAt >= sentAt) return;
    const wait = Math.max(0, sentAt + RECYCLE_SILENCE_MS - this.#clock.now());
    this.#silenceCheck = this.#clock.setTimeout(() => {
      this.#silenceCheck = undefined;
      if (this.#lastReplyAt >= sentAt) return;
      this.client.disconnect(true);
    }, wait);
  }

  /**
   * The node's shared subscriber connection (for release notifications), opened on first use.
   * ioredis's own resubscribe after a reconnect is off (its promise is never handled, so a close
   * during it would be an unhandled rejection); whoever subscribes resubscribes on `'ready'`.
   */
  subscriber(): Client {
    if (this.#subscriber === undefined) {
      const sub = (this.isCluster ? this.client.duplicate() : (this.client as Redis).duplicate({ autoResubscribe: false, disconnectTimeout: DISCONNECT_TIMEOUT_MS }));
      sub.on('error', (error: Error) => this.reportError('subscriber', error));
      this.#subscriber = sub;
    }
    return this.#subscriber;
  }

  /** Closes the subscriber, and the main connection when redfence opened it. */
  async close(): Promise<void> {
    const closing: Promise<unknown>[] = [];
    if (this.#subscriber !== undefined) closing.push(quitQuietly(this.#subscriber));
    this.#subscriber = undefined;
    if (this.owned) closing.push(quitQuietly(this.client));
    await Promise.all(closing);
  }
}

async function quitQuietly(client: Client): Promise<void> {
  try {
    if (client.status === 'ready') await client.quit();
    else client.disconnect();
  } catch {
    client.disconnect();
  }
}


const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/**
 * Sends one of redfence's scripts on any ioredis client: EVALSHA, and on NOSCRIPT (a node that
 * restarted or flushed its scripts) EVAL, which loads it again. The one place scripts are sent.
 */
export function sendScript(
  client: Client,
  script: LuaScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
  done: Done,
): void {
  const { sha1, lua } = luaScripts[script];
  client.evalsha(sha1, keys.length, ...keys, ...args).then(
    (reply) => done(undefined, reply),
    (error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) {
        done(asError(error));
        return;
      }
      client.eval(lua, keys.length, ...keys, ...args).then(
        (reply) => done(undefined, reply),
        (evalError: unknown) => done(asError(evalError)),
      );
    },
  );
}

/** {@link sendScript} as a promise. */
export function runScript(
  client: Client,
  script: LuaScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    sendScript(client, script, keys, args, (error, reply) => (error === undefined ? resolve(reply) : reject(error)));
  });
}
