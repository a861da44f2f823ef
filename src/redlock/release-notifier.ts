import type { Clock } from '../clock.js';
import type { RedisNode } from '../nodes/redis-node.js';

/**
 * Wakes waiting acquires when a lock they wait for is released. The release script publishes on
 * the resource's channel; each node has one shared subscriber connection, and a channel stays
 * subscribed while at least one acquire in this process waits for it.
 */
export class ReleaseNotifier {
  readonly #nodes: readonly RedisNode[];
  readonly #clock: Clock;
  readonly #subscribeTimeoutMs: number;
  readonly #watchers = new Map<string, Set<ReleaseWatch>>();
  readonly #listening = new WeakSet<object>();

  constructor(nodes: readonly RedisNode[], clock: Clock, subscribeTimeoutMs: number) {
    this.#nodes = nodes;
    this.#clock = clock;
    this.#subscribeTimeoutMs = subscribeTimeoutMs;
  }

  /**
   * Starts watching `channels`. Await `watch.ready` before the next attempt: from then on, every
   * release on a node whose subscription succeeded wakes the watch.
   */
  watch(channels: readonly string[]): ReleaseWatch {
    const watch = new ReleaseWatch(this, channels, this.#clock);
    const fresh: string[] = [];
    for (const channel of channels) {
      let set = this.#watchers.get(channel);
      if (set === undefined) {
        set = new Set();
        this.#watchers.set(channel, set);
        fresh.push(channel);
      }
      set.add(watch);
    }
    watch.ready = fresh.length === 0 ? Promise.resolve() : this.#subscribe(fresh);
    return watch;
  }

  /** @internal */
  unwatch(watch: ReleaseWatch, channels: readonly string[]): void {
    const gone: string[] = [];
    for (const channel of channels) {
      const set = this.#watchers.get(channel);
      if (set === undefined) continue;
      set.delete(watch);
      if (set.size === 0) {
        this.#watchers.delete(channel);
        gone.push(channel);
      }
    }
    if (gone.length === 0) return;
    for (const node of this.#nodes) node.subscriber().unsubscribe(...gone).catch(() => undefined);
  }

  async #subscribe(channels: string[]): Promise<void> {
    let timer: unknown;
    const bounded = new Promise<void>((resolve) => (timer = this.#clock.setTimeout(resolve, this.#subscribeTimeoutMs)));
    const all = Promise.allSettled(
      this.#nodes.map((node) => {
        const sub = node.subscriber();
        if (!this.#listening.has(sub)) {
          this.#listening.add(sub);
          sub.on('message', (channel: string) => this.#wake(channel));
        }
        return sub.subscribe(...channels);
      }),
    );
    await Promise.race([all, bounded]);
    this.#clock.clearTimeout(timer);
  }

  #wake(channel: string): void {
    const set = this.#watchers.get(channel);
    if (set !== undefined) for (const watch of set) watch.notify();
  }
}

/** One acquire's interest in a set of channels. */
export class ReleaseWatch {
  ready: Promise<void> = Promise.resolve();
  readonly #notifier: ReleaseNotifier;
  readonly #channels: readonly string[];
  readonly #clock: Clock;
  #notified = false;
  #wakeUp: (() => void) | undefined;

  constructor(notifier: ReleaseNotifier, channels: readonly string[], clock: Clock) {
    this.#notifier = notifier;
    this.#channels = channels;
    this.#clock = clock;
  }

  /** @internal */
  notify(): void {
    this.#notified = true;
    this.#wakeUp?.();
  }

  /**
   * Waits up to `ms` for a release notification. Resolves true when one arrived (also one that
   * arrived since the last wait), false on timeout; rejects with the signal's reason on abort.
   */
  wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#notified) {
      this.#notified = false;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve, reject) => {
      const settle = (value: boolean): void => {
        this.#clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#wakeUp = undefined;
        this.#notified = false;
        resolve(value);
      };
      const onAbort = (): void => {
        this.#clock.clearTimeout(timer);
        this.#wakeUp = undefined;
        reject(signal?.reason);
      };
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const timer = this.#clock.setTimeout(() => settle(false), ms);
      this.#wakeUp = () => settle(true);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops watching; the last watch of a channel unsubscribes it. */
  [Symbol.dispose](): void {
    this.#notifier.unwatch(this, this.#channels);
  }
}
