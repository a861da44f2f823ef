import type { Clock } from '../clock.js';
import type { RedisNode } from '../nodes/redis-node.js';

/** How long a channel stays subscribed after its last waiter left (saves SUBSCRIBE round trips). */
const KEEP_SUBSCRIBED_MS = 10_000;
/** Wake-ups remembered per channel for tickets that are not (yet) watching. */
const RECENT_PER_CHANNEL = 32;
interface Channel {
  readonly watches: Set<ReleaseWatch>;
  /** ticket → releasing owner, for messages that arrived before their ticket started watching. */
  readonly recent: Map<string, string>;
  /** Resolves when the SUBSCRIBE was answered on every node (or timed out). */
  subscribed: Promise<void>;
  idleTimer: unknown;
}

/**
 * Wakes waiting acquires when it is their turn. Waiters queue on the nodes; the release script
 * reserves the lease for the queue's head and publishes `<its ticket>|<releasing owner>` on the
 * resource's channel, and only the waiter with that ticket wakes. Each node has one shared subscriber connection, and a channel stays
 * subscribed for a while after its last waiter, so steady contention costs no SUBSCRIBE calls.
 */
export class ReleaseNotifier {
  readonly #nodes: readonly RedisNode[];
  readonly #clock: Clock;
  readonly #subscribeTimeoutMs: number;
  readonly #channels = new Map<string, Channel>();
  readonly #listening = new WeakSet<object>();

  constructor(nodes: readonly RedisNode[], clock: Clock, subscribeTimeoutMs: number) {
    this.#nodes = nodes;
    this.#clock = clock;
    this.#subscribeTimeoutMs = subscribeTimeoutMs;
  }

  /**
   * Starts watching `channels` for wake-ups addressed to `ticket`. `fresh` is true when a channel
   * had to be subscribed now: wake-ups sent before `ready` resolves may have been missed, so the
   * caller should try again at once after `ready`.
   */
  watch(channels: readonly string[], ticket: string): ReleaseWatch {
    const watch = new ReleaseWatch(this, channels, ticket, this.#clock);
    const fresh: string[] = [];
    const pending: Promise<void>[] = [];
    for (const name of channels) {
      let channel = this.#channels.get(name);
      if (channel === undefined) {
        channel = { watches: new Set(), recent: new Map(), subscribed: Promise.resolve(), idleTimer: undefined };
        this.#channels.set(name, channel);
        fresh.push(name);
      }
      this.#clock.clearTimeout(channel.idleTimer);
      channel.idleTimer = undefined;
      channel.watches.add(watch);
      const missed = channel.recent.get(ticket);
      if (missed !== undefined) {
        channel.recent.delete(ticket);
        watch.notify(missed);
      }
      pending.push(channel.subscribed);
    }
    if (fresh.length > 0) {
      const subscribing = this.#subscribe(fresh);
      for (const name of fresh) {
        const channel = this.#channels.get(name);
        if (channel !== undefined) channel.subscribed = subscribing;
      }
      pending.push(subscribing);
    }
    watch.fresh = fresh.length > 0;
    watch.ready = Promise.all(pending).then(() => undefined);
    return watch;
  }

  /** @internal */
  unwatch(watch: ReleaseWatch, channels: readonly string[]): void {
    for (const name of channels) {
      const channel = this.#channels.get(name);
      if (channel === undefined) continue;
      channel.watches.delete(watch);
      if (channel.watches.size > 0 || channel.idleTimer !== undefined) continue;
      channel.idleTimer = this.#clock.setTimeout(() => {
        if (channel.watches.size > 0 || this.#channels.get(name) !== channel) return;
        this.#channels.delete(name);
        for (const node of this.#nodes) node.subscriber().unsubscribe(name).catch(() => undefined);
      }, KEEP_SUBSCRIBED_MS);
    }
  }

  async #subscribe(channels: string[]): Promise<void> {
    let timer: unknown;
    const bounded = new Promise<void>((resolve) => (timer = this.#clock.setTimeout(resolve, this.#subscribeTimeoutMs)));
    const all = Promise.allSettled(
      this.#nodes.map((node) => {
        const sub = node.subscriber();
        if (!this.#listening.has(sub)) {
          this.#listening.add(sub);
          sub.on('message', (channel: string, message: string) => this.#wake(channel, message));
        }
        return sub.subscribe(...channels);
      }),
    );
    await Promise.race([all, bounded]);
    this.#clock.clearTimeout(timer);
  }

  #wake(name: string, message: string): void {
    const channel = this.#channels.get(name);
    if (channel === undefined) return;
    const bar = message.indexOf('|');
    const ticket = bar < 0 ? message : message.slice(0, bar);
    const owner = bar < 0 ? '' : message.slice(bar + 1);
    for (const watch of channel.watches) {
      if (watch.ticket === ticket) {
        watch.notify(owner);
        return;
      }
    }
    channel.recent.set(ticket, owner);
    if (channel.recent.size > RECENT_PER_CHANNEL) {
      const oldest = channel.recent.keys().next().value;
      if (oldest !== undefined) channel.recent.delete(oldest);
    }
  }
}

/** One acquire's wait for its turn on a set of channels. */
export class ReleaseWatch {
  ready: Promise<void> = Promise.resolve();
  /** True when a channel was subscribed just now (earlier wake-ups may have been missed). */
  fresh = false;
  readonly ticket: string;
  readonly #notifier: ReleaseNotifier;
  readonly #channels: readonly string[];
  readonly #clock: Clock;
  #notified = false;
  /** The release that woke this watch last. */
  #owner = '';
  #wakeUp: (() => void) | undefined;

  constructor(notifier: ReleaseNotifier, channels: readonly string[], ticket: string, clock: Clock) {
    this.#notifier = notifier;
    this.#channels = channels;
    this.ticket = ticket;
    this.#clock = clock;
  }

  /**
   * @internal A wake-up for this ticket: `owner` released and the nodes reserved the lock for this
   * ticket ('' when a waiter left). Every node announces the same release; the first one wakes.
   */
  notify(owner: string): void {
    if (owner !== '' && owner === this.#owner) return;
    this.#owner = owner;
    this.#notified = true;
    this.#wakeUp?.();
  }

  /**
   * Waits up to `ms` for a wake-up. Resolves true when one arrived (also one that arrived since the
   * last wait), false on timeout; rejects with the signal's reason on abort.
   */
  wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#notified) {
      this.#notified = false;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
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
      const timer = this.#clock.setTimeout(() => settle(false), ms);
      this.#wakeUp = () => settle(true);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops watching; a channel is unsubscribed a while after its last watch left. */
  [Symbol.dispose](): void {
    this.#notifier.unwatch(this, this.#channels);
  }
}
