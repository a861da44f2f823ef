import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { type Clock, systemClock, wallClockMicros } from '../clock.js';
import { MAX_RESOURCES, resourceKey, resourceKeys, wakePrefix } from '../core/keys.js';
import type { HolderNote, HolderWrite, LockNode } from '../core/lock-node.js';
import { abortSignal, describeValue, resourceList } from '../core/options.js';
import { quorumRound, reportsOf, type Round } from '../core/quorum-round.js';
import { InvalidOptionsError, LockHeldError, LockLostError, NodeError, QuorumError } from '../errors.js';
import { type InitReport, type NodeState, ReadyGate, type RepairReport } from '../fencing/ready-gate.js';
import { type NodeInput, RedisNode } from '../nodes/redis/redis-node.js';
import { assertOneSlot } from '../nodes/redis/script-args.js';
import { type LoopHost, retryAcquire } from './acquire-loop.js';
import { Lock, type Validity, type ValidityCell } from './lock.js';
import { LockThread, type NodeDescription } from './lock-thread.js';
import { type Grant, type Granted, LockRounds, type Ticket } from './lock-rounds.js';
import { buildNodes } from './node-set.js';
import {
  type AcquireSettings,
  checkTtl,
  driftMs,
  leaseFor,
  type RedlockSettings,
  resolveRedlockSettings,
  validUntil,
} from './redlock-options.js';
import { ReleaseNotifier } from './release-notifier.js';

/** Options of `new Redlock(nodes, options)`. */
export interface RedlockOptions extends Partial<RedlockSettings> {
  /** The clock validity and timers run on. @defaultValue systemClock */
  readonly clock?: Clock;
}

/** Per-call options of `acquire`, `tryAcquire` and `using`. */
export interface AcquireOptions extends Partial<AcquireSettings> {
  /** Cancels a pending acquire (also while it waits between attempts); rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Who holds a resource, as {@link Redlock.holder} reads it. */
export interface HolderInfo {
  /** What the holder noted with {@link Redlock.setHolder}. */
  readonly label: string;
  /** The fencing token of the holder's grant. */
  readonly fencingToken: bigint;
  /** The holder's lease time left on the node that showed the note, ms (not a validity). */
  readonly leaseMs: number;
}

export interface LockEvent {
  readonly resources: readonly string[];
  readonly fencingToken: bigint;
}

/** Events of a {@link Redlock}, for observability. `'error'` is never emitted. */
export interface RedlockEvents {
  /** A node failed a request or its connection reported an error. */
  nodeError: [event: { readonly node: string; readonly operation: string; readonly error: NodeError }];
  /** A lock was granted. `slowPath`: round 2 of the fencing counter was needed. */
  acquired: [event: LockEvent & { readonly attempts: number; readonly slowPath: boolean }];
  /** A lock stopped being trustworthy (its signal aborted with `error`). */
  lockLost: [event: LockEvent & { readonly error: LockLostError }];
  /** A lock was extended; `remainingMs` is its new validity. */
  extended: [event: LockEvent & { readonly remainingMs: number }];
  /** A lock was released (on every node that answered). */
  released: [event: LockEvent];
  /** A node that had lost its data was repaired and serves grants again. */
  repaired: [event: RepairReport];
  /** The client's wall clock stepped (only the fencing token floor uses it; validity does not). */
  clockDrift: [event: { readonly stepMs: number }];
}

/** Redlock options that cannot be set per call (acquire, tryAcquire, using). */
const NOT_PER_CALL = new Set(['prefix', 'maxTtl', 'autoRepair', 'clock']);

/**
 * A Redlock-style lock over N independent Redis nodes, with fencing tokens that strictly increase.
 * A grant needs a majority (⌊N/2⌋ + 1) of nodes; its validity is measured on the monotonic clock
 * and corrected for drift.
 *
 * @example
 * const redlock = new Redlock(['redis://a:6379', 'redis://b:6379', 'redis://c:6379'])
 * await using lock = await redlock.acquire(['order:42'], 10_000)
 * await store.write(order, { fence: lock.fencingToken })
 */
export class Redlock extends EventEmitter<RedlockEvents> implements AsyncDisposable {
  /** The nodes, in the order given. */
  readonly nodes: readonly LockNode[];
  /** How many nodes a grant needs: ⌊N/2⌋ + 1. */
  readonly quorum: number;
  readonly clock: Clock;
  readonly settings: RedlockSettings;
  /** The nodes this Redlock made from URLs, options or clients (it closes what it opened). */
  readonly #opened: readonly RedisNode[];
  readonly #unlisten: readonly (() => void)[];
  readonly #grants = new WeakMap<Lock, Grant>();
  /** Locks the lock thread renews, by their id there. */
  readonly #threaded = new WeakMap<Lock, number>();
  readonly #gate: ReadyGate;
  readonly #rounds: LockRounds;
  readonly #loop: LoopHost;
  /** Names this client's tickets and wake channel. */
  readonly #clientId = randomUUID();
  readonly #wakePrefix: string;
  #tickets = 0;
  #notifier: ReleaseNotifier | undefined;
  #closed = false;

  /**
   * @param nodes ioredis clients or Clusters, `redis://` URLs, ioredis options, or MemoryNodes (any LockNode) — one per
   *   independent Redis. Use an odd number, at least 3 in production (1 is allowed for development).
   * @throws {InvalidOptionsError} a bad node or option.
   */
  constructor(nodes: readonly (NodeInput | LockNode)[], options: RedlockOptions = {}) {
    super();
    if (!Array.isArray(nodes) || nodes.length === 0) {
      throw new InvalidOptionsError(
        `Expected \`nodes\` to be a non-empty array of Redis nodes, got ${describeValue(nodes)}. ` +
          'Use 3 or 5 independent Redis servers (1 only for development).',
      );
    }
    const { clock, ...rest } = options;
    if (clock !== undefined && (typeof clock.now !== 'function' || typeof clock.setTimeout !== 'function')) {
      throw new InvalidOptionsError('Expected `clock` to implement Clock (now, setTimeout, clearTimeout)');
    }
    this.settings = Object.freeze(resolveRedlockSettings('Redlock', rest));
    this.#wakePrefix = wakePrefix(this.settings.prefix);
    this.clock = clock ?? systemClock;
    const { nodes: built, opened } = buildNodes(nodes, this.clock);
    this.#opened = opened;
    this.#unlisten = built.map((node) =>
      node.onError((operation, error) => this.emit('nodeError', { node: node.name, operation, error: new NodeError(node.name, operation, error) })),
    );
    this.nodes = Object.freeze(built);
    this.quorum = Math.floor(built.length / 2) + 1;
    this.#gate = new ReadyGate(this.nodes, this.clock, this.settings);
    this.#rounds = new LockRounds(this.nodes, this.clock, this.settings, this.#gate, this.#wakePrefix, {
      repaired: (report) => this.emit('repaired', report),
      clockDrift: (stepMs) => this.emit('clockDrift', { stepMs }),
      notifier: () => this.#notifier,
      closed: () => this.#closed,
    });
    this.#loop = { clock: this.clock, rounds: this.#rounds, releases: (settings) => this.#releases(settings) };
  }

  /**
   * Acquires a lock on every resource (all or none), retrying `retryCount` times; waiters wake
   * early when the lock is released.
   * @throws {LockHeldError} a quorum answered but another owner holds the lock.
   * @throws {QuorumError} too few nodes answered (`error.nodes` says what each did).
   * @throws {LockExpiredError} the nodes answered too slowly for the TTL.
   * @throws {InvalidOptionsError} bad resources, TTL or options.
   * @throws the signal's reason when `options.signal` aborts.
   */
  acquire(resources: string | readonly string[], ttl: number, options?: AcquireOptions): Promise<Lock> {
    return this.#acquire(resources, ttl, options, true);
  }

  /**
   * One attempt, no retries. Resolves with `null` when another owner holds the lock.
   * @throws {QuorumError} too few nodes answered (nodes down, not "held").
   */
  async tryAcquire(resources: string | readonly string[], ttl: number, options?: AcquireOptions): Promise<Lock | null> {
    try {
      return await this.#acquire(resources, ttl, options, false);
    } catch (error) {
      if (error instanceof LockHeldError) return null;
      throw error;
    }
  }

  /**
   * Acquires, runs `routine` with the lock's signal, extends the lock automatically while the
   * routine runs (when `automaticExtensionThreshold` of validity is left) and always releases.
   * If an extension fails, `signal` aborts with a {@link LockLostError}; the routine should stop.
   */
  using<T>(resources: string | readonly string[], ttl: number, routine: (signal: AbortSignal, lock: Lock) => Promise<T>): Promise<T>;
  using<T>(
    resources: string | readonly string[],
    ttl: number,
    options: AcquireOptions,
    routine: (signal: AbortSignal, lock: Lock) => Promise<T>,
  ): Promise<T>;
  async using<T>(
    resources: string | readonly string[],
    ttl: number,
    optionsOrRoutine: AcquireOptions | ((signal: AbortSignal, lock: Lock) => Promise<T>),
    maybeRoutine?: (signal: AbortSignal, lock: Lock) => Promise<T>,
  ): Promise<T> {
    const routine = typeof optionsOrRoutine === 'function' ? optionsOrRoutine : maybeRoutine;
    const options = typeof optionsOrRoutine === 'function' ? undefined : optionsOrRoutine;
    if (typeof routine !== 'function') throw new InvalidOptionsError('Expected `routine` to be a function');
    const settings = this.#settingsFor(options);
    const threshold = settings.automaticExtensionThreshold;
    if (typeof ttl === 'number' && threshold >= ttl - driftMs(ttl, settings.driftFactor)) {
      throw new InvalidOptionsError(
        `Expected \`ttl\` (${ttl}) to leave more than \`automaticExtensionThreshold\` (${threshold} ms) of validity; ` +
          'raise the TTL or lower the threshold.',
      );
    }
    // Automatic extension: to `ttl` again whenever only `threshold` of it is left — the lock's
    // own refresh (in the lock thread with `useDedicatedLockThread`), unless the call sets one.
    const refreshInterval =
      settings.refreshInterval > 0 || typeof ttl !== 'number'
        ? settings.refreshInterval
        : Math.max(1, Math.floor(ttl - driftMs(ttl, settings.driftFactor) - settings.safetyMargin - threshold));
    const lock = await this.acquire(resources, ttl, { ...options, refreshInterval });
    try {
      return await routine(lock.signal, lock);
    } finally {
      await lock.release();
    }
  }

  /**
   * Repairs a node that lost its data (answers notReady): copies the fencing counters from a
   * majority, waits out `maxTtl`, and lets the node serve again. See docs/operations.md.
   * @param node the node, by index or as one of `redlock.nodes`.
   */
  repair(node: number | LockNode): Promise<RepairReport> {
    const target = typeof node === 'number' ? this.nodes[node] : this.nodes.find((n) => n === node);
    if (target === undefined) throw new InvalidOptionsError(`Expected \`node\` to be one of this Redlock's nodes, got ${describeValue(node)}`);
    return this.#gate.repair(target);
  }

  /**
   * Initialises a new cluster while some of its nodes are down (the first grant does it by itself
   * when all answer). Assumes the cluster is new — no node, reachable or not, was used under this
   * prefix — and checks it for the nodes that answer; the others are repaired when they come.
   * Resolves with what it marked. See docs/operations.md.
   * @throws {QuorumError} fewer than a majority answered.
   * @throws {RedfenceError} code `INIT_NOT_NEW`: a node that answered was used already.
   */
  init(): Promise<InitReport> {
    return this.#gate.init();
  }

  /**
   * Notes who holds `lock` — a label such as an election candidate's id — beside its leases, for
   * {@link Redlock.holder}. Informational: a node takes the note only while it holds this lock's
   * lease, and shows it only while that lease is still this lock's. A note lives `maxTtl`; a
   * holder that keeps the lock longer writes it again (LeaderElection does on every renewal).
   * Resolves with how many nodes took it.
   * @throws {InvalidOptionsError} a lock of another Redlock, or a label that is not a string.
   */
  async setHolder(lock: Lock, label: string): Promise<number> {
    const grant = this.#grant(lock);
    if (typeof label !== 'string') throw new InvalidOptionsError(`Expected \`label\` to be a string, got ${describeValue(label)}`);
    const request: HolderWrite = {
      keys: grant.keys,
      notes: lock.resources.map((r) => resourceKey(grant.settings.prefix, r, 'h')),
      owner: grant.owner,
      token: String(lock.fencingToken),
      label,
      ttl: this.settings.maxTtl,
    };
    const round = this.#adminRound<number>((node, done) => void node.writeHolder(request).then((n) => done(undefined, n), done));
    await round.done;
    return round.replies.filter((r) => r?.outcome === 'ok' && r.value === lock.resources.length).length;
  }

  /**
   * Who holds `resource`, as its holder noted with {@link Redlock.setHolder}: the label and
   * fencing token of the newest grant whose holder still holds its lease, and noted so, on a
   * majority of the nodes — or `null` when no grant shows on a majority (a lease left behind on
   * one node by a holder that is gone does not count). Readable by any client, also one that
   * never locks. Informational, like etcd's `Leader()`: the answer may be out of date as soon as
   * it arrives.
   * @throws {QuorumError} fewer than a majority of nodes answered.
   */
  async holder(resource: string): Promise<HolderInfo | null> {
    const [name] = resourceList('resource', resource);
    const prefix = this.settings.prefix;
    const lease = resourceKey(prefix, name as string, 'lk');
    const note = resourceKey(prefix, name as string, 'h');
    const round = this.#adminRound<HolderNote | null>((node, done) => void node.readHolder(lease, note).then((h) => done(undefined, h), done));
    await round.done;
    if (!(await round.decided)) throw new QuorumError('read the holder of', [name as string], this.quorum, reportsOf(this.nodes, round.replies));
    const shown = new Map<string, HolderNote[]>();
    for (const reply of round.replies) {
      const seen = reply?.value;
      if (seen != null) shown.set(`${seen.token} ${seen.label}`, [...(shown.get(`${seen.token} ${seen.label}`) ?? []), seen]);
    }
    let newest: HolderNote | undefined;
    for (const notes of shown.values()) {
      const seen = notes[0] as HolderNote;
      if (notes.length >= this.quorum && (newest === undefined || BigInt(seen.token) > BigInt(newest.token))) {
        newest = { ...seen, leaseMs: Math.min(...notes.map((n) => n.leaseMs)) };
      }
    }
    return newest === undefined ? null : { label: newest.label, fencingToken: BigInt(newest.token), leaseMs: newest.leaseMs };
  }

  /** One request per node for the informational operations, each bounded like a lock request. */
  #adminRound<T>(send: (node: LockNode, done: (error: Error | undefined, value?: T) => void) => void): Round<T> {
    return quorumRound<T, T>(this.nodes, this.quorum, Math.max(this.settings.nodeTimeout, 100), this.clock, (node, _, done) => send(node, done), (value) => ({ outcome: 'ok', value }));
  }

  /** Reports each node's ready marker and fencing-counter count under this Redlock's prefix. */
  inspect(): Promise<NodeState[]> {
    return this.#gate.inspect();
  }

  /** Whether {@link Redlock.quit} was called: a closed Redlock grants nothing. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the connections redfence opened (not the clients you passed in). */
  async quit(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const unlisten of this.#unlisten) unlisten();
    await Promise.all(this.#opened.map((n) => n.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.quit();
  }

  // ---- LockHost ------------------------------------------------------------------------------

  /** @internal */
  async extendLock(lock: Lock, ttl: number): Promise<Validity> {
    const grant = this.#grant(lock);
    checkTtl(ttl, grant.settings);
    const threaded = this.#threaded.get(lock);
    const started = this.clock.now();
    let validity: Validity;
    if (threaded !== undefined) validity = await LockThread.shared().extend(threaded, ttl);
    else {
      this.#gateRenewal(lock);
      const until = await this.#rounds.extend(lock.resources, grant, leaseFor(ttl, grant.settings), (error) => lock.lose(error));
      validity = { until, deadline: validUntil(started, ttl, grant.settings.driftFactor) };
    }
    const remainingMs = Math.min(validity.until, validity.deadline) - this.clock.now();
    this.emit('extended', { resources: lock.resources, fencingToken: lock.fencingToken, remainingMs });
    return validity;
  }

  /** @internal */
  renewLock(lock: Lock, leaseMs: number): Promise<number> {
    const grant = this.#grant(lock);
    this.#gateRenewal(lock);
    return this.#rounds.extend(lock.resources, grant, leaseMs, (error) => lock.lose(error));
  }

  /** @internal */
  async releaseLock(lock: Lock): Promise<void> {
    const threaded = this.#threaded.get(lock);
    if (threaded !== undefined) await LockThread.shared().release(threaded);
    else await this.#rounds.release(this.#grant(lock));
    if (this.listenerCount('released') > 0) this.emit('released', { resources: lock.resources, fencingToken: lock.fencingToken });
  }

  /** @internal */
  lockLost(lock: Lock, error: LockLostError): void {
    this.emit('lockLost', { resources: lock.resources, fencingToken: lock.fencingToken, error });
  }

  /** @internal */
  lockAbandoned(lock: Lock): void {
    const threaded = this.#threaded.get(lock);
    if (threaded !== undefined) LockThread.shared().abandon(threaded);
  }

  /**
   * @internal The lock thread's side: refuses a renewal with the reason, or allows it (undefined).
   */
  renewalGate: ((lock: Lock) => string | undefined) | undefined;

  /**
   * @internal The lock thread's side: a Lock for a grant another Redlock (on the same nodes and
   * prefix, in the main thread) made, kept in `cell`, renewed here.
   */
  adopt(resources: readonly string[], owner: string, token: bigint, ttl: number, validity: Validity, settings: RedlockSettings, cell: ValidityCell): Lock {
    const lock = new Lock(this, resources, token, ttl, validity, {
      watched: true,
      keepAliveMs: settings.keepAlive,
      refreshMs: settings.refreshInterval,
      marginMs: settings.safetyMargin,
      cell,
    });
    this.#grants.set(lock, { owner, keys: resourceKeys(settings.prefix, resources), settings });
    return lock;
  }

  #gateRenewal(lock: Lock): void {
    const refused = this.renewalGate?.(lock);
    if (refused !== undefined) throw new LockLostError(lock.resources, 'extendFailed', refused);
  }

  /**
   * How the lock thread connects to this Redlock's nodes.
   * @throws {InvalidOptionsError} a node it cannot reach on its own, or a clock it cannot read.
   */
  #threadNodes(): NodeDescription[] {
    if (this.clock !== systemClock) {
      throw new InvalidOptionsError('`useDedicatedLockThread` needs the system clock: the lock thread cannot read an injected `clock`');
    }
    return this.nodes.map((node) => {
      const described = node instanceof RedisNode ? node.describe() : undefined;
      if (described === undefined) {
        throw new InvalidOptionsError(
          `\`useDedicatedLockThread\` needs nodes the lock thread can connect to on its own (standalone Redis given as a URL, ` +
            `options or an ioredis client), got ${node.name}: a MemoryNode, a Cluster, or options that cannot leave this thread`,
        );
      }
      return described;
    });
  }

  // ---- acquire ---------------------------------------------------------------------------------

  #settingsFor(options: AcquireOptions | undefined): RedlockSettings {
    if (options === undefined) return this.settings;
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionsError(`Expected \`options\` to be an object, got \`${String(options)}\` (${typeof options})`);
    }
    const { signal: _signal, ...overrides } = options;
    for (const key of Object.keys(overrides)) {
      if (NOT_PER_CALL.has(key)) throw new InvalidOptionsError(`\`${key}\` is a Redlock option; it cannot be set per call`);
    }
    return Object.keys(overrides).length === 0 ? this.settings : resolveRedlockSettings('acquire', this.settings, overrides);
  }

  async #acquire(
    resourcesInput: string | readonly string[],
    ttlInput: number,
    options: AcquireOptions | undefined,
    retry: boolean,
  ): Promise<Lock> {
    const resources = resourceList('resources', resourcesInput);
    if (resources.length > MAX_RESOURCES) {
      throw new InvalidOptionsError(`Expected at most ${MAX_RESOURCES} resources in one lock, got ${resources.length}`);
    }
    const settings = this.#settingsFor(options);
    const ttl = checkTtl(ttlInput, settings);
    if (settings.useDedicatedLockThread) await LockThread.shared().prepare(this.#threadNodes(), settings);
    const signal = abortSignal('signal', options?.signal);
    if (this.#closed) throw new InvalidOptionsError('This Redlock was closed with quit()');
    this.#rounds.assertUsable();
    const keys = resourceKeys(settings.prefix, resources);
    if (resources.length > 1 && this.nodes.some((n) => n.slotted)) assertOneSlot(resources, keys);
    signal?.throwIfAborted();

    // Waiters queue on the nodes with this ticket, which keeps its place across attempts.
    const ticket: Ticket = {
      id: `${this.#clientId}/${(this.#tickets += 1)}/${resources.length === 1 ? leaseFor(ttl, settings) : 0}`,
      score: wallClockMicros(this.clock),
      stayMs: retry && settings.retryCount > 0 ? settings.retryDelay + settings.retryJitter + 4 * settings.nodeTimeout + 100 : 0,
      attempts: 0,
      firstStarted: Number.NaN,
      replies: [],
    };

    // The first attempt runs outside p-retry: the common case pays for no retry machinery.
    let first: unknown;
    try {
      const { lock, slowPath } = this.#lock(resources, ttl, await this.#rounds.attempt(resources, keys, ttl, settings, ticket));
      if (this.listenerCount('acquired') > 0) {
        this.emit('acquired', { resources, fencingToken: lock.fencingToken, attempts: ticket.attempts, slowPath });
      }
      // A client that may wait subscribes to its wake-up channel early, once, in the background and
      // after this call returned, so that neither this acquire nor its first wait pays for opening
      // the subscriber connections.
      if (ticket.stayMs > 0 && settings.waitForRelease && this.#notifier === undefined) {
        this.clock.setTimeout(() => {
          if (!this.#closed) void this.#releases(settings).subscribe();
        }, 0);
      }
      return lock;
    } catch (error) {
      if (ticket.stayMs === 0) throw error;
      first = error;
    }

    const { lock, slowPath } = this.#lock(resources, ttl, await retryAcquire(this.#loop, { resources, keys, ttl, settings, ticket, signal }, first));
    if (this.listenerCount('acquired') > 0) {
      this.emit('acquired', { resources, fencingToken: lock.fencingToken, attempts: ticket.attempts, slowPath });
    }
    return lock;
  }

  /**
   * The Lock of a grant the nodes made. With `useDedicatedLockThread` the lock thread adopts it
   * (and renews it); this Lock then reads the validity the thread writes.
   */
  #lock(resources: readonly string[], ttl: number, granted: Granted): { lock: Lock; slowPath: boolean } {
    const { token, validity, grant, slowPath } = granted;
    const { settings } = grant;
    const options = {
      watched: this.listenerCount('lockLost') > 0,
      keepAliveMs: settings.keepAlive,
      refreshMs: settings.refreshInterval,
      marginMs: settings.safetyMargin,
    };
    if (!settings.useDedicatedLockThread) {
      const lock = new Lock(this, resources, BigInt(token), ttl, validity, options);
      this.#grants.set(lock, grant);
      return { lock, slowPath };
    }
    const made: { lock?: Lock } = {};
    const adopted = LockThread.shared().adopt(
      { nodes: this.#threadNodes(), settings, resources, owner: grant.owner, token, ttl, validity },
      (error) => made.lock?.lose(error),
    );
    const lock = new Lock(this, resources, BigInt(token), ttl, validity, { ...options, cell: adopted.cell, remote: true });
    made.lock = lock;
    this.#grants.set(lock, grant);
    this.#threaded.set(lock, adopted.id);
    return { lock, slowPath };
  }

  #grant(lock: Lock): Grant {
    const grant = this.#grants.get(lock);
    if (grant === undefined) throw new InvalidOptionsError('This lock was not granted by this Redlock');
    return grant;
  }

  #releases(settings: RedlockSettings): ReleaseNotifier {
    this.#notifier ??= new ReleaseNotifier(
      this.nodes,
      this.clock,
      this.quorum,
      `${this.#wakePrefix}${this.#clientId}`,
      Math.max(settings.nodeTimeout, 100),
    );
    return this.#notifier;
  }
}
