import type { Clock } from '../clock.js';

/**
 * What a {@link Renewer} keeps alive: when to renew next, how, and what to do when a renewal fails.
 */
export interface RenewalPolicy {
  /** Milliseconds until the next renewal, or `undefined` when there is nothing left to renew. */
  next(): number | undefined;
  /** One renewal; rejects when it failed. */
  renew(): Promise<void>;
  /** Called once, when a renewal failed (the renewer has stopped). */
  failed(error: unknown): void;
}

/**
 * The one renewal loop of redfence: `using()`'s automatic extension and the keep-alive lease (and
 * the layers on top) are policies run by it. One renewal at a time; after each, the policy says
 * when the next is due. A failure stops the loop and is reported once; `stop()` ends it quietly.
 * Its timers come from the injected clock.
 */
export class Renewer {
  readonly #clock: Clock;
  readonly #policy: RenewalPolicy;
  #timer: unknown;
  #renewing = false;
  #stopped = false;

  constructor(clock: Clock, policy: RenewalPolicy) {
    this.#clock = clock;
    this.#policy = policy;
  }

  /** Plans the first renewal. */
  start(): this {
    this.#schedule();
    return this;
  }

  /** Plans the next renewal again, e.g. after the lock was extended from outside. */
  reschedule(): void {
    if (this.#renewing) return; // planned when the running renewal ends
    this.#clear();
    this.#schedule();
  }

  /** Ends the loop; a renewal under way finishes, but nothing follows it. */
  stop(): void {
    this.#stopped = true;
    this.#clear();
  }

  #clear(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const ms = this.#policy.next();
    if (ms === undefined) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopped) return;
      this.#renewing = true;
      this.#policy.renew().then(
        () => {
          this.#renewing = false;
          this.#schedule();
        },
        (error: unknown) => {
          this.#renewing = false;
          if (this.#stopped) return;
          this.#stopped = true;
          this.#policy.failed(error);
        },
      );
    }, Math.max(0, ms));
  }
}
