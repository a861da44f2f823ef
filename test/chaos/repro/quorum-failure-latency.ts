/**
 * Reproduction for the S3 finding: how long `acquire` (retryCount 0, nodeTimeout 100) takes to
 * throw QuorumError when 3 of 5 nodes are unreachable — black-holed, reset (RST on first data),
 * or refused (proxy down). Reference §5.3 S3 expects ≤ τ + 20 ms under a black hole and ≤ 20 ms
 * under RST.
 *
 *   node --import tsx test/chaos/repro/quorum-failure-latency.ts
 *
 * Measured on redfence 0.1.0 (2 cores): black hole ≈ 200 ms (2τ: the failed round waits τ, then
 * the release round waits τ again for the same unreachable nodes before the error is thrown);
 * RST and refused ≈ 100–200 ms (commands to a node whose connection is down sit in ioredis's
 * offline queue until nodeTimeout, instead of failing at once).
 */
import { type LocalCluster, Redlock, startLocalCluster } from '../../../src/index.js';
import { listenAddress, proxyEndpoint, toxiproxyClient, upstreamAddress } from '../toxiproxy.js';

const cluster: LocalCluster = await startLocalCluster({ nodes: 5 });
const toxiproxy = await toxiproxyClient();
try {
  const proxies = [];
  for (const [i, node] of cluster.nodes.entries()) {
    proxies.push(await toxiproxy.client.createProxy({ name: `repro-n${i}`, listen: listenAddress(0), upstream: upstreamAddress(node.port), enabled: true }));
  }
  const redlock = new Redlock(
    proxies.map((p) => ({ ...proxyEndpoint(p), disableClientInfo: true })),
    { nodeTimeout: 100, retryCount: 0, prefix: 'repro:' },
  );
  await (await redlock.acquire('x', 1_000)).release(); // the first grant reaches all 5 nodes (ready gate)
  for (const mode of ['blackhole', 'reset', 'refused'] as const) {
    const undo: (() => Promise<unknown>)[] = [];
    for (const p of proxies.slice(0, 3)) {
      if (mode === 'blackhole') {
        const t = await p.addToxic({ name: 'bh', type: 'timeout', stream: 'upstream', toxicity: 1, attributes: { timeout: 0 } });
        undo.push(() => t.remove());
      } else if (mode === 'reset') {
        const t = await p.addToxic({ name: 'rst', type: 'reset_peer', stream: 'upstream', toxicity: 1, attributes: { timeout: 0 } });
        undo.push(() => t.remove());
      } else {
        await p.update({ enabled: false, listen: p.listen, upstream: p.upstream });
        undo.push(() => p.update({ enabled: true, listen: p.listen, upstream: p.upstream }));
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ms: number[] = [];
    const codes = new Set<string>();
    for (let i = 0; i < 10; i += 1) {
      const t = performance.now();
      try {
        await (await redlock.acquire('x', 1_000)).release();
        codes.add('GRANTED?!');
      } catch (error) {
        codes.add((error as { code?: string }).code ?? String(error));
      }
      ms.push(Math.round(performance.now() - t));
    }
    console.log(`${mode.padEnd(9)} ${[...codes].join(',')} after ms: ${ms.join(' ')}`);
    for (const u of undo) await u();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
  }
  await redlock.quit();
} finally {
  await toxiproxy.close();
  await cluster.stop();
}
