import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { abortSignal, boolean, describeValue, nonEmptyString, nonNegativeInteger, positiveInteger } from '../core/options.js';
import { InvalidOptionsError } from '../errors.js';

/** Options of `new LeaderElection(redlock, name, options)`; all times in milliseconds. */
export interface LeaderElectionOptions {
  /**
   * This candidate's identity, as {@link LeaderElection.leader} reports it.
   * @defaultValue `${hostname}/${pid}/${random}`: a fresh identity per process start
   */
  readonly id?: string;
  /** The lease (client-go `LeaseDuration`). Alias: `leaderTimeout` (bun-queue). @defaultValue 15000 */
  readonly ttl?: number;
  /**
   * The leader steps down when it has not renewed within this long (client-go `RenewDeadline`),
   * always before its lease can end. @defaultValue ⌊ttl × 2/3⌋
   */
  readonly renewDeadline?: number;
  /**
   * How often the leader renews, and how often a follower that was not woken tries again (client-go
   * `RetryPeriod`). Alias: `heartbeatInterval` (bun-queue). @defaultValue ⌊renewDeadline / 5⌋
   */
  readonly renewInterval?: number;
  /** `stop()` resigns, so the seat is free at once (else the lease runs out). @defaultValue true */
  readonly releaseOnStop?: boolean;
  /**
   * Liveness lease on the nodes, as the Redlock option (0 = off): a leader that crashes is replaced
   * after about this long instead of `ttl`. @defaultValue the Redlock's `keepAlive`
   */
  readonly keepAlive?: number;
  /**
   * Renew in the process's lock thread, so a blocked event loop does not cost the leadership (for
   * at most the Redlock's `lockThreadMaxBlockMs`). @defaultValue the Redlock's (false)
   */
  readonly useDedicatedLockThread?: boolean;
  /** Stops the election (as `stop()`) when it aborts. */
  readonly signal?: AbortSignal;
  /** bun-queue's name for `renewInterval`. */
  readonly heartbeatInterval?: number;
  /** bun-queue's name for `ttl`. */
  readonly leaderTimeout?: number;
}

/** The checked settings of an election. */
export interface ElectionSettings {
  readonly id: string;
  readonly ttl: number;
  readonly renewDeadline: number;
  readonly renewInterval: number;
  readonly releaseOnStop: boolean;
  readonly keepAlive: number | undefined;
  readonly useDedicatedLockThread: boolean | undefined;
  readonly signal: AbortSignal | undefined;
}

const KNOWN = new Set([
  'id',
  'ttl',
  'renewDeadline',
  'renewInterval',
  'releaseOnStop',
  'keepAlive',
  'useDedicatedLockThread',
  'signal',
  'heartbeatInterval',
  'leaderTimeout',
]);

/** One value under two names (client-go's and bun-queue's): either, or both when they agree. */
function aliased(name: string, value: unknown, alias: string, aliasValue: unknown): unknown {
  if (value !== undefined && aliasValue !== undefined && value !== aliasValue) {
    throw new InvalidOptionsError(
      `\`${alias}\` is another name for \`${name}\`; got both, and they differ (${describeValue(value)} vs ${describeValue(aliasValue)})`,
    );
  }
  return value ?? aliasValue;
}

/**
 * Checks an election's options as client-go does, synchronously: integers, and
 * `ttl > renewDeadline > 1.2 × renewInterval > 0`.
 * @throws {InvalidOptionsError}
 */
export function resolveElectionSettings(options: LeaderElectionOptions): ElectionSettings {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionsError(`Expected LeaderElection options to be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new InvalidOptionsError(`Unknown option \`${key}\` for LeaderElection; known options: ${[...KNOWN].join(', ')}`);
  }
  const ttl = positiveInteger('ttl', aliased('ttl', options.ttl, 'leaderTimeout', options.leaderTimeout) ?? 15_000);
  const renewDeadline = positiveInteger('renewDeadline', options.renewDeadline ?? Math.floor((ttl * 2) / 3));
  const interval = aliased('renewInterval', options.renewInterval, 'heartbeatInterval', options.heartbeatInterval);
  const renewInterval = positiveInteger('renewInterval', interval ?? Math.max(1, Math.floor(renewDeadline / 5)));
  if (!(ttl > renewDeadline)) {
    throw new InvalidOptionsError(`Expected \`ttl\` (${ttl}) to be greater than \`renewDeadline\` (${renewDeadline}): the leader must step down before its lease can end`);
  }
  if (!(renewDeadline > 1.2 * renewInterval)) {
    throw new InvalidOptionsError(
      `Expected \`renewDeadline\` (${renewDeadline}) to be greater than 1.2 × \`renewInterval\` (${renewInterval}), as client-go requires: ` +
        'a leader needs room for more than one renewal before it steps down',
    );
  }
  const id = options.id === undefined ? `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}` : nonEmptyString('id', options.id);
  return {
    id,
    ttl,
    renewDeadline,
    renewInterval,
    releaseOnStop: options.releaseOnStop === undefined ? true : boolean('releaseOnStop', options.releaseOnStop),
    keepAlive: options.keepAlive === undefined ? undefined : nonNegativeInteger('keepAlive', options.keepAlive),
    useDedicatedLockThread: options.useDedicatedLockThread === undefined ? undefined : boolean('useDedicatedLockThread', options.useDedicatedLockThread),
    signal: abortSignal('signal', options.signal),
  };
}
