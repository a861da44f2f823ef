import { randomUUID } from 'node:crypto';
import { type Clock, systemClock, wallClockMs } from '../../clock.js';
import { greater } from '../../core/decimal.js';
import type {
  AcquireReply,
  AcquireRequest,
  Done,
  ExtendReply,
  ExtendRequest,
  FenceRequest,
  HolderNote,
  HolderWrite,
  LeaveRequest,
  LockNode,
  ReleaseRequest,
} from '../../core/lock-node.js';
import { InvalidOptionsError } from '../../errors.js';
import { WaitQueue } from './wait-queue.js';

/** Options of `new MemoryNode(options)`. */
export interface MemoryNodeOptions {
  /**
   * The node's time: leases and queue places expire on `clock.now()`, so with a fake clock nothing
   * expires until the test moves it. @defaultValue systemClock
   */
  readonly clock?: Clock;
  /** How reports and errors name the node. @defaultValue `memory:<n>` */
  readonly name?: string;
}

/** How far a waiter's claimed arrival may be from the node's clock (as on Redis): 1 s. */
const ARRIVAL_SLACK_US = 1_000_000;

/** An absent counter reads as 0. */
const ZERO = '0';

/** A string value, expiring when the node's clock is past `expiresAt` (as Redis keys do). */
interface Entry {
  value: string;
  expiresAt: number;
}

let created = 0;

/**
 * A lock node in this process's memory — **not distributed**: it lives and dies with the process,
 * and several processes never see each other's MemoryNodes. For tests of code that locks (with a
 * fake clock they are fully deterministic), single-process apps, and an explicit in-memory
 * fallback. It implements the node port with the same behaviour as a Redis node running
 * redfence's scripts: leases with expiry, fencing counters (exact decimal strings), fair waiter
 * queues with expiring places, hand-over on release with wake-ups to the waiters' channels, and
 * the ready gate (a `flush()` loses everything, like a Redis that restarted empty, and the node
 * refuses grants until repaired). See docs/memory-node.md.
 *
 * Time: leases, queue places and uptime run on the injected clock's `now()` (ms). A waiter's
 * arrival place is compared with the client's wall clock (µs), so the node keeps a wall-ish clock
 * too: the clock's wall time (`wallNow()`, else `Date.now()`) when the node was made, plus how far
 * `clock.now()` moved since.
 *
 * Every operation runs atomically when called; its reply (and the wake-ups it publishes) are
 * delivered in later microtasks, never synchronously, like a network reply.
 */
export class MemoryNode implements LockNode {
  readonly name: string;
  /** Unique per MemoryNode: two of them are two servers. */
  readonly identity: string;
  readonly gated = true;
  readonly slotted = false;
  readonly #clock: Clock;
  /** Wall clock ms minus `clock.now()`, fixed when the node was made. */
  readonly #wallOffsetMs: number;
  readonly #startedAt: number;
  /** Leases, counters, ready markers and repair claims: string keys, as on Redis. */
  readonly #strings = new Map<string, Entry>();
  /** Waiter queues, by lease key. */
  readonly #queues = new Map<string, WaitQueue>();
  readonly #channels = new Map<string, Set<(message: string) => void>>();
  readonly #listeners = new Set<(operation: string, error: Error) => void>();
  readonly #reported = new Set<string>();
  /** Wake-ups published by the running operation, delivered after its reply. */
  #outbox: [channel: string, message: string][] = [];

  constructor(options: MemoryNodeOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionsError(`Expected MemoryNode options to be an object, got \`${String(options)}\``);
    }
    const clock = options.clock ?? systemClock;
    if (typeof clock.now !== 'function' || typeof clock.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function') {
      throw new InvalidOptionsError('Expected `clock` to implement Clock (now, setTimeout, clearTimeout)');
    }
    if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
      throw new InvalidOptionsError(`Expected \`name\` to be a non-empty string, got \`${String(options.name)}\``);
    }
    created += 1;
    this.name = options.name ?? `memory:${created}`;
    this.identity = `memory:${randomUUID()}`;
    this.#clock = clock;
    this.#startedAt = clock.now();
    this.#wallOffsetMs = wallClockMs(clock) - this.#startedAt;
  }

  /** Loses every key (leases, counters, queues, ready marker, claims), like a Redis FLUSHALL. */
  flush(): void {
    this.#strings.clear();
    this.#queues.clear();
  }

  // ---- LockNode: the lock operations ---------------------------------------------------------------

  acquire(request: AcquireRequest, done: Done<AcquireReply>): void {
    this.#answer(done, () => this.#acquire(request));
  }

  extend(request: ExtendRequest, done: Done<ExtendReply>): void {
    this.#answer(done, () => this.#extend(request));
  }

  release(request: ReleaseRequest, done: Done<number>): void {
    this.#answer(done, () => this.#release(request));
  }

  leaveQueue(request: LeaveRequest, done: Done<number>): void {
    this.#answer(done, () => this.#leaveQueue(request));
  }

  raiseFence(request: FenceRequest, done: Done<boolean>): void {
    this.#answer(done, () => this.#raiseFence(request));
  }

  /** Nothing to recycle: a MemoryNode always answers. */
  timedOut(): void {}

  subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    let listeners = this.#channels.get(channel);
    if (listeners === undefined) this.#channels.set(channel, (listeners = new Set()));
    listeners.add(onMessage);
    return Promise.resolve();
  }

  // ---- LockNode: holder notes -------------------------------------------------------------------

  writeHolder(request: HolderWrite): Promise<number> {
    return this.#admin(() => {
      const { keys, notes, owner, token, label, ttl } = request;
      let written = 0;
      for (const [i, lk] of keys.locks.entries()) {
        if (this.#get(lk) !== owner) continue;
        this.#set(notes[i] as string, JSON.stringify([owner, token, label]), ttl);
        written += 1;
      }
      return written;
    });
  }

  readHolder(lease: string, note: string): Promise<HolderNote | null> {
    return this.#admin(() => {
      const stored = this.#get(note);
      if (stored === undefined) return null;
      const [owner, token, label] = JSON.parse(stored) as [string, string, string];
      const entry = this.#strings.get(lease);
      if (entry === undefined || this.#get(lease) !== owner) return null;
      return { token, label, leaseMs: Math.max(0, Math.ceil(entry.expiresAt - this.#clock.now())) };
    });
  }

  // ---- LockNode: the ready gate's admin operations -------------------------------------------------

  marker(key: string, value?: string, claim?: { readonly key: string; readonly id: string }): Promise<string | null> {
    return this.#admin(() => {
      if (value !== undefined && value !== '') {
        if (claim === undefined) this.#setIfAbsent(key, value);
        else if (this.#get(claim.key) === claim.id) {
          this.#setIfAbsent(key, value);
          this.#strings.delete(claim.key);
        }
      }
      return this.#get(key) ?? null;
    });
  }

  claimRepair(key: string, id: string, ms: number): Promise<boolean> {
    return this.#admin(() => {
      if (this.#get(key) !== undefined) return false;
      this.#set(key, id, ms);
      return true;
    });
  }

  unclaimRepair(key: string, id: string): Promise<void> {
    return this.#admin(() => {
      if (this.#get(key) === id) this.#strings.delete(key);
    });
  }

  counters(pattern: string, options: { readonly limit?: number | undefined; readonly requestTimeoutMs: number }): Promise<[string, string][]> {
    return this.#admin(() => {
      const limit = options.limit ?? Number.POSITIVE_INFINITY;
      const matches = globMatcher(pattern);
      const found: [string, string][] = [];
      for (const key of [...this.#strings.keys()]) {
        if (found.length >= limit) break;
        if (!matches(key)) continue;
        const value = this.#get(key);
        if (value !== undefined) found.push([key, value]);
      }
      return found;
    });
  }

  raiseCounters(readyKey: string, entries: readonly (readonly [string, string])[]): Promise<number> {
    return this.#admin(() => {
      // Nothing to raise is not refused (as on Redis, where the check runs per batch of entries).
      if (entries.length === 0) return 0;
      if (this.#get(readyKey) !== undefined) throw new Error('READY the node is ready already');
      let raised = 0;
      for (const [key, value] of entries) {
        if (greater(value, this.#get(key) ?? ZERO)) {
          this.#set(key, value);
          raised += 1;
        }
      }
      return raised;
    });
  }

  uptimeSeconds(): Promise<number> {
    return this.#admin(() => Math.floor((this.#clock.now() - this.#startedAt) / 1_000));
  }

  onError(listener: (operation: string, error: Error) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reports a failed operation to the listeners once, until the node next answers successfully. */
  reportError(operation: string, error: Error): void {
    if (this.#reported.has(operation)) return;
    this.#reported.add(operation);
    for (const listener of this.#listeners) listener(operation, error);
  }

  /** Nothing to close: the data and the subscriptions stay, for every Redlock sharing the node. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  // ---- the operations, each atomic ------------------------------------------------------------------

  #acquire(request: AcquireRequest): AcquireReply {
    const { owner, ttl, floor, stayMs } = request;
    const locks = request.keys.locks;
    this.#checkGate(request.keys.ready, ttl, request.clusterSize);
    if (!(ttl > 0)) throw new Error("ERR invalid expire time in 'set' command");
    const n = locks.length;
    const waiting = locks.some((lk) => this.#queueOf(lk) !== undefined);

    // Fast path: one free resource and nobody queued.
    const single = n === 1 && !waiting;
    if (single && this.#setIfAbsent(locks[0] as string, owner, ttl)) {
      return { locked: true, token: this.#advance(counterKeyOf(locks[0] as string), floor) };
    }

    const ticket = ticketOf(owner);
    const now = this.#clock.now();
    const queued: boolean[] = [];
    let blocked = -1;
    if (waiting) {
      for (const [i, lk] of locks.entries()) {
        const head = this.#queueOf(lk)?.head(now);
        if (head === ticket) queued[i] = true;
        else if (head !== undefined) {
          blocked = i;
          break;
        }
      }
    }
    if (blocked < 0) {
      for (const [i, lk] of locks.entries()) {
        if (!single && this.#setIfAbsent(lk, owner, ttl)) continue;
        const holder = this.#get(lk);
        if (holder === owner) {
          // The same attempt again: the value it moved the counters to.
          return { locked: true, token: this.#get(counterKeyOf(locks[0] as string)) ?? ZERO };
        }
        if (ownedBy(holder, ticket)) {
          // Handed over to this ticket, or left by an earlier attempt of it: this attempt takes it.
          this.#set(lk, owner, ttl);
        } else {
          for (const taken of locks.slice(0, i)) this.#strings.delete(taken);
          blocked = i;
          break;
        }
      }
    }
    const first = counterKeyOf(locks[0] as string);
    if (blocked >= 0) {
      if (stayMs > 0) {
        const place = this.#arrival(request.score);
        for (const lk of locks) this.#queueFor(lk).enqueue(ticket, place, now + stayMs);
      }
      return { locked: false, counter: this.#get(first) ?? ZERO };
    }
    for (const [i, lk] of locks.entries()) if (queued[i] === true) this.#leave(lk, ticket);

    // Every counter moves to one value: the floor when it is above them all, else the largest + 1.
    let top: string | undefined;
    for (const lk of locks) {
      const old = this.#get(counterKeyOf(lk)) ?? ZERO;
      if (!greater(floor, old) && (top === undefined || greater(old, top))) top = old;
    }
    const token = top === undefined ? floor : plusOne(top);
    for (const lk of locks) this.#set(counterKeyOf(lk), token);
    return { locked: true, token };
  }

  #extend(request: ExtendRequest): ExtendReply {
    const { owner, ttl } = request;
    const max = /^\S+ (\d+) /.exec(this.#get(request.keys.ready) ?? '')?.[1];
    if (max !== undefined && ttl > Number(max)) throw new Error(`TTLTOOLONG ${max}`);
    let gone = false;
    for (const lk of request.keys.locks) {
      const holder = this.#get(lk);
      if (holder !== owner) {
        if (holder !== undefined) return 'otherOwner';
        gone = true;
      }
    }
    if (gone) return 'gone';
    for (const lk of request.keys.locks) this.#set(lk, owner, ttl);
    return 'extended';
  }

  #release(request: ReleaseRequest): number {
    const { owner, quiet } = request;
    const ticket = owner.includes(':') ? ticketOf(owner) : owner;
    let deleted = 0;
    const waited: [lk: string, mine: boolean][] = [];
    for (const lk of request.keys.locks) {
      const holder = this.#get(lk);
      // A quiet undo takes only this exact attempt's leases; a release any lease of its ticket.
      const mine = holder === owner || (!quiet && ownedBy(holder, ticket));
      if (mine) deleted += 1;
      if (!quiet && this.#queueOf(lk) !== undefined) waited.push([lk, mine]);
      else if (mine) this.#strings.delete(lk);
    }
    for (const [lk, mine] of waited) {
      this.#leave(lk, ticket);
      if (mine && !this.#handOver(lk, owner, request.wake, request.floor)) this.#strings.delete(lk);
    }
    return deleted;
  }

  #leaveQueue(request: LeaveRequest): number {
    const { ticket } = request;
    let removed = 0;
    for (const lk of request.keys.locks) {
      if (this.#leave(lk, ticket)) removed += 1;
      let holder = this.#get(lk);
      if (ownedBy(holder, ticket)) {
        // A hand-over it will never use goes back (to the next waiter, below).
        this.#strings.delete(lk);
        holder = undefined;
      }
      if (holder === undefined) this.#handOver(lk, '', request.wake, request.floor);
    }
    return removed;
  }

  #raiseFence(request: FenceRequest): boolean {
    const { keys, owner, token } = request;
    for (const [i, lk] of keys.locks.entries()) {
      if (this.#get(lk) !== owner) return false;
      if (!greater(token, this.#get(keys.counters[i] as string) ?? ZERO)) return false;
    }
    for (const fc of keys.counters) this.#set(fc, token);
    return true;
  }

  /**
   * The resource at `lk` just became free: the head of its queue, if any, gets it. A waiter for
   * this one resource (ticket `<client>/<seq>/<ttl>`, ttl > 0) is granted the lease outright as
   * `<ticket>:g` with the next token, and its place is cut to the lease's end; a waiter for several
   * resources (ttl 0) gets the lease reserved as `<ticket>:handoff` while its place lasts. Either
   * way its client hears `<ticket>|<from>|<token>` (token '' for a reservation).
   */
  #handOver(lk: string, from: string, wake: string, floor: string): boolean {
    const queue = this.#queueOf(lk);
    const now = this.#clock.now();
    const head = queue?.head(now);
    if (queue === undefined || head === undefined) return false;
    const parts = /^([^/]+)\/[^/]+\/(\d+)$/.exec(head);
    if (parts === null) return false;
    const [, client = '', ttl = '0'] = parts;
    let token = '';
    if (ttl !== '0') {
      this.#set(lk, `${head}:g`, Number(ttl));
      token = this.#advance(counterKeyOf(lk), floor);
      queue.lowerExpiry(head, now + Number(ttl));
    } else {
      const left = Math.max(1, Math.ceil((queue.expiryOf(head) ?? now) - now));
      this.#set(lk, `${head}:handoff`, left);
    }
    this.#outbox.push([wake + client, `${head}|${from}|${token}`]);
    return true;
  }

  // ---- the keyspace ---------------------------------------------------------------------------------

  /** The live value at `key` (an expired one is dropped). */
  #get(key: string): string | undefined {
    const entry = this.#strings.get(key);
    if (entry === undefined) return undefined;
    if (this.#clock.now() > entry.expiresAt) {
      this.#strings.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Sets `key`, expiring `ms` from now (none: never). A TTL of 0 or less deletes it, as PEXPIRE does. */
  #set(key: string, value: string, ms?: number): void {
    if (ms !== undefined && ms <= 0) {
      this.#strings.delete(key);
      return;
    }
    this.#strings.set(key, { value, expiresAt: ms === undefined ? Number.POSITIVE_INFINITY : this.#clock.now() + ms });
  }

  #setIfAbsent(key: string, value: string, ms?: number): boolean {
    if (this.#get(key) !== undefined) return false;
    this.#set(key, value, ms);
    return true;
  }

  /** Moves the counter at `fc` to max(counter + 1, floor); answers the new value. */
  #advance(fc: string, floor: string): string {
    const old = this.#get(fc);
    const next = old === undefined || greater(floor, old) ? floor : plusOne(old);
    this.#set(fc, next);
    return next;
  }

  /** A non-empty queue at `lk`, if any. */
  #queueOf(lk: string): WaitQueue | undefined {
    const queue = this.#queues.get(lk);
    if (queue !== undefined && queue.size === 0) {
      this.#queues.delete(lk);
      return undefined;
    }
    return queue;
  }

  #queueFor(lk: string): WaitQueue {
    let queue = this.#queues.get(lk);
    if (queue === undefined) this.#queues.set(lk, (queue = new WaitQueue()));
    return queue;
  }

  /** Takes `ticket` out of the queue at `lk`; answers whether it was there. */
  #leave(lk: string, ticket: string): boolean {
    const queue = this.#queues.get(lk);
    if (queue === undefined) return false;
    const removed = queue.remove(ticket);
    if (queue.size === 0) this.#queues.delete(lk);
    return removed;
  }

  /** A waiter's place: its claimed arrival (client wall clock µs), kept within 1 s of this node's. */
  #arrival(score: string): number {
    const server = Math.floor((this.#wallOffsetMs + this.#clock.now()) * 1_000);
    const claimed = Number(score);
    return Math.round(Math.min(Math.max(Number.isFinite(claimed) ? claimed : server, server - ARRIVAL_SLACK_US), server + ARRIVAL_SLACK_US));
  }

  /** The ready gate: refuses when the marker is missing, or names another cluster size or a lower max TTL. */
  #checkGate(readyKey: string, ttl: number, clusterSize: number): void {
    const marker = this.#get(readyKey);
    if (marker === undefined) throw new Error('NOTREADY no ready marker: never initialised, or lost its data');
    const parsed = /^\S+ (\d+) \S+ ?(\d*)$/.exec(marker);
    if (parsed === null) return;
    const [, max = '', size = ''] = parsed;
    if (size !== '' && size !== String(clusterSize)) throw new Error(`CLUSTERSIZE ${size}`);
    if (ttl > Number(max)) throw new Error(`TTLTOOLONG ${max}`);
  }

  // ---- replies ----------------------------------------------------------------------------------

  /** Runs a lock operation now and delivers its answer, then its wake-ups, in later microtasks. */
  #answer<T>(done: Done<T>, operation: () => T): void {
    let reply: T;
    try {
      reply = operation();
    } catch (error) {
      this.#outbox = [];
      queueMicrotask(() => done(error instanceof Error ? error : new Error(String(error))));
      return;
    }
    if (this.#reported.size > 0) this.#reported.clear();
    queueMicrotask(() => done(undefined, reply));
    this.#deliver();
  }

  /** An admin operation, as a promise settled in a later microtask. */
  #admin<T>(operation: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => this.#answer((error: Error | undefined, reply?: T) => (error === undefined ? resolve(reply as T) : reject(error)), operation));
  }

  #deliver(): void {
    const outbox = this.#outbox;
    if (outbox.length === 0) return;
    this.#outbox = [];
    for (const [channel, message] of outbox) {
      const listeners = this.#channels.get(channel);
      if (listeners === undefined) continue;
      for (const listener of [...listeners]) queueMicrotask(() => listener(message));
    }
  }
}

/** A resource's counter key from its lease key (`…:lk` → `…:fc`), as the Redis scripts derive it. */
const counterKeyOf = (lk: string): string => `${lk.slice(0, -2)}fc`;

/** The ticket of an owner `<ticket>:<attempt>` (everything before the last colon). */
function ticketOf(owner: string): string {
  const colon = owner.lastIndexOf(':');
  if (colon < 0) throw new Error(`ERR owner \`${owner}\` is not \`<ticket>:<attempt>\``);
  return owner.slice(0, colon);
}

/** The lease value belongs to some attempt (or hand-over) of `ticket`. */
const ownedBy = (holder: string | undefined, ticket: string): boolean => holder !== undefined && holder.startsWith(`${ticket}:`);

/** `value + 1` for a decimal string, exactly. */
const plusOne = (value: string): string => (BigInt(value) + 1n).toString();

/** A matcher for a Redis glob (SCAN MATCH): `*`, `?`, `[...]` with `^` and ranges, backslash escapes. */
function globMatcher(pattern: string): (key: string) => boolean {
  let source = '^';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i] as string;
    if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else if (c === '\\' && i + 1 < pattern.length) source += escapeRegExp(pattern[(i += 1)] as string);
    else if (c === '[') {
      let j = i + 1;
      let negate = false;
      if (pattern[j] === '^') {
        negate = true;
        j += 1;
      }
      let set = '';
      for (; j < pattern.length && pattern[j] !== ']'; j += 1) {
        const d = pattern[j] as string;
        if (d === '\\' && j + 1 < pattern.length) set += escapeRegExp(pattern[(j += 1)] as string);
        else set += d === '-' ? '-' : escapeRegExp(d);
      }
      source += set === '' ? (negate ? '[\\s\\S]' : '(?!)') : `[${negate ? '^' : ''}${set}]`;
      i = j;
    } else source += escapeRegExp(c);
  }
  const regex = new RegExp(`${source}$`);
  return (key) => regex.test(key);
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
