import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import {
  InvalidOptionsError,
  LockHeldError,
  QuorumError,
  RedisNode,
  Redlock,
  type RedlockOptions,
} from '../../src/index.js';
import { resourceKey } from '../../src/core/keys.js';
import { type ClusterNodeView, useRedisClusterWithStandalones } from '../support/redis-cluster.js';

// Issue 11, "Redis Cluster for real": a sharded Redis Cluster (3 masters, 1 replica each, joined by
// `redis-cli --cluster create`) as node 0 of a Redlock whose nodes 1 and 2 are standalone
// redis-servers. What a failover of the shard holding a lock's keys loses, and what still holds.

const env = useRedisClusterWithStandalones({ masters: 3, replicasPerMaster: 1 });
const { cluster, closers } = env;

/**
 * A Redlock on [the Cluster, standalone, standalone], with its own Cluster client, on a new prefix
 * (its first acquire initialises the nodes).
 */
async function redlock(options: RedlockOptions = {}): Promise<{ redlock: Redlock; client: Cluster }> {
  const standalones = env.standalones();
  const client = cluster().client();
  const lock = new Redlock([client, ...standalones.urls], { prefix: `t-${randomUUID().slice(0, 8)}:`, ...options });
  closers.push(() => lock.quit(), () => client.quit());
  return { redlock: lock, client };
}

const inSlots = (node: ClusterNodeView, slot: number): boolean => node.slots.some(([from, to]) => slot >= from && slot <= to);

/** `promise`, or a rejection after `ms`: no await on a node that fails over is unbounded. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** How many scripts (EVALSHA + EVAL) a node has run: to show that nothing was sent. */
async function scriptsRun(port: number): Promise<number> {
  const stats = String(await cluster().direct(port).info('commandstats'));
  let calls = 0;
  for (const [, n] of stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)) calls += Number(n);
  return calls;
}

describe('a Redis Cluster as one node of a Redlock', () => {
  test('[Cluster, standalone, standalone] grants, tokens increase, every node holds the lease and the token, release frees it', async () => {
    // A new prefix: the first acquire initialises the standalones by itself, although the Cluster
    // node (no gate) granted the attempt that met them unmarked and kept that attempt's counter.
    const { redlock: lock, client } = await redlock();
    const node = lock.nodes[0];
    assert.ok(node instanceof RedisNode && node.isCluster && !node.gated && node.slotted);
    const key = resourceKey(lock.settings.prefix, 'account:7', 'lk');
    const fc = resourceKey(lock.settings.prefix, 'account:7', 'fc');
    let last = 0n;
    for (let i = 0; i < 20; i += 1) {
      const held = await lock.acquire('account:7', 2_000);
      assert.ok(held.fencingToken > last, `token ${held.fencingToken} after ${last}`);
      last = held.fencingToken;
      // The Cluster node took part: the lease is on the shard's master, its counter at the token.
      assert.equal(await client.exists(key), 1);
      assert.equal(await client.get(fc), String(held.fencingToken));
      await held.release();
      assert.equal(await client.exists(key), 0);
    }
  });

  test('a multi-resource lock whose resources share a hash tag works; resources in different slots are refused before anything is sent', async () => {
    const { redlock: lock, client } = await redlock();
    const prefix = lock.settings.prefix;
    const tagged = ['{order:42}:row', '{order:42}:stock'];
    const keys = tagged.map((r) => resourceKey(prefix, r, 'lk'));
    assert.equal(calculateSlot(keys[0] ?? ''), calculateSlot(keys[1] ?? ''), 'one slot');
    const first = await lock.acquire(tagged, 2_000);
    assert.deepEqual(await Promise.all(keys.map((k) => client.exists(k))), [1, 1]);
    await first.release();
    const second = await lock.acquire(tagged, 2_000);
    assert.ok(second.fencingToken > first.fencingToken);
    await second.release();
    assert.deepEqual(await Promise.all(keys.map((k) => client.exists(k))), [0, 0]);

    // What Redis itself answers to one script over keys in two slots: CROSSSLOT.
    const apart = ['order:1', 'order:2'];
    const apartKeys = apart.map((r) => resourceKey(prefix, r, 'lk'));
    assert.notEqual(calculateSlot(apartKeys[0] ?? ''), calculateSlot(apartKeys[1] ?? ''));
    await assert.rejects(client.eval('return 1', 2, ...apartKeys), /CROSSSLOT/);

    // redfence refuses such a lock itself, with the slots and the fix, and sends nothing.
    const ports = [...cluster().ports, ...(env.standalones().nodes.map((n) => n.port) ?? [])];
    const before = await Promise.all(ports.map(scriptsRun));
    await assert.rejects(lock.acquire(apart, 2_000), (error: unknown) => {
      assert.ok(error instanceof InvalidOptionsError);
      assert.match(error.message, /map to different Redis Cluster hash slots/);
      assert.match(error.message, new RegExp(`slot ${calculateSlot(apartKeys[0] ?? '')}\\b`));
      assert.match(error.message, /common hash tag, e\.g\. `\{order:42\}:row`/);
      return true;
    });
    await assert.rejects(lock.tryAcquire(apart, 2_000), InvalidOptionsError);
    assert.deepEqual(await Promise.all(ports.map(scriptsRun)), before, 'no script reached any node');
    assert.deepEqual(await Promise.all(apartKeys.map((k) => client.exists(k))), [0, 0]);
  });

  test('failover of the shard holding a lock: the Redlock keeps granting; the promoted replica forgot the lease and reissues a token; the quorum keeps both safe', async (t) => {
    const rcl = cluster();
    const opts: RedlockOptions = { nodeTimeout: 200, retryCount: 0, waitForRelease: false, autoRepair: false };
    const a = await redlock(opts);
    const b = await redlock({ ...opts, prefix: a.redlock.settings.prefix });
    const prefix = a.redlock.settings.prefix;
    const R = 'ledger';
    const lk = resourceKey(prefix, R, 'lk');
    const fc = resourceKey(prefix, R, 'fc');
    const { master, replicas } = await rcl.shardOf(calculateSlot(lk));
    assert.equal(replicas.length, 1);
    const replica = replicas[0] as ClusterNodeView;
    const onMaster = rcl.direct(master.port);
    const onReplica = rcl.direct(replica.port);
    const onStandalones = env.standalones().nodes.map((n) => rcl.direct(n.port)) ?? [];
    // A second resource on the same shard, granted in a loop while the shard fails over.
    let Q = '';
    for (let i = 0; i < 10_000 && Q === ''; i += 1) {
      if (inSlots(master, calculateSlot(resourceKey(prefix, `busy-${i}`, 'lk')))) Q = `busy-${i}`;
    }
    assert.notEqual(Q, '');

    // Both clients have routed to the shard's master (their connections exist before the cut).
    for (const { redlock: r } of [a, b]) await (await r.acquire(R, 1_000)).release();
    await (await a.redlock.acquire(Q, 1_000)).release();

    // The counters stand far above the wall clock (as a client whose clock ran ahead leaves them),
    // so the wall-clock floor of later grants cannot hide what the replica forgets. Written on the
    // master and acknowledged by its replica (WAIT), and on both standalones.
    const ahead = BigInt(Date.now()) * 1000n + 10n ** 12n;
    await onMaster.set(fc, String(ahead));
    assert.equal(await onMaster.call('WAIT', '1', '2000'), 1);
    assert.equal(await onReplica.get(fc), String(ahead));
    await Promise.all(onStandalones.map((s) => s.set(fc, String(ahead))));

    // Cut the replication link: the master now requires a password its replica does not have
    // (connections already open stay authenticated), and the link is dropped once.
    await onMaster.config('SET', 'requirepass', `cut-${randomUUID()}`);
    await onMaster.call('CLIENT', 'KILL', 'TYPE', 'replica');
    const linkDown = async (): Promise<boolean> => /master_link_status:down/.test(String(await onReplica.info('replication')));
    for (const deadline = performance.now() + 5_000; !(await linkDown()); ) {
      if (performance.now() > deadline) throw new Error('the replication link did not go down within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    // A grant the replica never sees: token ahead + 1 on all three nodes (fast path).
    const lost = await a.redlock.acquire(R, 15_000);
    assert.equal(lost.fencingToken, ahead + 1n);
    assert.equal(await onMaster.get(fc), String(ahead + 1n));
    assert.equal(await onMaster.exists(lk), 1);
    assert.equal(await onReplica.get(fc), String(ahead), 'the replica lags: the counter it holds is the older one');
    assert.equal(await onReplica.exists(lk), 0, 'the replica lags: it never saw the lease');

    // Grants on Q run on and on while the shard's master is killed and its replica takes over.
    const grants: { token: bigint; started: number; at: number; onCluster: boolean }[] = [];
    const failures: unknown[] = [];
    let stopLoop = false;
    const qKey = resourceKey(prefix, Q, 'lk');
    const loop = (async () => {
      const deadline = performance.now() + 20_000;
      while (!stopLoop && performance.now() < deadline) {
        try {
          const started = performance.now();
          const held = await a.redlock.acquire(Q, 2_000);
          const at = performance.now();
          // Did the Cluster node take part? Only the replica can show it (the link from the master
          // is cut), and only once promoted: a read on it, bounded.
          const onCluster = await within(1_000, onReplica.exists(qKey)).then((n) => n === 1, () => false);
          grants.push({ token: held.fencingToken, started, at, onCluster });
          await held.release();
        } catch (error) {
          failures.push(error);
        }
      }
    })();
    const killedAt = performance.now();
    const { promoted, ms } = await rcl.failover(master.port);
    const promotedAt = performance.now();
    assert.equal(promoted.id, replica.id, 'the shard’s only replica took over');
    // The Cluster node serves again: a grant after the failover that the Cluster node took part in.
    for (const deadline = performance.now() + 15_000; !grants.some((g) => g.at > promotedAt && g.onCluster); ) {
      if (performance.now() > deadline) throw new Error('the Cluster node did not serve again within 15 s of the failover');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    stopLoop = true;
    await loop;
    assert.deepEqual(failures, [], 'every grant of the loop succeeded');
    for (let i = 1; i < grants.length; i += 1) {
      assert.ok((grants[i]?.token ?? 0n) > (grants[i - 1]?.token ?? 0n), 'tokens increase through the failover');
    }
    const during = grants.filter((g) => g.started > killedAt && g.at < promotedAt);
    assert.ok(during.some((g) => !g.onCluster), 'grants without the Cluster node while its shard failed over (the two standalones made the quorum)');

    // What the promoted replica holds: neither the lease nor the counter of the lost grant.
    assert.equal(await onReplica.exists(lk), 0, 'the lease of a lock still held is gone from the Cluster node');
    assert.equal(await onReplica.get(fc), String(ahead), 'the counter went back from ahead + 1 to ahead');

    // Another client asks for R while `lost` is still valid: the Cluster node grants it (it forgot
    // the lease) and hands out ahead + 1 again, the token `lost` already has; the two standalones
    // still hold `lost`, so no quorum: refused.
    for (const deadline = performance.now() + 10_000; ; ) {
      // b's Cluster client routes to the promoted master (it last saw the dead one).
      if (await within(1_000, b.client.get(fc)).then(() => true, () => false)) break;
      if (performance.now() > deadline) throw new Error('b did not reach the promoted master within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const refused = await b.redlock.acquire(R, 1_000).then(
      () => assert.fail('granted while another client holds the lock on two of three nodes'),
      (error: unknown) => error as QuorumError,
    );
    assert.ok(refused instanceof LockHeldError);
    assert.deepEqual(refused.nodes.map((n) => n.outcome), ['ok', 'held', 'held']);
    assert.equal(await onReplica.get(fc), String(ahead + 1n), 'the Cluster node reissued the token ahead + 1');
    assert.deepEqual(await Promise.all(onStandalones.map((s) => s.get(fc))), [String(ahead + 1n), String(ahead + 1n)]);

    // `lost` is still the holder, then releases; the next token is above every token given.
    assert.ok(lost.remainingMs() > 0);
    await lost.release();
    const next = await b.redlock.acquire(R, 1_000);
    assert.equal(next.fencingToken, ahead + 2n);
    await next.release();

    t.diagnostic(
      `failover ${ms} ms; ${grants.length} grants of the loop, ${during.length} while the shard had no master ` +
        `(slowest ${Math.round(Math.max(...during.map((g) => g.at - g.started)))} ms), ` +
        `first on the Cluster node again ${Math.round((grants.find((g) => g.at > promotedAt && g.onCluster)?.at ?? 0) - promotedAt)} ms after the promotion`,
    );
  });
});
