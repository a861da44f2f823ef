import { randomUUID } from 'node:crypto';
import { bounded, type Clock, sleep } from '../clock.js';
import { QuorumError, RedfenceError } from '../errors.js';
import { greater } from '../core/decimal.js';
import { counterPattern, readyKey, repairKey } from '../core/keys.js';
import type { LockNode } from '../core/lock-node.js';
import { quorumRound } from '../core/quorum-round.js';
import { unsafe } from '../unsafe.js';

/**
 * Timeout of each of the gate's own admin requests (bootstrap, repair); they are rare and may be
 * slow, but never unbounded: a connection recycled under a request drops it without an answer.
 */
const ADMIN_TIMEOUT_MS = 2_000;
const SCAN_COUNT = 1_000;
/** How many more times bootstrap reads the markers when only some nodes have one. */
const MIXED_MARKER_READS = 2;
/** How long a repair's claim on a node outlives the wait it needs (for the copy before it). */
const REPAIR_CLAIM_MARGIN_MS = 60_000;
/** How many times a repair starts over when a source lost or changed its data during the copy. */
const REPAIR_ROUNDS = 3;

/**
 * A node's ready marker, `<cluster id> <max ttl> <incarnation> <nodes>`: the cluster it belongs
 * to; the largest lease any node of the cluster accepts (fixed when the cluster was initialised;
 * repair waits it out); a random id of this node's current life, new whenever it is marked ready
 * (initialised or repaired), so that a repair can tell a source that lost its data meanwhile; and
 * how many nodes the cluster has (a Redlock over another number of nodes is refused: its quorums
 * would not overlap the cluster's).
 */
export interface ReadyMarker {
  readonly clusterId: string;
  readonly maxTtl: number;
  readonly incarnation: string;
  /** Absent in markers written before the node count was kept. */
  readonly nodes: number | undefined;
}

export function parseMarker(raw: string): ReadyMarker | undefined {
  const match = /^(\S+) (\d+) (\S+)(?: (\d+))?$/.exec(raw);
  if (match === null) return undefined;
  const nodes = match[4] === undefined ? undefined : Number(match[4]);
  return { clusterId: match[1] as string, maxTtl: Number(match[2]), incarnation: match[3] as string, nodes };
}

const formatMarker = (clusterId: string, maxTtl: number, nodes: number): string =>
  `${clusterId} ${maxTtl} ${randomUUID().slice(0, 18)} ${nodes}`;

/** What `init` did. */
export interface InitReport {
  /** The new cluster's id; `undefined` when the nodes were initialised already. */
  readonly clusterId: string | undefined;
  /** Nodes marked ready now. */
  readonly marked: readonly string[];
  /** Nodes that did not answer: they are repaired (like nodes that lost their data) when they come. */
  readonly unreachable: readonly string[];
  readonly alreadyInitialised: boolean;
}

export interface GateSettings {
  readonly prefix: string;
  readonly maxTtl: number;
  readonly driftFactor: number;
}

/** What `inspect` saw on one node. */
export interface NodeState {
  readonly node: string;
  /**
   * The ready marker, `<cluster id> <max ttl> <incarnation>`; `null` when absent (lost its data),
   * `undefined` when unreachable.
   */
  readonly ready: string | null | undefined;
  readonly counters: number | undefined;
}

/** What `repair` did. */
export interface RepairReport {
  readonly node: string;
  /** Counters found on the majority it copied from. */
  readonly counters: number;
  /** Counters it raised on the repaired node. */
  readonly raised: number;
  /**
   * How long it waited, after the copy, so that `maxTtl` + drift had passed since it found the
   * marker missing (every lease the node forgot had ended by then).
   */
  readonly waitedMs: number;
  readonly clusterId: string;
  /** The cluster's max TTL (from the ready markers) the wait was based on. */
  readonly maxTtl: number;
  /** True when the node was ready already and nothing was done. */
  readonly alreadyReady: boolean;
}

/**
 * The ready gate: a node serves grants only while it holds the `__ready` marker, which it loses
 * with its data. A new cluster is marked ready only when every node is reachable and holds no
 * counter; a node that forgot is marked ready again only by {@link ReadyGate.repair}.
 */
export class ReadyGate {
  readonly #nodes: readonly LockNode[];
  readonly #clock: Clock;
  readonly #settings: GateSettings;
  #bootstrapping: Promise<boolean> | undefined;
  readonly #repairing = new Map<LockNode, Promise<RepairReport>>();

  constructor(nodes: readonly LockNode[], clock: Clock, settings: GateSettings) {
    this.#nodes = nodes;
    this.#clock = clock;
    this.#settings = settings;
  }

  get #key(): string {
    return readyKey(this.#settings.prefix);
  }

  get #repairKey(): string {
    return repairKey(this.#settings.prefix);
  }

  /** The ready marker of every node: its cluster id, `null` when absent, `undefined` when unreachable. */
  async markers(): Promise<(string | null | undefined)[]> {
    const round = quorumRound<string | null, string | null>(
      this.#nodes,
      this.#nodes.length,
      ADMIN_TIMEOUT_MS,
      this.#clock,
      (node, _, done) => void node.marker(this.#key).then((marker) => done(undefined, marker), done),
      (marker: string | null) => ({ outcome: 'ok', value: marker }),
    );
    await round.done;
    return round.replies.map((r) => (r?.outcome === 'ok' ? (r.value ?? null) : undefined));
  }

  /** Per node: its ready marker (cluster id, `null` absent, `undefined` unreachable) and how many counters it holds. */
  async inspect(): Promise<NodeState[]> {
    const markers = await this.markers();
    return Promise.all(
      this.#nodes.map(async (node, i) => ({
        node: node.name,
        ready: markers[i],
        counters: markers[i] === undefined ? undefined : (await this.#countersOn(node)).length,
      })),
    );
  }

  /**
   * Marks a new (or wholly wiped) cluster ready. Does so only when every node answered, none has
   * the marker and none holds a fencing counter. Resolves true when every node is marked now: by
   * this run, or by another client that initialised the cluster meanwhile (then an attempt that
   * met the unmarked nodes is worth making again). Concurrent callers share one run.
   */
  bootstrap(): Promise<boolean> {
    this.#bootstrapping ??= this.#bootstrap().finally(() => (this.#bootstrapping = undefined));
    return this.#bootstrapping;
  }

  async #bootstrap(): Promise<boolean> {
    let markers = await this.markers();
    // Some nodes marked and some not: another client's initialisation may be half-way (its
    // marks reach the nodes one by one). Look again a couple of times before taking it for a node
    // that lost its data.
    for (let again = 0; again < MIXED_MARKER_READS && markers.some((m) => m === null) && markers.some((m) => typeof m === 'string'); again += 1) {
      markers = await this.markers();
    }
    if (markers.every((m) => typeof m === 'string')) return true;
    if (markers.some((m) => m !== null)) return false;
    // Only gated nodes tell a used cluster: an ungated one (a Redis Cluster) grants without a marker,
    // so a first attempt that failed on the unmarked others leaves its counter there.
    for (const node of this.#nodes.filter((n) => n.gated)) {
      if ((await this.#countersOn(node, 1)).length > 0) {
        // Counters but no markers a moment ago: another client initialised the cluster and
        // granted since (or a majority lost its data, and the markers are still missing).
        return (await this.markers()).every((m) => typeof m === 'string');
      }
    }
    // One cluster id, the cluster's max TTL (this client's), and an incarnation per node.
    const id = randomUUID();
    const round = quorumRound(
      this.#nodes,
      this.#nodes.length,
      ADMIN_TIMEOUT_MS,
      this.#clock,
      (node, _, done) => void node.marker(this.#key, formatMarker(id, this.#settings.maxTtl, this.#nodes.length)).then((m) => done(undefined, m), done),
      () => ({ outcome: 'ok' }),
    );
    return round.decided;
  }

  /**
   * Brings a node that lost its data back: copies the highest fencing counter of every resource
   * from a majority of ready nodes onto it (set-if-greater), waits until the node has been up for
   * longer than `maxTtl` + drift (so no lock it forgot can still be valid), then marks it ready.
   * @throws {QuorumError} fewer than a majority of the other nodes are ready and reachable.
   */
  isRepairing(node: LockNode): boolean {
    return this.#repairing.has(node);
  }

  repair(node: LockNode): Promise<RepairReport> {
    let running = this.#repairing.get(node);
    if (running === undefined) {
      running = this.#repair(node)
        .catch((error: unknown) => {
          if (error instanceof RedfenceError) throw error;
          throw new RedfenceError('REPAIR_FAILED', `Repair of ${node.name} failed: ${error instanceof Error ? error.message : String(error)}; repair it again (autoRepair does).`, { cause: error });
        })
        .finally(() => this.#repairing.delete(node));
      this.#repairing.set(node, running);
    }
    return running;
  }

  async #repair(node: LockNode): Promise<RepairReport> {
    const markers = await this.markers();
    // The node lost its data before this answer: every lease it forgot was set before now.
    const missingSince = this.#clock.now();
    const index = this.#nodes.indexOf(node);
    const own = markers[index];
    if (own === undefined) throw new RedfenceError('REPAIR_UNREACHABLE', `Cannot repair ${node.name}: it does not answer.`);
    if (own !== null) {
      const marker = parseMarker(own);
      return {
        node: node.name,
        counters: 0,
        raised: 0,
        waitedMs: 0,
        clusterId: marker?.clusterId ?? own,
        maxTtl: marker?.maxTtl ?? this.#settings.maxTtl,
        alreadyReady: true,
      };
    }
    const uptimeS = unsafe.repairWaitByUptime ? await this.#admin(node, node.uptimeSeconds(), 'INFO') : 0;
    const quorum = Math.floor(this.#nodes.length / 2) + 1;
    // A client that cannot see a majority of ready nodes gives up before it touches the node.
    if (this.#nodes.filter((_, i) => i !== index && typeof markers[i] === 'string').length < quorum) {
      throw this.#repairQuorumError(node, quorum, markers);
    }
    this.#assertOneCluster(markers);
    const clusterMaxTtl = Math.max(0, ...markers.map((m) => (typeof m === 'string' ? (parseMarker(m)?.maxTtl ?? 0) : 0)));
    const maxTtl = unsafe.ownMaxTtl ? this.#settings.maxTtl : Math.max(clusterMaxTtl, this.#settings.maxTtl);

    // Claimed before anything is copied, and only if no other client's repair holds the node (its
    // claim would be overwritten, and its final mark refused, over and over): a restart or flush of
    // the node meanwhile wipes the claim, and the final mark refuses to make a node ready that
    // forgot the counters copied onto it. The claim expires, so a repairer that crashed does not
    // block the node for good.
    const repairId = randomUUID();
    const claimMs = Math.ceil(this.#waitMs(maxTtl)) + REPAIR_CLAIM_MARGIN_MS;
    const claimed = await this.#admin(node, node.claimRepair(this.#repairKey, repairId, claimMs), 'claim');
    if (!claimed) {
      throw new RedfenceError('REPAIR_IN_PROGRESS', `${node.name} is being repaired by another client; it will be ready when that repair ends.`);
    }
    try {
      return await this.#repairClaimed(node, index, markers, { missingSince, uptimeS, quorum, clusterMaxTtl, maxTtl, repairId });
    } catch (error) {
      // Failed: give the claim back (best effort), so that the next repair need not wait it out.
      await this.#admin(node, node.unclaimRepair(this.#repairKey, repairId), 'unclaim').catch(() => undefined);
      throw error;
    }
  }

  async #repairClaimed(
    node: LockNode,
    index: number,
    initial: readonly (string | null | undefined)[],
    claim: {
      readonly missingSince: number;
      readonly uptimeS: number;
      readonly quorum: number;
      readonly clusterMaxTtl: number;
      readonly maxTtl: number;
      readonly repairId: string;
    },
  ): Promise<RepairReport> {
    const { missingSince, uptimeS, quorum, clusterMaxTtl, maxTtl, repairId } = claim;
    let markers = initial;

    // Copy from a majority of ready nodes, then check that each kept the marker it had when the
    // copy began: a source that lost its data during its scan (its marker is gone, or new after a
    // repair of its own) may have been copied empty. Then start over with the nodes ready now.
    // Counters are only ever raised on the target, so what an earlier round copied never hurts.
    const highest = new Map<string, string>();
    let raised = 0;
    for (let round = 1; ; round += 1) {
      const sources = this.#nodes.flatMap((_, i) => (i !== index && typeof markers[i] === 'string' ? [i] : []));
      if (sources.length < quorum) throw this.#repairQuorumError(node, quorum, markers);
      const chosen = sources.slice(0, quorum);
      highest.clear();
      for (const i of chosen) {
        for (const [key, value] of await this.#countersOn(this.#nodes[i] as LockNode)) {
          const seen = highest.get(key);
          if (seen === undefined || greater(value, seen)) highest.set(key, value);
        }
      }
      raised += await this.#copyCounters(node, highest);
      if (unsafe.repairNoRecheck) break;
      const after = await this.markers();
      const changed = chosen.filter((i) => after[i] !== markers[i]);
      if (changed.length === 0) break;
      if (round === REPAIR_ROUNDS) {
        throw new RedfenceError(
          'REPAIR_SOURCES_CHANGED',
          `Cannot repair ${node.name}: ${changed.map((i) => this.#nodes[i]?.name).join(', ')} lost or changed ` +
            `their data while being copied, ${REPAIR_ROUNDS} times; repair it again once the other nodes are stable.`,
        );
      }
      markers = after;
    }

    const clusterId = markers.flatMap((m) => (typeof m === 'string' ? [parseMarker(m)?.clusterId] : [])).find((id) => id !== undefined);
    if (clusterId === undefined) throw this.#repairQuorumError(node, quorum, markers);
    this.#assertOneCluster(markers);
    // The cluster's max TTL lives on the nodes, whichever client repairs: wait at least that long.
    const waitedMs = unsafe.repairWaitByUptime
      ? await this.#waitFor(this.#clock.now(), this.#waitMs(maxTtl) + 1_000 - uptimeS * 1_000)
      : await this.#waitFor(missingSince, this.#waitMs(maxTtl));
    const marker = await this.#admin(
      node,
      node.marker(this.#key, formatMarker(clusterId, clusterMaxTtl || maxTtl, this.#nodes.length), { key: this.#repairKey, id: repairId }),
      'ready',
    );
    if (marker === null || parseMarker(marker)?.clusterId !== clusterId) {
      throw new RedfenceError('REPAIR_RESTARTED', `${node.name} restarted or lost its data during its repair; repair it again.`);
    }
    return { node: node.name, counters: highest.size, raised, waitedMs, clusterId, maxTtl, alreadyReady: false };
  }

  /**
   * Initialises a new cluster while some nodes do not answer — what the first grant does by itself
   * when every node answers. It assumes that the cluster is new: no node, reachable or not, was
   * ever used under this prefix. It checks what it can: a majority answers, and none of the nodes
   * that answer has a ready marker or a fencing counter. The nodes that answer are marked ready;
   * the others, when they come, answer notReady and are repaired like nodes that lost their data
   * (counters copied from a majority, the cluster's max TTL waited out), so they are safe to join
   * whatever they hold. If the assumption is wrong (a majority of an old cluster lost its data and
   * only the unreachable nodes remember), tokens may go back: that case needs the operator.
   * @throws {QuorumError} code `INIT_QUORUM`: fewer than a majority answered.
   * @throws {RedfenceError} code `INIT_NOT_NEW`: a node that answered has a marker or counters.
   */
  async init(): Promise<InitReport> {
    const markers = await this.markers();
    const quorum = Math.floor(this.#nodes.length / 2) + 1;
    const answered = this.#nodes.filter((_, i) => markers[i] !== undefined);
    const unreachable = this.#nodes.filter((_, i) => markers[i] === undefined).map((n) => n.name);
    if (markers.every((m) => typeof m === 'string')) {
      return { clusterId: undefined, marked: [], unreachable: [], alreadyInitialised: true };
    }
    if (answered.length < quorum) {
      const reports = this.#nodes.map((n, i) => ({ node: n.name, outcome: markers[i] === undefined ? ('timeout' as const) : ('ok' as const) }));
      throw new QuorumError('initialise', this.#nodes.map((n) => n.name), quorum, reports, { code: 'INIT_QUORUM' });
    }
    const used = this.#nodes.filter((_, i) => typeof markers[i] === 'string').map((n) => n.name);
    for (const node of answered) if (node.gated && (await this.#countersOn(node, 1)).length > 0) used.push(node.name);
    if (used.length > 0) {
      throw new RedfenceError(
        'INIT_NOT_NEW',
        `Cannot initialise: ${[...new Set(used)].join(', ')} ${used.length === 1 ? 'was' : 'were'} used under prefix ` +
          `\`${this.#settings.prefix}\` already (a ready marker or fencing counters). A node that lost its data is ` +
          'repaired, not initialised (docs/operations.md).',
      );
    }
    const id = randomUUID();
    const round = quorumRound<undefined, string | null>(
      answered,
      answered.length,
      ADMIN_TIMEOUT_MS,
      this.#clock,
      (node, _, done) => void node.marker(this.#key, formatMarker(id, this.#settings.maxTtl, this.#nodes.length)).then((m) => done(undefined, m), done),
      (marker: string | null) => ({ outcome: marker?.startsWith(`${id} `) === true ? 'ok' : 'error', error: String(marker) }),
    );
    await round.done;
    const marked = answered.filter((_, i) => round.replies[i]?.outcome === 'ok').map((n) => n.name);
    return { clusterId: id, marked, unreachable, alreadyInitialised: false };
  }

  /**
   * Throws {@link RedfenceError} `CLUSTER_MISMATCH` when ready nodes disagree on their cluster, or
   * were initialised as a cluster of another size than this Redlock's.
   */
  #assertOneCluster(markers: readonly (string | null | undefined)[]): void {
    const parsed = markers.map((m) => (typeof m === 'string' ? parseMarker(m) : undefined));
    const ids = new Set(parsed.flatMap((m) => (m === undefined ? [] : [m.clusterId])));
    const sizes = new Set(parsed.flatMap((m) => (m?.nodes === undefined ? [] : [m.nodes])));
    if (ids.size <= 1 && [...sizes].every((n) => n === this.#nodes.length)) return;
    throw new RedfenceError('CLUSTER_MISMATCH', clusterMismatch(this.#settings.prefix, this.#nodes.length, [...sizes]));
  }

  #repairQuorumError(node: LockNode, quorum: number, markers: readonly (string | null | undefined)[]): QuorumError {
    return new QuorumError(
      'repair',
      [node.name],
      quorum,
      this.#nodes.map((n, i) => ({
        node: n.name,
        outcome: markers[i] === undefined ? 'timeout' : markers[i] === null ? 'notReady' : 'ok',
      })),
      { code: 'REPAIR_QUORUM' },
    );
  }

  /** Raises the counters on the node being repaired (set-if-greater); resolves with how many rose. */
  #copyCounters(node: LockNode, highest: ReadonlyMap<string, string>): Promise<number> {
    return this.#admin(node, node.raiseCounters(this.#key, [...highest]), 'raise counters', highest.size);
  }

  /** `maxTtl` plus its drift allowance: how long a lease granted before a data loss may still be trusted. */
  #waitMs(maxTtl: number): number {
    return maxTtl + maxTtl * this.#settings.driftFactor + 2;
  }

  /** Waits until `ms` have passed since `since` (monotonic); resolves with the time waited now. */
  async #waitFor(since: number, ms: number): Promise<number> {
    const waitMs = Math.max(0, Math.ceil(since + ms - this.#clock.now()));
    if (waitMs > 0) await sleep(this.#clock, waitMs);
    return waitMs;
  }

  /**
   * An admin operation on `node`, bounded by ADMIN_TIMEOUT_MS per request it makes (`requests`:
   * about how many; a copy or scan of many counters makes one per SCAN_COUNT).
   */
  #admin<T>(node: LockNode, operation: Promise<T>, what: string, items = 0): Promise<T> {
    const requests = 1 + Math.ceil(items / SCAN_COUNT);
    return bounded(this.#clock, ADMIN_TIMEOUT_MS * requests, operation, `${node.name} ${what}`);
  }

  /** The fencing counters on `node` (a full scan), as [key, value] pairs; at most `limit` of them. */
  #countersOn(node: LockNode, limit?: number): Promise<[string, string][]> {
    return node.counters(counterPattern(this.#settings.prefix), { limit, requestTimeoutMs: ADMIN_TIMEOUT_MS });
  }
}

/** Says what it means that the nodes under `prefix` were initialised as another node set. */
export function clusterMismatch(prefix: string, nodes: number, sizes: readonly number[]): string {
  return (
    `The nodes under prefix \`${prefix}\` were initialised as ${sizes.length > 0 ? `a cluster of ${sizes.join(' and ')} nodes` : 'more than one cluster'}, ` +
    `and this Redlock has ${nodes}: Redlocks over different node sets must not share a prefix, because their ` +
    'quorums need not overlap (two holders, tokens going back). Use one prefix per node set; to move a prefix ' +
    'to a new node set, start over (docs/operations.md, "Changing the node set").'
  );
}
