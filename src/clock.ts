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
}

/** The real clock: `performance.now()` and unref'd Node timers. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
});

/**
 * The wall clock in whole microseconds since the epoch, as a decimal string: the floor under new
 * fencing tokens (so tokens keep increasing after every node was wiped). Never used for validity.
 */
export function wallClockMicros(): string {
  return `${wallClockMs()}000`;
}

/** The wall clock in ms since the epoch: only for token floors and arrival order, never validity. */
export function wallClockMs(): number {
  return Date.now();
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
