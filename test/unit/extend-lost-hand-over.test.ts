/**
 * Chaos S2 seed 6 (k1, p2/0 → p0/1): a failed extension hands the lock to the next waiter BEFORE the
 * holder's Lock is ended. LockRounds.extend (src/redlock/lock-rounds.ts, failure path) sends a
 * non-quiet release (release.lua → handOver: the queue head gets `<ticket>:g` and a token, and is
 * told so on its wake channel) and only then throws; Lock.extend marks the lock lost (signal
 * aborts, remainingMs() 0) microtasks later. Between the two, the nodes have granted the lock to
 * the waiter while the holder's Lock still reports validity left and an unaborted signal. In the
 * chaos run the two clients were different processes and the holder's process was descheduled for
 * ~2 ms in that window: the waiter was granted 0.37 ms before the holder observed the loss.
 *
 * Deterministic: MemoryNodes on a fake clock. Node 2 answers H's extension "another owner" (what a
 * minority node whose lease went to another ticket answers; the run's cause is unknown, the
 * library's reaction is what matters). Nothing else is faked.
 */
import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { test } from 'node:test';
import {
  type AcquireReply,
  type AcquireRequest,
  type Done,
  type ExtendReply,
  type ExtendRequest,
  type Lock,
  LockLostError,
  MemoryNode,
  type ReleaseRequest,
  Redlock,
} from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';

interface Seen {
  what: string;
  holderRemainingMs: number;
  holderAborted: boolean;
}

let holder: Lock | undefined;
const seen: Seen[] = [];
const snap = (what: string): void => {
  if (holder === undefined) return;
  seen.push({ what, holderRemainingMs: holder.remainingMs(), holderAborted: holder.signal.aborted });
};

class SpyNode extends MemoryNode {
  acquires = 0;
  otherOwnerOnExtend = false;

  override acquire(request: AcquireRequest, done: Done<AcquireReply>): void {
    this.acquires += 1;
    super.acquire(request, done);
  }

  override extend(request: ExtendRequest, done: Done<ExtendReply>): void {
    if (this.otherOwnerOnExtend) {
      queueMicrotask(() => done(undefined, 'otherOwner'));
      return;
    }
    super.extend(request, done);
  }

  override release(request: ReleaseRequest, done: Done<number>): void {
    if (!request.quiet) snap(`${this.name}: non-quiet release of ${request.owner} sent`);
    super.release(request, done);
  }

  override subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    return super.subscribe(channel, (message) => {
      const token = message.split('|')[2] ?? '';
      if (token !== '') snap(`${this.name}: hand-over grant (token ${token}) delivered to the waiter`);
      onMessage(message);
    });
  }
}

async function until(ready: () => boolean, what: string, turns = 1_000): Promise<void> {
  for (let i = 0; i < turns; i += 1) {
    if (ready()) return;
    await turn();
  }
  assert.fail(`not reached: ${what}`);
}

test('a failed extend hands the lock to the waiter only after the holder is told it lost it', async () => {
  const clock = new FakeClock();
  const nodes = [0, 1, 2].map((i) => new SpyNode({ clock, name: `n${i}` }));
  const h = new Redlock(nodes, { clock, retryCount: 0 });
  const w = new Redlock(nodes, { clock, retryCount: 5, retryDelay: 10_000, retryJitter: 0 });
  const lock = await h.acquire('r', 1_000);
  holder = lock;
  let lostAt: Seen | undefined;
  lock.signal.addEventListener('abort', () => {
    lostAt = { what: 'holder observes the loss (signal abort)', holderRemainingMs: lock.remainingMs(), holderAborted: true };
    seen.push(lostAt);
  });

  // W starts waiting 300 ms into H's lease (so that its hand-over grant, counted from its first
  // attempt, still has more than half the TTL when it comes: the no-round-trip path of the run).
  clock.advance(300);
  // W waits in the nodes' queues: its first attempt, and one more right after it subscribed.
  const before = nodes.reduce((s, n) => s + n.acquires, 0);
  let granted: Lock | undefined;
  const waiting = w.acquire('r', 1_000).then((l) => {
    seen.push({ what: `waiter granted (token ${l.fencingToken})`, holderRemainingMs: lock.remainingMs(), holderAborted: lock.signal.aborted });
    granted = l;
    return l;
  });
  await until(() => nodes.reduce((s, n) => s + n.acquires, 0) >= before + 6, 'the waiter made two attempts on every node');

  // H extends with 400 ms of its 1 s still to go; a minority node reports another owner.
  clock.advance(300);
  assert.ok(lock.remainingMs() > 300);
  (nodes[2] as SpyNode).otherOwnerOnExtend = true;
  const extended = await lock.extend(1_000).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(extended instanceof LockLostError, 'the extension fails: LockLostError');
  const handed = await waiting;
  assert.ok(granted !== undefined && handed.fencingToken > lock.fencingToken);

  // The property: when the nodes hand the lock to someone else, the holder's Lock is already over.
  const early = seen.filter((s) => s.what !== lostAt?.what && s.holderRemainingMs > 0);
  assert.deepEqual(
    early.map((s) => s.what),
    [],
    'the lock was handed to the waiter (and the hand-over announced) while the holder still had validity and an unaborted signal',
  );
  await handed.release();
  await h.quit();
  await w.quit();
});
