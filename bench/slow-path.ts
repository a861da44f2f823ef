/**
 * How often the fencing counter's second round (slow path) runs under contention: 8 clients (own
 * connections) on one key and 16 on four keys, 5 s, counted from the `acquired` events.
 * Usage: node --import tsx bench/slow-path.ts
 */
import { Redlock, startLocalCluster } from '../src/index.js';

await using cluster = await startLocalCluster({ nodes: 5 });
const clients = Array.from({ length: 24 }, () => new Redlock(cluster.urls, { prefix: 'slow-path:' }));
let grants = 0;
let slow = 0;
let failures = 0;
for (const c of clients) {
  c.on('acquired', (e) => {
    grants += 1;
    if (e.slowPath) slow += 1;
  });
}
const end = performance.now() + 5_000;
await Promise.all(
  clients.map(async (client, i) => {
    const key = i < 8 ? 'hot' : `warm:${i % 4}`;
    while (performance.now() < end) {
      try {
        const lock = await client.acquire(key, 2_000);
        await new Promise((resolve) => setTimeout(resolve, 1));
        await lock.release();
      } catch {
        failures += 1;
      }
    }
  }),
);
await Promise.all(clients.map((c) => c.quit()));
console.log(`grants ${grants}, slow path ${slow} (${((100 * slow) / Math.max(1, grants)).toFixed(2)} %), failures ${failures}`);
