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

function fakeHost(clock: FakeClock, extendTo?: () => number): LockHost & { lost: LockLostError[]; released: number } {
  const host = {
    clock,
    lost: [] as LockLostError[],
    released: 0,
    extendLock: async () => {
      if (extendTo === undefined) throw new LockLostError(['r'], 'extendFailed', 'no quorum');
      return extendTo();
    },
    releaseLock: async () => {
      host.released += 1;
    },
    lockLost: (_: Lock, error: LockLostError) => host.lost.push(error),
  };
  return host;
}

describe('Lock on a fake clock', () => {
  test('remainingMs counts down on the monotonic clock and the signal aborts at validity end', () => {
    const clock = new FakeClock();
    const host = fakeHost(clock);
    const lock = new Lock(host, ['r'], 7n, 1_000, validUntil(clock.now(), 1_000, 0.01));
    assert.equal(lock.remainingMs(), 1_000 - 12);
    clock.advance(500);
    assert.equal(lock.remainingMs(), 488);
    assert.equal(lock.signal.aborted, false);
    clock.advance(487);
    assert.equal(lock.signal.aborted, false);
    clock.advance(1);
    assert.equal(lock.signal.aborted, true);
    assert.ok(lock.signal.reason instanceof LockLostError);
    assert.equal((lock.signal.reason as LockLostError).reason, 'expired');
    assert.equal(lock.remainingMs(), 0);
    assert.equal(host.lost.length, 1);
  });

  test('a successful extend moves the expiry timer; a failed one aborts the signal', async () => {
    const clock = new FakeClock();
    let until = 0;
    const host = fakeHost(clock, () => until);
    const lock = new Lock(host, ['r'], 7n, 1_000, clock.now() + 900);
    clock.advance(800);
    until = clock.now() + 900;
    await lock.extend();
    clock.advance(800);
    assert.equal(lock.signal.aborted, false, 'the old expiry no longer applies');
    assert.equal(clock.pending, 1, 'one expiry timer, not two');
    clock.advance(101);
    assert.equal(lock.signal.aborted, true);
    await assert.rejects(lock.extend(), LockExpiredError);

    const failing = new Lock(fakeHost(clock), ['r'], 8n, 1_000, clock.now() + 900);
    await assert.rejects(failing.extend(), LockLostError);
    assert.equal(failing.signal.aborted, true);
    assert.equal(clock.pending, 0, 'no timer left behind');
  });

  test('release is idempotent, aborts the signal with reason released, and clears the timer', async () => {
    const clock = new FakeClock();
    const host = fakeHost(clock);
    const lock = new Lock(host, ['r'], 1n, 1_000, clock.now() + 900);
    await Promise.all([lock.release(), lock.release()]);
    await lock[Symbol.asyncDispose]();
    lock[Symbol.dispose]();
    assert.equal(host.released, 1);
    assert.equal((lock.signal.reason as LockLostError).reason, 'released');
    assert.equal(host.lost.length, 0, 'a release is not a loss');
    assert.equal(clock.pending, 0);
    await assert.rejects(lock.extend(), (e: unknown) => e instanceof LockExpiredError && /released/.test(e.message));
  });
});
