import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import pRetry from 'p-retry';
import { type Clock, randomOf, sleep, systemClock, wallClockMicros, wallClockMs } from '../clock.js';
import { InvalidOptionsError, LockExpiredError, LockHeldError, LockLostError, NodeError, QuorumError } from '../errors.js';
import { commitToken } from '../fencing/fencing-counter.js';
import { type InitReport, type NodeState, ReadyGate, type RepairReport } from '../fencing/ready-gate.js';
import { MAX_RESOURCES, type ResourceKeys, resourceKeys, wakePrefix } from '../core/keys.js';
import type { AcquireReply, AcquireRequest, ExtendReply, LockNode } from '../core/lock-node.js';
import type { NodeInput, RedisNode } from '../nodes/redis/redis-node.js';
import { assertOneSlot } from '../nodes/redis/script-args.js';
import { abortSignal, describeValue, resourceList } from '../core/options.js';
import { Lock, lostBy, type Validity } from './lock.js';
import { quorumRound, type Reply, reportsOf } from '../core/quorum-round.js';
import {
  type AcquireSettings,
  checkTtl,
  driftMs,
  leaseFor,
  type RedlockSettings,
  resolveRedlockSettings,
  validUntil,
} from './redlock-options.js';
import { unsafe } from '../unsafe.js';
import { ReleaseNotifier, type ReleaseWatch } from './release-notifier.js';
import { buildNodes, duplicateNodes } from './node-set.js';
import { Renewer } from './renewer.js';
import { classifyAcquire, classifyExtend, failureOf, otherOwner, refusalOf, ttlLimitOf, ttlTooLong } from './replies.js';

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

interface Grant {
  /** `<ticket>:<attempt>`: the release script finds the ticket in it. */
  readonly owner: string;
  readonly keys: ResourceKeys;
  readonly settings: RedlockSettings;
}

/** A waiter's place in the nodes' queues: one per acquire call, kept across its attempts. */
interface Ticket {
  /**
   * `<client id>/<seq>/<ttl>`: the release script finds the waiter's wake channel and, for a
   * single resource, the TTL of a hand-over grant in it (ttl 0: reserve, do not grant).
   */
  readonly id: string;
  /** Arrival order (wall clock µs; ties broken by id), the same on every node. */
  readonly score: string;
  /** How long the nodes keep the ticket queued after an attempt (0: not queued). */
  readonly stayMs: number;
  /** Attempts made so far. */
  attempts: number;
  /** When the first attempt started (monotonic): no node queued the ticket before this. */
  firstStarted: number;
  /** The last attempt's replies, per node. */
  replies: readonly (Reply<string> | undefined)[];
  /** Wake-ups and hand-over grants, once the ticket waited. */
  watch?: ReleaseWatch;
}

/** After a wake-up whose attempt still found the lock held (a slower node), retry this soon. */
const RETRY_AFTER_WAKE_MS = 5;

const ACQUIRE_ONLY = new Set(['prefix', 'maxTtl', 'autoRepair', 'clock']);
/** A wall-clock step larger than this (relative to the monotonic clock) is reported as `clockDrift`. */
const WALL_STEP_REPORT_MS = 1_000;

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
  readonly #gate: ReadyGate;
  /** Names this client's tickets and wake channel. */
  readonly #clientId = randomUUID();
  readonly #wakePrefix: string;
  #tickets = 0;
  #notifier: ReleaseNotifier | undefined;
  #wallOffset: number | undefined;
  #closed = false;
  /** Set once two nodes turned out to be one server: every later call fails with it. */
  #duplicate: InvalidOptionsError | undefined;

  /**
   * @param nodes ioredis clients or Clusters, `redis://` URLs, or ioredis options — one per
   *   independent Redis. Use an odd number, at least 3 in production (1 is allowed for development).
   * @throws {InvalidOptionsError} a bad node or option.
   */
  constructor(nodes: readonly NodeInput[], options: RedlockOptions = {}) {
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
    const lock = await this.acquire(resources, ttl, options);
    // Automatic extension: to `ttl` again whenever only `threshold` of it is left.
    const extender = new Renewer(this.clock, {
      next: () => (lock.signal.aborted ? undefined : lock.ttlRemainingMs() - threshold),
      renew: async () => {
        await lock.extend(ttl);
      },
      failed: (error) => lock.lose(lostBy(lock.resources, error)),
    }).start();
    try {
      return await routine(lock.signal, lock);
    } finally {
      extender.stop();
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

  /** Reports each node's ready marker and fencing-counter count under this Redlock's prefix. */
  inspect(): Promise<NodeState[]> {
    return this.#gate.inspect();
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
    const started = this.clock.now();
    const until = await this.#extendRound(lock, grant, leaseFor(ttl, grant.settings));
    const validity = { until, deadline: validUntil(started, ttl, grant.settings.driftFactor) };
    const remainingMs = Math.min(validity.until, validity.deadline) - this.clock.now();
    this.emit('extended', { resources: lock.resources, fencingToken: lock.fencingToken, remainingMs });
    return validity;
  }

  /** @internal */
  renewLock(lock: Lock, leaseMs: number): Promise<number> {
    return this.#extendRound(lock, this.#grant(lock), leaseMs);
  }

  /**
   * One extend round: every node's lease back to `leaseMs`. Resolves with the new validity end;
   * when a quorum does not confirm it in time, releases what is left and throws LockLostError.
   */
  async #extendRound(lock: Lock, grant: Grant, leaseMs: number): Promise<number> {
    const started = this.clock.now();
    const request = { keys: grant.keys, owner: grant.owner, ttl: leaseMs };
    const round = quorumRound<string, ExtendReply>(
      this.nodes,
      this.quorum,
      grant.settings.nodeTimeout,
      this.clock,
      (node, _, done) => node.extend(request, done),
      classifyExtend,
    );
    const decided = await round.decided;
    this.#checkDistinct();
    // A node that reports another owner means the lock can no longer be trusted, even while a
    // quorum still confirms it (DESIGN §3.1); also when that answer comes after the decision.
    if (decided && !round.replies.some(otherOwner)) {
      const until = validUntil(started, leaseMs, grant.settings.driftFactor);
      if (until > this.clock.now()) {
        void round.done.then(() => {
          if (round.replies.some(otherOwner)) lock.lose(this.#lost(lock, round.replies, 'a node reports another owner'));
        });
        return until;
      }
    }
    await round.done;
    // Refused before anything changed: the lock is as it was.
    const max = decided ? undefined : ttlLimitOf(round.replies);
    if (max !== undefined) throw ttlTooLong(leaseMs, max);
    void this.#release(grant).catch(() => undefined);
    throw this.#lost(
      lock,
      round.replies,
      round.replies.some(otherOwner) ? 'a node reports another owner' : 'a quorum did not confirm the extension in time',
    );
  }

  #lost(lock: Lock, replies: readonly (Reply<string> | undefined)[], why: string): LockLostError {
    const cause = new QuorumError('extend', lock.resources, this.quorum, reportsOf(this.nodes, replies));
    return new LockLostError(lock.resources, 'extendFailed', why, { cause });
  }

  /** @internal */
  async releaseLock(lock: Lock): Promise<void> {
    await this.#release(this.#grant(lock));
    if (this.listenerCount('released') > 0) this.emit('released', { resources: lock.resources, fencingToken: lock.fencingToken });
  }

  /** @internal */
  lockLost(lock: Lock, error: LockLostError): void {
    this.emit('lockLost', { resources: lock.resources, fencingToken: lock.fencingToken, error });
  }

  // ---- acquire ---------------------------------------------------------------------------------

  #settingsFor(options: AcquireOptions | undefined): RedlockSettings {
    if (options === undefined) return this.settings;
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionsError(`Expected \`options\` to be an object, got \`${String(options)}\` (${typeof options})`);
    }
    const { signal: _signal, ...overrides } = options;
    for (const key of Object.keys(overrides)) {
      if (ACQUIRE_ONLY.has(key)) throw new InvalidOptionsError(`\`${key}\` is a Redlock option; it cannot be set per call`);
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
    const signal = abortSignal('signal', options?.signal);
    if (this.#closed) throw new InvalidOptionsError('This Redlock was closed with quit()');
    if (this.#duplicate !== undefined) throw this.#duplicate;
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
      const [lock, slowPath] = await this.#attempt(resources, keys, ttl, settings, ticket);
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

    let woken = false;
    let wokenBefore = false;
    let replayed = false;
    try {
      const [lock, slowPath] = await pRetry(
        () => {
          if (!replayed) {
            replayed = true;
            throw first; // the first attempt's failure, replayed so that p-retry handles its wait
          }
          const granted = ticket.watch?.grants();
          const attempt =
            granted !== undefined
              ? this.#handedOver(resources, keys, ttl, settings, ticket, granted)
              : this.#attempt(resources, keys, ttl, settings, ticket);
          return attempt.then((result) => {
            // Aborted while this attempt succeeded: p-retry has rejected already, and nobody
            // will see this lock. End it quietly (no timer, no lockLost) and give it back.
            if (signal?.aborted === true) {
              this.#discard(result[0]);
              throw signal.reason;
            }
            return result;
          });
        },
        {
          retries: settings.retryCount,
          minTimeout: 0,
          factor: 1,
          maxRetryTime: (settings.retryCount + 1) * (settings.retryDelay + settings.retryJitter + settings.nodeTimeout),
          ...(signal === undefined ? {} : { signal }),
          onFailedAttempt: async ({ error, retriesLeft }) => {
            wokenBefore = woken;
            woken = false;
            if (!(error instanceof QuorumError || error instanceof LockExpiredError)) throw error;
            ticket.watch?.attempted(ticket.replies);
            if (retriesLeft === 0) return;
            // Woken, but the lock was still held on some node (it is changing hands): look again
            // soon; otherwise sleep the retry delay (or until woken).
            const jittered = settings.retryDelay + Math.round((randomOf(this.clock) * 2 - 1) * settings.retryJitter);
            const delay = Math.max(0, wokenBefore ? Math.min(RETRY_AFTER_WAKE_MS, jittered) : jittered);
            if (settings.waitForRelease && error instanceof LockHeldError) {
              let watch = ticket.watch;
              if (watch === undefined) {
                watch = ticket.watch = this.#releases(settings).watch(ticket.id);
                watch.attempted(ticket.replies);
                await watch.ready;
                if (watch.fresh) {
                  // Just subscribed: a wake-up sent before that was missed, so look again now.
                  woken = true;
                  return;
                }
              }
              woken = await watch.wait(delay, signal);
            } else {
              await sleep(this.clock, delay, signal);
            }
          },
          shouldConsumeRetry: () => !woken,
        },
      );
      if (this.listenerCount('acquired') > 0) {
        this.emit('acquired', { resources, fencingToken: lock.fencingToken, attempts: ticket.attempts, slowPath });
      }
      return lock;
    } catch (error) {
      this.#leaveQueue(keys, settings, ticket);
      throw error;
    } finally {
      ticket.watch?.[Symbol.dispose]();
    }
  }

  /** One attempt: round 1 (lock + counter), the fencing commit, the validity gate. */
  async #attempt(
    resources: readonly string[],
    keys: ResourceKeys,
    ttl: number,
    settings: RedlockSettings,
    ticket: Ticket,
  ): Promise<[lock: Lock, slowPath: boolean]> {
    for (let bootstrapped = false; ; bootstrapped = true) {
      // Wake-ups and hand-overs heard so far were sent before this attempt reached the nodes: it
      // takes over or is blocked by whatever they announced, and only later ones can count.
      if (ticket.watch !== undefined) ticket.watch.attempting();
      else if (!unsafe.staleHandOver) this.#notifier?.forget(ticket.id);
      // Unique per attempt, and carrying the ticket: a later attempt of the same acquire may take
      // over what an earlier one left behind (see acquire.lua).
      const owner = `${ticket.id}:${(ticket.attempts += 1)}`;
      const started = this.clock.now();
      if (ticket.attempts === 1) ticket.firstStarted = started;
      const floor = this.#tokenFloor();
      const lease = leaseFor(ttl, settings);
      const request: AcquireRequest = { keys, owner, ttl: lease, floor, score: ticket.score, stayMs: ticket.stayMs, clusterSize: this.nodes.length };
      const round = quorumRound<string, AcquireReply>(
        this.nodes,
        this.quorum,
        settings.nodeTimeout,
        this.clock,
        (node, _, done) => node.acquire(request, done),
        classifyAcquire,
      );
      ticket.replies = round.replies;
      const grant: Grant = { owner, keys, settings };
      let failure: 'quorum' | 'fence' = 'quorum';
      const decided = await round.decided;
      const refused = decided ? refusalOf(round.replies, this.settings.prefix, this.nodes.length) : undefined;
      if (decided && (refused !== undefined || duplicateNodes(this.nodes) !== undefined)) {
        void this.#release(grant, this.nodes, true);
        this.#checkDistinct();
        if (refused !== undefined) throw refused;
      }
      if (decided) {
        const { token, committed, slowPath } = await commitToken(
          this.nodes,
          round.replies,
          owner,
          keys,
          this.quorum,
          settings.nodeTimeout,
          this.clock,
        );
        if (committed) {
          const validity = this.#validity(started, ttl, settings);
          if (validity.until > this.clock.now()) {
            const lock = this.#lock(resources, token, ttl, validity, grant);
            if (this.settings.autoRepair) void round.done.then(() => this.#autoRepair(round.replies));
            return [lock, slowPath];
          }
          await this.#release(grant, this.nodes);
          throw new LockExpiredError(
            resources,
            `A quorum granted ${resources.map((r) => `\`${r}\``).join(', ')} only after ` +
              `${Math.round(this.clock.now() - started)} ms, leaving no validity of the ${ttl} ms TTL; ` +
              'use a longer TTL or check the nodes’ latency.',
          );
        }
        failure = 'fence';
      }
      // Nothing may stay half-locked: undo this attempt on every node that may hold it (all but
      // those that answered held or notReady). The undo runs in the background, so a node that
      // does not answer costs nodeTimeout once, not twice; the report waits for every answer.
      const undo = this.nodes.filter((_, i) => {
        const outcome = round.replies[i]?.outcome;
        return outcome !== 'held' && outcome !== 'notReady';
      });
      if (undo.length > 0) void this.#release(grant, undo, true);
      await round.done;
      this.#checkDistinct();
      const max = ttlLimitOf(round.replies);
      if (max !== undefined) throw ttlTooLong(lease, max);
      const refusal = refusalOf(round.replies, this.settings.prefix, this.nodes.length);
      if (refusal !== undefined) throw refusal;
      const reports = reportsOf(this.nodes, round.replies);
      if (reports.some((r) => r.outcome === 'notReady')) {
        if (!bootstrapped && (await this.#gate.bootstrap())) continue;
        this.#autoRepair(round.replies);
      }
      throw failureOf(resources, this.quorum, reports, failure);
    }
  }

  /**
   * A grant without a round trip: a quorum of nodes handed the lease over to this ticket on release
   * (include/queue.lua) and announced the token each moved to. The lease on each node started after
   * the ticket's first attempt began, so validity counts from there; when that leaves less than half
   * the TTL, or the tokens need a round 2 that fails, an ordinary attempt (which takes the
   * hand-over leases over) is made instead.
   */
  async #handedOver(
    resources: readonly string[],
    keys: ResourceKeys,
    ttl: number,
    settings: RedlockSettings,
    ticket: Ticket,
    granted: ReadonlyMap<number, string>,
  ): Promise<[lock: Lock, slowPath: boolean]> {
    this.#checkDistinct();
    const validity = this.#validity(ticket.firstStarted, ttl, settings);
    if (validity.until - this.clock.now() >= leaseFor(ttl, settings) / 2) {
      const owner = `${ticket.id}:g`;
      const replies = this.nodes.map((_, i): Reply<string> | undefined => {
        const token = granted.get(i);
        return token === undefined ? undefined : { outcome: 'ok', value: token };
      });
      const { token, committed, slowPath } = await commitToken(this.nodes, replies, owner, keys, this.quorum, settings.nodeTimeout, this.clock);
      if (committed && validity.until > this.clock.now()) {
        return [this.#lock(resources, token, ttl, validity, { owner, keys, settings }), slowPath];
      }
    }
    return this.#attempt(resources, keys, ttl, settings, ticket);
  }

  /**
   * Releases on `nodes` (default: all), bounded by nodeTimeout; node failures become `nodeError`
   * events. `quiet`: undoing a failed attempt, which wakes no waiter.
   */
  async #release(grant: Grant, nodes: readonly LockNode[] = this.nodes, quiet = false): Promise<void> {
    const { owner, keys, settings } = grant;
    const request = { keys, owner, quiet, floor: this.#tokenFloor(), wake: this.#wakePrefix };
    const round = quorumRound<undefined, number>(
      nodes,
      nodes.length,
      settings.nodeTimeout,
      this.clock,
      (node, _, done) => node.release(request, done),
      () => ({ outcome: 'ok' }),
    );
    await round.done;
    for (const [i, reply] of round.replies.entries()) {
      const node = nodes[i];
      if (reply !== undefined && reply.outcome !== 'ok' && node !== undefined) {
        node.reportError('release', new Error(reply.error ?? reply.outcome));
      }
    }
  }

  /** Takes a waiter that gave up out of the nodes' queues (in the background, best effort). */
  #leaveQueue(keys: ResourceKeys, settings: RedlockSettings, ticket: Ticket): void {
    const request = { keys, ticket: ticket.id, floor: this.#tokenFloor(), wake: this.#wakePrefix };
    quorumRound<undefined, number>(
      this.nodes,
      this.nodes.length,
      settings.nodeTimeout,
      this.clock,
      (node, _, done) => node.leaveQueue(request, done),
      () => ({ outcome: 'ok' }),
    );
  }

  /** Starts a background repair of every node that answered notReady (with `autoRepair`). */
  #autoRepair(replies: readonly (Reply<string> | undefined)[]): void {
    if (!this.settings.autoRepair || this.#closed) return;
    for (const [i, reply] of replies.entries()) {
      const node = this.nodes[i];
      if (reply?.outcome !== 'notReady' || node === undefined || this.#gate.isRepairing(node)) continue;
      this.#gate.repair(node).then(
        (report) => {
          if (!report.alreadyReady) this.emit('repaired', report);
        },
        (error: unknown) => node.reportError('repair', error instanceof Error ? error : new Error(String(error))),
      );
    }
  }

  /** Validity of a grant whose round started at `started`: the lease, and the TTL's end. */
  #validity(started: number, ttl: number, settings: RedlockSettings): Validity {
    return {
      until: validUntil(started, leaseFor(ttl, settings), settings.driftFactor),
      deadline: validUntil(started, ttl, settings.driftFactor),
    };
  }

  #lock(resources: readonly string[], token: string, ttl: number, validity: Validity, grant: Grant): Lock {
    const lock = new Lock(this, resources, BigInt(token), ttl, validity, {
      watched: this.listenerCount('lockLost') > 0,
      keepAliveMs: grant.settings.keepAlive,
    });
    this.#grants.set(lock, grant);
    return lock;
  }

  /** Ends a lock nobody will see, without events, and releases it on the nodes. */
  #discard(lock: Lock): void {
    lock.discard();
    void this.#release(this.#grant(lock));
  }

  /**
   * Throws {@link InvalidOptionsError} (now and on every later call) once two nodes turned out to
   * be one server. Each node learns its server's identity before its first reply arrives, so two
   * votes of one server are caught in the round where both are cast, before they count.
   */
  #checkDistinct(): void {
    if (this.#duplicate === undefined) {
      const pair = duplicateNodes(this.nodes);
      if (pair === undefined) return;
      this.#duplicate = new InvalidOptionsError(
        `Expected distinct nodes, but \`${pair[0].name}\` and \`${pair[1].name}\` are the same Redis server ` +
          `(run_id ${pair[0].identity}): one server would count twice toward a quorum. Give each node its own server.`,
      );
    }
    throw this.#duplicate;
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

  /** The token floor (wall clock µs); reports a wall-clock step against the monotonic clock. */
  #tokenFloor(): string {
    const wallMs = wallClockMs(this.clock);
    const offset = wallMs - this.clock.now();
    if (this.#wallOffset !== undefined && Math.abs(offset - this.#wallOffset) > WALL_STEP_REPORT_MS) {
      this.emit('clockDrift', { stepMs: offset - this.#wallOffset });
    }
    this.#wallOffset = offset;
    return `${wallMs}000`;
  }
}
