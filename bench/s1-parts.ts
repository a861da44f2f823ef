/**
 * Where S1's latency goes (docs/performance.md): sequential acquire+release pairs at N = 5 for the
 * raw floor, a minimal fenced lock (SET NX PX + INCR in one script, compare-and-delete release),
 * redfence's own scripts sent straight through ioredis (no library around them), and redfence.
 * Interleaved repetitions; prints each one's p50 and the median of its per-repetition ratio to the
 * raw floor. Usage: node --import tsx bench/s1-parts.ts [repetitions, default 7]
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { luaScripts } from '../src/generated/lua-scripts.js';
import { readyKey, wakePrefix } from '../src/core/keys.js';
import { acquireArgs, releaseArgs } from '../src/nodes/redis/script-args.js';
import { Redlock, startLocalCluster } from '../src/index.js';
import { RawFloor } from './raw-floor.js';
import { percentile, sorted } from './stats.js';

const PAIRS = 1_500;
const WARMUP = 200;
const TTL = 10_000;
const reps = Number(process.argv[2] ?? 7);
if (!Number.isInteger(reps) || reps < 1 || reps > 50) throw new Error(`repetitions must be 1–50, got ${process.argv[2]}`);

const MIN_ACQUIRE = "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[2]) end return 0";
const CAD_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

await using cluster = await startLocalCluster({ nodes: 5 });
const clients = cluster.urls.map((url) => new Redis(url));
const raw = new RawFloor(cluster.urls);
const redlock = new Redlock(cluster.urls, { prefix: 'parts-r:' });
try {
  const sha = async (lua: string) => String((await Promise.all(clients.map((c) => c.script('LOAD', lua))))[0]);
  const minAcquire = await sha(MIN_ACQUIRE);
  const cadRelease = await sha(CAD_RELEASE);
  const acquire = await sha(luaScripts.acquire.lua);
  const release = await sha(luaScripts.release.lua);
  await Promise.all(clients.map((c) => c.set(readyKey('parts-d:'), '1')));
  const quorum = 3;
  /** Resolves when a quorum of nodes answered (as the raw floor and redfence do). */
  const atQuorum = (send: (c: Redis) => Promise<unknown>) =>
    new Promise<void>((resolve, reject) => {
      let ok = 0;
      for (const c of clients) send(c).then(() => (ok += 1) === quorum && resolve(), reject);
    });
  const everywhere = (send: (c: Redis) => Promise<unknown>) => Promise.all(clients.map(send));
  let seq = 0;

  const variants: Record<string, (key: string) => Promise<void>> = {
    'raw floor': async (key) => {
      const owner = await raw.acquire(key, TTL);
      if (owner !== null) await raw.release(key, owner);
    },
    'minimal fenced (SET NX PX + INCR)': async (key) => {
      const owner = randomUUID();
      const lk = `parts-m:{${key}}:lk`;
      await atQuorum((c) => c.evalsha(minAcquire, 2, lk, `parts-m:{${key}}:fc`, owner, TTL));
      await everywhere((c) => c.evalsha(cadRelease, 1, lk, owner));
    },
    "redfence's scripts, no library": async (key) => {
      const owner = `parts/${(seq += 1)}/${TTL}:1`;
      const floor = `${Date.now()}000`;
      const lk = `parts-d:{${key}}:lk`;
      const acquireArgv = acquireArgs(owner, TTL, floor, floor, 300, 1);
      await atQuorum((c) => c.evalsha(acquire, 2, lk, readyKey('parts-d:'), acquireArgv));
      const releaseArgv = releaseArgs(owner, false, floor, wakePrefix('parts-d:'));
      await everywhere((c) => c.evalsha(release, 1, lk, releaseArgv));
    },
    redfence: async (key) => {
      const lock = await redlock.acquire(key, TTL);
      await lock.release();
    },
  };

  const p50s = new Map<string, number[]>();
  for (let rep = 0; rep < reps; rep += 1) {
    for (const [name, pair] of Object.entries(variants)) {
      for (let i = 0; i < WARMUP; i += 1) await pair(`w${rep}:${i}`);
      const times: number[] = [];
      for (let i = 0; i < PAIRS; i += 1) {
        const started = performance.now();
        await pair(`k${rep}:${i}`);
        times.push((performance.now() - started) * 1_000);
      }
      p50s.set(name, [...(p50s.get(name) ?? []), percentile(sorted(times), 50)]);
    }
  }
  const floor = p50s.get('raw floor') ?? [];
  console.log(`| S1 part, N = 5 (${reps} repetitions of ${PAIRS} pairs) | p50 µs (median) | ÷ raw floor (median) |\n|---|---|---|`);
  for (const [name, values] of p50s) {
    const ratios = values.map((v, i) => v / (floor[i] ?? Number.NaN));
    console.log(`| ${name} | ${percentile(sorted(values), 50).toFixed(0)} | ${percentile(sorted(ratios), 50).toFixed(2)} |`);
  }
} finally {
  await redlock.quit();
  await raw.quit();
  await Promise.all(clients.map((c) => c.quit()));
}
