import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import {
  InvalidOptionsError,
  Lock,
  LockExpiredError,
  LockHeldError,
  LockLostError,
  QuorumError,
  type RedlockEvents,
  systemClock,
} from '../../src/index.js';
import { delay, redisNode, since, untilListening, untilQueued, useCluster } from '../support/cluster.js';

const env = useCluster(5);
afterEach(() => env.heal());

describe('acquire and release', () => {
  test('grants a lock with a bigint token and releases it on every node', async () => {
    const redlock = env.redlock();
    const lock = await redlock.acquire(['order:42'], 5_000);
    assert.ok(lock instanceof Lock);
    assert.deepEqual(lock.resources, ['order:42']);
    assert.equal(typeof lock.fencingToken, 'bigint');
    assert.ok(lock.remainingMs() > 4_500 && lock.remainingMs() <= 5_000 - 52);
    const clients = env.clients();
    const key = `${redlock.settings.prefix}{order:42}:lk`;
    const owners = await Promise.all(clients.map((c) => c.get(key)));
    assert.equal(new Set(owners).size, 1, 'every node holds the same owner value');
    assert.notEqual(owners[0], null);
    await lock.release();
    assert.deepEqual(await Promise.all(clients.map((c) => c.exists(key))), [0, 0, 0, 0, 0]);
    assert.equal(lock.remainingMs(), 0);
    assert.ok(lock.signal.aborted);
    await lock.release(); // idempotent
  });

  test('a held lock gives LockHeldError (a QuorumError) with per-node detail, and null from tryAcquire', async () => {
    const redlock = env.redlock();
    // `other`'s first call (no retry) opens its connections, and every node must answer for the
    // report: room for a loaded machine (a lock still held is refused whatever the bound).
    const other = env.redlock({ prefix: redlock.settings.prefix, nodeTimeout: 1_000 });
    const lock = await redlock.acquire('r', 5_000);
    assert.equal(await other.tryAcquire('r', 1_000), null);
    const error = await other.acquire('r', 1_000, { retryCount: 1, retryDelay: 10, retryJitter: 0 }).then(
      () => assert.fail('should not be granted'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof LockHeldError);
    assert.ok(error instanceof QuorumError);
    assert.equal(error.code, 'LOCK_HELD');
    assert.equal(error.nodes.length, 5);
    assert.deepEqual(
      error.nodes.map((n) => n.outcome),
      ['held', 'held', 'held', 'held', 'held'],
    );
    assert.deepEqual(JSON.parse(JSON.stringify(error.nodes)), error.nodes, 'nodes are plain data');
    await lock.release();
    const next = await other.acquire('r', 1_000);
    assert.ok(next.fencingToken > lock.fencingToken);
    await next.release();
  });

  test('multi-key locks are all-or-nothing: a conflict on one key leaves no key locked', async () => {
    const redlock = env.redlock();
    const other = env.redlock({ prefix: redlock.settings.prefix });
    const stock = await other.acquire('stock:7', 5_000);
    assert.equal(await redlock.tryAcquire(['order:42', 'stock:7'], 5_000), null);
    const clients = env.clients();
    const orderKey = `${redlock.settings.prefix}{order:42}:lk`;
    assert.deepEqual(await Promise.all(clients.map((c) => c.exists(orderKey))), [0, 0, 0, 0, 0]);
    await stock.release();
    const both = await redlock.acquire(['order:42', 'stock:7'], 5_000);
    assert.equal(await other.tryAcquire('order:42', 1_000), null);
    assert.equal(await other.tryAcquire('stock:7', 1_000), null);
    await both.release();
    const again = await other.tryAcquire('order:42', 1_000);
    assert.ok(again);
    await again.release();
  });

  test('await using releases the lock when the block throws', async () => {
    const redlock = env.redlock();
    let token = 0n;
    await assert.rejects(async () => {
      await using lock = await redlock.acquire('disposable', 5_000);
      token = lock.fencingToken;
      throw new Error('boom');
    }, /boom/);
    const next = await redlock.tryAcquire('disposable', 1_000);
    assert.ok(next, 'released on throw');
    assert.ok(next.fencingToken > token);
    await next.release();
  });

  test('extend keeps the same Lock and token and pushes validity out', async () => {
    const redlock = env.redlock();
    const extended: RedlockEvents['extended'][0][] = [];
    redlock.on('extended', (e) => extended.push(e));
    const lock = await redlock.acquire('ext', 1_000);
    await delay(300);
    const same = await lock.extend(3_000);
    assert.equal(same, lock);
    assert.ok(lock.remainingMs() > 2_500);
    assert.equal(extended.length, 1);
    assert.equal(extended[0]?.fencingToken, lock.fencingToken);
    await delay(1_000); // past the first TTL
    assert.equal(await redlock.tryAcquire('ext', 1_000), null);
    assert.equal(lock.signal.aborted, false);
    await lock.release();
  });

  test('many concurrent locks through one Redlock (requests share writes) are each granted and released', async () => {
    // The second wave has no retry: a generous nodeTimeout, so that 64 scripts per node on a loaded
    // machine are not taken for unavailable nodes (a lease still held would be refused all the same).
    const redlock = env.redlock({ nodeTimeout: 1_000 });
    const resources = Array.from({ length: 64 }, (_, i) => `busy:${i}`);
    const locks = await Promise.all(resources.map((r) => redlock.acquire(r, 5_000)));
    assert.deepEqual(locks.map((l) => l.resources[0]), resources);
    const clients = env.clients();
    const keys = resources.map((r) => `${redlock.settings.prefix}{${r}}:lk`);
    for (const c of clients) assert.equal(await c.exists(...keys), 64, 'every lease on every node');
    // Release all and acquire all again at once: each node gets every release before the
    // acquires (one connection, in order), so the second wave is granted without waiting.
    const released = Promise.all(locks.map((l) => l.release()));
    const again = await Promise.all(resources.map((r) => redlock.acquire(r, 5_000, { retryCount: 0 })));
    await released;
    for (const [i, lock] of again.entries()) assert.ok(lock.fencingToken > (locks[i]?.fencingToken ?? 0n), 'a newer token');
    await Promise.all(again.map((l) => l.release()));
    for (const c of clients) assert.equal(await c.exists(...keys), 0, 'every lease gone from every node');
  });

  test('extend and release by a non-owner change nothing', async () => {
    const redlock = env.redlock();
    const other = env.redlock({ prefix: redlock.settings.prefix });
    const lost: unknown[] = [];
    redlock.on('lockLost', (e) => lost.push(e));
    const stale = await redlock.acquire('nonowner', 5_000);
    const clients = env.clients();
    const key = `${redlock.settings.prefix}{nonowner}:lk`;
    await Promise.all(clients.map((c) => c.del(key))); // as if the lease had expired everywhere
    const owner = await other.acquire('nonowner', 5_000);
    const before = await Promise.all(clients.map((c) => Promise.all([c.get(key), c.pttl(key)])));

    await assert.rejects(stale.extend(10_000), (e: unknown) => e instanceof LockLostError && e.reason === 'extendFailed');
    assert.ok(stale.signal.aborted);
    assert.ok(stale.signal.reason instanceof LockLostError);
    assert.equal(lost.length, 1);
    await stale.release();

    const after = await Promise.all(clients.map((c) => Promise.all([c.get(key), c.pttl(key)])));
    for (const [i, [value, pttl]] of after.entries()) {
      assert.equal(value, before[i]?.[0], 'the owner value is unchanged');
      assert.ok(pttl <= (before[i]?.[1] ?? 0) && pttl > 4_000, 'the TTL was not extended');
    }
    assert.ok(owner.remainingMs() > 0);
    assert.equal(await redlock.tryAcquire('nonowner', 1_000), null);
    await owner.release();
  });
});

describe('node failures', () => {
  test('grants with 2 of 5 nodes paused, and with 2 of 5 killed', async () => {
    const redlock = env.redlock({ nodeTimeout: 100 });
    await redlock.acquire('warm', 1_000).then((l) => l.release()); // bootstrap needs every node
    env.cluster.pause(0);
    env.cluster.pause(3);
    const paused = await redlock.acquire('two-paused', 5_000);
    assert.ok(paused.remainingMs() > 4_000);
    await paused.release();
    env.cluster.resume(0);
    env.cluster.resume(3);

    await env.cluster.crash(1);
    await env.cluster.crash(4);
    const killed = await redlock.acquire('two-killed', 5_000);
    assert.ok(killed.fencingToken > paused.fencingToken);
    await killed.release();
  });

  test('3 of 5 down fails fast with QuorumError, not LockHeldError', async () => {
    // The two live nodes must answer within nodeTimeout for the report to show them 'ok': room for
    // a loaded machine (the paused node costs one nodeTimeout, and no more).
    const redlock = env.redlock({ nodeTimeout: 300 });
    await redlock.acquire('warm', 1_000).then((l) => l.release()); // bootstrap while all are up
    env.cluster.pause(0);
    await env.cluster.crash(1);
    await env.cluster.crash(2);
    const started = performance.now();
    const error = await redlock.acquire('down', 5_000, { retryCount: 0 }).then(
      () => assert.fail('granted without a quorum'),
      (e: unknown) => e,
    );
    const elapsed = since(started);
    assert.ok(error instanceof QuorumError);
    assert.ok(!(error instanceof LockHeldError));
    assert.equal(error.code, 'QUORUM');
    const outcomes = error.nodes.map((n) => n.outcome);
    assert.equal(outcomes.filter((o) => o === 'ok').length, 2);
    assert.equal(outcomes[0], 'timeout');
    assert.equal(outcomes[1], 'error');
    assert.equal(outcomes[2], 'error');
    assert.ok(elapsed < 1_200, `decided in ${elapsed} ms (nodeTimeout 300)`);
    const clients = env.clients();
    const key = `${redlock.settings.prefix}{down}:lk`;
    assert.deepEqual(await Promise.all([clients[3]?.exists(key), clients[4]?.exists(key)]), [0, 0], 'partial holds released');
  });

  test('killed nodes fail within a few ms, without waiting for nodeTimeout', async () => {
    const redlock = env.redlock({ nodeTimeout: 2_000 });
    await redlock.acquire('warm', 1_000).then((l) => l.release());
    await env.cluster.crash(0);
    await env.cluster.crash(1);
    await env.cluster.crash(2);
    const started = performance.now();
    await assert.rejects(redlock.acquire('fast-fail', 1_000, { retryCount: 0 }), QuorumError);
    assert.ok(since(started) < 1_500, `took ${since(started)} ms with nodeTimeout 2000`);
  });

  test('validity gate: replies that come back after the TTL never grant', async () => {
    const redlock = env.redlock({ nodeTimeout: 1_000 });
    const other = env.redlock({ prefix: redlock.settings.prefix });
    await redlock.acquire('warm', 1_000).then((l) => l.release());
    for (let i = 0; i < 5; i += 1) env.cluster.pause(i);
    const pending = redlock.acquire('slow', 200, { retryCount: 0 });
    await delay(400);
    for (let i = 0; i < 5; i += 1) env.cluster.resume(i);
    await assert.rejects(pending, LockExpiredError);
    const free = await other.tryAcquire('slow', 1_000);
    assert.ok(free, 'the too-late grant was released');
    await free.release();
  });

  test('late replies from an earlier attempt never count for a later one', async () => {
    // Nodes 3 and 4 must answer the first attempt within nodeTimeout: room for a loaded machine,
    // still well below the 300 ms after which the paused nodes' silent connections are recycled
    // (their late answers must arrive on the connections that sent the attempt).
    const redlock = env.redlock({ nodeTimeout: 150 });
    await redlock.acquire('warm', 1_000).then((l) => l.release());
    env.cluster.pause(0);
    env.cluster.pause(1);
    env.cluster.pause(2);
    const first = await redlock.acquire('late', 300, { retryCount: 0 }).then(
      () => assert.fail('granted without a quorum'),
      (e: unknown) => e as QuorumError,
    );
    const snapshot = JSON.stringify(first.nodes);
    for (const i of [0, 1, 2]) env.cluster.resume(i);
    // The paused nodes now run the first attempt's script and answer it late; a PING on the same
    // connections returns after those answers were delivered.
    await Promise.all([0, 1, 2].map((i) => redisNode(redlock, i).client.ping()));
    assert.equal(JSON.stringify(first.nodes), snapshot, 'a thrown report never changes');
    assert.deepEqual(
      first.nodes.map((n) => n.outcome),
      ['timeout', 'timeout', 'timeout', 'ok', 'ok'],
    );
    const second = await redlock.acquire('late', 5_000, { retryDelay: 100 });
    const clients = env.clients();
    const key = `${redlock.settings.prefix}{late}:lk`;
    const owners = await Promise.all(clients.map((c) => c.get(key)));
    assert.ok(owners.filter((o) => o !== null && o === owners[4]).length >= 3, 'the second grant holds a quorum itself');
    await second.release();
  });

  test('a paused node that resumes is usable again within a second', async () => {
    const redlock = env.redlock({ nodeTimeout: 50 });
    await redlock.acquire('warm', 1_000).then((l) => l.release());
    env.cluster.pause(0);
    for (let i = 0; i < 5; i += 1) await redlock.acquire(`p${i}`, 1_000).then((l) => l.release());
    env.cluster.resume(0);
    // Now node 0 is needed: with 3 and 4 paused only 0, 1, 2 can form a quorum.
    env.cluster.pause(3);
    env.cluster.pause(4);
    const started = performance.now();
    const lock = await redlock.acquire('needs-node-0', 5_000, { retryDelay: 20, retryJitter: 10, retryCount: 100 });
    assert.ok(since(started) < 1_000, `node 0 usable after ${since(started)} ms`);
    await lock.release();
  });
});

describe('waiting', () => {
  test('a release wakes a waiter long before its retry delay', async () => {
    const redlock = env.redlock();
    const other = env.redlock({ prefix: redlock.settings.prefix });
    const lock = await redlock.acquire('wake', 10_000);
    const started = performance.now();
    const waiting = other.acquire('wake', 5_000, { retryDelay: 5_000, retryJitter: 0, retryCount: 3 });
    await untilQueued(env.clients(), `${redlock.settings.prefix}{wake}:q`);
    // Queued is not yet listening: the waiter subscribes its wake-up channel when first refused.
    await untilListening(env.clients(), redlock.settings.prefix, `${redlock.settings.prefix}{wake}:q`);
    await lock.release();
    const next = await waiting;
    const waited = since(started);
    assert.ok(waited < 1_500, `woke after ${waited} ms with a 5000 ms retry delay`);
    await next.release();
  });

  test('without waitForRelease the waiter sleeps out its retry delay', async () => {
    const redlock = env.redlock();
    const other = env.redlock({ prefix: redlock.settings.prefix, waitForRelease: false });
    const lock = await redlock.acquire('poll', 10_000);
    const started = performance.now();
    const waiting = other.acquire('poll', 5_000, { retryDelay: 1_000, retryJitter: 0, retryCount: 3 });
    await untilQueued(env.clients(), `${redlock.settings.prefix}{poll}:q`);
    await lock.release();
    const next = await waiting;
    assert.ok(since(started) >= 950, `waited ${since(started)} ms`);
    await next.release();
  });

  test('an AbortSignal cancels a pending acquire', async () => {
    const redlock = env.redlock();
    const other = env.redlock({ prefix: redlock.settings.prefix });
    const lock = await redlock.acquire('abort', 10_000);
    const controller = new AbortController();
    const started = performance.now();
    const waiting = other.acquire('abort', 5_000, { signal: controller.signal, retryDelay: 2_000 });
    setTimeout(() => controller.abort(new Error('user gave up')), 100);
    await assert.rejects(waiting, /user gave up/);
    assert.ok(since(started) < 1_000);
    const aborted = new AbortController();
    aborted.abort(new Error('already'));
    await assert.rejects(other.acquire('abort', 5_000, { signal: aborted.signal }), /already/);
    await lock.release();
  });
});

describe('using', () => {
  test('keeps the lock past its TTL by extending it, then releases', async () => {
    // One extension that a quorum does not confirm in time loses the lock: a nodeTimeout that a
    // loaded machine meets (an extension still has 300 ms of validity left when it starts).
    const redlock = env.redlock({ nodeTimeout: 200 });
    const other = env.redlock({ prefix: redlock.settings.prefix });
    let extensions = 0;
    redlock.on('extended', () => (extensions += 1));
    const result = await redlock.using('job', 600, { automaticExtensionThreshold: 300 }, async (signal, lock) => {
      await delay(1_500);
      assert.equal(signal.aborted, false);
      assert.equal(await other.tryAcquire('job', 1_000), null, 'still held after 2.5 TTLs');
      assert.ok(lock.remainingMs() > 0);
      return 'done';
    });
    assert.equal(result, 'done');
    assert.ok(extensions >= 3, `${extensions} extensions`);
    const free = await other.tryAcquire('job', 1_000);
    assert.ok(free, 'released after the routine');
    await free.release();
  });

  test('aborts its signal with LockLostError when extension fails', async () => {
    const redlock = env.redlock({ nodeTimeout: 50 });
    await redlock.acquire('warm', 1_000).then((l) => l.release());
    const reason = await redlock.using('lost', 600, { automaticExtensionThreshold: 300 }, async (signal) => {
      await env.cluster.crash(0);
      await env.cluster.crash(1);
      await env.cluster.crash(2);
      await new Promise<void>((resolve, reject) => {
        signal.addEventListener('abort', () => resolve(), { once: true });
        setTimeout(() => reject(new Error('signal not aborted')), 2_000);
      });
      return signal.reason as unknown;
    });
    assert.ok(reason instanceof LockLostError);
  });

  test('rejects a TTL that leaves no room before the extension threshold', async () => {
    const redlock = env.redlock();
    await assert.rejects(
      redlock.using('x', 500, async () => 1),
      (e: unknown) => e instanceof InvalidOptionsError && /automaticExtensionThreshold/.test(e.message),
    );
  });
});

describe('events', () => {
  test('released, lockLost on expiry, and nodeError when a node is down', async () => {
    const redlock = env.redlock({ nodeTimeout: 50 });
    const seen: string[] = [];
    redlock.on('released', () => seen.push('released'));
    redlock.on('lockLost', (e) => seen.push(`lockLost:${e.error.reason}`));
    redlock.on('nodeError', (e) => seen.push(`nodeError:${e.operation}`));
    const short = await redlock.acquire('ev', 100);
    await delay(150);
    assert.ok(short.signal.aborted);
    assert.ok(seen.includes('lockLost:expired'));
    await assert.rejects(short.extend(), LockExpiredError);
    const lock = await redlock.acquire('ev2', 5_000);
    await env.cluster.crash(4);
    await lock.release();
    assert.ok(seen.includes('released'));
    assert.ok(seen.includes('nodeError:release'));
  });
});

describe('injected time', () => {
  test('the token floor comes from the clock\'s wall time, and retry jitter from its random()', async () => {
    const wall = Date.UTC(2030, 0, 1);
    let draws = 0;
    const clock = { ...systemClock, wallNow: () => wall, random: () => ((draws += 1), 0.5) };
    const redlock = env.redlock({ clock });
    const lock = await redlock.acquire('floor', 1_000);
    assert.equal(lock.fencingToken, BigInt(wall) * 1000n, 'a new resource starts at the floor: the clock\'s wall time in µs');
    const other = env.redlock({ prefix: redlock.settings.prefix, clock });
    await assert.rejects(other.acquire('floor', 1_000, { retryCount: 1, retryDelay: 10, retryJitter: 5 }), LockHeldError);
    assert.ok(draws >= 1, 'the jitter was drawn from the clock');
    await lock.release();
  });
});
