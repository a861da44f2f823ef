import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LockExpiredError, LockLostError } from '../../src/index.js';
import { Lock, type LockHost } from '../../src/redlock/lock.js';
import { checkTtl, driftMs, redlockDefaults, validUntil } from '../../src/redlock/redlock-options.js';
import { FakeClock } from '../support/fake-clock.js';

describe('validity arithmetic', () => {
  test('validity = ttl − elapsed − (ttl × driftFactor + 2 ms), from the start of the round', () => {
    assert.equal(driftMs(10_000, 0.01), 102);
    assert.equal(validUntil(1_000, 10_000, 0.01), 1_000 + 10_000 - 102);
    assert.equal(validUntil(0, 1_000, 0), 998);
    assert.equal(validUntil(50, 200, 0.5), 50 + 200 - 102);
  });

  test('a TTL no longer than its drift allowance is refused', () => {
    assert.throws(() => checkTtl(2, redlockDefaults), /drift allowance/);
    assert.equal(checkTtl(3, redlockDefaults), 3);
    assert.throws(() => checkTtl(4, { ...redlockDefaults, driftFactor: 0.5 }), /drift allowance/);
    assert.equal(checkTtl(5, { ...redlockDefaults, driftFactor: 0.5 }), 5);
  });
});

function fakeHost(
  clock: FakeClock,
  extendTo?: () => number,
): LockHost & { lost: LockLostError[]; released: number; renewals: number[] } {
  const host = {
    clock,
    lost: [] as LockLostError[],
    released: 0,
    renewals: [] as number[],
    extendLock: async () => {
      if (extendTo === undefined) throw new LockLostError(['r'], 'extendFailed', 'no quorum');
      const until = extendTo();
      return { until, deadline: until };
    },
    renewLock: async (_: Lock, leaseMs: number) => {
      host.renewals.push(leaseMs);
      if (extendTo === undefined) throw new LockLostError(['r'], 'extendFailed', 'no quorum');
      return clock.now() + leaseMs - 2;
    },
    releaseLock: async () => {
      host.released += 1;
    },
    lockLost: (_: Lock, error: LockLostError) => host.lost.push(error),
    lockAbandoned: () => undefined,
  };
  return host;
}

describe('Lock on a fake clock', () => {
  test('remainingMs counts down on the monotonic clock and the signal aborts at validity end', () => {
    const clock = new FakeClock();
    const host = fakeHost(clock);
    const until = validUntil(clock.now(), 1_000, 0.01);
    const lock = new Lock(host, ['r'], 7n, 1_000, { until, deadline: until });
    assert.equal(lock.remainingMs(), 1_000 - 12);
    clock.advance(500);
    assert.equal(lock.remainingMs(), 488);
    assert.equal(lock.signal.aborted, false);
    clock.advance(487);
    assert.equal(lock.signal.aborted, false);
    clock.advance(1);
    assert.equal(lock.signal.aborted, true);
    assert.ok(lock.signal.reason instanceof LockLostError);
    assert.equal((lock.signal.reason).reason, 'expired');
    assert.equal(lock.remainingMs(), 0);
    assert.equal(host.lost.length, 1);
  });

  test('a successful extend moves the expiry timer; a failed one aborts the signal', async () => {
    const clock = new FakeClock();
    let until = 0;
    const host = fakeHost(clock, () => until);
    const lock = new Lock(host, ['r'], 7n, 1_000, { until: clock.now() + 900, deadline: clock.now() + 900 });
    clock.advance(800);
    until = clock.now() + 900;
    await lock.extend();
    clock.advance(800);
    assert.equal(lock.signal.aborted, false, 'the old expiry no longer applies');
    assert.equal(clock.pending, 1, 'one expiry timer, not two');
    clock.advance(101);
    assert.equal(lock.signal.aborted, true);
    await assert.rejects(lock.extend(), LockExpiredError);

    const failing = new Lock(fakeHost(clock), ['r'], 8n, 1_000, { until: clock.now() + 900, deadline: clock.now() + 900 });
    await assert.rejects(failing.extend(), LockLostError);
    assert.equal(failing.signal.aborted, true);
    assert.equal(clock.pending, 0, 'no timer left behind');
  });

  test('release is idempotent, aborts the signal with reason released, and clears the timer', async () => {
    const clock = new FakeClock();
    const host = fakeHost(clock);
    const lock = new Lock(host, ['r'], 1n, 1_000, { until: clock.now() + 900, deadline: clock.now() + 900 });
    await Promise.all([lock.release(), lock.release()]);
    await lock[Symbol.asyncDispose]();
    lock[Symbol.dispose]();
    assert.equal(host.released, 1);
    assert.equal((lock.signal.reason as LockLostError).reason, 'released');
    assert.equal(host.lost.length, 0, 'a release is not a loss');
    assert.equal(clock.pending, 0);
    await assert.rejects(lock.extend(), (e: unknown) => e instanceof LockExpiredError && /released/.test(e.message));
  });

  test('keep-alive: the lease is renewed every third of it until the TTL ends; remainingMs is the lease', async () => {
    const clock = new FakeClock();
    const host = fakeHost(clock, () => 0);
    const start = clock.now();
    const lock = new Lock(host, ['r'], 3n, 10_000, { until: start + 990, deadline: start + 9_898 }, { keepAliveMs: 1_000 });
    assert.ok(lock.remainingMs() <= 990);
    assert.equal(lock.ttlRemainingMs(), 9_898);
    for (let i = 0; i < 40; i += 1) {
      clock.advance(100);
      await Promise.resolve(); // let a renewal settle
      await Promise.resolve();
    }
    assert.equal(lock.signal.aborted, false, 'kept alive');
    assert.ok(lock.remainingMs() > 600 && lock.remainingMs() <= 1_000, `remaining ${lock.remainingMs()}`);
    // Every 333 ms after the previous renewal settled (here, at the next 100 ms step): 10 in 4 s.
    assert.equal(host.renewals.length, 10, `renewals: ${host.renewals.length}`);
    assert.ok(host.renewals.every((ms) => ms === 1_000));
    for (let i = 0; i < 80; i += 1) {
      clock.advance(100);
      await Promise.resolve();
      await Promise.resolve();
    }
    assert.ok(host.renewals.length <= 30, 'no renewal past the TTL');
    assert.ok((host.renewals.at(-1) ?? 0) < 1_000, 'the last renewal stops at the TTL');
    assert.equal(lock.signal.aborted, true, 'the TTL ended');
    assert.equal((lock.signal.reason as LockLostError).reason, 'expired');
    assert.equal(clock.pending, 0);
  });

  test('keep-alive: a failed renewal loses the lock at once; release stops renewing', async () => {
    const clock = new FakeClock();
    const failing = fakeHost(clock);
    const lock = new Lock(failing, ['r'], 4n, 10_000, { until: clock.now() + 990, deadline: clock.now() + 9_898 }, { keepAliveMs: 1_000 });
    clock.advance(334);
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(failing.renewals.length, 1);
    assert.equal(lock.remainingMs(), 0);
    assert.equal(failing.lost[0]?.reason, 'extendFailed');

    const host = fakeHost(clock, () => 0);
    const released = new Lock(host, ['r'], 5n, 10_000, { until: clock.now() + 990, deadline: clock.now() + 9_898 }, { keepAliveMs: 1_000 });
    await released.release();
    clock.advance(5_000);
    assert.equal(host.renewals.length, 0);
    assert.equal(clock.pending, 0);
  });
});
