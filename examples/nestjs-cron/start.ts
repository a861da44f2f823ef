/**
 * Starts a local 3-node Redis cluster and two instances of the example app on it, lets them run
 * for `--seconds` (default 10), stops everything, and prints how many times each second's task
 * ran across both instances (1 everywhere: exactly once).
 *
 *   TSX_TSCONFIG_PATH=tsconfig.legacy.json node --import tsx examples/nestjs-cron/start.ts --seconds 10
 */
import { parseArgs } from 'node:util';
import { startLocalCluster } from '../../src/index.js';
import { countPerSecond, startInstance } from './instances.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' } } });
const seconds = Number(values.seconds);
await using cluster = await startLocalCluster({ nodes: 3 });
const instances = ['a', 'b'].map((name) => startInstance(name, cluster.urls, 'nestjs-cron:', (line) => process.stdout.write(`${JSON.stringify(line)}\n`)));
try {
  await Promise.all(instances.map((i) => i.ready));
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
} finally {
  await Promise.all(instances.map((i) => i.stop()));
}
const lines = instances.flatMap((i) => i.lines);
for (const [second, { runs, skips }] of countPerSecond(lines)) process.stdout.write(`second ${second}: ran ${runs}×, skipped ${skips}×\n`);
