import { LockHeldError, QuorumError } from '../errors.js';
import { startLocalCluster } from '../nodes/start-local-cluster.js';
import { Redlock } from '../redlock/redlock.js';

export interface DemoOptions {
  readonly durationS: number;
  readonly nodes: number;
  readonly workers: number;
  readonly out?: (line: string) => void;
}

export interface DemoSummary {
  readonly grants: number;
  readonly failures: number;
  /** Grants whose token was not above the previous token of the same resource (must be 0). */
  readonly regressions: number;
  readonly perWorker: readonly number[];
}

const RESOURCES = ['account:1', 'account:2', 'account:3'] as const;

/**
 * Starts an embedded local cluster, lets `workers` clients (each with its own connections)
 * contend for a few resources, prints every grant with its fencing token, and stops everything.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const out = options.out ?? ((line: string) => console.log(line));
  await using cluster = await startLocalCluster({ nodes: options.nodes });
  out(`started ${options.nodes} redis-server nodes: ${cluster.nodes.map((n) => n.port).join(', ')}`);
  const redlocks = Array.from({ length: options.workers }, () => new Redlock(cluster.urls));
  const lastToken = new Map<string, bigint>();
  const perWorker = redlocks.map(() => 0);
  let failures = 0;
  let regressions = 0;
  const started = performance.now();
  const deadline = started + options.durationS * 1_000;

  const worker = async (id: number, redlock: Redlock): Promise<void> => {
    for (let round = 0; performance.now() < deadline; round += 1) {
      const resource = RESOURCES[(id + round) % RESOURCES.length] ?? RESOURCES[0];
      try {
        await using lock = await redlock.acquire([resource], 1_000);
        const previous = lastToken.get(resource);
        const ok = previous === undefined || lock.fencingToken > previous;
        if (!ok) regressions += 1;
        lastToken.set(resource, lock.fencingToken);
        perWorker[id] = (perWorker[id] ?? 0) + 1;
        const at = ((performance.now() - started) / 1_000).toFixed(3).padStart(7);
        out(`${at}s  worker ${id}  ${resource}  token ${lock.fencingToken}${ok ? '' : '  <-- NOT INCREASING'}`);
        await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 30));
      } catch (error) {
        if (!(error instanceof QuorumError)) throw error;
        failures += 1;
        out(`worker ${id}: ${error instanceof LockHeldError ? 'gave up waiting' : 'no quorum'} for ${resource}`);
      }
    }
  };

  try {
    await Promise.all(redlocks.map((r, i) => worker(i, r)));
  } finally {
    await Promise.all(redlocks.map((r) => r.quit()));
  }
  const grants = perWorker.reduce((a, b) => a + b, 0);
  out('');
  out(`summary: ${grants} grants in ${options.durationS} s by ${options.workers} workers on ${options.nodes} nodes`);
  out(`  per worker: ${perWorker.join(', ')}`);
  out(`  failures: ${failures}; tokens not increasing per resource: ${regressions}`);
  out('  every process stopped; bye');
  return { grants, failures, regressions, perWorker };
}
