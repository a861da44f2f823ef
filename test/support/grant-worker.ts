/**
 * A client process for multi-process tests: runs `clients` Redlocks (own connections each) that
 * acquire random resources until the deadline, and prints one JSON line per event on stdout:
 * {grant: {resource, token, invokedNs, completedNs, client}}, {failure: code}, {repaired: node},
 * and finally {done: true}. Times are process.hrtime.bigint() (CLOCK_MONOTONIC, machine-wide).
 */
import { QuorumError, Redlock, LockExpiredError } from '../../src/index.js';

export interface WorkerConfig {
  readonly urls: readonly string[];
  readonly prefix: string;
  readonly resources: readonly string[];
  readonly durationMs: number;
  readonly clients: number;
  readonly ttl: number;
  readonly maxTtl: number;
  readonly holdMs: number;
  readonly name: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const write = (event: unknown): void => {
  process.stdout.write(`${JSON.stringify(event, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
};
const deadline = performance.now() + config.durationMs;

async function client(index: number): Promise<void> {
  const redlock = new Redlock(config.urls, {
    prefix: config.prefix,
    maxTtl: config.maxTtl,
    automaticExtensionThreshold: Math.min(500, config.maxTtl - 1),
    nodeTimeout: 100,
    retryCount: 5,
    retryDelay: 20,
    retryJitter: 10,
  });
  redlock.on('repaired', (report) => write({ repaired: report.node }));
  const name = `${config.name}/${index}`;
  try {
    while (performance.now() < deadline) {
      const resource = config.resources[Math.floor(Math.random() * config.resources.length)] ?? 'r';
      const invokedNs = process.hrtime.bigint();
      try {
        const lock = await redlock.acquire(resource, config.ttl);
        const completedNs = process.hrtime.bigint();
        write({ grant: { resource, token: lock.fencingToken, invokedNs, completedNs, client: name } });
        await new Promise((resolve) => setTimeout(resolve, config.holdMs));
        await lock.release();
      } catch (error) {
        if (!(error instanceof QuorumError || error instanceof LockExpiredError)) throw error;
        write({ failure: error.code });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  } finally {
    await redlock.quit();
  }
}

await Promise.all(Array.from({ length: config.clients }, (_, i) => client(i)));
write({ done: true });
