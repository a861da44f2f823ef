import { after, before } from 'node:test';
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, type ClusterOptions, Redis } from 'ioredis';
import { findRedisServer, type LocalCluster, startLocalCluster } from '../../src/index.js';
import { delay } from './cluster.js';

/**
 * A real sharded Redis Cluster for tests: cluster-enabled redis-server processes (started by
 * startLocalCluster: free loopback ports, a temp dir each, the watchdog) joined with
 * `redis-cli --cluster create`. Everything is stopped by `stop()`, and also when starting fails.
 */

export interface RedisClusterOptions {
  /** Masters (shards); at least 3, as redis-cli requires. @defaultValue 3 */
  readonly masters?: number;
  /** Replicas of each master. @defaultValue 1 */
  readonly replicasPerMaster?: number;
  /** `cluster-node-timeout`: how long a master may be unreachable before its replica takes over. @defaultValue 1000 */
  readonly nodeTimeoutMs?: number;
  /** Bound on the whole start (create, join, replicas in sync). @defaultValue 30000 */
  readonly startTimeoutMs?: number;
}

/** One node as CLUSTER NODES shows it. */
export interface ClusterNodeView {
  readonly id: string;
  readonly port: number;
  readonly flags: readonly string[];
  /** The id of the master this node replicates, when it is a replica. */
  readonly masterId: string | undefined;
  /** Slot ranges `[from, to]` it serves (masters). */
  readonly slots: readonly (readonly [number, number])[];
}

export interface RedisCluster extends AsyncDisposable {
  /** The redis-server processes (crash, pause, pids); index i is `ports[i]`. */
  readonly processes: LocalCluster;
  readonly ports: readonly number[];
  /** `{ host, port }` of every node, for `new Cluster(...)`. */
  readonly startupNodes: readonly { readonly host: '127.0.0.1'; readonly port: number }[];
  /** An ioredis Cluster on it (closed by `stop()`). */
  client(options?: ClusterOptions): Cluster;
  /** A plain connection to the node on `port` (closed by `stop()`); READONLY on replicas. */
  direct(port: number): Redis;
  /** CLUSTER NODES as seen from the node on `port` (a live one by default). */
  view(port?: number): Promise<ClusterNodeView[]>;
  /** The master currently serving `slot`, and its replicas, as seen from a live node. */
  shardOf(slot: number): Promise<{ master: ClusterNodeView; replicas: ClusterNodeView[] }>;
  /**
   * SIGKILLs the master on `port` and resolves once one of its replicas is a master (in its own
   * view and in every live node's) and every live node says `cluster_state:ok` (at most `ms`).
   * Resolves with the promoted replica and how long the failover took.
   */
  failover(port: number, ms?: number): Promise<{ promoted: ClusterNodeView; ms: number }>;
  /** Kills every process (and closes the connections handed out). Idempotent. */
  stop(): Promise<void>;
}

const run = promisify(execFile);

/**
 * Polls `check` every 25 ms (CLUSTER NODES on every node is not free on two cores) until it returns
 * something other than `false`; throws after `ms`.
 */
async function poll<T>(what: string, check: () => Promise<T | false>, ms: number): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(25);
  }
}

function findRedisCli(): string {
  const explicit = process.env['REDIS_CLI_BIN'];
  const candidates = explicit !== undefined ? [explicit] : [join(dirname(findRedisServer()), 'redis-cli'), ...(process.env['PATH'] ?? '').split(':').map((d) => join(d, 'redis-cli'))];
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // the next one
    }
  }
  throw new Error('redis-cli was not found next to redis-server, on PATH or at REDIS_CLI_BIN');
}

export function parseClusterNodes(text: string): ClusterNodeView[] {
  return text
    .trim()
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const [id = '', address = '', flags = '', master = '-', , , , , ...slots] = line.split(' ');
      const port = Number(/:(\d+)@/.exec(address)?.[1] ?? Number.NaN);
      return {
        id,
        port,
        flags: flags.split(','),
        masterId: master === '-' ? undefined : master,
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [from, to = from] = s.split('-');
            return [Number(from), Number(to)] as const;
          }),
      };
    });
}

const isMaster = (n: ClusterNodeView): boolean => n.flags.includes('master') && !n.flags.some((f) => f === 'fail' || f === 'fail?');

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  const nodeTimeout = options.nodeTimeoutMs ?? 1_000;
  const startTimeout = options.startTimeoutMs ?? 30_000;
  const cli = findRedisCli();
  const processes = await startLocalCluster({
    nodes: masters * (1 + replicas),
    args: [
      '--cluster-enabled', 'yes',
      // Relative to the node's own --dir: one config file per node.
      '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(nodeTimeout),
      '--appendonly', 'no',
    ],
  });
  const ports = processes.nodes.map((n) => n.port);
  const connections: { disconnect(): void; quit(): Promise<unknown> }[] = [];
  const stop = async (): Promise<void> => {
    for (const c of connections.splice(0)) c.disconnect();
    await processes.stop();
  };
  const direct = (port: number): Redis => {
    const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, connectTimeout: 1_000, retryStrategy: () => 100, lazyConnect: false });
    client.on('error', () => undefined);
    // Replicas answer reads of their own copy instead of MOVED.
    client.on('ready', () => void client.call('READONLY').catch(() => undefined));
    connections.push(client);
    return client;
  };
  const admins = new Map<number, Redis>();
  const admin = (port: number): Redis => {
    let client = admins.get(port);
    if (client === undefined) {
      client = direct(port);
      admins.set(port, client);
    }
    return client;
  };
  const live = (): number[] => ports.filter((_, i) => processes.nodes[i]?.pid !== undefined);
  const view = async (port = live()[0] ?? ports[0] ?? 0): Promise<ClusterNodeView[]> =>
    parseClusterNodes(String(await admin(port).call('CLUSTER', 'NODES')));
  const stateOk = async (port: number): Promise<boolean> =>
    /cluster_state:ok/.test(String(await admin(port).call('CLUSTER', 'INFO').catch(() => '')));
  const everyLiveOk = async (): Promise<boolean> => (await Promise.all(live().map(stateOk))).every(Boolean);

  try {
    const created = await run(
      cli,
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
      { timeout: startTimeout },
    );
    if (!/All 16384 slots covered/.test(created.stdout)) throw new Error(`redis-cli --cluster create: ${created.stdout.slice(-600)}`);
    await poll('cluster_state:ok on every node', everyLiveOk, startTimeout);
    // Every node knows every other, and every replica is in sync with its master.
    await poll(
      'replicas in sync',
      async () => {
        for (const port of ports) {
          const nodes = await view(port);
          if (nodes.length !== ports.length) return false;
          if (nodes.filter((n) => n.flags.includes('master')).length !== masters) return false;
          const me = nodes.find((n) => n.flags.includes('myself'));
          if (me?.flags.includes('slave') === true) {
            const info = String(await admin(port).info('replication'));
            if (!/master_link_status:up/.test(info)) return false;
          }
        }
        return true;
      },
      startTimeout,
    );
  } catch (error) {
    await stop();
    throw error;
  }

  const shardOf = async (slot: number): Promise<{ master: ClusterNodeView; replicas: ClusterNodeView[] }> => {
    const nodes = await view();
    const master = nodes.find((n) => isMaster(n) && n.slots.some(([from, to]) => slot >= from && slot <= to));
    if (master === undefined) throw new Error(`no live master serves slot ${slot}`);
    return { master, replicas: nodes.filter((n) => n.masterId === master.id) };
  };

  return {
    processes,
    ports,
    startupNodes: ports.map((port) => ({ host: '127.0.0.1' as const, port })),
    client(clusterOptions = {}) {
      const client = new Cluster(
        ports.map((port) => ({ host: '127.0.0.1', port })),
        { ...clusterOptions, redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 1_000, ...clusterOptions.redisOptions } },
      );
      client.on('error', () => undefined);
      connections.push(client);
      return client;
    },
    direct,
    view,
    shardOf,
    async failover(port, ms = 15_000) {
      const index = ports.indexOf(port);
      if (index < 0) throw new Error(`port ${port} is not a node of this cluster`);
      const before = await view();
      const master = before.find((n) => n.port === port);
      if (master === undefined || !isMaster(master)) throw new Error(`node ${port} is not a live master`);
      const candidates = before.filter((n) => n.masterId === master.id).map((n) => n.id);
      if (candidates.length === 0) throw new Error(`master ${port} has no replica to promote`);
      const started = performance.now();
      await processes.crash(index);
      const promoted = await poll(
        `a replica of ${port} promoted and cluster_state:ok on every live node`,
        async () => {
          const survivors = live();
          const views = await Promise.all(survivors.map((p) => view(p).catch(() => undefined)));
          if (views.some((v) => v === undefined)) return false;
          const first = views[0];
          const winner = first?.find((n) => candidates.includes(n.id) && isMaster(n) && n.slots.length > 0);
          if (winner === undefined) return false;
          const agreed = views.every((v) => v?.some((n) => n.id === winner.id && isMaster(n) && n.slots.length > 0));
          return agreed && (await everyLiveOk()) ? winner : false;
        },
        ms,
      );
      return { promoted, ms: Math.round(performance.now() - started) };
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * For one test file: a real Redis Cluster and a LocalCluster of standalone nodes beside it (a
 * Redlock may use the Cluster as one node and the standalones as the others), started before the
 * tests and stopped after them, with whatever `closers` the tests registered closed first.
 */
export function useRedisClusterWithStandalones(options: RedisClusterOptions, standaloneNodes = 2) {
  let rc: RedisCluster | undefined;
  let standalones: LocalCluster | undefined;
  const closers: (() => Promise<unknown>)[] = [];
  before(async () => {
    [rc, standalones] = await Promise.all([startRedisCluster(options), startLocalCluster({ nodes: standaloneNodes })]);
  });
  after(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    await Promise.all([rc?.stop(), standalones?.stop()]);
  });
  return {
    closers,
    cluster: (): RedisCluster => {
      if (rc === undefined) throw new Error('Redis Cluster not started');
      return rc;
    },
    standalones: (): LocalCluster => {
      if (standalones === undefined) throw new Error('standalones not started');
      return standalones;
    },
  };
}
