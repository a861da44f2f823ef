import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import {
  InvalidOptionsError,
  QuorumError,
  RedfenceError,
  RedisFence,
  type RedlockEvents,
  type RepairReport,
  StaleTokenError,
} from '../../src/index.js';
import { resourceKey } from '../../src/core/keys.js';
import { connected, delay, useCluster } from '../support/cluster.js';

const env = useCluster(5);
afterEach(() => env.heal());

const fcKey = (prefix: string, resource: string) => resourceKey(prefix, resource, 'fc');

describe('tokens', () => {
  test('the common case is one round (fast path) and tokens increase per resource', async () => {
    const redlock = env.redlock();
    const events: RedlockEvents['acquired'][0][] = [];
    redlock.on('acquired', (e) => events.push(e));
    let last = 0n;
    for (let i = 0; i < 20; i += 1) {
      const lock = await redlock.acquire('fast', 1_000);
      assert.ok(lock.fencingToken > last);
      last = lock.fencingToken;
      await lock.release();
    }
    assert.equal(events.length, 20);
    assert.equal(events.filter((e) => e.slowPath).length, 0);
    const clients = env.clients();
    const counters = await Promise.all(clients.map((c) => c.get(fcKey(redlock.settings.prefix, 'fast'))));
    assert.deepEqual(counters, Array(5).fill(String(last)), 'every node in step at the last token');
  });

  test('nodes that lag are raised in a second round (slow path), and the token is the highest', async () => {
    const redlock = env.redlock();
    const slow: boolean[] = [];
    redlock.on('acquired', (e) => slow.push(e.slowPath));
    await redlock.acquire('lag', 1_000).then((l) => l.release());
    const clients = env.clients();
    const key = fcKey(redlock.settings.prefix, 'lag');
    // Three nodes saw a grant the others missed, from a client whose clock was far ahead; one of
    // them is paused, so every quorum that answers mixes nodes that lag with nodes that are ahead
    // (whichever answer first) and must go through round 2 to the higher token.
    const ahead = (BigInt(Date.now()) * 1000n + 10n ** 12n).toString();
    await Promise.all(clients.slice(0, 3).map((c) => c.set(key, ahead)));
    env.cluster.pause(2);
    const lock = await redlock.acquire('lag', 1_000);
    env.cluster.resume(2);
    assert.equal(lock.fencingToken, BigInt(ahead) + 1n);
    assert.deepEqual(slow, [false, true]);
    const counters = await Promise.all(clients.map((c) => c.get(key)));
    assert.ok(counters.filter((c) => c === String(lock.fencingToken)).length >= 3, 'a quorum holds the token');
    await lock.release();
    const next = await redlock.acquire('lag', 1_000);
    assert.ok(next.fencingToken > lock.fencingToken);
    await next.release();
  });

  test('tokens past 2^53 stay exact (strings in Lua, bigint in TypeScript); 2^63 − 1 is the ceiling', async () => {
    const redlock = env.redlock();
    await redlock.acquire('big', 1_000).then((l) => l.release());
    const clients = env.clients();
    const key = fcKey(redlock.settings.prefix, 'big');
    const beyond = 2n ** 53n + 1n; // 9007199254740993: not representable as a double
    await Promise.all(clients.map((c) => c.set(key, beyond.toString())));
    const lock = await redlock.acquire('big', 1_000);
    assert.equal(lock.fencingToken, beyond + 1n);
    await lock.release();
    const max = 2n ** 63n - 1n;
    await Promise.all(clients.map((c) => c.set(key, max.toString())));
    await assert.rejects(
      redlock.acquire('big', 1_000, { retryCount: 0 }),
      (e: unknown) => e instanceof QuorumError && e.nodes.every((n) => n.outcome === 'error' && /overflow/.test(n.error ?? '')),
    );
  });

  test('a multi-resource lock gets one token above every earlier token of each resource', async () => {
    const redlock = env.redlock();
    const a = await redlock.acquire('a', 1_000);
    await a.release();
    const clients = env.clients();
    const high = (BigInt(Date.now()) * 1000n + 10n ** 11n).toString();
    await Promise.all(clients.map((c) => c.set(fcKey(redlock.settings.prefix, 'a'), high)));
    const b = await redlock.acquire('b', 1_000);
    await b.release();
    const both = await redlock.acquire(['a', 'b'], 1_000);
    assert.ok(both.fencingToken > BigInt(high));
    assert.ok(both.fencingToken > b.fencingToken);
    await both.release();
    const onlyB = await redlock.acquire('b', 1_000);
    assert.ok(onlyB.fencingToken > both.fencingToken, 'b after the multi-key grant is above it');
    await onlyB.release();
  });
});

describe('ready gate and repair', () => {
  test('a node restarted empty answers notReady, stays out of quorums, and repair restores its counters', async () => {
    const redlock = env.redlock({ autoRepair: false, maxTtl: 1_000, nodeTimeout: 100 });
    let before = 0n;
    for (const resource of ['x', 'y', 'z']) {
      const lock = await redlock.acquire(resource, 500);
      before = lock.fencingToken > before ? lock.fencingToken : before;
      await lock.release();
    }
    const resources = ['x', 'y', 'z'];
    const node0Before = env.clients()[0];
    assert.ok(node0Before);
    const preCrash = await Promise.all(resources.map((r) => node0Before.get(fcKey(redlock.settings.prefix, r))));
    await env.cluster.restart(0, { empty: true });
    const restartedAt = performance.now();
    await connected(redlock, 0);

    // A quorum that needs node 0 fails, and says why.
    env.cluster.pause(1);
    env.cluster.pause(2);
    const error = await redlock.acquire('x', 500, { retryCount: 0 }).then(
      () => assert.fail('granted through an amnesiac node'),
      (e: unknown) => e as QuorumError,
    );
    assert.ok(error instanceof QuorumError);
    assert.equal(error.nodes[0]?.outcome, 'notReady');
    assert.match(error.message, /repair/);
    env.cluster.resume(1);
    env.cluster.resume(2);

    // Grants go on without it.
    const during = await redlock.acquire('x', 500);
    assert.ok(during.fencingToken > before);
    await during.release();

    const report: RepairReport = await redlock.repair(0);
    assert.equal(report.counters, 3);
    assert.equal(report.raised, 3);
    const upFor = performance.now() - restartedAt;
    assert.ok(upFor >= 1_000 + 12, `marked ready ${upFor} ms after the restart; maxTtl + drift is 1012`);
    const node0 = env.clients()[0];
    for (const [i, resource] of resources.entries()) {
      const value = BigInt((await node0?.get(fcKey(redlock.settings.prefix, resource))) ?? '0');
      assert.ok(value >= BigInt(preCrash[i] ?? 'x'), `${resource}: ${value} >= pre-crash ${preCrash[i]}`);
    }
    assert.ok(BigInt((await node0?.get(fcKey(redlock.settings.prefix, 'x'))) ?? '0') >= during.fencingToken);

    // Now node 0 serves again: a quorum that needs it works.
    env.cluster.pause(1);
    env.cluster.pause(2);
    const after = await redlock.acquire('x', 500);
    assert.ok(after.fencingToken > during.fencingToken);
    await after.release();
  });

  test('autoRepair brings an emptied node back on its own', async () => {
    const redlock = env.redlock({ maxTtl: 500, automaticExtensionThreshold: 100, nodeTimeout: 100 });
    await redlock.acquire('auto', 400).then((l) => l.release());
    await env.cluster.restart(3, { empty: true });
    await connected(redlock, 3);
    const repaired = new Promise<RepairReport>((resolve) => redlock.once('repaired', resolve));
    const lock = await redlock.acquire('auto', 400);
    await lock.release();
    const report = await Promise.race([repaired, delay(5_000).then(() => assert.fail('not repaired within 5 s'))]);
    assert.equal(report.node, redlock.nodes[3]?.name);
    const marker = await env.clients()[3]?.get(`${redlock.settings.prefix}__ready`);
    assert.match(marker ?? '', new RegExp(`^${report.clusterId} 500 \\S+ 5$`), 'cluster id, max TTL, a new incarnation, nodes');
  });

  test('a new cluster is initialised only when every node answers', async () => {
    // A first call on new connections, with no retry: room for the four live nodes to answer on a
    // loaded machine (the paused one times out whatever the bound).
    const redlock = env.redlock({ nodeTimeout: 500 });
    env.cluster.pause(4);
    const error = await redlock.acquire('fresh', 500, { retryCount: 0 }).then(
      () => assert.fail('initialised without every node'),
      (e: unknown) => e as QuorumError,
    );
    assert.match(error.message, /No node is marked ready/);
    env.cluster.resume(4);
    const lock = await redlock.acquire('fresh', 500);
    await lock.release();
    const markers = await Promise.all(env.clients().map((c) => c.get(`${redlock.settings.prefix}__ready`)));
    const parts = markers.map((m) => (m ?? '').split(' '));
    assert.equal(new Set(parts.map((p) => p[0])).size, 1, 'one cluster id');
    assert.deepEqual(new Set(parts.map((p) => p[1])), new Set([String(redlock.settings.maxTtl)]), "the cluster's max TTL");
    assert.equal(new Set(parts.map((p) => p[2])).size, 5, 'an incarnation per node');
  });

  test('acquire refuses TTLs above maxTtl', async () => {
    const redlock = env.redlock({ maxTtl: 1_000 });
    await assert.rejects(redlock.acquire('big-ttl', 1_001), InvalidOptionsError);
  });
});

describe('RedisFence', () => {
  test('check: lower tokens are stale, equal ones are the same grant', async () => {
    const store = env.clients()[0];
    assert.ok(store);
    const fence = new RedisFence(store, { prefix: `${env.prefix()}fence:` });
    await fence.check('res', 10n);
    await fence.check('res', 10n);
    await fence.check('res', 11n);
    const error = await fence.check('res', 10n).then(
      () => assert.fail('stale token accepted'),
      (e: unknown) => e as StaleTokenError,
    );
    assert.ok(error instanceof StaleTokenError);
    assert.equal(error.code, 'STALE_TOKEN');
    assert.equal(error.token, 10n);
    assert.equal(error.highest, 11n);
    await assert.rejects(fence.check('res', -1n), InvalidOptionsError);
    await assert.rejects(fence.check('res', 1.5 as never), InvalidOptionsError);
  });

  test('set: a stale write is rejected and never applied; tokens compare exactly past 2^53', async () => {
    const store = env.clients()[0];
    assert.ok(store);
    const key = `${env.prefix()}balance`;
    const fence = new RedisFence(store);
    const big = 2n ** 60n;
    await fence.set(key, 'new', big + 1n);
    await assert.rejects(fence.set(key, 'old', big), StaleTokenError);
    assert.equal(await store.get(key), 'new');
    await fence.set(key, 'again', big + 1n);
    assert.equal(await fence.get(key, big + 1n), 'again');
    await assert.rejects(fence.get(key, big), StaleTokenError);
  });

  test('update (read-modify-write): of two holders that read the same value, only the newer one writes', async () => {
    const store = env.clients()[0];
    assert.ok(store);
    const key = `${env.prefix()}counter`;
    const fence = new RedisFence(store);
    await store.set(key, '100');
    const oldHolder = 5n;
    const newHolder = 6n;
    let resumeOld!: () => void;
    let oldRead!: () => void;
    const oldPaused = new Promise<void>((resolve) => (resumeOld = resolve));
    const oldHasRead = new Promise<void>((resolve) => (oldRead = resolve));
    const oldUpdate = fence.update(key, oldHolder, async (v) => {
      oldRead();
      await oldPaused; // paused after reading, like a GC pause
      return String(Number(v) + 1);
    });
    await oldHasRead;
    await fence.update(key, newHolder, (v) => String(Number(v) + 10));
    resumeOld();
    await assert.rejects(oldUpdate, StaleTokenError);
    assert.equal(await store.get(key), '110', 'no lost update, no stale write');
  });

  test("the documented barrier: after the new holder's check('account:7'), a stale holder's write to account:7:balance is refused", async () => {
    const redlock = env.redlock();
    const other = env.redlock({ prefix: redlock.settings.prefix });
    const store = env.clients()[2];
    assert.ok(store);
    const fence = new RedisFence(store, { prefix: `${env.prefix()}fence:` });
    const balance = `${redlock.settings.prefix}account:7:balance`;
    const account = { resource: 'account:7' };
    const stale = await redlock.acquire('account:7', 200);
    await fence.set(balance, '100', stale.fencingToken, account);
    await delay(300); // the first holder is paused past its lease
    const fresh = await other.acquire('account:7', 1_000);
    await fence.check('account:7', fresh.fencingToken); // barrier: older holders are out
    await assert.rejects(fence.set(balance, '666', stale.fencingToken, account), StaleTokenError);
    await assert.rejects(fence.get(balance, stale.fencingToken, account), StaleTokenError);
    await assert.rejects(fence.update(balance, stale.fencingToken, (v) => `${v}!`, account), StaleTokenError);
    assert.equal(await store.get(balance), '100', 'the stale holder changed nothing');
    await fence.update(balance, fresh.fencingToken, (v) => String(Number(v) + 20), account);
    assert.equal(await store.get(balance), '120');
    // Without { resource }, a key is its own resource: the barrier on account:7 does not cover it.
    await fence.set(`${balance}:unscoped`, 'x', stale.fencingToken);
    await fresh.release();
  });

  test('a store that fails answers with a RedfenceError, not a raw client error', async () => {
    const { Redis } = await import('ioredis');
    const dead = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    dead.on('error', () => undefined);
    const fence = new RedisFence(dead);
    await assert.rejects(fence.check('r', 1n), (e: unknown) => e instanceof RedfenceError && e.code === 'STORE_ERROR' && !(e instanceof StaleTokenError));
    dead.disconnect();
  });

  test('end to end: a lock holder that lost its lock cannot write after the next holder', async () => {
    const redlock = env.redlock();
    const other = env.redlock({ prefix: redlock.settings.prefix });
    const store = env.clients()[1];
    assert.ok(store);
    const fence = new RedisFence(store);
    const key = `${redlock.settings.prefix}doc`;
    const first = await redlock.acquire('doc', 200);
    await delay(300); // first holder paused past its lease
    const second = await other.acquire('doc', 1_000);
    await fence.set(key, 'from second', second.fencingToken);
    await assert.rejects(fence.set(key, 'from first', first.fencingToken), StaleTokenError);
    assert.equal(await store.get(key), 'from second');
    await second.release();
  });
});
