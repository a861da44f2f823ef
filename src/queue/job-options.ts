import { boolean, describeValue, nonEmptyString, nonNegativeInteger, positiveInteger } from '../core/options.js';
import { InvalidOptionsError } from '../errors.js';
import { type Backoff, type BackoffOptions, checkBackoff } from './backoff.js';

/** How many finished jobs to keep: `true` none, `false` all, a count, or an age (seconds) and/or a count. */
export type KeepJobs = boolean | number | { readonly age?: number; readonly count?: number };

/** Options of one job (`queue.add(name, data, opts)`), with Bull's and BullMQ's names and meanings. */
export interface JobOptions {
  /** The job's id: adding a job whose id exists already returns that job and writes nothing. @defaultValue the queue's next number */
  readonly jobId?: string | number;
  /** How many times the job may run in all (≥ 1). @defaultValue 1 */
  readonly attempts?: number;
  /** The wait before a failed job runs again: ms, or `{ type: 'fixed' | 'exponential' | custom, delay, jitter }`. @defaultValue no wait */
  readonly backoff?: BackoffOptions;
  /** Milliseconds before the job may run. @defaultValue 0 */
  readonly delay?: number;
  /** 1 is the highest; 0 or none means before every prioritized job, in order of adding (BullMQ). @defaultValue 0 */
  readonly priority?: number;
  /** Run it before the jobs already waiting. @defaultValue false */
  readonly lifo?: boolean;
  /** Finished jobs to keep once completed. @defaultValue false (keep all) */
  readonly removeOnComplete?: KeepJobs;
  /** Finished jobs to keep once failed. @defaultValue false (keep all) */
  readonly removeOnFail?: KeepJobs;
  /** Milliseconds an attempt may run: then its signal aborts and the attempt fails (Bull's option). @defaultValue none */
  readonly timeout?: number;
  /** How many stack traces to keep on the job. @defaultValue 10 */
  readonly stackTraceLimit?: number;
  /** How many log rows to keep on the job. @defaultValue 0 (all) */
  readonly keepLogs?: number;
}

/** A job's options as stored with it (checked, defaults applied). */
export interface StoredJobOptions {
  readonly jobId?: string;
  readonly attempts: number;
  readonly backoff?: Backoff;
  readonly delay: number;
  readonly priority: number;
  readonly lifo: boolean;
  readonly removeOnComplete?: KeepJobs;
  readonly removeOnFail?: KeepJobs;
  readonly timeout?: number;
  readonly stackTraceLimit: number;
  readonly keepLogs: number;
}

/** The highest priority number (the lowest priority): priority × 2³² must stay exact in Lua. */
export const MAX_PRIORITY = 2_097_152;

/** Options other libraries have that this queue refuses, and why. */
const REFUSED: Record<string, string> = {
  repeat: 'repeatable jobs are not supported yet; run a timer on one process (LeaderElection) that adds the job',
  parent: 'flows (parent/child jobs) are not supported',
  deduplication: 'use `jobId`: adding a job whose id exists returns the existing job',
  debounce: 'use `jobId`: adding a job whose id exists returns the existing job',
  ignoreLock: 'there is no lock bypass: a job is finished by its current fencing token only (docs/queue.md)',
};

const FIELDS = ['jobId', 'attempts', 'backoff', 'delay', 'priority', 'lifo', 'removeOnComplete', 'removeOnFail', 'timeout', 'stackTraceLimit', 'keepLogs'];

function checkKeep(name: string, value: unknown): KeepJobs | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  if (typeof value === 'number') return nonNegativeInteger(name, value);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const { age, count, ...rest } = value as { age?: unknown; count?: unknown };
    if (Object.keys(rest).length > 0) throw new InvalidOptionsError(`Unknown option \`${name}.${Object.keys(rest)[0]}\`; known: age, count`);
    return {
      ...(age === undefined ? {} : { age: nonNegativeInteger(`${name}.age`, age) }),
      ...(count === undefined ? {} : { count: nonNegativeInteger(`${name}.count`, count) }),
    };
  }
  throw new InvalidOptionsError(`Expected \`${name}\` to be a boolean, a count or { age, count }, got ${describeValue(value)}`);
}

/** `[count, age in s]` for the finish script: -1 = no limit. */
export function keepArgs(keep: KeepJobs | undefined): [number, number] {
  if (keep === undefined || keep === false) return [-1, -1];
  if (keep === true) return [0, -1];
  if (typeof keep === 'number') return [keep, -1];
  return [keep.count ?? -1, keep.age ?? -1];
}

function checkJobId(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return nonEmptyString('jobId', value);
}

/**
 * Checks a job's options over the queue's `defaultJobOptions`; unknown options are refused.
 * @param knownBackoff whether a custom backoff type is known
 * @throws {InvalidOptionsError}
 */
export function resolveJobOptions(
  defaults: JobOptions | undefined,
  options: unknown,
  knownBackoff: (type: string) => boolean,
  what = 'job options',
): StoredJobOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new InvalidOptionsError(`Expected ${what} to be an object, got ${describeValue(options)}`);
  }
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries((options ?? {}) as Record<string, unknown>)) {
    if (key in REFUSED) throw new InvalidOptionsError(`The job option \`${key}\` is not supported: ${REFUSED[key]}`);
    if (!FIELDS.includes(key)) throw new InvalidOptionsError(`Unknown job option \`${key}\`; known options: ${FIELDS.join(', ')}`);
    if (value !== undefined) merged[key] = value;
  }
  const jobId = checkJobId(merged['jobId']);
  const backoff = checkBackoff(merged['backoff'], knownBackoff);
  const removeOnComplete = checkKeep('removeOnComplete', merged['removeOnComplete']);
  const removeOnFail = checkKeep('removeOnFail', merged['removeOnFail']);
  const priority = nonNegativeInteger('priority', merged['priority'] ?? 0);
  if (priority > MAX_PRIORITY) throw new InvalidOptionsError(`Expected \`priority\` to be at most ${MAX_PRIORITY}, got \`${priority}\` (number)`);
  const timeout = merged['timeout'] === undefined ? undefined : positiveInteger('timeout', merged['timeout']);
  return {
    ...(jobId === undefined ? {} : { jobId }),
    attempts: positiveInteger('attempts', merged['attempts'] ?? 1),
    ...(backoff === undefined ? {} : { backoff }),
    delay: nonNegativeInteger('delay', merged['delay'] ?? 0),
    priority,
    lifo: boolean('lifo', merged['lifo'] ?? false),
    ...(removeOnComplete === undefined ? {} : { removeOnComplete }),
    ...(removeOnFail === undefined ? {} : { removeOnFail }),
    ...(timeout === undefined ? {} : { timeout }),
    stackTraceLimit: nonNegativeInteger('stackTraceLimit', merged['stackTraceLimit'] ?? 10),
    keepLogs: nonNegativeInteger('keepLogs', merged['keepLogs'] ?? 0),
  };
}

/**
 * JSON text of a job's data or result. Refuses what JSON would silently change or drop: functions,
 * symbols, bigints, Maps, Sets, and cycles. `undefined` is stored as `null`.
 * @throws {InvalidOptionsError}
 */
export function serialize(name: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (key, item: unknown) => {
      const at = key === '' ? name : `${name}.${key}`;
      if (typeof item === 'function' || typeof item === 'symbol' || typeof item === 'bigint') {
        throw new InvalidOptionsError(`Expected \`${at}\` to be JSON-serialisable, got ${describeValue(item)}`);
      }
      if (item instanceof Map || item instanceof Set || item instanceof WeakMap || item instanceof WeakSet) {
        throw new InvalidOptionsError(`Expected \`${at}\` to be JSON-serialisable, got ${describeValue(item)}: JSON would store it as {}`);
      }
      return item;
    });
  } catch (error) {
    if (error instanceof InvalidOptionsError) throw error;
    throw new InvalidOptionsError(`Expected \`${name}\` to be JSON-serialisable: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return text ?? 'null';
}

/** Parses JSON stored by {@link serialize}; text that is not JSON is returned as it is. */
export function deserialize(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
