import { describeValue, nonNegativeInteger, numberInRange } from '../core/options.js';
import { InvalidOptionsError } from '../errors.js';

/** How long to wait before the next attempt: a fixed delay, or a strategy and its settings. */
export type BackoffOptions = number | { readonly type: 'fixed' | 'exponential' | (string & {}); readonly delay?: number; readonly jitter?: number };

/** A backoff as stored with a job. */
export interface Backoff {
  readonly type: string;
  readonly delay: number;
  /** 0 to 1: how much of the delay may be taken away at random. */
  readonly jitter: number;
}

export const BUILT_IN_BACKOFFS: readonly string[] = ['fixed', 'exponential'];

/**
 * Checks a job's `backoff`. `custom` names the strategies a worker knows (Bull's
 * `settings.backoffStrategies` names, or any name for BullMQ's `settings.backoffStrategy`, which
 * is given the type).
 * @throws {InvalidOptionsError}
 */
export function checkBackoff(value: unknown, known: (type: string) => boolean): Backoff | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return { type: 'fixed', delay: nonNegativeInteger('backoff', value), jitter: 0 };
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionsError(`Expected \`backoff\` to be a number of ms or { type, delay, jitter }, got ${describeValue(value)}`);
  }
  const { type, delay = 0, jitter = 0, ...rest } = value as { type?: unknown; delay?: unknown; jitter?: unknown };
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new InvalidOptionsError(`Unknown option \`backoff.${unknown[0]}\`; known: type, delay, jitter`);
  if (typeof type !== 'string' || !(BUILT_IN_BACKOFFS.includes(type) || known(type))) {
    throw new InvalidOptionsError(
      `Expected \`backoff.type\` to be 'fixed', 'exponential' or a strategy given in the settings, got ${describeValue(type)}`,
    );
  }
  return { type, delay: nonNegativeInteger('backoff.delay', delay), jitter: numberInRange('backoff.jitter', jitter, 0, 1) };
}

/**
 * The built-in strategies: `fixed` waits `delay`, `exponential` waits `delay × 2^(attemptsMade − 1)`;
 * `jitter` takes up to that share of the delay away at random. `undefined` for another type.
 * @param attemptsMade the attempts made so far, the failed one included (≥ 1)
 * @param random a number in [0, 1)
 */
export function builtInDelay(backoff: Backoff, attemptsMade: number, random: number): number | undefined {
  let ms: number;
  if (backoff.type === 'fixed') ms = backoff.delay;
  else if (backoff.type === 'exponential') ms = backoff.delay * 2 ** Math.max(0, attemptsMade - 1);
  else return undefined;
  return Math.round(ms * (1 - backoff.jitter * random));
}
