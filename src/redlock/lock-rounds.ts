import { type Clock, wallClockMs } from '../clock.js';
import type { ResourceKeys } from '../core/keys.js';
import type { AcquireReply, AcquireRequest, ExtendReply, LockNode } from '../core/lock-node.js';
import { quorumRound, type Reply, reportsOf } from '../core/quorum-round.js';
import { InvalidOptionsError, LockExpiredError, LockLostError, QuorumError } from '../errors.js';
import { commitToken } from '../fencing/fencing-counter.js';
import type { ReadyGate, RepairReport } from '../fencing/ready-gate.js';
import { unsafe } from '../unsafe.js';
import type { Validity } from './lock.js';
import { duplicateNodes } from './node-set.js';
import { leaseFor, type RedlockSettings, validUntil } from './redlock-options.js';
import type { ReleaseNotifier, ReleaseWatch } from './release-notifier.js';
import { classifyAcquire, classifyExtend, failureOf, otherOwner, refusalOf, ttlLimitOf, ttlTooLong } from './replies.js';

/** What a granted lock is on the nodes: its owner value, keys and settings. */
export interface Grant {
  /** `<ticket>:<attempt>`: the release script finds the ticket in it. */
  readonly owner: string;
  readonly keys: ResourceKeys;
  readonly settings: RedlockSettings;
}

/** A waiter's place in the nodes' queues: one per acquire call, kept across its attempts. */
export interface Ticket {
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

/** A grant as the nodes made it: the token, its validity, and what the lock is on the nodes. */
export interface Granted {
  readonly token: string;
  readonly validity: Validity;
  readonly grant: Grant;
  /** Round 2 of the fencing counter was needed. */
  readonly slowPath: boolean;
}

/** What the rounds report to (and ask of) the Redlock they work for. */
export interface RoundEvents {
  repaired(report: RepairReport): void;
  clockDrift(stepMs: number): void;
  /** The Redlock's wake-up notifier, once it has one. */
  notifier(): ReleaseNotifier | undefined;
  /** The Redlock was closed: no background repairs. */
  closed(): boolean;
}

/** A wall-clock step larger than this (relative to the monotonic clock) is reported as `clockDrift`. */
const WALL_STEP_REPORT_MS = 1_000;

/** Validity of a grant whose round started at `started`: the lease, and the TTL's end. */
export function validityOf(started: number, ttl: number, settings: RedlockSettings): Validity {
  return {
    until: validUntil(started, leaseFor(ttl, settings), settings.driftFactor),
    deadline: validUntil(started, ttl, settings.driftFactor),
  };
}

/**
 * What a Redlock does on its nodes, one quorum round at a time: an acquire attempt (round 1, the
 * fencing commit, the validity gate, the undo of a failed attempt, the first initialisation), a
 * grant handed over on release, an extension, a release, leaving a queue, and the background
 * repairs. The Redlock around it is the façade: options, retries and waiting, the Lock objects.
 */
export class LockRounds {
  readonly nodes: readonly LockNode[];
  readonly quorum: number;
  readonly clock: Clock;
  readonly #settings: RedlockSettings;
  readonly #gate: ReadyGate;
  readonly #events: RoundEvents;
  readonly #wakePrefix: string;
  #wallOffset: number | undefined;
  /** Set once two nodes turned out to be one server: every later call fails with it. */
  #duplicate: InvalidOptionsError | undefined;

  constructor(nodes: readonly LockNode[], clock: Clock, settings: RedlockSettings, gate: ReadyGate, wakePrefix: string, events: RoundEvents) {
    this.nodes = nodes;
    this.quorum = Math.floor(nodes.length / 2) + 1;
    this.clock = clock;
    this.#settings = settings;
    this.#gate = gate;
    this.#wakePrefix = wakePrefix;
    this.#events = events;
  }

  /** Throws the error of an earlier round that found one server twice. */
  assertUsable(): void {
    if (this.#duplicate !== undefined) throw this.#duplicate;
  }

  /**
   * One extend round: every node's lease back to `leaseMs`. Resolves with the new validity end;
   * when a quorum does not confirm it in time, releases what is left and throws LockLostError.
   */
  async extend(resources: readonly string[], grant: Grant, leaseMs: number, lose: (error: LockLostError) => void): Promise<number> {
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
    this.checkDistinct();
    // A node that reports another owner means the lock can no longer be trusted, even while a
    // quorum still confirms it (DESIGN §3.1); also when that answer comes after the decision.
    if (decided && !round.replies.some(otherOwner)) {
      const until = validUntil(started, leaseMs, grant.settings.driftFactor);
      if (until > this.clock.now()) {
        void round.done.then(() => {
          if (round.replies.some(otherOwner)) lose(this.#lost(resources, round.replies, 'a node reports another owner'));
        });
        return until;
      }
    }
    await round.done;
    // Refused before anything changed: the lock is as it was.
    const max = decided ? undefined : ttlLimitOf(round.replies);
    if (max !== undefined) throw ttlTooLong(leaseMs, max);
    const error = this.#lost(
      resources,
      round.replies,
      round.replies.some(otherOwner) ? 'a node reports another owner' : 'a quorum did not confirm the extension in time',
    );
    // End the Lock (signal aborted, remainingMs() 0; with the lock thread, the shared cell marked
    // lost) BEFORE the release: a release hands the lease to the next waiter, who may be granted at
    // once, in another process, while this one waits to be scheduled again.
    try {
      lose(error);
    } finally {
      void this.release(grant).catch(() => undefined);
    }
    throw error;
  }

  #lost(resources: readonly string[], replies: readonly (Reply<string> | undefined)[], why: string): LockLostError {
    const cause = new QuorumError('extend', resources, this.quorum, reportsOf(this.nodes, replies));
    return new LockLostError(resources, 'extendFailed', why, { cause });
  }

  /** One attempt: round 1 (lock + counter), the fencing commit, the validity gate. */
  async attempt(
    resources: readonly string[],
    keys: ResourceKeys,
    ttl: number,
    settings: RedlockSettings,
    ticket: Ticket,
  ): Promise<Granted> {
    for (let bootstrapped = false; ; bootstrapped = true) {
      // Wake-ups and hand-overs heard so far were sent before this attempt reached the nodes: it
      // takes over or is blocked by whatever they announced, and only later ones can count.
      if (ticket.watch !== undefined) ticket.watch.attempting();
      else if (!unsafe.staleHandOver) this.#events.notifier()?.forget(ticket.id);
      // Unique per attempt, and carrying the ticket: a later attempt of the same acquire may take
      // over what an earlier one left behind (see acquire.lua).
      const owner = `${ticket.id}:${(ticket.attempts += 1)}`;
      const started = this.clock.now();
      if (ticket.attempts === 1) ticket.firstStarted = started;
      const floor = this.tokenFloor();
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
      const refused = decided ? refusalOf(round.replies, this.#settings.prefix, this.nodes.length) : undefined;
      if (decided && (refused !== undefined || duplicateNodes(this.nodes) !== undefined)) {
        void this.release(grant, this.nodes, true);
        this.checkDistinct();
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
          const validity = validityOf(started, ttl, settings);
          if (validity.until > this.clock.now()) {
            if (this.#settings.autoRepair) void round.done.then(() => this.autoRepair(round.replies));
            return { token, validity, grant, slowPath };
          }
          await this.release(grant, this.nodes);
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
      if (undo.length > 0) void this.release(grant, undo, true);
      await round.done;
      this.checkDistinct();
      const max = ttlLimitOf(round.replies);
      if (max !== undefined) throw ttlTooLong(lease, max);
      const refusal = refusalOf(round.replies, this.#settings.prefix, this.nodes.length);
      if (refusal !== undefined) throw refusal;
      const reports = reportsOf(this.nodes, round.replies);
      if (reports.some((r) => r.outcome === 'notReady')) {
        if (!bootstrapped && (await this.#gate.bootstrap())) continue;
        this.autoRepair(round.replies);
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
  async handedOver(
    resources: readonly string[],
    keys: ResourceKeys,
    ttl: number,
    settings: RedlockSettings,
    ticket: Ticket,
    granted: ReadonlyMap<number, string>,
  ): Promise<Granted> {
    this.checkDistinct();
    const validity = validityOf(ticket.firstStarted, ttl, settings);
    if (validity.until - this.clock.now() >= leaseFor(ttl, settings) / 2) {
      const owner = `${ticket.id}:g`;
      const replies = this.nodes.map((_, i): Reply<string> | undefined => {
        const token = granted.get(i);
        return token === undefined ? undefined : { outcome: 'ok', value: token };
      });
      const { token, committed, slowPath } = await commitToken(this.nodes, replies, owner, keys, this.quorum, settings.nodeTimeout, this.clock);
      if (committed && validity.until > this.clock.now()) return { token, validity, grant: { owner, keys, settings }, slowPath };
    }
    return this.attempt(resources, keys, ttl, settings, ticket);
  }

  /**
   * Releases on `nodes` (default: all), bounded by nodeTimeout; node failures become `nodeError`
   * events. `quiet`: undoing a failed attempt, which wakes no waiter.
   */
  async release(grant: Grant, nodes: readonly LockNode[] = this.nodes, quiet = false): Promise<void> {
    const { owner, keys, settings } = grant;
    const request = { keys, owner, quiet, floor: this.tokenFloor(), wake: this.#wakePrefix };
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
  leaveQueue(keys: ResourceKeys, settings: RedlockSettings, ticket: Ticket): void {
    const request = { keys, ticket: ticket.id, floor: this.tokenFloor(), wake: this.#wakePrefix };
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
  autoRepair(replies: readonly (Reply<string> | undefined)[]): void {
    if (!this.#settings.autoRepair || this.#events.closed()) return;
    for (const [i, reply] of replies.entries()) {
      const node = this.nodes[i];
      if (reply?.outcome !== 'notReady' || node === undefined || this.#gate.isRepairing(node)) continue;
      this.#gate.repair(node).then(
        (report) => {
          if (!report.alreadyReady) this.#events.repaired(report);
        },
        (error: unknown) => node.reportError('repair', error instanceof Error ? error : new Error(String(error))),
      );
    }
  }


  /**
   * Throws {@link InvalidOptionsError} (now and on every later call) once two nodes turned out to
   * be one server. Each node learns its server's identity before its first reply arrives, so two
   * votes of one server are caught in the round where both are cast, before they count.
   */
  checkDistinct(): void {
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

  /** The token floor (wall clock µs); reports a wall-clock step against the monotonic clock. */
  tokenFloor(): string {
    const wallMs = wallClockMs(this.clock);
    const offset = wallMs - this.clock.now();
    if (this.#wallOffset !== undefined && Math.abs(offset - this.#wallOffset) > WALL_STEP_REPORT_MS) {
      this.#events.clockDrift(offset - this.#wallOffset);
    }
    this.#wallOffset = offset;
    return `${wallMs}000`;
  }
}
