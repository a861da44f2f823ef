import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { InvalidOptionsError, Redlock } from '../../src/index.js';
import { delay, since, untilListening, untilQueued, useCluster } from '../support/cluster.js';

const env = useCluster(5);
const WORKER = fileURLToPath(new URL('../support/hold-worker.ts', import.meta.url));
/**
 * One failed renewal loses a kept-alive lock (by design), and each renewal is a quorum round
 * bounded by nodeTimeout: the default 50 ms fails a round whenever this loaded machine stalls that
 * long. A generous bound (keepAlive 600 allows up to 150) keeps these tests about renewing at all.
 */
const NODE_TIMEOUT = 150;

test('keepAlive: the nodes hold a short lease that the holder renews until the TTL ends', async () => {
  const redlock = env.redlock({ keepAlive: 600, nodeTimeout: NODE_TIMEOUT });
  const nodes = env.clients();
  const lock = await redlock.acquire('kept', 10_000);
  const lk = `${redlock.settings.prefix}{kept}:lk`;
  const pttls = async () => Promise.all(nodes.map((n) => n.pttl(lk)));
  assert.ok((await pttls()).every((t) => t > 0 && t <= 600), 'the lease is the keep-alive, not the TTL');
  assert.ok(lock.remainingMs() <= 600);
  await delay(2_000);
  assert.equal(lock.signal.aborted, false, 'still held after 3 leases');
  assert.ok(lock.remainingMs() > 0 && lock.remainingMs() <= 600, `remaining ${lock.remainingMs()}`);
  assert.ok((await pttls()).every((t) => t > 0 && t <= 600), 'renewed, still short');
  assert.equal(await redlock.tryAcquire('kept', 1_000), null, 'nobody else gets it');
  await lock.extend(5_000);
  assert.ok((await pttls()).every((t) => t > 0 && t <= 600), 'extend moves the TTL, not the lease');
  await lock.release();
  assert.deepEqual(await Promise.all(nodes.map((n) => n.exists(lk))), [0, 0, 0, 0, 0]);
});

test('keepAlive: a SIGKILLed holder frees a 30 s lock within about one lease', async () => {
  const waiter = env.redlock({ keepAlive: 500, nodeTimeout: 100 });
  const prefix = waiter.settings.prefix;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', WORKER, JSON.stringify({ urls: env.cluster.urls, prefix, resource: 'crash', ttl: 30_000, options: { keepAlive: 500, nodeTimeout: 100 }, maxLifeMs: 60_000 })],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  try {
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const held = BigInt((JSON.parse(line) as { held: string }).held);
    await delay(1_200); // several renewals
    assert.equal(await waiter.tryAcquire('crash', 1_000), null, 'the holder keeps it alive');
    child.kill('SIGKILL');
    const killed = performance.now();
    const lock = await waiter.acquire('crash', 30_000);
    const waited = since(killed);
    assert.ok(lock.fencingToken > held);
    assert.ok(waited < 5_000, `the next holder waited ${Math.round(waited)} ms (TTL 30 s, keep-alive 0.5 s)`);
    await lock.release();
  } finally {
    child.kill('SIGKILL');
  }
});

test('keepAlive: bad values are refused with a clear error', async () => {
  const urls = env.cluster.urls;
  for (const keepAlive of [-1, 1.5, Number.NaN, 100, 70_000]) {
    assert.throws(() => new Redlock(urls, { keepAlive }), InvalidOptionsError, String(keepAlive));
  }
  assert.throws(() => new Redlock(urls, { keepAlive: 300, nodeTimeout: 100 }), /4 × `nodeTimeout` \(400\)/);
  const redlock = env.redlock();
  await assert.rejects(redlock.acquire('x', 1_000, { keepAlive: 10 }), InvalidOptionsError);
});

test('keepAlive: a waiter handed the lock on release holds a kept-alive lease, not its whole TTL', async () => {
  const holder = env.redlock({ keepAlive: 600, nodeTimeout: NODE_TIMEOUT });
  const prefix = holder.settings.prefix;
  const waiter = env.redlock({ prefix, keepAlive: 600, nodeTimeout: NODE_TIMEOUT, retryDelay: 2_000, retryJitter: 0 });
  const nodes = env.clients();
  const lk = `${prefix}{kept-handed}:lk`;
  // The waiter waits once first, so its wake-up channel is subscribed (on every node) before the
  // test proper: a waiter whose channel is subscribed only when it is first refused looks again
  // at once (a wake-up may have been missed), which is a second attempt.
  const warm = await holder.acquire('kept-handed:warm', 1_000);
  const warmWait = waiter.acquire('kept-handed:warm', 1_000);
  await untilQueued(nodes, `${prefix}{kept-handed:warm}:q`);
  await untilListening(nodes, prefix, `${prefix}{kept-handed:warm}:q`);
  await warm.release();
  await (await warmWait).release();

  const attempts: number[] = [];
  waiter.on('acquired', (e) => attempts.push(e.attempts));
  const held = await holder.acquire('kept-handed', 10_000);
  const waiting = waiter.acquire('kept-handed', 10_000);
  await untilQueued(nodes, `${prefix}{kept-handed}:q`);
  await held.release();
  const lock = await waiting;
  assert.deepEqual(attempts, [1], 'granted by the hand-over');
  assert.ok((await Promise.all(nodes.map((n) => n.pttl(lk)))).filter((t) => t > 0 && t <= 600).length >= 3, 'the handed-over lease is the keep-alive');
  await delay(1_500);
  assert.equal(lock.signal.aborted, false, 'renewed past the first lease');
  assert.ok(lock.remainingMs() > 0 && lock.remainingMs() <= 600);
  await lock.release();
});
