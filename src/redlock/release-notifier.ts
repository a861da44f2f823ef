import type { Clock } from '../clock.js';
import { greater } from '../core/decimal.js';
import type { LockNode } from '../core/lock-node.js';
import { unsafe } from '../unsafe.js';
import type { Reply } from '../core/quorum-round.js';

/** Wake-ups remembered for tickets that are not (yet) watching. */
const RECENT_TICKETS = 64;
/** After a first hand-over grant, how long to wait for the rest of a quorum's before trying anyway. */
const GATHER_MS = 5;

interface Message {
  readonly node: number;
  readonly from: string;
  /** The token a hand-over grant moved the node's counter to; '' for a reservation or a wake-up. */
  readonly token: string;
}

/**
 * Wakes waiting acquires when it is their turn. Waiters queue on the nodes; a release hands the
 * lease to the queue's head and publishes `<ticket>|<releasing owner>|<token>` on the channel of
 * the head's client (`<prefix>wake:<client id>`, see include/queue.lua), so only the client that
 * waits hears it. Each node has one subscriber connection, subscribed once to this client's
 * channel.
 */
export class ReleaseNotifier {
  /** This client's wake-up channel. */
  readonly channel: string;
  readonly #nodes: readonly LockNode[];
  readonly #clock: Clock;
  readonly #quorum: number;
  readonly #subscribeTimeoutMs: number;
  readonly #watches = new Map<string, ReleaseWatch>();
  readonly #recent = new Map<string, Message[]>();
  #subscribed: Promise<void> | undefined;
  /** The SUBSCRIBE was answered (or timed out): wake-ups from now on arrive. */
  #listening = false;

  constructor(nodes: readonly LockNode[], clock: Clock, quorum: number, channel: string, subscribeTimeoutMs: number) {
    this.#nodes = nodes;
    this.#clock = clock;
    this.#quorum = quorum;
    this.channel = channel;
    this.#subscribeTimeoutMs = subscribeTimeoutMs;
  }

  /**
   * Starts watching for wake-ups addressed to `ticket`. `fresh` is true when the channel is not
   * subscribed yet: wake-ups sent before `ready` resolves may have been missed, so the caller
   * should try again at once after `ready`.
   */
  watch(ticket: string): ReleaseWatch {
    const watch = new ReleaseWatch(this, ticket, this.#clock, this.#quorum);
    this.#watches.set(ticket, watch);
    const missed = this.#recent.get(ticket);
    if (missed !== undefined) {
      this.#recent.delete(ticket);
      for (const message of missed) watch.notify(message);
    }
    watch.fresh = !this.#listening;
    watch.ready = this.subscribe();
    return watch;
  }

  /**
   * Subscribes this client's channel on every node, once; resolves when that was answered (or
   * after the subscribe timeout). Called early, before the first wait, so that it is ready then.
   */
  subscribe(): Promise<void> {
    this.#subscribed ??= this.#subscribe().then(() => {
      this.#listening = true;
    });
    return this.#subscribed;
  }

  /**
   * Drops what was heard for `ticket` while nobody watched: an attempt is about to be sent, and
   * whatever those messages announced was sent before it reached the nodes.
   */
  forget(ticket: string): void {
    this.#recent.delete(ticket);
  }

  /** @internal */
  unwatch(watch: ReleaseWatch): void {
    if (this.#watches.get(watch.ticket) === watch) this.#watches.delete(watch.ticket);
  }

  async #subscribe(): Promise<void> {
    let timer: unknown;
    const bounded = new Promise<void>((resolve) => (timer = this.#clock.setTimeout(resolve, this.#subscribeTimeoutMs)));
    const all = Promise.allSettled(this.#nodes.map((node, index) => node.subscribe(this.channel, (message) => this.#wake(index, message))));
    await Promise.race([all, bounded]);
    this.#clock.clearTimeout(timer);
  }

  #wake(node: number, text: string): void {
    const [ticket = '', from = '', token = ''] = text.split('|');
    const message: Message = { node, from, token };
    const watch = this.#watches.get(ticket);
    if (watch !== undefined) {
      watch.notify(message);
      return;
    }
    const recent = this.#recent.get(ticket);
    if (recent !== undefined) {
      recent.push(message);
      return;
    }
    this.#recent.set(ticket, [message]);
    if (this.#recent.size > RECENT_TICKETS) {
      const oldest = this.#recent.keys().next().value;
      if (oldest !== undefined) this.#recent.delete(oldest);
    }
  }
}

/**
 * What a node last said to this ticket's attempt, which decides whether a later hand-over counts:
 * "held" with the node's counter at that moment, or "locked" with the token the attempt moved it to.
 */
type Seen = { readonly kind: 'held' | 'locked'; readonly counter: string } | { readonly kind: 'unknown' };

/**
 * One acquire's wait for its turn. It also collects the hand-over grants addressed to its ticket:
 * once a quorum of nodes granted the lease, the acquire holds the lock without a round trip.
 */
export class ReleaseWatch {
  ready: Promise<void> = Promise.resolve();
  /** True when the channel was subscribed just now (earlier wake-ups may have been missed). */
  fresh = false;
  readonly ticket: string;
  readonly #notifier: ReleaseNotifier;
  readonly #clock: Clock;
  readonly #quorum: number;
  /** node → the token of the latest hand-over grant it announced. */
  readonly #grants = new Map<number, string>();
  #seen: Seen[] = [];
  #notified = false;
  /** The release that woke this watch last (every node announces the same release). */
  #from = '';
  #wakeUp: (() => void) | undefined;
  #gather: (() => void) | undefined;

  constructor(notifier: ReleaseNotifier, ticket: string, clock: Clock, quorum: number) {
    this.#notifier = notifier;
    this.ticket = ticket;
    this.#clock = clock;
    this.#quorum = quorum;
  }

  /** @internal A message for this ticket from node `message.node`. */
  notify(message: Message): void {
    if (message.token !== '') {
      const before = this.#grants.get(message.node);
      if (before === undefined || greater(message.token, before)) this.#grants.set(message.node, message.token);
      if (this.grants() !== undefined) this.#wake();
      else this.#gather?.();
      return;
    }
    if (message.from !== '' && message.from === this.#from) return;
    this.#from = message.from;
    this.#wake();
  }

  /**
   * An attempt is about to be sent: every grant heard so far is either taken over by it (and then
   * judged by its answer) or gone (a node that lost its data since). Only later messages count.
   */
  attempting(): void {
    this.#grants.clear();
  }

  /**
   * Records what each node answered to the attempt that just failed. A hand-over grant counts only
   * if it provably happened after that answer: its token is above the counter the node reported
   * then ("held" carries the node's counter; "locked" the token the attempt moved it to, whose
   * lease the attempt's undo removed). A node moves its counter up with every hand-over and never
   * down, so a grant announced with a token at or below that counter is older than the answer:
   * the attempt took it over (and its undo deleted it), or someone else's grant followed it —
   * however late its announcement arrives. A node that did not answer may have done either, so
   * its grants do not count until the next attempt.
   */
  attempted(replies: readonly (Reply<string> | undefined)[]): void {
    this.#seen = replies.map((reply): Seen => {
      if ((reply?.outcome === 'held' || reply?.outcome === 'ok') && reply.value !== undefined) {
        return { kind: reply.outcome === 'ok' ? 'locked' : 'held', counter: reply.value };
      }
      return { kind: 'unknown' };
    });
  }

  /** The hand-over grants that count (node → token), or `undefined` when fewer than a quorum. */
  grants(): Map<number, string> | undefined {
    const counted = this.#counted();
    return counted.size >= this.#quorum ? counted : undefined;
  }

  #counted(): Map<number, string> {
    const counted = new Map<number, string>();
    for (const [node, token] of this.#grants) {
      const seen = this.#seen[node];
      if (seen === undefined || seen.kind === 'unknown') continue;
      if (greater(token, seen.counter) || (seen.kind === 'held' && unsafe.staleHandOver)) counted.set(node, token);
    }
    return counted;
  }

  #wake(): void {
    this.#notified = true;
    this.#wakeUp?.();
  }

  /**
   * Waits up to `ms` for a wake-up. Resolves true when one arrived (also one that arrived since the
   * last wait), false on timeout; rejects with the signal's reason on abort. A hand-over grant
   * from fewer than a quorum of nodes wakes it after a few ms (the others may not come).
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
      let timer: unknown;
      const stop = (): void => {
        this.#clock.clearTimeout(timer);
        this.#wakeUp = undefined;
        this.#gather = undefined;
      };
      const settle = (value: boolean): void => {
        stop();
        signal?.removeEventListener('abort', onAbort);
        this.#notified = false;
        resolve(value);
      };
      const onAbort = (): void => {
        stop();
        reject(signal?.reason);
      };
      const gather = (): void => {
        this.#gather = undefined;
        this.#clock.clearTimeout(timer);
        timer = this.#clock.setTimeout(() => settle(true), GATHER_MS);
      };
      timer = this.#clock.setTimeout(() => settle(false), ms);
      this.#wakeUp = () => settle(true);
      this.#gather = gather;
      if (this.#counted().size > 0) gather();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops watching. */
  [Symbol.dispose](): void {
    this.#notifier.unwatch(this);
  }
}
