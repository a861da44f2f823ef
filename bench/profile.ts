// Profiling aid: N=5 node --import tsx --cpu-prof bench/profile.ts — sequential acquire+release pairs.
import { Redlock, startLocalCluster } from '../src/index.js';
const cluster = await startLocalCluster({ nodes: Number(process.env.N ?? 1) });
const redlock = new Redlock(cluster.urls, { prefix: 'p:' });
for (let i = 0; i < 500; i++) await (await redlock.acquire(`w${i}`, 10000)).release();
const t = performance.now();
const n = 10000;
for (let i = 0; i < n; i++) await (await redlock.acquire(`k${i}`, 10000)).release();
console.log('pair µs', ((performance.now() - t) * 1000 / n).toFixed(1));
await redlock.quit(); await cluster.stop();
