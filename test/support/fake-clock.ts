import type { Clock } from '../../src/index.js';

/** A clock that moves only when told to; timers fire in order as time passes. */
export class FakeClock implements Clock {
  #now = 1_000;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= end && (due === undefined || entry[1].at < due[1].at)) due = entry;
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = end;
  }

  /**
   * Moves time forward by `ms` without firing any timer: a process resumed after a pause (SIGSTOP,
   * a blocked event loop), before its overdue timers ran. `advance(0)` fires them.
   */
  jump(ms: number): void {
    this.#now += ms;
  }

  get pending(): number {
    return this.#timers.size;
  }
}
