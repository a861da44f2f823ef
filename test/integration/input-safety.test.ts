import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { InvalidOptionsError, LockLostError, Redlock, type RedlockEvents } from '../../src/index.js';
import { delay, useCluster } from '../support/cluster.js';

// Issue 9, items 5 and 8–11: inputs that would let one server vote twice or repair copy nothing,
// and the promises of lock.signal and extend().
const env = useCluster(5);
afterEach(() => env.heal());

describe('nodes', () => {
  test('ioredis clients and options with keyPrefix are refused (repair would copy nothing)', () => {
    const urls = env.cluster.urls;
    const prefixed = new Redis(urls[0] ?? '', { keyPrefix: 'app:', lazyConnect: true });
    try {
      assert.throws(() => new Redlock([prefixed, urls[1] ?? '', urls[2] ?? '']), (e: unknown) => e instanceof InvalidOptionsError && /keyPrefix/.test(e.message));
      const port = env.cluster.nodes[1]?.port ?? 0;
      assert.throws(() => new Redlock([urls[0] ?? '', { port, keyPrefix: 'app:' }, urls[2] ?? '']), InvalidOptionsError);
    } finally {
      prefixed.disconnect();
    }
  });

  test('one client object given twice is refused at once', () => {
    const client = new Redis(env.cluster.urls[0] ?? '', { lazyConnect: true });
    try {
      assert.throws(() => new Redlock([client, client, env.cluster.urls[1] ?? '']), InvalidOptionsError);
    } finally {
      client.disconnect();
    }
  });

  test('the same server under two names never counts twice: InvalidOptionsError, even with the only other server paused', async () => {
    const [a, b] = env.cluster.nodes;
    assert.ok(a && b);
    // 127.0.0.1 and localhost: one server. With the real other server paused, a "quorum" of 2
    // out of 3 would be one server voting twice.
    // The first call opens the connections (and learns each server's identity) within nodeTimeout:
    // room for that on a loaded machine. The paused server costs nothing: two answers decide.
    const redlock = new Redlock([`redis://127.0.0.1:${a.port}`, `redis://localhost:${a.port}`, b.url], { nodeTimeout: 1_000, prefix: env.prefix() });
    const other = new Redis(a.url);
    try {
      env.cluster.pause(1);
      await assert.rejects(redlock.acquire('dup', 1_000, { retryCount: 0 }), (e: unknown) => e instanceof InvalidOptionsError && /same Redis server/.test(e.message));
      env.cluster.resume(1);
      await assert.rejects(redlock.acquire('dup', 1_000, { retryCount: 0 }), InvalidOptionsError, 'and on every later call');
      const keys = await other.keys(`${redlock.settings.prefix}*lk`);
      assert.deepEqual(keys, [], 'nothing left locked');
    } finally {
      env.cluster.resume(1);
      await redlock.quit();
      other.disconnect();
    }
  });

  test('too many resources for one lock: a typed error before anything is sent', async () => {
    // The 1000-resource grant has no retry: each node runs a 1000-key script, which a loaded
    // machine may not answer within the default 50 ms.
    const redlock = env.redlock({ nodeTimeout: 1_000 });
    const resources = Array.from({ length: 8_000 }, (_, i) => `many:${i}`);
    await assert.rejects(redlock.acquire(resources, 1_000, { retryCount: 0 }), (e: unknown) => e instanceof InvalidOptionsError && /at most 1000 resources/.test(e.message));
    const lock = await redlock.acquire(resources.slice(0, 1_000), 5_000, { retryCount: 0 });
    await lock.release();
  });
});

describe('lock.signal and extend()', () => {
  test('a node that reports another owner aborts the signal, even while a quorum confirms the extension', { timeout: 10_000 }, async () => {
    const redlock = env.redlock();
    const lock = await redlock.acquire('owned', 5_000);
    const key = `${redlock.settings.prefix}{owned}:lk`;
    await env.clients()[0]?.set(key, 'someone-else', 'PX', 5_000);
    const aborted = new Promise<unknown>((resolve) => lock.signal.addEventListener('abort', () => resolve(lock.signal.reason), { once: true }));
    // Which comes first is up to the network: when node 0's "another owner" arrives before the
    // round is decided, extend() throws; when three confirmations beat it, extend() resolves and the
    // lock is lost as soon as node 0's answer arrives. Either way the lock ends, for that reason.
    const extended = await lock.extend(5_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (extended !== undefined) {
      assert.ok(extended instanceof LockLostError, 'if extend() throws, it throws LockLostError');
      assert.match(extended.message, /another owner/);
    }
    const reason = await aborted;
    assert.ok(reason instanceof LockLostError, 'the signal aborts with LockLostError');
    assert.match(reason.message, /another owner/);
    assert.equal(lock.remainingMs(), 0);
    await lock.release();
  });

  test('extend() that completes after the lock was marked lost throws LockLostError', async () => {
    const redlock = env.redlock({ nodeTimeout: 2_000 });
    const lock = await redlock.acquire('late', 300);
    const aborted = new Promise((resolve) => lock.signal.addEventListener('abort', resolve, { once: true }));
    // Three nodes (a quorum needs them) answer only after the lock's validity ran out.
    for (const i of [0, 1, 2]) env.cluster.pause(i);
    const extending = lock.extend(5_000);
    await aborted;
    for (const i of [0, 1, 2]) env.cluster.resume(i);
    await assert.rejects(extending, LockLostError);
    await lock.release();
  });

  test('an abort that lands while a retry succeeds leaves no lock: no keep-alive renewal, no lockLost', async () => {
    const holder = env.redlock();
    const waiter = env.redlock({ prefix: holder.settings.prefix, nodeTimeout: 500, retryDelay: 50, retryJitter: 0, keepAlive: 2_000, waitForRelease: false });
    const lost: RedlockEvents['lockLost'][0][] = [];
    waiter.on('lockLost', (e) => lost.push(e));
    const held = await holder.acquire('abort', 400);
    const controller = new AbortController();
    const acquiring = waiter.acquire('abort', 5_000, { signal: controller.signal });
    // The nodes freeze while the holder's lease runs out: the waiter's next attempt is in flight
    // when the abort lands, and succeeds once they resume.
    await delay(150);
    for (let i = 0; i < 5; i += 1) env.cluster.pause(i);
    await delay(Math.max(0, held.remainingMs()) + 50);
    controller.abort(new Error('caller gave up'));
    for (let i = 0; i < 5; i += 1) env.cluster.resume(i);
    await assert.rejects(acquiring, /caller gave up/);
    // Long enough for a keep-alive renewal (every 667 ms) to have run and failed.
    await delay(1_000);
    assert.deepEqual(lost, [], 'no lockLost for a lock the caller never saw');
    const leases = await Promise.all(env.clients().map((c) => c.get(`${holder.settings.prefix}{abort}:lk`)));
    assert.deepEqual(leases, [null, null, null, null, null], 'nothing left locked');
  });
});
