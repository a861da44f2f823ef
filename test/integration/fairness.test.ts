import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { Lock } from '../../src/index.js';
import { delay, since, useCluster } from '../support/cluster.js';

const env = useCluster(5);
afterEach(() => env.heal());

test('waiters are served in arrival order, and the releasing client queues behind them', async () => {
  const a = env.redlock();
  const prefix = a.settings.prefix;
  const [b, c, d] = [env.redlock({ prefix }), env.redlock({ prefix }), env.redlock({ prefix })];
  const order: string[] = [];
  const holdThenRelease = async (name: string, lock: Lock) => {
    order.push(name);
    await delay(30);
    await lock.release();
  };
  const first = await a.acquire('fifo', 5_000);
  const waiting: Promise<void>[] = [];
  for (const [name, client] of [['b', b], ['c', c], ['d', d]] as const) {
    waiting.push(client.acquire('fifo', 5_000).then((lock) => holdThenRelease(name, lock)));
    await delay(40); // arrive one after another
  }
  await first.release();
  // The releasing client comes straight back: it must queue behind b, c and d.
  waiting.push(a.acquire('fifo', 5_000).then((lock) => holdThenRelease('a', lock)));
  await Promise.all(waiting);
  assert.deepEqual(order, ['b', 'c', 'd', 'a']);
});

test('a waiter that gives up leaves the queue, and the next one is served at once', async () => {
  const a = env.redlock();
  const prefix = a.settings.prefix;
  const b = env.redlock({ prefix });
  const c = env.redlock({ prefix, retryDelay: 2_000, retryJitter: 0 });
  const held = await a.acquire('leave', 5_000);
  const giveUp = new AbortController();
  const bWaits = b.acquire('leave', 5_000, { signal: giveUp.signal });
  await delay(40);
  const cWaits = c.acquire('leave', 5_000);
  await delay(40);
  giveUp.abort(new Error('b gave up'));
  await assert.rejects(bWaits, /b gave up/);
  await delay(50);
  const released = performance.now();
  await held.release();
  const next = await cWaits;
  assert.ok(since(released) < 500, `c waited ${since(released)} ms after the release (retry delay 2000)`);
  await next.release();
});

test('tryAcquire does not jump the queue', async () => {
  const a = env.redlock();
  const prefix = a.settings.prefix;
  const b = env.redlock({ prefix });
  const c = env.redlock({ prefix });
  const held = await a.acquire('queue-jump', 5_000);
  const bWaits = b.acquire('queue-jump', 5_000);
  await delay(50);
  await held.release();
  // b was woken and owns the turn; c arriving now is refused even if the lease is momentarily free.
  const jumped = await c.tryAcquire('queue-jump', 1_000);
  const bLock = await bWaits;
  if (jumped !== null) {
    await jumped.release();
    assert.fail('tryAcquire took the lock ahead of a queued waiter');
  }
  await bLock.release();
});

test('under contention every client gets a fair share, with no failures and no re-grabs', async () => {
  const first = env.redlock();
  const clients = [first, ...Array.from({ length: 3 }, () => env.redlock({ prefix: first.settings.prefix }))];
  // Initialise the new prefix first, so the clients do not race to bootstrap it.
  await first.acquire('warm', 1_000).then((lock) => lock.release());
  const counts = clients.map(() => 0);
  let failures = 0;
  let regrabs = 0;
  let last = -1;
  const end = performance.now() + 1_500;
  await Promise.all(
    clients.map(async (client, i) => {
      while (performance.now() < end) {
        try {
          const lock = await client.acquire('hot', 2_000);
          if (last === i) regrabs += 1;
          last = i;
          counts[i] = (counts[i] ?? 0) + 1;
          await delay(3);
          await lock.release();
        } catch {
          failures += 1;
        }
      }
    }),
  );
  const total = counts.reduce((x, y) => x + y, 0);
  const jain = total ** 2 / (counts.length * counts.reduce((x, y) => x + y * y, 0));
  assert.equal(failures, 0);
  assert.ok(total >= 40, `only ${total} grants`);
  assert.ok(jain >= 0.95, `Jain ${jain.toFixed(3)} for ${counts.join(', ')}`);
  assert.ok(regrabs <= total * 0.05, `${regrabs} re-grabs in ${total} grants`);
});
