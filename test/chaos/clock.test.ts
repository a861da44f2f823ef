/**
 * Layer 3 — clock faults against real redis-server processes with the LD_PRELOAD clock shim.
 * Prints the measured numbers (expiry times, skews) so they can be quoted in CHAOS.md.
 * Skipped, with the reason, when there is no C compiler (or not Linux).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { type LocalCluster, startLocalCluster } from '../../src/index.js';
import { CLOCK_SETTLE_MS, type ClockState, type NodeClock, probeClockShim } from './clock.js';

const probe = await probeClockShim();
const shim = 'shim' in probe ? probe.shim : undefined;
const skip: string | false = 'skip' in probe ? probe.skip : false;
if (skip !== false) console.log(skip);
after(() => shim?.dispose());

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const POLL_MS = 10;

interface ClockedNode {
  readonly clock: NodeClock;
  readonly redis: Redis;
  readonly cluster: LocalCluster;
  /** Milliseconds startLocalCluster took until the server was ready. */
  readonly startMs: number;
}

/** One redis-server with its own skewed clock; everything is stopped afterwards, also on failure. */
async function withClockedNode(fn: (node: ClockedNode) => Promise<void>, initial: Partial<ClockState> = {}): Promise<void> {
  if (shim === undefined) throw new Error('clock shim not built');
  const dir = mkdtempSync(join(tmpdir(), 'redfence-clockcfg-'));
  let cluster: LocalCluster | undefined;
  let redis: Redis | undefined;
  try {
    const clock = shim.createNodeClock(dir, initial);
    const t0 = performance.now();
    cluster = await startLocalCluster({ nodes: 1, env: clock.env, startTimeout: 5_000 });
    const startMs = performance.now() - t0;
    const url = cluster.urls[0];
    if (url === undefined) throw new Error('cluster has no node');
    redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 2_000, connectTimeout: 2_000, lazyConnect: true });
    redis.on('error', () => undefined);
    await redis.connect();
    await fn({ clock, redis, cluster, startMs });
  } finally {
    redis?.disconnect();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The server's wall clock (TIME) minus ours, in ms, taken at the middle of the round trip. */
async function serverSkewMs(redis: Redis): Promise<number> {
  return (await sampleSkew(redis)).skew;
}

async function sampleSkew(redis: Redis): Promise<{ skew: number; at: number }> {
  const before = Date.now();
  const [seconds, micros] = await redis.time();
  const at = (before + Date.now()) / 2;
  return { skew: Number(seconds) * 1000 + Number(micros) / 1000 - at, at };
}

/** Waits until the shim must have re-read its file, and makes the server read its clock. */
async function settle(redis: Redis): Promise<void> {
  await delay(CLOCK_SETTLE_MS);
  await redis.time();
}

/**
 * Polls EXISTS every 10 ms until the key is gone or `limitMs` passed. Returns when it was
 * first seen gone (ms after `start`), or undefined, plus whether it was there at `probeAtMs`.
 */
async function watchKey(
  redis: Redis,
  key: string,
  start: number,
  limitMs: number,
  probeAtMs = Number.POSITIVE_INFINITY,
): Promise<{ goneAtMs: number | undefined; presentAtProbe: boolean | undefined }> {
  let presentAtProbe: boolean | undefined;
  const maxPolls = Math.ceil(limitMs / POLL_MS) + 10;
  for (let i = 0; i < maxPolls; i += 1) {
    const elapsed = performance.now() - start;
    if (elapsed > limitMs) break;
    const exists = await redis.exists(key);
    if (presentAtProbe === undefined && elapsed >= probeAtMs) presentAtProbe = exists === 1;
    if (exists === 0) return { goneAtMs: Math.round(performance.now() - start), presentAtProbe };
    await delay(POLL_MS);
  }
  return { goneAtMs: undefined, presentAtProbe };
}

/** SET key PX ttl and start the stopwatch just before it is sent. */
async function setWithTtl(redis: Redis, key: string, ttlMs: number): Promise<number> {
  const start = performance.now();
  assert.equal(await redis.set(key, 'v', 'PX', ttlMs), 'OK');
  return start;
}

describe('clock faults on redis-server (LD_PRELOAD shim)', { skip }, () => {
  // startLocalCluster retries a failed start 4 times (4 x startTimeout 5 s), hence 30 s.
  test('(5) redis-server with the shim starts and answers PING (no jemalloc hang)', { timeout: 30_000 }, async () => {
    await withClockedNode(async ({ redis, cluster, startMs }) => {
      assert.equal(await redis.ping(), 'PONG');
      const pid = cluster.nodes[0]?.pid;
      assert.ok(pid !== undefined, 'the node has a pid');
      const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
      assert.ok(shim !== undefined && maps.includes(shim.path), 'the shim is mapped into redis-server');
      const skew = await serverSkewMs(redis);
      console.log(`clock: redis-server with shim ready in ${startMs.toFixed(0)} ms; TIME skew at "0 1" = ${skew.toFixed(1)} ms`);
      assert.ok(startMs < 5_000, `ready in ${startMs} ms`);
      assert.ok(Math.abs(skew) < 250, `at offset 0 rate 1 TIME is real time (skew ${skew} ms)`);
    });
  });

  test('(1) at rate 2 a PX 2000 key expires after about 1000 ms', { timeout: 15_000 }, async () => {
    await withClockedNode(async ({ clock, redis }) => {
      clock.rate(2);
      await settle(redis);
      const start = await setWithTtl(redis, 'k:rate2', 2_000);
      const { goneAtMs } = await watchKey(redis, 'k:rate2', start, 3_000);
      console.log(`clock: rate 2, PX 2000 -> gone after ${goneAtMs ?? 'never (3000 ms limit)'} ms`);
      assert.ok(goneAtMs !== undefined, 'the key expired within 3000 ms');
      assert.ok(goneAtMs >= 700 && goneAtMs <= 1_500, `expected ~1000 ms, got ${goneAtMs} ms`);
    });
  });

  test('(2) at rate 0.5 a PX 2000 key lives about 4000 ms', { timeout: 20_000 }, async () => {
    await withClockedNode(async ({ clock, redis }) => {
      clock.rate(0.5);
      await settle(redis);
      const start = await setWithTtl(redis, 'k:rate05', 2_000);
      const { goneAtMs } = await watchKey(redis, 'k:rate05', start, 6_000);
      console.log(`clock: rate 0.5, PX 2000 -> gone after ${goneAtMs ?? 'never (6000 ms limit)'} ms`);
      assert.ok(goneAtMs !== undefined, 'the key expired within 6000 ms');
      assert.ok(goneAtMs > 3_000 && goneAtMs <= 5_500, `expected ~4000 ms, got ${goneAtMs} ms`);
    });
  });

  test('(3) a +8000 ms jump makes a PX 10000 key vanish after about 2 s', { timeout: 15_000 }, async () => {
    await withClockedNode(async ({ clock, redis }) => {
      const start = await setWithTtl(redis, 'k:jump', 10_000);
      clock.jump(8_000);
      const { goneAtMs, presentAtProbe } = await watchKey(redis, 'k:jump', start, 5_000, 1_000);
      console.log(
        `clock: +8000 ms jump, PX 10000 -> present at 1 s: ${presentAtProbe}; gone after ${goneAtMs ?? 'never (5000 ms limit)'} ms`,
      );
      assert.equal(presentAtProbe, true, 'the key is still there at 1 s');
      assert.ok(goneAtMs !== undefined && goneAtMs <= 3_500, `expected gone by 3500 ms, got ${goneAtMs} ms`);
    });
  });

  test('(4) TIME reflects the offset, forwards and backwards', { timeout: 15_000 }, async () => {
    await withClockedNode(async ({ clock, redis }) => {
      const skew0 = await serverSkewMs(redis);
      clock.jump(3_600_000);
      await settle(redis);
      const skew1 = await serverSkewMs(redis);
      clock.jump(-3_605_000);
      await settle(redis);
      const skew2 = await serverSkewMs(redis);
      console.log(
        `clock: TIME - now: ${skew0.toFixed(1)} ms at offset 0, ${skew1.toFixed(1)} ms at +3600000, ${skew2.toFixed(1)} ms at -5000`,
      );
      assert.ok(Math.abs(skew0) < 250, `offset 0: skew ${skew0}`);
      assert.ok(Math.abs(skew1 - 3_600_000) < 250, `offset +1 h: skew ${skew1}`);
      assert.ok(Math.abs(skew2 + 5_000) < 250, `offset -5 s: skew ${skew2}`);
    });
  });

  test('(6) a rate change is drift: TIME stays continuous and then runs at the new rate', { timeout: 15_000 }, async () => {
    await withClockedNode(async ({ clock, redis }) => {
      await delay(1_000); // time at rate 1 that a missing re-anchor would multiply into a jump
      const before = await serverSkewMs(redis);
      clock.rate(4);
      // Sample TIME through the switch: no step may exceed 4x the real step (+ slack), none go back.
      let prevServer: number | undefined;
      let prevReal = 0;
      let worstExcess = 0;
      let firstServer = 0;
      let firstReal = 0;
      const samples = 80;
      for (let i = 0; i < samples; i += 1) {
        const real = performance.now();
        const [seconds, micros] = await redis.time();
        const server = Number(seconds) * 1000 + Number(micros) / 1000;
        if (prevServer === undefined) {
          firstServer = server;
          firstReal = real;
        } else {
          const step = server - prevServer;
          assert.ok(step >= -1, `TIME went back by ${-step} ms`);
          worstExcess = Math.max(worstExcess, step - 4 * (real - prevReal));
        }
        prevServer = server;
        prevReal = real;
        await delay(5);
      }
      const ratio = ((prevServer ?? 0) - firstServer) / (prevReal - firstReal);
      // Over a settled window the rate must be 4.
      await settle(redis);
      const s0 = await sampleSkew(redis);
      await delay(500);
      const s1 = await sampleSkew(redis);
      const settledRatio = 1 + (s1.skew - s0.skew) / (s1.at - s0.at);
      console.log(
        `clock: rate 1 -> 4 after 1 s: skew before ${before.toFixed(1)} ms; worst step beyond 4x real ${worstExcess.toFixed(1)} ms; ` +
          `rate through the switch ${ratio.toFixed(2)}; settled rate ${settledRatio.toFixed(2)}`,
      );
      assert.ok(worstExcess < 60, `a step exceeded 4x real time by ${worstExcess} ms (a jump at the rate change)`);
      assert.ok(settledRatio > 3.5 && settledRatio < 4.5, `settled rate ${settledRatio}`);
    });
  });
});
