import { RedfenceError } from './errors.js';

/**
 * The one source of time in redfence. `now()` is monotonic (never jumps with the wall clock) and is
 * what validity is measured on; timers come from the same clock so tests can drive both.
 */
export interface Clock {
  /** Milliseconds on a monotonic clock (fractional). Only differences are meaningful. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; the timer does not keep the process alive. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /**
   * The wall clock, ms since the epoch: only for the floor under new fencing tokens and a waiter's
   * arrival, never for validity. @defaultValue `Date.now()`
   */
  wallNow?(): number;
  /** A number in [0, 1) for retry jitter. @defaultValue `Math.random()` */
  random?(): number;
}

/** The real clock: `performance.now()`, unref'd Node timers, `Date.now()` and `Math.random()`. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
  wallNow: () => Date.now(),
  random: () => Math.random(),
});

/** The wall clock in ms since the epoch, from `clock` (only for token floors and arrival order). */
export function wallClockMs(clock: Clock): number {
  return Math.floor(clock.wallNow?.() ?? Date.now());
}

/**
 * The wall clock in whole microseconds since the epoch, as a decimal string: the floor under new
 * fencing tokens (so tokens keep increasing after every node was wiped). Never used for validity.
 */
export function wallClockMicros(clock: Clock): string {
  return `${wallClockMs(clock)}000`;
}

/** A number in [0, 1) from `clock` (retry jitter). */
export function randomOf(clock: Clock): number {
  return clock.random?.() ?? Math.random();
}

/** Resolves after `ms` on `clock`, or rejects with the signal's reason when it aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Settles as `promise` does, or rejects with a {@link RedfenceError} (code `TIMEOUT`) after `ms` on
 * `clock`, whichever comes first: for requests that a dropped connection may never settle (admin
 * commands).
 */
export function bounded<T>(clock: Clock, ms: number, promise: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new RedfenceError('TIMEOUT', `${what}: no reply within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        reject(error);
      },
    );
  });
}
