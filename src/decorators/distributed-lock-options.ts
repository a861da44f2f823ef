import { describeValue, nonNegativeInteger, resolveOptions, resourceList, type Checks } from '../core/options.js';
import { InvalidOptionsError } from '../errors.js';
import { Redlock } from '../redlock/redlock.js';

/** Where a decorator finds its Redlock: an instance, or a function called with the decorated object as `this` and argument. */
export type RedlockSource = Redlock | ((this: never, instance: never) => Redlock);

/** What a locked call does when another holder has the lock. */
export type OnLocked = 'skip' | 'wait' | 'throw';

/** What a locked call does when too few Redis nodes answer (Redis unavailable). */
export type OnUnavailable = 'skip' | 'throw' | 'memory';

/**
 * Options of `@DistributedLock(options)`: the NestJS guide's names, units and defaults.
 * **`ttl` is in SECONDS** (the one time in redfence that is); `retryDelay` is in milliseconds.
 */
export interface DistributedLockOptions<A extends unknown[] = unknown[]> {
  /**
   * The resource to lock: a string, a list of them (all or none), or a function of the method's
   * arguments that returns them (called with the decorated object as `this`).
   */
  readonly key: string | readonly string[] | ((...args: A) => string | readonly string[]);
  /**
   * The lock's time to live, in **SECONDS** (not ms): how long the lock outlives a holder that
   * crashed. While the method runs, the lock is extended automatically, so the method may run
   * longer. Capped at the Redlock's `maxTtl` (60 s by default). @defaultValue 60
   */
  readonly ttl?: number;
  /** Further attempts when the lock is held (or no quorum answered), `retryDelay` apart. @defaultValue 0 */
  readonly retries?: number;
  /** Milliseconds between attempts (± the Redlock's `retryJitter`, at most this much). @defaultValue 100 */
  readonly retryDelay?: number;
  /**
   * When another holder has the lock after every attempt: `'skip'` — the call returns `undefined`
   * at once (a cron tick another instance runs); `'wait'` — wait until the lock is free (woken
   * when it is released) and run then; `'throw'` — reject with the `LockHeldError`.
   * @defaultValue 'skip'
   */
  readonly onLocked?: OnLocked;
  /**
   * When too few Redis nodes answer (Redis down, partitioned): `'skip'` — return `undefined`;
   * `'throw'` — reject with the `QuorumError`; `'memory'` — run under a lock in this process only
   * (a MemoryNode), which excludes other calls in this process but **not other processes**, and
   * emit the `memoryFallback` warning event. Never runs the method without any lock.
   * @defaultValue 'skip'
   */
  readonly onUnavailable?: OnUnavailable;
  /** The Redlock to lock on. @defaultValue the one given to `DistributedLock.configure({ redlock })` */
  readonly redlock?: RedlockSource;
}

/** The checked options of one decorator. */
export interface DistributedLockSettings {
  readonly key: string | readonly string[] | ((...args: unknown[]) => unknown);
  /** The TTL in milliseconds. */
  readonly ttlMs: number;
  readonly retries: number;
  readonly retryDelay: number;
  readonly onLocked: OnLocked;
  readonly onUnavailable: OnUnavailable;
  readonly redlock: RedlockSource | undefined;
}

type Resolved = Omit<DistributedLockSettings, 'ttlMs'> & { readonly ttl: number };

function oneOf<T extends string>(values: readonly T[]) {
  return (name: string, value: unknown): T => {
    if (!values.includes(value as T)) {
      throw new InvalidOptionsError(`Expected \`${name}\` to be one of ${values.map((v) => `'${v}'`).join(', ')}, got ${describeValue(value)}`);
    }
    return value as T;
  };
}

/** A Redlock, a function returning one, or nothing (the configured default). */
export function redlockSource(name: string, value: unknown): RedlockSource | undefined {
  if (value === undefined || value instanceof Redlock || typeof value === 'function') return value as RedlockSource | undefined;
  throw new InvalidOptionsError(`Expected \`${name}\` to be a Redlock or a function returning one, got ${describeValue(value)}`);
}

const checks: Checks<Resolved> = {
  key: (name, value) => {
    if (value === undefined) throw new InvalidOptionsError('Expected `key`: the resource to lock (a string, a list, or a function of the arguments)');
    if (typeof value === 'function') return value as (...args: unknown[]) => unknown;
    return resourceList(name, value);
  },
  ttl: (name, value) => {
    const ms = typeof value === 'number' ? value * 1000 : Number.NaN;
    if (!Number.isFinite(ms) || Math.round(ms) < 1 || Math.abs(ms - Math.round(ms)) > 1e-6) {
      throw new InvalidOptionsError(`Expected \`${name}\` to be a positive number of SECONDS (whole milliseconds), got ${describeValue(value)}`);
    }
    return value as number;
  },
  retries: nonNegativeInteger,
  retryDelay: nonNegativeInteger,
  onLocked: oneOf<OnLocked>(['skip', 'wait', 'throw']),
  onUnavailable: oneOf<OnUnavailable>(['skip', 'throw', 'memory']),
  redlock: redlockSource,
};

const defaults: Readonly<Partial<Resolved>> = Object.freeze({ ttl: 60, retries: 0, retryDelay: 100, onLocked: 'skip', onUnavailable: 'skip' });

/**
 * Checks a decorator's options, synchronously (at decoration time).
 * @throws {InvalidOptionsError}
 */
export function resolveDistributedLockSettings(options: unknown): DistributedLockSettings {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionsError(`Expected @DistributedLock options to be an object such as \`{ key: 'task' }\`, got ${describeValue(options)}`);
  }
  const { ttl, ...rest } = resolveOptions('@DistributedLock', defaults as Resolved, checks, options as Partial<Resolved>);
  return Object.freeze({ ...rest, ttlMs: Math.round(ttl * 1000) });
}
