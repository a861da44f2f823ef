import { randomUUID } from 'node:crypto';
import { type Clock, sleep } from '../clock.js';
import { QuorumError, RedfenceError } from '../errors.js';
import { counterPattern, readyKey, repairKey } from '../nodes/keys.js';
import type { RedisNode } from '../nodes/redis-node.js';
import { quorumRound } from '../redlock/quorum-round.js';
import { greater } from './fencing-counter.js';

/** Timeout of the gate's own admin requests (bootstrap, repair); they are rare and may be slow. */
const ADMIN_TIMEOUT_MS = 2_000;
const SCAN_COUNT = 1_000;

export interface GateSettings {
  readonly prefix: string;
  readonly maxTtl: number;
  readonly driftFactor: number;
}

/** What `inspect` saw on one node. */
export interface NodeState {
  readonly node: string;
  /** The cluster id in the ready marker; `null` when absent (lost its data), `undefined` when unreachable. */
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
  /** How long it waited for the node's uptime to pass `maxTtl` + drift. */
  readonly waitedMs: number;
  readonly clusterId: string;
  /** True when the node was ready already and nothing was done. */
  readonly alreadyReady: boolean;
}

/**
 * The ready gate: a node serves grants only while it holds the `__ready` marker, which it loses
 * with its data. A new cluster is marked ready only when every node is reachable and holds no
 * counter; a node that forgot is marked ready again only by {@link ReadyGate.repair}.
 */
export class ReadyGate {
  readonly #nodes: readonly RedisNode[];
  readonly #clock: Clock;
  readonly #settings: GateSettings;
  #bootstrapping: Promise<boolean> | undefined;
  readonly #repairing = new Map<RedisNode, Promise<RepairReport>>();

  constructor(nodes: readonly RedisNode[], clock: Clock, settings: GateSettings) {
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
    const round = quorumRound<string | null>(
      this.#nodes,
      this.#nodes.length,
      ADMIN_TIMEOUT_MS,
      this.#clock,
      (node, _, done) => node.send('ready', [this.#key], [''], done),
      (reply) => ({ outcome: 'ok', value: typeof reply === 'string' ? reply : null }),
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
   * the marker and none holds a fencing counter; resolves true when it marked the nodes now.
   * Concurrent callers share one run.
   */
  bootstrap(): Promise<boolean> {
    this.#bootstrapping ??= this.#bootstrap().finally(() => (this.#bootstrapping = undefined));
    return this.#bootstrapping;
  }

  async #bootstrap(): Promise<boolean> {
    const markers = await this.markers();
    if (markers.some((m) => m !== null)) return false;
    for (const node of this.#nodes) {
      if ((await this.#countersOn(node, 1)).length > 0) return false;
    }
    const id = randomUUID();
    const round = quorumRound(
      this.#nodes,
      this.#nodes.length,
      ADMIN_TIMEOUT_MS,
      this.#clock,
      (node, _, done) => node.send('ready', [this.#key], [id], done),
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
  isRepairing(node: RedisNode): boolean {
    return this.#repairing.has(node);
  }

  repair(node: RedisNode): Promise<RepairReport> {
    let running = this.#repairing.get(node);
    if (running === undefined) {
      running = this.#repair(node).finally(() => this.#repairing.delete(node));
      this.#repairing.set(node, running);
    }
    return running;
  }

  async #repair(node: RedisNode): Promise<RepairReport> {
    const markers = await this.markers();
    const index = this.#nodes.indexOf(node);
    const own = markers[index];
    if (own === undefined) throw new RedfenceError('REPAIR_UNREACHABLE', `Cannot repair ${node.name}: it does not answer.`);
    if (own !== null) return { node: node.name, counters: 0, raised: 0, waitedMs: 0, clusterId: own, alreadyReady: true };

    const uptimeS = await uptimeOf(node);
    // Written before anything is copied: a restart of the node meanwhile wipes it, and the final
    // mark refuses to make a node ready that forgot the counters copied onto it.
    const repairId = randomUUID();
    await node.client.set(this.#repairKey, repairId);
    const quorum = Math.floor(this.#nodes.length / 2) + 1;
    const sources = this.#nodes.filter((_, i) => typeof markers[i] === 'string');
    const clusterId = markers.find((m): m is string => typeof m === 'string');
    if (sources.length < quorum || clusterId === undefined) {
      throw new QuorumError(
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

    // Every counter present on a majority for the whole scan; the per-key maximum over them.
    const highest = new Map<string, string>();
    for (const source of sources.slice(0, quorum)) {
      for (const [key, value] of await this.#countersOn(source)) {
        const seen = highest.get(key);
        if (seen === undefined || greater(value, seen)) highest.set(key, value);
      }
    }
    let raised = 0;
    const entries = [...highest];
    for (let i = 0; i < entries.length; i += SCAN_COUNT) {
      const batch = entries.slice(i, i + SCAN_COUNT);
      raised += Number(
        await node.run(
          'repairCounters',
          [this.#key, ...batch.map(([key]) => key)],
          batch.map(([, value]) => value),
        ),
      );
    }

    const waitedMs = await this.#waitOutForgottenLocks(uptimeS);
    const marker = await node.run('ready', [this.#key, this.#repairKey], [clusterId, repairId]);
    if (marker !== clusterId) {
      throw new RedfenceError('REPAIR_RESTARTED', `${node.name} restarted during its repair; repair it again.`);
    }
    return { node: node.name, counters: highest.size, raised, waitedMs, clusterId, alreadyReady: false };
  }

  /**
   * Waits until the node has been up longer than `maxTtl` + drift, so that every lock it forgot
   * has expired; resolves with the time waited.
   */
  async #waitOutForgottenLocks(uptimeS: number): Promise<number> {
    const { maxTtl, driftFactor } = this.#settings;
    // + 1 s: uptime_in_seconds is a difference of two truncated seconds, so it can read up to 1 s high.
    const neededMs = maxTtl + maxTtl * driftFactor + 2 + 1_000;
    const waitMs = Math.max(0, Math.ceil(neededMs - uptimeS * 1_000));
    if (waitMs > 0) await sleep(this.#clock, waitMs);
    return waitMs;
  }

  /** The fencing counters on `node` (a full SCAN), as [key, value] pairs; at most `limit` of them. */
  async #countersOn(node: RedisNode, limit = Number.POSITIVE_INFINITY): Promise<[string, string][]> {
    const found: [string, string][] = [];
    const clients = node.isCluster ? (node.client as import('ioredis').Cluster).nodes('master') : [node.client];
    for (const client of clients) {
      let cursor = '0';
      do {
        const [next, keys] = (await client.scan(cursor, 'MATCH', counterPattern(this.#settings.prefix), 'COUNT', SCAN_COUNT)) as [
          string,
          string[],
        ];
        cursor = next;
        if (keys.length > 0) {
          const values = await Promise.all(keys.map((k) => client.get(k)));
          for (const [i, key] of keys.entries()) {
            const value = values[i];
            if (typeof value === 'string') found.push([key, value]);
          }
          if (found.length >= limit) return found;
        }
      } while (cursor !== '0');
    }
    return found;
  }
}

/** The server's uptime in whole seconds (rounded down), from INFO server. */
async function uptimeOf(node: RedisNode): Promise<number> {
  const info = String(await node.client.info('server'));
  return Number(/uptime_in_seconds:(\d+)/.exec(info)?.[1] ?? 0);
}
