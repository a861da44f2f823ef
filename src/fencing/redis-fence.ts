import type { Cluster, Redis } from 'ioredis';
import { InvalidOptionsError, RedfenceError, StaleTokenError } from '../errors.js';
import { type IORedisClient, runScript } from '../nodes/redis/redis-node.js';
import { nonEmptyString } from '../core/options.js';

/** Per-call options of {@link RedisFence.get}, {@link RedisFence.set} and {@link RedisFence.update}. */
export interface FenceCallOptions {
  /**
   * The resource whose token fences this key (the lock's resource, e.g. `account:7` for the key
   * `account:7:balance`): the call is refused when a higher token was seen for that resource —
   * by `check`, or by any call on any key with the same `resource`. Without it, the key is its own
   * resource. On Redis Cluster give the key the resource as its hash tag (`{account:7}:balance`).
   */
  readonly resource?: string;
}

/** Options of {@link RedisFence}. */
export interface RedisFenceOptions {
  /** Prefix of the keys holding the highest token seen per resource. @defaultValue 'fence:' */
  readonly prefix?: string;
}

function resourceOf(key: string, options: FenceCallOptions | undefined): string {
  if (options === undefined) return key;
  if (typeof options !== 'object' || options === null) throw new InvalidOptionsError(`Expected \`options\` to be an object, got ${typeof options}`);
  return options.resource === undefined ? key : nonEmptyString('resource', options.resource);
}

function tokenArg(token: unknown): string {
  if (typeof token === 'bigint' && token >= 0n) return token.toString();
  if (typeof token === 'number' && Number.isSafeInteger(token) && token >= 0) return String(token);
  throw new InvalidOptionsError(
    `Expected \`token\` to be a non-negative bigint (lock.fencingToken), got \`${String(token)}\` (${typeof token})`,
  );
}

/**
 * A downstream fence on one Redis (the store your lock protects, not a lock node): every operation
 * carries the holder's fencing token and is refused atomically with a {@link StaleTokenError} when
 * a higher token was already seen for that resource. An equal token is the same grant acting again
 * and is accepted.
 *
 * A resource is what the lock locks: `check(resource)` raises its barrier, and `get`/`set`/`update`
 * of any key are fenced by `{ resource }` (by default the key itself). The highest token of
 * resource `r` lives at `${prefix}{r}`; on Redis Cluster it shares the slot of any key with the
 * hash tag `{r}` (or of the key `r` itself).
 *
 * @example
 * const fence = new RedisFence(store)
 * await using lock = await redlock.acquire('account:7', 5_000)
 * await fence.check('account:7', lock.fencingToken) // older holders of account:7 are out
 * await fence.update('account:7:balance', lock.fencingToken, (b) => String(Number(b ?? 0) + 10), { resource: 'account:7' })
 */
export class RedisFence {
  readonly #redis: Redis | Cluster;
  readonly #prefix: string;

  /** @param redis an ioredis `Redis` or `Cluster` (5.x or 6.x, also from another copy of ioredis) */
  constructor(redis: Redis | Cluster | IORedisClient, options: RedisFenceOptions = {}) {
    if (typeof (redis as Partial<Redis> | undefined)?.defineCommand !== 'function') {
      throw new InvalidOptionsError('Expected `redis` to be an ioredis Redis or Cluster client');
    }
    // Another copy's client has the same methods (the shape check above); it is used as one.
    this.#redis = redis as Redis | Cluster;
    this.#prefix = nonEmptyString('prefix', options.prefix ?? 'fence:');
  }

  /** The key that holds the highest token seen for `resource`. */
  fenceKey(resource: string): string {
    return `${this.#prefix}{${nonEmptyString('resource', resource)}}`;
  }

  /**
   * Registers `token` for `resource` (a barrier): from now on lower tokens are refused.
   * @throws {StaleTokenError} a higher token was seen already.
   */
  async check(resource: string, token: bigint): Promise<void> {
    await this.#run(resource, [this.fenceKey(resource)], token, 'check');
  }

  /**
   * Reads `key`, registering `token` for the resource (`options.resource`, default `key`) in the
   * same step. Reads must register too: otherwise a stale holder could read, a newer holder write,
   * and the stale holder act on what it read.
   * @throws {StaleTokenError}
   */
  async get(key: string, token: bigint, options?: FenceCallOptions): Promise<string | null> {
    const resource = resourceOf(key, options);
    const value = await this.#run(resource, [this.fenceKey(resource), key], token, 'get');
    return typeof value === 'string' ? value : null;
  }

  /**
   * Writes `value` to `key` if `token` is not stale for the resource (`options.resource`, default
   * `key`), atomically.
   * @throws {StaleTokenError} a higher token was seen; nothing was written.
   */
  async set(key: string, value: string, token: bigint, options?: FenceCallOptions): Promise<void> {
    if (typeof value !== 'string') throw new InvalidOptionsError(`Expected \`value\` to be a string, got ${typeof value}`);
    const resource = resourceOf(key, options);
    await this.#run(resource, [this.fenceKey(resource), key], token, 'set', value);
  }

  /**
   * A fenced read-modify-write: reads `key` (registering `token`), computes the new value, and
   * writes it if no higher token acted in between. Two holders can therefore never both apply an
   * update computed from the same old value (no lost update).
   * @throws {StaleTokenError} at the read or the write; nothing was written.
   */
  async update(
    key: string,
    token: bigint,
    modify: (current: string | null) => string | Promise<string>,
    options?: FenceCallOptions,
  ): Promise<string> {
    const next = await modify(await this.get(key, token, options));
    await this.set(key, next, token, options);
    return next;
  }

  async #run(resource: string, keys: string[], token: bigint, op: string, value?: string): Promise<unknown> {
    const arg = tokenArg(token);
    let reply: [number, string | null];
    try {
      reply = (await runScript(this.#redis, 'fence', keys, value === undefined ? [arg, op] : [arg, op, value])) as [number, string | null];
    } catch (error) {
      throw new RedfenceError('STORE_ERROR', `The fenced store refused or failed \`${op}\` on \`${resource}\`: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    if (reply[0] === 0) throw new StaleTokenError(resource, BigInt(arg), BigInt(String(reply[1])));
    return reply[1];
  }
}
