/**
 * Starts a local cluster and then just lives (no signal handlers), printing
 * {"pids": [...], "dir": "..."} once the servers are up; the test then kills it. Exits by itself
 * after 20 s so it cannot outlive a failed test.
 */
import { dirname } from 'node:path';
import { startLocalCluster } from '../../src/index.js';

const cluster = await startLocalCluster({ nodes: 2 });
process.stdout.write(`${JSON.stringify({ pids: cluster.nodes.map((n) => n.pid), dir: dirname(cluster.nodes[0]?.dir ?? '') })}\n`);
setTimeout(() => process.exit(3), 20_000);
