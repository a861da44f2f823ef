/**
 * S1 (BENCH.md): uncontended latency. Sequential acquire+release on a fresh key, 2,000 pairs after
 * 200 warm-up, p50/p99 of the pair, for N = 1 and N = 5; implementations interleaved within each
 * repetition and every figure also given as a ratio to the raw floor of the same repetition.
 * Usage: npx tsx bench/s1-latency.ts [--reps 3] [--iterations 2000] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redlock, startLocalCluster } from '../src/index.js';
import { RawFloor } from './raw-floor.js';
import { median, percentile, spread } from './stats.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    iterations: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '200' },
    json: { type: 'string' },
  },
});
const reps = Number(values.reps);
const iterations = Number(values.iterations);
const warmup = Number(values.warmup);

interface Impl {
  readonly name: string;
  pair(key: string): Promise<void>;
  quit(): Promise<void>;
}

function raw(urls: readonly string[]): Impl {
  const floor = new RawFloor(urls);
  return {
    name: 'raw floor',
    async pair(key) {
      const owner = await floor.acquire(key, 10_000);
      if (owner === null) throw new Error('raw floor: not granted');
      await floor.release(key, owner);
    },
    quit: () => floor.quit(),
  };
}

function redfence(urls: readonly string[]): Impl {
  const redlock = new Redlock(urls, { prefix: `bench-n${urls.length}:` });
  return {
    name: 'redfence (fenced)',
    async pair(key) {
      const lock = await redlock.acquire(key, 10_000);
      await lock.release();
    },
    quit: () => redlock.quit(),
  };
}

async function measure(impl: Impl, tag: string): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < warmup; i += 1) await impl.pair(`s1:${tag}:warm:${i}`);
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i += 1) {
    const start = performance.now();
    await impl.pair(`s1:${tag}:${i}`);
    samples[i] = (performance.now() - start) * 1_000;
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

await using cluster = await startLocalCluster({ nodes: 5 });
const results: Record<string, { p50: number[]; p99: number[]; ratio50: number[] }> = {};
for (const n of [1, 5]) {
  const urls = cluster.urls.slice(0, n);
  const impls = [raw(urls), redfence(urls)];
  for (let rep = 0; rep < reps; rep += 1) {
    const order = rep % 2 === 0 ? impls : [...impls].reverse();
    const byName = new Map<string, { p50: number; p99: number }>();
    for (const impl of order) byName.set(impl.name, await measure(impl, `${n}:${rep}:${impl.name}`));
    const floor = byName.get('raw floor')?.p50 ?? Number.NaN;
    for (const [name, r] of byName) {
      const entry = (results[`N=${n} ${name}`] ??= { p50: [], p99: [], ratio50: [] });
      entry.p50.push(r.p50);
      entry.p99.push(r.p99);
      entry.ratio50.push(r.p50 / floor);
    }
  }
  await Promise.all(impls.map((i) => i.quit()));
}

console.log(`\nS1 uncontended acquire+release, ${iterations} pairs after ${warmup} warm-up, ${reps} interleaved reps`);
console.log('| implementation | p50 µs | p99 µs | p50 ÷ raw floor |');
console.log('|---|---|---|---|');
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${name} | ${spread(r.p50)} | ${spread(r.p99)} | ${spread(r.ratio50, 2)} |`);
}
if (values.json) writeFileSync(values.json, JSON.stringify({ scenario: 'S1', reps, iterations, results, median: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v.p50)])) }, null, 2));
