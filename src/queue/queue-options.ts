import type { Clock } from '../clock.js';
import { boolean, describeValue, nonEmptyString, nonNegativeInteger, positiveInteger } from '../core/options.js';
import { InvalidOptionsError } from '../errors.js';
import type { NodeInput } from '../nodes/redis/redis-node.js';
import { Redlock } from '../redlock/redlock.js';
import type { JobOptions } from './job-options.js';

/** Where a queue's jobs are stored: an ioredis `Redis` or `Cluster`, a `redis://` URL, or ioredis options. */
export type ConnectionInput = NodeInput;

/** A rate limit: at most `max` jobs start per `duration` ms, across every worker of the queue. */
export interface RateLimiter {
  readonly max: number;
  readonly duration: number;
}

/** Job locks and stalled jobs: the same names on Queue (and Bull's `settings`) and Worker; all in ms. */
export interface LockSettings {
  /** How long a job's lock lasts from its delivery (and from each renewal). @defaultValue 30000 */
  readonly lockDuration: number;
  /**
   * How often a running job's lock is renewed (through the one renewer). Less than `lockDuration`.
   * @defaultValue lockDuration / 2
   */
  readonly lockRenewTime: number;
  /** How often the stalled-job sweep runs (one worker of the queue sweeps per interval). @defaultValue 30000 */
  readonly stalledInterval: number;
  /** Stalls after which a job fails through its attempts and backoff. @defaultValue 1 */
  readonly maxStalledCount: number;
  /**
   * Renew job locks from the process's lock thread (`worker_threads`), so a handler that blocks
   * the event loop keeps its job, for at most `lockThreadMaxBlockMs` (the Redlock's, or its default
   * 10 s for the single-node lock). Needs the system clock and, for the single-node lock, a
   * standalone Redis the thread can connect to (docs/queue.md). @defaultValue false
   */
  readonly useDedicatedLockThread: boolean;
  /**
   * Liveness lease, ms (0 = off): a job's lock is a lease of this length renewed every third of it
   * while the worker lives, inside `lockDuration`, so a killed worker's job is re-dispatched in
   * about `keepAlive` + one stalled sweep. @defaultValue 0
   */
  readonly keepAlive: number;
  /** BullMQ: do not renew job locks (a job keeps its lock `lockDuration` from its delivery). @defaultValue false */
  readonly skipLockRenewal: boolean;
  /** BullMQ: this worker runs no stalled sweeps (others may). @defaultValue false */
  readonly skipStalledCheck: boolean;
}

/** Options shared by Queue and Worker. */
export interface CommonOptions extends Partial<LockSettings> {
  /** Where jobs are stored (required). A client given is used and not closed; a URL or options are opened and closed. */
  readonly connection: ConnectionInput;
  /** Prefix of the queue's keys (`{<prefix>:<name>}:…`). @defaultValue 'redfence' */
  readonly prefix?: string;
  /** The Redlock the per-job quorum locks are taken on (`distributedLock: true`). */
  readonly redlock?: Redlock;
  /**
   * true: each delivery takes the quorum lock `redlock.acquire('<queue>:job:<id>', lockDuration)`
   * and its fencing token; false: a lock on the queue's own Redis, with a token from the queue's
   * counter. @defaultValue false
   */
  readonly distributedLock?: boolean;
  readonly limiter?: RateLimiter;
  /** Seconds an idle worker blocks waiting for a job before it looks again (Bull, BullMQ). @defaultValue 5 */
  readonly drainDelay?: number;
  /**
   * What to do when the queue's Redis may evict keys (`maxmemory-policy` other than `noeviction`):
   * evicted job or fence keys lose jobs. 'refuse' fails start-up; 'warn' emits a process warning.
   * @defaultValue 'refuse'
   */
  readonly evictionPolicy?: 'refuse' | 'warn';
  /** bun-queue's name of `stalledInterval`. */
  readonly stalledJobCheckInterval?: number;
  /** bun-queue's name of `maxStalledCount`. */
  readonly maxStalledJobRetries?: number;
  /**
   * bun-queue's flag. On a Queue: its instances (same name and prefix) elect a leader with a
   * LeaderElection — on `redlock` if given, else on the queue's connection — and the Queue emits
   * `'leader'` / `'follower'` (the leader is for once-per-queue work: docs/queue.md). Workers
   * scale horizontally either way; on a Worker it changes nothing. @defaultValue false
   */
  readonly horizontalScaling?: boolean;
  /** Time for timeouts, backoff jitter and waits. @defaultValue systemClock */
  readonly clock?: Clock;
}

/** A custom backoff, Bull style: `settings.backoffStrategies[type](attemptsMade, err, job)` → ms. */
export type BackoffStrategies = Readonly<Record<string, (attemptsMade: number, error: Error, job: never) => number>>;

/** Options of `new Queue(name, options)`. */
export interface QueueOptions extends CommonOptions {
  /** Options every job of this queue starts from. */
  readonly defaultJobOptions?: JobOptions;
  /** Bull's `settings`: the lock settings, `backoffStrategies` and `drainDelay`. */
  readonly settings?: Partial<LockSettings> & { readonly backoffStrategies?: BackoffStrategies; readonly drainDelay?: number };
}

/** Options of `new Worker(name, processor, options)`. */
export interface WorkerOptions extends CommonOptions {
  /** Jobs run at the same time. @defaultValue 1 */
  readonly concurrency?: number;
  /** Start fetching at once; false: call `run()`. @defaultValue true */
  readonly autorun?: boolean;
  /** The worker's default for jobs that have no `removeOnComplete`. */
  readonly removeOnComplete?: JobOptions['removeOnComplete'];
  /** The worker's default for jobs that have no `removeOnFail`. */
  readonly removeOnFail?: JobOptions['removeOnFail'];
  /** BullMQ's `settings.backoffStrategy(attemptsMade, type, err, job)` → ms (or -1: no retry). */
  readonly settings?: {
    readonly backoffStrategy?: (attemptsMade: number, type: string, error: Error, job: never) => number;
    readonly backoffStrategies?: BackoffStrategies;
  };
  /** A name for this worker (in its claim ids). */
  readonly name?: string;
}

/** The resolved settings both Queue and Worker run on. */
export interface QueueSettings extends LockSettings {
  readonly prefix: string;
  readonly redlock: Redlock | undefined;
  readonly distributedLock: boolean;
  readonly limiter: RateLimiter | undefined;
  readonly drainDelay: number;
  readonly evictionPolicy: 'refuse' | 'warn';
}

const LOCK_FIELDS = ['lockDuration', 'lockRenewTime', 'stalledInterval', 'maxStalledCount', 'useDedicatedLockThread', 'keepAlive', 'skipLockRenewal', 'skipStalledCheck'] as const;
const COMMON_FIELDS = [
  'connection', 'prefix', 'redlock', 'distributedLock', 'limiter', 'drainDelay', 'evictionPolicy',
  'stalledJobCheckInterval', 'maxStalledJobRetries', 'horizontalScaling', 'clock', ...LOCK_FIELDS,
];
const QUEUE_FIELDS = [...COMMON_FIELDS, 'defaultJobOptions', 'settings'];
const WORKER_FIELDS = [...COMMON_FIELDS, 'concurrency', 'autorun', 'removeOnComplete', 'removeOnFail', 'settings', 'name'];

const REFUSED: Record<string, string> = {
  redis: 'Bull\'s `redis` option is called `connection` here (an ioredis client, a URL or options)',
  createClient: 'give `connection` (an ioredis client, a URL or options) instead of `createClient`',
  useWorkerThreads: 'sandboxed processors are not supported',
};

function checkKeys(what: string, input: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(input)) {
    if (key in REFUSED) throw new InvalidOptionsError(`The option \`${key}\` of ${what} is not supported: ${REFUSED[key]}`);
    if (!known.includes(key)) throw new InvalidOptionsError(`Unknown option \`${key}\` for ${what}; known options: ${known.join(', ')}`);
  }
}

function pick<T>(name: string, a: T | undefined, aliasName: string, alias: T | undefined): T | undefined {
  if (a !== undefined && alias !== undefined && a !== alias) {
    throw new InvalidOptionsError(`\`${name}\` and its alias \`${aliasName}\` differ (${String(a)} and ${String(alias)}); give one`);
  }
  return a ?? alias;
}

function checkLimiter(value: unknown): RateLimiter | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) throw new InvalidOptionsError(`Expected \`limiter\` to be { max, duration }, got ${describeValue(value)}`);
  const { max, duration, ...rest } = value as { max?: unknown; duration?: unknown };
  if (Object.keys(rest).length > 0) throw new InvalidOptionsError(`Unknown option \`limiter.${Object.keys(rest)[0]}\`; known: max, duration`);
  return Object.freeze({ max: positiveInteger('limiter.max', max), duration: positiveInteger('limiter.duration', duration) });
}

/**
 * Resolves the options Queue and Worker share: field checks, bun-queue aliases and Bull's
 * `settings`, then the cross-field rules (lockRenewTime < lockDuration; distributedLock needs a
 * Redlock whose maxTtl allows lockDuration).
 * @throws {InvalidOptionsError}
 */
export function resolveQueueSettings(what: 'Queue' | 'Worker', input: unknown): QueueSettings {
  if (typeof input !== 'object' || input === null) {
    throw new InvalidOptionsError(`Expected the options of ${what} to be an object with \`connection\`, got ${describeValue(input)}`);
  }
  const options = input as Record<string, unknown>;
  checkKeys(what, options, what === 'Queue' ? QUEUE_FIELDS : WORKER_FIELDS);
  if (options['connection'] === undefined) {
    throw new InvalidOptionsError(`Expected \`connection\` for ${what}: an ioredis client or Cluster, a redis:// URL or ioredis options`);
  }
  const settings = (options['settings'] ?? {}) as Record<string, unknown>;
  if (typeof settings !== 'object' || settings === null) throw new InvalidOptionsError(`Expected \`settings\` to be an object, got ${describeValue(settings)}`);
  checkKeys(`${what} settings`, settings, what === 'Queue' ? [...LOCK_FIELDS, 'backoffStrategies', 'drainDelay'] : ['backoffStrategy', 'backoffStrategies']);
  const get = (name: string): unknown => pick(name, options[name], `settings.${name}`, settings[name]);

  const lockDuration = positiveInteger('lockDuration', get('lockDuration') ?? 30_000);
  const lockRenewTime = positiveInteger('lockRenewTime', get('lockRenewTime') ?? Math.max(1, Math.floor(lockDuration / 2)));
  if (lockRenewTime >= lockDuration) {
    throw new InvalidOptionsError(`Expected \`lockRenewTime\` (${lockRenewTime}) to be less than \`lockDuration\` (${lockDuration}): a lock must be renewed before it ends`);
  }
  const stalledInterval = positiveInteger('stalledInterval', pick('stalledInterval', get('stalledInterval'), 'stalledJobCheckInterval', options['stalledJobCheckInterval']) ?? 30_000);
  const maxStalledCount = nonNegativeInteger('maxStalledCount', pick('maxStalledCount', get('maxStalledCount'), 'maxStalledJobRetries', options['maxStalledJobRetries']) ?? 1);
  const useDedicatedLockThread = boolean('useDedicatedLockThread', get('useDedicatedLockThread') ?? false);
  const keepAlive = nonNegativeInteger('keepAlive', get('keepAlive') ?? 0);
  const skipLockRenewal = boolean('skipLockRenewal', get('skipLockRenewal') ?? false);
  const skipStalledCheck = boolean('skipStalledCheck', get('skipStalledCheck') ?? false);
  if (options['horizontalScaling'] !== undefined) boolean('horizontalScaling', options['horizontalScaling']);

  const redlock = options['redlock'];
  if (redlock !== undefined && !(redlock instanceof Redlock)) {
    throw new InvalidOptionsError(`Expected \`redlock\` to be a Redlock, got ${describeValue(redlock)}`);
  }
  const distributedLock = boolean('distributedLock', options['distributedLock'] ?? false);
  if (distributedLock && redlock === undefined) {
    throw new InvalidOptionsError('`distributedLock: true` needs `redlock`: the Redlock whose quorum locks the jobs take');
  }
  if (distributedLock && redlock !== undefined && lockDuration > redlock.settings.maxTtl) {
    throw new InvalidOptionsError(`Expected \`lockDuration\` (${lockDuration}) to be at most the Redlock's \`maxTtl\` (${redlock.settings.maxTtl})`);
  }
  const evictionPolicy = options['evictionPolicy'] ?? 'refuse';
  if (evictionPolicy !== 'refuse' && evictionPolicy !== 'warn') {
    throw new InvalidOptionsError(`Expected \`evictionPolicy\` to be 'refuse' or 'warn', got ${describeValue(evictionPolicy)}`);
  }
  const drainDelay = get('drainDelay') ?? 5;
  if (typeof drainDelay !== 'number' || !Number.isFinite(drainDelay) || drainDelay <= 0) {
    throw new InvalidOptionsError(`Expected \`drainDelay\` to be a positive number of seconds, got ${describeValue(drainDelay)}`);
  }
  return Object.freeze({
    prefix: nonEmptyString('prefix', options['prefix'] ?? 'redfence'),
    redlock,
    distributedLock,
    limiter: checkLimiter(options['limiter']),
    drainDelay,
    evictionPolicy,
    lockDuration,
    lockRenewTime,
    stalledInterval,
    maxStalledCount,
    useDedicatedLockThread,
    keepAlive,
    skipLockRenewal,
    skipStalledCheck,
  });
}

/** Checks a queue's name: non-empty, and no `{` or `}` (it is the keys' hash tag). */
export function checkQueueName(name: unknown): string {
  const checked = nonEmptyString('name', name);
  if (/[{}]/.test(checked)) throw new InvalidOptionsError(`Expected \`name\` without \`{\` or \`}\` (it is part of the keys' hash tag), got \`'${checked}'\``);
  return checked;
}

/** Checks a prefix the same way. */
export function checkPrefix(prefix: string): string {
  if (/[{}]/.test(prefix)) throw new InvalidOptionsError(`Expected \`prefix\` without \`{\` or \`}\`, got \`'${prefix}'\``);
  return prefix;
}
