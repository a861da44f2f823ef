import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Renewer } from '../../src/redlock/renewer.js';
import { FakeClock } from '../support/fake-clock.js';

// The one renewal loop (using()'s auto-extension and keepAlive run on it), on a fake clock.
const settled = () => new Promise((resolve) => setImmediate(resolve));

test('renews when the policy says, one renewal at a time, until there is nothing left', async () => {
  const clock = new FakeClock();
  const at: number[] = [];
  let left = 3;
  let finish: (() => void) | undefined;
  const renewer = new Renewer(clock, {
    next: () => (left > 0 ? 100 : undefined),
    renew: () =>
      new Promise<void>((resolve) => {
        at.push(clock.now());
        left -= 1;
        finish = resolve;
      }),
    failed: () => assert.fail('no failure expected'),
  }).start();
  clock.advance(99);
  assert.deepEqual(at, []);
  clock.advance(1);
  assert.deepEqual(at, [1_100]);
  clock.advance(500); // the renewal is still under way: nothing else is planned
  assert.equal(clock.pending, 0);
  assert.equal(at.length, 1);
  finish?.();
  await settled();
  clock.advance(100);
  finish?.();
  await settled();
  clock.advance(100);
  finish?.();
  await settled();
  assert.deepEqual(at, [1_100, 1_700, 1_800]);
  assert.equal(clock.pending, 0, 'nothing left to renew: no timer');
  renewer.stop();
});

test('a failed renewal stops the loop and is reported once; stop() ends it quietly', async () => {
  const clock = new FakeClock();
  const failures: unknown[] = [];
  let renewals = 0;
  new Renewer(clock, {
    next: () => 50,
    renew: () => {
      renewals += 1;
      return Promise.reject(new Error('no quorum'));
    },
    failed: (error) => failures.push(error),
  }).start();
  clock.advance(50);
  await settled();
  clock.advance(500);
  await settled();
  assert.equal(renewals, 1);
  assert.equal(failures.length, 1);
  assert.match(String(failures[0]), /no quorum/);

  let quiet = 0;
  const stopped = new Renewer(clock, { next: () => 50, renew: async () => void (quiet += 1), failed: () => assert.fail('stopped') }).start();
  stopped.stop();
  clock.advance(500);
  await settled();
  assert.equal(quiet, 0);
  assert.equal(clock.pending, 0);
});

test('reschedule() plans the next renewal from now (after an extension from outside)', async () => {
  const clock = new FakeClock();
  const at: number[] = [];
  let delay = 100;
  const renewer = new Renewer(clock, { next: () => delay, renew: async () => void at.push(clock.now()), failed: () => undefined }).start();
  clock.advance(60);
  delay = 200;
  renewer.reschedule();
  clock.advance(100);
  assert.deepEqual(at, [], 'the old plan (at 100) is gone');
  clock.advance(100);
  assert.deepEqual(at, [1_260]);
  renewer.stop();
  await settled();
});
