import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { InvalidOptionsError, type Lock, RedfenceError, type Redlock, RedisNode, type RepairReport, systemClock } from '../../src/index.js';
import { resourceKey } from '../../src/core/keys.js';
import { connected, delay, redisNode, until, useCluster } from '../support/cluster.js';

// Issue 9, items 2, 3, 4 and 7: a repair must keep a node out until every lease it forgot has
// ended, by the cluster's max TTL, whoever repairs; copy from sources that kept their data; and
// never hang.
const env = useCluster(5);
afterEach(() => env.heal());

const fcKey = (prefix: string, resource: string) => resourceKey(prefix, resource, 'fc');
const at = <T>(list: readonly T[], i: number): T => list[i] ?? assert.fail(`no element ${i}`);

/**
 * `holder` acquires `resource` on a bare majority (nodes 0–2; 3 and 4 paused meanwhile), so that a
 * quorum without it can form from nodes 3, 4 and node 0 once node 0 forgets it.
 */
async function holdOnBareMajority(holder: Redlock, resource: string, ttl: number): Promise<Lock> {
  env.cluster.pause(3);
  env.cluster.pause(4);
  try {
    return await holder.acquire(resource, ttl, { retryCount: 0 });
  } finally {
    env.cluster.resume(3);
    env.cluster.resume(4);
  }
}

describe('repair waits until every forgotten lease has ended', () => {
  test('a node emptied by FLUSHALL (uptime not reset) is kept out for maxTtl after it was found empty', async () => {
    const holder = env.redlock({ maxTtl: 1_500, nodeTimeout: 200 });
    const repairer = env.redlock({ prefix: holder.settings.prefix, maxTtl: 1_500, autoRepair: false, nodeTimeout: 200 });
    await holder.acquire('warm', 500).then((l) => l.release()); // initialises the nodes
    // Node 0 has been up for seconds (which FLUSHALL does not reset): an uptime-based wait is zero.
    const node0 = env.clients()[0];
    const uptime = async () => Number(/uptime_in_seconds:(\d+)/.exec((await node0?.info('server')) ?? '')?.[1]);
    await until('node 0 up for 3 s', async () => (await uptime()) >= 3, 5_000);

    const lock = await holdOnBareMajority(holder, 'flushed', 1_400);
    await env.clients()[0]?.flushall();
    const report = await repairer.repair(0);
    const granted = await repairer.acquire('flushed', 1_000, { retryCount: 0 }).catch(() => null);
    assert.equal(lock.remainingMs(), 0, `the first holder still had ${lock.remainingMs()} ms when the repaired node served again`);
    assert.ok(report.waitedMs >= 1_000, `waited ${report.waitedMs} ms`);
    await granted?.release();
  });

  test("the wait is the cluster's maxTtl (kept in the ready marker), not the repairing client's", async () => {
    const holder = env.redlock({ maxTtl: 2_500, nodeTimeout: 200 });
    const small = env.redlock({ prefix: holder.settings.prefix, maxTtl: 500, automaticExtensionThreshold: 100, autoRepair: false, nodeTimeout: 200 });
    await holder.acquire('warm', 500).then((l) => l.release()); // the cluster's maxTtl is 2500
    const lock = await holdOnBareMajority(holder, 'long', 2_400);
    await env.cluster.restart(0, { empty: true });
    await connected(small, 0);
    const report: RepairReport = await small.repair(0);
    const granted = await small.acquire('long', 400, { retryCount: 0 }).catch(() => null);
    assert.equal(lock.remainingMs(), 0, `the first holder still had ${lock.remainingMs()} ms when the repaired node served again`);
    assert.equal(report.maxTtl, 2_500);
    await granted?.release();
  });

  test("the nodes refuse leases above the cluster's maxTtl, and extend() refuses without losing the lock", async () => {
    const first = env.redlock({ maxTtl: 1_000 });
    await first.acquire('warm', 500).then((l) => l.release()); // the cluster's maxTtl is 1000
    // A new Redlock whose first call has no retry: room to open its connections on a loaded machine
    // (the refusal comes from the nodes, whatever the bound).
    const bigger = env.redlock({ prefix: first.settings.prefix, maxTtl: 10_000, nodeTimeout: 1_000 });
    await assert.rejects(bigger.acquire('r', 5_000, { retryCount: 0 }), (e: unknown) => e instanceof InvalidOptionsError && /1000 ms/.test(e.message));
    const lock = await bigger.acquire('r', 900);
    await assert.rejects(lock.extend(5_000), InvalidOptionsError);
    assert.equal(lock.signal.aborted, false, 'still held');
    await lock.extend(900);
    assert.ok(lock.remainingMs() > 800);
    await lock.release();
  });
});

describe('repair copies from sources that kept their data', () => {
  test('a source that loses its data during the copy is replaced, and no counter goes back', async () => {
    const redlock = env.redlock({ maxTtl: 300, automaticExtensionThreshold: 100, autoRepair: false, nodeTimeout: 200 });
    const prefix = redlock.settings.prefix;
    await redlock.acquire('t', 200).then((l) => l.release());
    const clients = env.clients();
    // A grant that only nodes 0, 3 and 4 saw, from a client whose wall clock was far ahead.
    const ahead = (BigInt(Date.now()) * 1000n + 10n ** 12n).toString();
    await Promise.all([0, 3, 4].map((i) => at(clients, i).set(fcKey(prefix, 't'), ahead)));
    // Sources are scanned in order (1, 2, 3): many other keys on 1 and 2 make their scans slow.
    const fill = "for i = 1, 200000 do redis.call('SET', KEYS[1] .. i, '') end";
    await Promise.all([1, 2].map((i) => at(clients, i).eval(fill, 1, `${prefix}filler:`)));
    await clients[0]?.flushall();

    const repair = redlock.repair(0);
    // The repair began (its key is on node 0): node 3 loses its data before its turn comes.
    await until('repair started', async () => (await clients[0]?.exists(`${prefix}__repairing`)) === 1, 5_000);
    await clients[3]?.flushall();
    const report = await repair;
    assert.equal(report.alreadyReady, false);
    const copied = await clients[0]?.get(fcKey(prefix, 't'));
    assert.equal(copied, ahead, 'node 0 has the highest counter again (from node 4)');
    await Promise.all([1, 2].map((i) => at(clients, i).flushall()));
  });
});

describe('repairs do not undo each other', () => {
  test('a client that cannot see a majority leaves the node alone; of two concurrent repairs one finishes', async () => {
    const a = env.redlock({ maxTtl: 300, automaticExtensionThreshold: 100, autoRepair: false, nodeTimeout: 100 });
    const b = env.redlock({ prefix: a.settings.prefix, maxTtl: 300, automaticExtensionThreshold: 100, autoRepair: false, nodeTimeout: 100 });
    const prefix = a.settings.prefix;
    await a.acquire('c', 200).then((l) => l.release());
    const clients = env.clients();
    await at(clients, 0).flushall();
    // b sees only nodes 0 and 1 (2-4 paused): no majority of sources, so it must not claim node 0.
    for (const i of [2, 3, 4]) env.cluster.pause(i);
    await assert.rejects(b.repair(0), (e: unknown) => e instanceof RedfenceError && e.code === 'REPAIR_QUORUM');
    for (const i of [2, 3, 4]) env.cluster.resume(i);
    assert.equal(await at(clients, 0).exists(`${prefix}__repairing`), 0, 'no claim left by a repair that could not run');
    // Two repairs at once (a, and a client whose connections were not recycled while nodes were
    // paused): one claims the node and finishes, the other is told it is in progress.
    const c = env.redlock({ prefix, maxTtl: 300, automaticExtensionThreshold: 100, autoRepair: false, nodeTimeout: 100 });
    const results = await Promise.allSettled([a.repair(0), c.repair(0)]);
    const done = results.filter((r) => r.status === 'fulfilled');
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    assert.equal(done.length, 1, JSON.stringify(results.map((r) => r.status)));
    assert.ok(refused[0] instanceof RedfenceError && refused[0].code === 'REPAIR_IN_PROGRESS', String(refused[0]));
    assert.match((await at(clients, 0).get(`${prefix}__ready`)) ?? '', / 300 /, 'node 0 is ready');
  });
});

describe('repair never hangs', () => {
  test('a repair whose source stops answering fails with a RedfenceError within the admin bound', async () => {
    const redlock = env.redlock({ maxTtl: 200, automaticExtensionThreshold: 100, nodeTimeout: 50, autoRepair: false });
    const prefix = redlock.settings.prefix;
    await redlock.acquire('s', 100).then((l) => l.release());
    const clients = env.clients();
    await clients[1]?.eval("for i = 1, 100000 do redis.call('SET', KEYS[1] .. i, '') end", 1, `${prefix}filler:`);
    await clients[0]?.flushall();
    const repair = redlock.repair(0);
    await until('repair started', async () => (await clients[0]?.exists(`${prefix}__repairing`)) === 1, 5_000);
    env.cluster.pause(1);
    const started = performance.now();
    const error = await repair.then(
      () => assert.fail('repaired from a paused source'),
      (e: unknown) => e,
    );
    env.cluster.resume(1);
    assert.ok(error instanceof RedfenceError && error.code === 'TIMEOUT', String(error));
    assert.ok(performance.now() - started < 5_000);
    await clients[1]?.flushall();
  });

  test('a repair whose requests a recycled connection dropped times out, and autoRepair tries again', async () => {
    const redlock = env.redlock({ maxTtl: 200, automaticExtensionThreshold: 100, nodeTimeout: 50 });
    const prefix = redlock.settings.prefix;
    await redlock.acquire('h', 100).then((l) => l.release());
    const clients = env.clients();
    await Promise.all([1, 2].map((i) => at(clients, i).eval("for i = 1, 100000 do redis.call('SET', KEYS[1] .. i, '') end", 1, `${prefix}filler:`)));
    const repaired = new Promise<RepairReport>((resolve) => redlock.on('repaired', resolve));
    await env.cluster.restart(0, { empty: true });
    await connected(redlock, 0);
    // An acquire meets node 0 not ready and starts a repair in the background. Once it is
    // copying (its key is on node 0), source 1 is paused in the middle of its scan; the next
    // acquire times out on node 1, whose silent connection is then recycled, dropping the
    // repair's request without an answer.
    await redlock.acquire('h', 100, { retryCount: 0 }).then((l) => l.release());
    await until('repair started', async () => (await clients[0]?.exists(`${prefix}__repairing`)) === 1, 5_000);
    env.cluster.pause(1);
    await redlock.acquire('h', 100, { retryCount: 0 }).then((l) => l.release(), () => undefined);
    await until('connection to node 1 recycled', () => redisNode(redlock, 1).client.status !== 'ready', 5_000);
    env.cluster.resume(1);
    await connected(redlock, 1);
    // The first repair gives up (bounded); the next notReady answer starts another.
    const retry = setInterval(() => void redlock.acquire('h', 100, { retryCount: 0 }).then((l) => l.release(), () => undefined), 200);
    try {
      const report = await Promise.race([repaired, delay(15_000).then(() => assert.fail('node 0 never repaired'))]);
      assert.equal(report.node, redlock.nodes[0]?.name);
    } finally {
      clearInterval(retry);
      await Promise.all([1, 2].map((i) => at(clients, i).flushall()));
    }
  });
});

test('a request whose connection dies under it is answered with an error, not dropped', async () => {
  const node = new RedisNode(env.cluster.urls[4] ?? '', 0, systemClock, () => undefined);
  try {
    await node.run('ready', ['dies:__ready'], ['']); // connected
    env.cluster.pause(4);
    const answer = new Promise<unknown>((resolve) => node.send('ready', ['dies:__ready'], [''], (error, reply) => resolve(error ?? reply)));
    await env.cluster.crash(4); // the connection closes with the request unanswered
    await env.cluster.restart(4); // ioredis reconnects, and forgets what was in flight
    const reply = await Promise.race([answer, delay(5_000).then(() => 'no answer within 5 s')]);
    assert.ok(reply instanceof Error && /closed before the reply/.test(reply.message), String(reply));
  } finally {
    await node.close();
  }
});
