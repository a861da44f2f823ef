import { InvalidOptionsError } from '../errors.js';
import {
  boolean,
  type Checks,
  nonEmptyString,
  nonNegativeInteger,
  numberInRange,
  positiveInteger,
  resolveOptions,
} from '../core/options.js';

/** Settings of a {@link Redlock}; all times in milliseconds. */
export interface RedlockSettings {
  /**
   * Fraction of the TTL assumed lost to clock-rate differences between client and nodes; validity
   * is `ttl − elapsed − (ttl × driftFactor + 2 ms)`.
   * @defaultValue 0.01
   */
  readonly driftFactor: number;
  /**
   * How many times a failed attempt is retried after a timed wait (release notifications wake a
   * waiter early without using up a retry). 0 = a single attempt.
   * @defaultValue 10
   */
  readonly retryCount: number;
  /** @defaultValue 200 */
  readonly retryDelay: number;
  /** Each wait is `retryDelay` ± a random amount up to `retryJitter`. @defaultValue 100 */
  readonly retryJitter: number;
  /** Bound on every single request to one node. @defaultValue 50 */
  readonly nodeTimeout: number;
  /** `using()` extends the lock when this little validity is left. @defaultValue 500 */
  readonly automaticExtensionThreshold: number;
  /** Wake waiters when the lock is released instead of only polling. @defaultValue true */
  readonly waitForRelease: boolean;
  /**
   * Liveness lease (etcd-style keep-alive), 0 = off. When set, a lock whose TTL is longer holds the
   * nodes' lease for only this long and renews it every third of it until the TTL ends, so a
   * holder that crashes frees the lock within `keepAlive` ms instead of its TTL. The holder's
   * validity (`remainingMs()`) is then the renewed lease, and a failed renewal loses the lock.
   * At least 4 × `nodeTimeout`.
   * @defaultValue 0
   */
  readonly keepAlive: number;
  /**
   * Extend the lock to its TTL every this many ms until it is released or lost (redis-semaphore's
   * `refreshInterval`); a refresh that a quorum does not confirm loses the lock. 0 = off. Must be
   * shorter than the validity a grant leaves (`ttl` − drift − `safetyMargin`).
   * @defaultValue 0
   */
  readonly refreshInterval: number;
  /**
   * Taken off the end of the TTL's validity: `remainingMs()` reaches 0, and `signal` aborts, this
   * long before the lease could end (an election's `ttl − renewDeadline`). Below `ttl` − drift.
   * @defaultValue 0
   */
  readonly safetyMargin: number;
  /**
   * Run the lock's renewals (keep-alive lease, `using()`'s extension, `refreshInterval`) in a
   * worker thread with its own connections, so a blocked event loop does not lose the lock — for
   * at most `lockThreadMaxBlockMs`. Standalone Redis nodes given as URLs, options or ioredis
   * clients only (not a Cluster, not a MemoryNode), and the system clock.
   * @defaultValue false
   */
  readonly useDedicatedLockThread: boolean;
  /**
   * The lock thread stops renewing a lock once this process's event loop has not turned for this
   * long, so a process stuck for good cannot hold a lock for ever (the lease then runs out).
   * @defaultValue 10000
   */
  readonly lockThreadMaxBlockMs: number;
  /** Prefix of every Redis key and channel redfence uses. @defaultValue 'redfence:' */
  readonly prefix: string;
  /**
   * The largest TTL `acquire` and `extend` accept; repair keeps a node out for this long after
   * it restarted, so that no lock it forgot can still be valid.
   * @defaultValue 60000
   */
  readonly maxTtl: number;
  /**
   * Repair a node that answers notReady (it lost its data) in the background: copy the fencing
   * counters from a majority, wait out `maxTtl`, mark it ready (docs/operations.md).
   * @defaultValue true
   */
  readonly autoRepair: boolean;
}

/** The settings a single `acquire`, `tryAcquire` or `using` call may override. */
export type AcquireSettings = Pick<
  RedlockSettings,
  | 'driftFactor'
  | 'retryCount'
  | 'retryDelay'
  | 'retryJitter'
  | 'nodeTimeout'
  | 'automaticExtensionThreshold'
  | 'waitForRelease'
  | 'keepAlive'
  | 'refreshInterval'
  | 'safetyMargin'
  | 'useDedicatedLockThread'
  | 'lockThreadMaxBlockMs'
>;

export const redlockDefaults: Readonly<RedlockSettings> = Object.freeze({
  driftFactor: 0.01,
  retryCount: 10,
  retryDelay: 200,
  retryJitter: 100,
  nodeTimeout: 50,
  automaticExtensionThreshold: 500,
  waitForRelease: true,
  keepAlive: 0,
  refreshInterval: 0,
  safetyMargin: 0,
  useDedicatedLockThread: false,
  lockThreadMaxBlockMs: 10_000,
  prefix: 'redfence:',
  maxTtl: 60_000,
  autoRepair: true,
});

const checks: Checks<RedlockSettings> = {
  driftFactor: (name, v) => numberInRange(name, v, 0, 0.5),
  retryCount: nonNegativeInteger,
  retryDelay: nonNegativeInteger,
  retryJitter: nonNegativeInteger,
  nodeTimeout: positiveInteger,
  automaticExtensionThreshold: positiveInteger,
  waitForRelease: boolean,
  keepAlive: nonNegativeInteger,
  refreshInterval: nonNegativeInteger,
  safetyMargin: nonNegativeInteger,
  useDedicatedLockThread: boolean,
  lockThreadMaxBlockMs: positiveInteger,
  prefix: nonEmptyString,
  maxTtl: positiveInteger,
  autoRepair: boolean,
};

/** Resolves defaults, constructor options and per-call overrides; throws {@link InvalidOptionsError}. */
export function resolveRedlockSettings(
  what: string,
  ...layers: readonly (Partial<RedlockSettings> | undefined)[]
): RedlockSettings {
  const s = resolveOptions(what, redlockDefaults, checks, ...layers);
  if (s.automaticExtensionThreshold >= s.maxTtl) {
    throw new InvalidOptionsError(
      `Expected \`automaticExtensionThreshold\` (${s.automaticExtensionThreshold}) to be below \`maxTtl\` (${s.maxTtl})`,
    );
  }
  if (s.keepAlive !== 0 && (s.keepAlive < 4 * s.nodeTimeout || s.keepAlive > s.maxTtl)) {
    throw new InvalidOptionsError(
      `Expected \`keepAlive\` to be 0 (off) or from 4 × \`nodeTimeout\` (${4 * s.nodeTimeout}) to \`maxTtl\` (${s.maxTtl}), ` +
        `got \`${s.keepAlive}\` (number): each renewal round may take up to \`nodeTimeout\`, and there are three per lease.`,
    );
  }
  return s;
}

/** The lease the nodes hold for a TTL: the keep-alive lease when that is shorter, else the TTL. */
export function leaseFor(ttl: number, settings: RedlockSettings): number {
  return settings.keepAlive > 0 && settings.keepAlive < ttl ? settings.keepAlive : ttl;
}

/** Fixed cost of every validity, on top of `ttl × driftFactor`: Redis expiry resolution. */
export const DRIFT_CONSTANT_MS = 2;

/** Time a grant of `ttl` loses to assumed clock drift: `ttl × driftFactor + 2 ms`. */
export function driftMs(ttl: number, driftFactor: number): number {
  return ttl * driftFactor + DRIFT_CONSTANT_MS;
}

/**
 * The monotonic instant until which a grant (or extension) that started at `startedAt` is valid:
 * `startedAt + ttl − drift`. Measured from the start of the round, so time spent waiting for
 * replies counts against validity.
 */
export function validUntil(startedAt: number, ttl: number, driftFactor: number): number {
  return startedAt + ttl - driftMs(ttl, driftFactor);
}

/** Checks a TTL for `acquire`/`extend` against the settings. */
export function checkTtl(ttl: unknown, settings: RedlockSettings): number {
  positiveInteger('ttl', ttl);
  const value = ttl as number;
  if (value > settings.maxTtl) {
    throw new InvalidOptionsError(
      `Expected \`ttl\` to be at most \`maxTtl\` (${settings.maxTtl}), got \`${value}\` (number). ` +
        'Raise `maxTtl` in the Redlock options, or use a shorter TTL with auto-extension (`using`).',
    );
  }
  const validity = value - driftMs(value, settings.driftFactor);
  if (validity <= 0) {
    throw new InvalidOptionsError(
      `Expected \`ttl\` to be longer than its drift allowance (${driftMs(value, settings.driftFactor)} ms), got \`${value}\` (number)`,
    );
  }
  if (settings.safetyMargin >= validity) {
    throw new InvalidOptionsError(
      `Expected \`safetyMargin\` (${settings.safetyMargin}) to be below the validity a TTL of ${value} ms leaves (${validity} ms after drift)`,
    );
  }
  if (settings.refreshInterval > 0 && settings.refreshInterval >= validity - settings.safetyMargin) {
    throw new InvalidOptionsError(
      `Expected \`refreshInterval\` (${settings.refreshInterval}) to be shorter than the validity a TTL of ${value} ms leaves ` +
        `(${validity - settings.safetyMargin} ms after drift and \`safetyMargin\`): the lock would expire between refreshes`,
    );
  }
  return value;
}
