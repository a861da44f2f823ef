/**
 * The Redlock on MemoryNodes: what a user's unit test of code that locks can rely on. With a fake
 * clock shared by the Redlock and the nodes, nothing expires until the test moves the clock.
 */
import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, test } from 'node:test';
import {
  type AcquireReply,
  type AcquireRequest,
  type Done,
  InvalidOptionsError,
  LockExpiredError,
  LockHeldError,
  LockLostError,
  MemoryNode,
  Redlock,
  type RepairReport,
  systemClock,
} from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';

/** A MemoryNode that counts the acquire requests it got. */
class CountingNode extends MemoryNode {
  acquires = 0;

  override acquire(request: AcquireRequest, done: Done<AcquireReply>): void {
    this.acquires += 1;
    super.acquire(request, done);
  }
}

/** Lets pending promise chains and immediate callbacks run until `ready()` (at most `turns` turns). */
async function until(ready: () => boolean, what: string, turns = 1_000): Promise<void> {
  for (let i = 0; i < turns; i += 1) {
    if (ready()) return;
    await turn();
  }
  assert.fail(`not reached after ${turns} event-loop turns: ${what}`);
}

describe('Redlock on MemoryNodes', () => {
  test('acquire, release, tryAcquire and LockHeldError on one MemoryNode', async () => {
    const node = new MemoryNode();
    const redlock = new Redlock([node]);
    const lock = await redlock.acquire('order:42', 5_000);
    assert.equal(typeof lock.fencingToken, 'bigint');
    assert.equal(await redlock.tryAcquire('order:42', 1_000), null);
    const error = await redlock.acquire('order:42', 1_000, { retryCount: 0 }).then(
      () => assert.fail('should be held'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof LockHeldError);
    assert.deepEqual(error.nodes, [{ node: node.name, outcome: 'held' }]);
    await lock.release();
    const again = await redlock.tryAcquire('order:42', 1_000);
    assert.ok(again !== null && again.fencingToken > lock.fencingToken);
    await again.release();
    assert.equal(await redlock.using('order:42', 1_000, () => Promise.resolve('done')), 'done');
    await redlock.quit();
  });

  test('tokens strictly increase, over three MemoryNodes, across resources sets', async () => {
    const redlock = new Redlock([new MemoryNode(), new MemoryNode(), new MemoryNode()]);
    let last = 0n;
    for (let i = 0; i < 50; i += 1) {
      const lock = await redlock.acquire(i % 2 === 0 ? ['r'] : ['r', 's'], 1_000);
      assert.ok(lock.fencingToken > last, `${lock.fencingToken} > ${last}`);
      last = lock.fencingToken;
      await lock.release();
    }
  });

  test('one MemoryNode flushed: the next grant initialises it again, and tokens go on from the wall clock', async () => {
    // The token floor is the wall clock in µs from ms: the second grant comes a millisecond later.
    let wall = Date.UTC(2030, 0, 1);
    const clock = { ...systemClock, wallNow: () => wall };
    const node = new MemoryNode({ clock });
    const redlock = new Redlock([node], { clock });
    const first = await redlock.acquire('r', 1_000);
    await first.release();
    node.flush();
    wall += 1;
    assert.deepEqual((await redlock.inspect()).map((s) => s.ready), [null]);
    const second = await redlock.acquire('r', 1_000);
    assert.ok(second.fencingToken > first.fencingToken);
    await second.release();
  });

  test('the same MemoryNode twice is refused; two MemoryNodes are two servers', () => {
    const node = new MemoryNode();
    assert.throws(() => new Redlock([node, node]), InvalidOptionsError);
    assert.notEqual(new MemoryNode().identity, new MemoryNode().identity);
    assert.throws(() => new MemoryNode({ name: '' }), InvalidOptionsError);
    assert.equal(new MemoryNode({ name: 'local' }).name, 'local');
  });

  test('Redlocks sharing MemoryNodes exclude each other', async () => {
    const nodes = [new MemoryNode(), new MemoryNode(), new MemoryNode()];
    const a = new Redlock(nodes, { retryCount: 1_000, retryDelay: 5, retryJitter: 2 });
    const b = new Redlock(nodes, { retryCount: 1_000, retryDelay: 5, retryJitter: 2 });
    const held = await a.acquire('shared', 5_000);
    assert.equal(await b.tryAcquire('shared', 1_000), null);
    await held.release();

    let inside = 0;
    let entered = 0;
    let last = 0n;
    const work = (redlock: Redlock) =>
      redlock.using('shared', 2_000, async (_signal, lock) => {
        inside += 1;
        entered += 1;
        assert.equal(inside, 1, 'one holder at a time');
        assert.ok(lock.fencingToken > last);
        last = lock.fencingToken;
        await turn();
        inside -= 1;
      });
    await Promise.all(Array.from({ length: 20 }, (_, i) => work(i % 2 === 0 ? a : b)));
    assert.equal(entered, 20);
  });

  test('a waiter is handed the lock on release, without an attempt of its own and before any retry delay', async () => {
    const clock = new FakeClock();
    const node = new CountingNode({ clock });
    const holder = new Redlock([node], { clock });
    const waiter = new Redlock([node], { clock, retryCount: 3, retryDelay: 10_000, retryJitter: 0 });
    const lock = await holder.acquire('r', 5_000);
    const before = node.acquires; // the holder's (and the bootstrap of the ready gate's)
    const waiting = waiter.acquire('r', 5_000);
    // Its first attempt, then one more right after subscribing; then it waits 10 s of a clock that never moves.
    await until(() => node.acquires === before + 2, 'the waiter made two attempts');
    await lock.release();
    const handed = await waiting;
    assert.ok(handed.fencingToken > lock.fencingToken);
    assert.equal(node.acquires, before + 2, 'granted by the release itself (hand-over), not by another attempt');
    assert.equal(await holder.tryAcquire('r', 1_000), null, 'the waiter holds it');
    await handed.release();
    assert.ok(await holder.tryAcquire('r', 1_000));
  });

  test('with a fake clock a lock expires only when the clock is moved past its TTL', async () => {
    const clock = new FakeClock();
    const node = new MemoryNode({ clock });
    const a = new Redlock([node], { clock });
    const b = new Redlock([node], { clock });
    const lock = await a.acquire('job', 1_000);
    assert.equal(await b.tryAcquire('job', 1_000), null);
    clock.advance(985);
    assert.equal(lock.signal.aborted, false, 'still valid (1000 ms minus the drift allowance, 12 ms)');
    assert.equal(await b.tryAcquire('job', 1_000), null);
    clock.advance(14);
    assert.equal(lock.signal.aborted, true, 'the client stopped trusting it');
    assert.equal(await b.tryAcquire('job', 1_000), null, 'the node still holds the lease, to the ms');
    clock.advance(2);
    const next = await b.tryAcquire('job', 1_000);
    assert.ok(next !== null && next.fencingToken > lock.fencingToken, 'the lease ended on the node');
  });

  test('three MemoryNodes, one flushed: it answers notReady, grants go on with the others, and it is repaired after maxTtl', async () => {
    const clock = new FakeClock();
    const nodes = [new MemoryNode({ clock }), new MemoryNode({ clock }), new MemoryNode({ clock })];
    const redlock = new Redlock(nodes, { clock, maxTtl: 2_000 });
    const repaired: RepairReport[] = [];
    redlock.on('repaired', (report) => repaired.push(report));
    const first = await redlock.acquire(['a', 'b'], 1_000);
    await first.release();
    nodes[1]?.flush();
    assert.deepEqual(
      (await redlock.inspect()).map((s) => (typeof s.ready === 'string' ? 'ready' : s.ready)),
      ['ready', null, 'ready'],
    );
    const second = await redlock.acquire(['a', 'b'], 1_000);
    assert.ok(second.fencingToken > first.fencingToken, 'granted by the other two');
    await second.release();
    // The repair copies the counters at once, then waits out maxTtl (+ drift) on the clock.
    let advanced = 0;
    while (repaired.length === 0) {
      assert.ok(advanced < 10_000, 'repaired within 10 s of the clock');
      clock.advance(100);
      advanced += 100;
      for (let i = 0; i < 20; i += 1) await turn();
    }
    assert.ok(advanced >= 2_000, `waited maxTtl: ${advanced} ms`);
    assert.equal(repaired[0]?.node, nodes[1]?.name);
    assert.equal(repaired[0]?.counters, 2);
    const states = await redlock.inspect();
    assert.deepEqual(states.map((s) => typeof s.ready), ['string', 'string', 'string']);
    assert.deepEqual(states.map((s) => s.counters), [2, 2, 2]);
    const third = await redlock.acquire(['a', 'b'], 1_000);
    assert.ok(third.fencingToken > second.fencingToken);
    await third.release();
  });
});

describe('Lock renewal options on MemoryNodes and a fake clock', () => {
  const setup = () => {
    const clock = new FakeClock();
    const node = new MemoryNode({ clock });
    return { clock, node, redlock: new Redlock([node], { clock }), other: new Redlock([node], { clock }) };
  };

  test('refreshInterval extends to the TTL until released; safetyMargin ends validity that much earlier', async () => {
    const { clock, redlock, other } = setup();
    let extended = 0;
    redlock.on('extended', () => (extended += 1));
    const lock = await redlock.acquire('r', 1_000, { refreshInterval: 300, safetyMargin: 200 });
    assert.equal(lock.remainingMs(), 1_000 - 12 - 200, 'ttl − drift − margin');
    for (let i = 1; i <= 10; i += 1) {
      clock.advance(300);
      await until(() => extended === i, `refresh ${i}`);
    }
    assert.equal(lock.signal.aborted, false, 'kept for 3 s with a 1 s ttl');
    assert.equal(await other.tryAcquire('r', 1_000), null);
    await lock.release();
    clock.advance(1_000);
    assert.equal(extended, 10, 'no refresh after release');
    assert.ok(await other.tryAcquire('r', 1_000));
  });

  test('an extension whose reply comes after the validity ran out does not bring the lock back', async () => {
    const { clock, redlock } = setup();
    const lock = await redlock.acquire('r', 1_000);
    clock.advance(900); // 88 ms of validity left
    const extending = lock.extend(1_000);
    clock.jump(100); // the reply is handled after the old validity ran out, well within the new one
    await assert.rejects(extending, (e: unknown) => e instanceof LockLostError && e.reason === 'expired');
    assert.equal(lock.remainingMs(), 0);
    assert.equal(lock.signal.aborted, true);
    await assert.rejects(lock.extend(1_000), LockExpiredError);
  });

  test('abandon(): renewals stop and the signal aborts, but the lease stays on the nodes until it runs out', async () => {
    const { clock, redlock, other } = setup();
    let extended = 0;
    redlock.on('extended', () => (extended += 1));
    const lock = await redlock.acquire('r', 1_000, { refreshInterval: 300 });
    lock.abandon();
    assert.equal(lock.signal.aborted, true);
    assert.equal(lock.remainingMs(), 0);
    clock.advance(600);
    assert.equal(extended, 0, 'not renewed');
    assert.equal(await other.tryAcquire('r', 1_000), null, 'still held on the node');
    clock.advance(500);
    assert.ok(await other.tryAcquire('r', 1_000), 'the lease ran out');
  });

  test('bad refreshInterval or safetyMargin for the TTL are refused', async () => {
    const { redlock } = setup();
    await assert.rejects(redlock.acquire('r', 1_000, { safetyMargin: 988 }), /`safetyMargin` \(988\) to be below the validity/);
    await assert.rejects(redlock.acquire('r', 1_000, { safetyMargin: 500, refreshInterval: 488 }), /`refreshInterval` \(488\) to be shorter/);
    await assert.rejects(redlock.acquire('r', 1_000, { refreshInterval: -1 }), InvalidOptionsError);
  });
});
