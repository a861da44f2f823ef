/**
 * The lock thread (`useDedicatedLockThread`, issue 14): renewals run in a worker thread with its
 * own connections, so a blocked event loop keeps its locks — for at most `lockThreadMaxBlockMs`.
 * Each test blocks this process's event loop for real (Atomics.wait) and compares with the same
 * lock renewed on the main thread. Against real redis-servers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionsError, LeaderElection, type FollowerReason, LockLostError, MemoryNode, Redlock } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { until, useCluster } from '../support/cluster.js';

const env = useCluster(3);
/**
 * One failed renewal loses a kept-alive lock, and each renewal (in either thread) is a quorum
 * round bounded by nodeTimeout: room for a loaded machine (keepAlive 600 allows up to 150 ms).
 */
const NODE_TIMEOUT = 150;
/**
 * `other` opens its connections while this thread is blocked, so its first tryAcquire (no retry)
 * connects after the block: a bound that a cold start on a loaded machine meets. A tryAcquire
 * still answers null only for a lock that is held.
 */
const OTHER_TIMEOUT = 1_000;

/** Blocks this thread's event loop for `ms` (nothing else in this thread runs meanwhile). */
const block = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

describe('the lock thread', () => {
  test('a keep-alive lock survives a blocked event loop with the thread, and is lost without it', async () => {
    for (const thread of [true, false]) {
      const redlock = env.redlock({ nodeTimeout: NODE_TIMEOUT });
      const other = env.redlock({ prefix: redlock.settings.prefix, nodeTimeout: OTHER_TIMEOUT });
      const lock = await redlock.acquire('job', 30_000, { keepAlive: 600, useDedicatedLockThread: thread });
      block(2_500); // four leases
      if (thread) {
        assert.ok(lock.remainingMs() > 0, 'still valid: the thread renewed the lease');
        assert.equal(lock.signal.aborted, false);
        assert.equal(await other.tryAcquire('job', 1_000), null, 'nobody else got it');
        await lock.release();
        assert.ok(await other.tryAcquire('job', 1_000), 'released through the thread');
      } else {
        assert.equal(lock.remainingMs(), 0, 'lost: its lease ran out while the loop was blocked');
        const taken = await other.tryAcquire('job', 1_000);
        assert.ok(taken !== null && taken.fencingToken > lock.fencingToken, 'another holder, with a larger token');
        await taken.release();
        await lock.release();
      }
    }
  });

  test("the seed's example: a 2 s lock and a routine that blocks the event loop for 5 s keeps its lock (using)", async () => {
    const redlock = env.redlock({ nodeTimeout: NODE_TIMEOUT });
    const other = env.redlock({ prefix: redlock.settings.prefix, nodeTimeout: OTHER_TIMEOUT });
    const result = await redlock.using('report', 2_000, { useDedicatedLockThread: true }, async (signal, lock) => {
      block(5_000);
      assert.equal(signal.aborted, false, 'not lost');
      assert.ok(lock.remainingMs() > 0);
      assert.equal(await other.tryAcquire('report', 1_000), null, 'still held on the nodes');
      return lock.fencingToken;
    });
    assert.equal(typeof result, 'bigint');
    assert.ok(await other.tryAcquire('report', 1_000), 'released when the routine ended');
  });

  test('a process stuck for longer than lockThreadMaxBlockMs stops renewing: the lock is lost and its lease runs out', async () => {
    const redlock = env.redlock({ lockThreadMaxBlockMs: 1_000 });
    const other = env.redlock({ prefix: redlock.settings.prefix, nodeTimeout: OTHER_TIMEOUT });
    const lock = await redlock.acquire('stuck', 30_000, { keepAlive: 600, useDedicatedLockThread: true });
    block(3_000);
    assert.equal(lock.remainingMs(), 0);
    const reason = lock.signal.reason as unknown;
    assert.ok(reason instanceof LockLostError, String(reason));
    const taken = await other.tryAcquire('stuck', 1_000);
    assert.ok(taken !== null && taken.fencingToken > lock.fencingToken, 'the lease ran out; the next grant has a larger token');
    await taken.release();
    await lock.release();
  });

  test('extend goes through the thread; the nodes hold the new TTL', async () => {
    const redlock = env.redlock();
    const [client] = env.clients();
    const lock = await redlock.acquire('ext', 1_000, { useDedicatedLockThread: true });
    await lock.extend(8_000);
    assert.ok(lock.remainingMs() > 7_000 && lock.remainingMs() <= 8_000, String(lock.remainingMs()));
    const pttl = await client?.pttl(`${redlock.settings.prefix}{ext}:lk`);
    assert.ok(pttl !== undefined && pttl > 7_000, String(pttl));
    await lock.release();
    assert.equal(await client?.exists(`${redlock.settings.prefix}{ext}:lk`), 0);
    await assert.rejects(lock.extend(1_000), /released|expired/);
  });

  test('a leader keeps its term through a blocked event loop with the thread, and steps down without it', async () => {
    for (const thread of [true, false]) {
      const redlock = env.redlock();
      const election = new LeaderElection(redlock, 'blocked', { ttl: 1_500, renewDeadline: 1_000, renewInterval: 300, useDedicatedLockThread: thread });
      const reasons: FollowerReason[] = [];
      election.on('follower', (reason) => reasons.push(reason));
      const leadership = await election.campaign();
      block(3_000);
      if (thread) {
        assert.equal(election.isLeader, true, 'still leader');
        assert.equal(election.term, leadership.term, 'the same term');
        assert.equal(leadership.signal.aborted, false);
      } else {
        assert.equal(election.isLeader, false, 'stepped down: not renewed within renewDeadline');
        await until('follower', () => reasons.length > 0);
        assert.equal(reasons[0], 'renewDeadline');
      }
      await leadership.resign();
    }
  });

  test('refused where the thread cannot follow: MemoryNodes, an injected clock', async () => {
    await assert.rejects(new Redlock([new MemoryNode()]).acquire('x', 1_000, { useDedicatedLockThread: true }), (e: unknown) =>
      e instanceof InvalidOptionsError && /connect to on its own/.test(e.message),
    );
    const clocked = new Redlock(env.cluster.urls, { clock: new FakeClock(), prefix: env.prefix() });
    await assert.rejects(clocked.acquire('x', 1_000, { useDedicatedLockThread: true }), /needs the system clock/);
    await clocked.quit();
  });
});
