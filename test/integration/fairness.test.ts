import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { Lock, Redlock } from '../../src/index.js';
import { delay, since, untilQueued, useCluster } from '../support/cluster.js';

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
  const nodes = env.clients();
  const waiting: Promise<void>[] = [];
  for (const [i, [name, client]] of ([['b', b], ['c', c], ['d', d]] as const).entries()) {
    waiting.push(client.acquire('fifo', 5_000).then((lock) => holdThenRelease(name, lock)));
    await untilQueued(nodes, `${prefix}{fifo}:q`, i + 1); // arrive one after another
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
  const nodes = env.clients();
  const queue = `${prefix}{leave}:q`;
  const bWaits = b.acquire('leave', 5_000, { signal: giveUp.signal });
  await untilQueued(nodes, queue, 1);
  const cWaits = c.acquire('leave', 5_000);
  await untilQueued(nodes, queue, 2);
  giveUp.abort(new Error('b gave up'));
  await assert.rejects(bWaits, /b gave up/);
  await untilQueued(nodes, queue, 1); // b left
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
  // c's one attempt is its first call, on new connections: room for a loaded machine to answer
  // (a jump would be a grant whatever the bound).
  const c = env.redlock({ prefix, nodeTimeout: 1_000 });
  const held = await a.acquire('queue-jump', 5_000);
  const bWaits = b.acquire('queue-jump', 5_000);
  await untilQueued(env.clients(), `${prefix}{queue-jump}:q`);
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

/** Two clients on one prefix (initialised), the waiter polling only every 2 s: wake-ups decide. */
async function holderAndWaiter(resource: string) {
  const a = env.redlock();
  const prefix = a.settings.prefix;
  const b = env.redlock({ prefix, retryDelay: 2_000, retryJitter: 0 });
  // b waits once, so its wake-up channel is subscribed before the test proper.
  const warm = await a.acquire(`${resource}:warm`, 1_000);
  const bWarm = b.acquire(`${resource}:warm`, 1_000);
  await untilWaiting(a, `${resource}:warm`);
  await warm.release();
  await (await bWarm).release();
  const acquired: { attempts: number; slowPath: boolean }[] = [];
  b.on('acquired', (event) => acquired.push(event));
  const lk = `${prefix}{${resource}}:lk`;
  return { a, b, acquired, lk, fc: `${prefix}{${resource}}:fc`, q: `${prefix}{${resource}}:q` };
}

/**
 * Resolves once a waiter is queued for `resource` on every node and a wake-up channel is subscribed
 * on every node (the waiter can be told).
 */
async function untilWaiting(redlock: Redlock, resource: string): Promise<void> {
  const nodes = env.clients();
  const prefix = redlock.settings.prefix;
  await untilQueued(nodes, `${prefix}{${resource}}:q`);
  const deadline = performance.now() + 5_000;
  while ((await Promise.all(nodes.map((n) => n.pubsub('CHANNELS', `${prefix}wake:*`) as Promise<string[]>))).some((c) => c.length === 0)) {
    if (performance.now() > deadline) assert.fail('no wake-up channel subscribed on every node within 5 s');
    await delay(2);
  }
}

/** `a` takes `resource`, `b` starts waiting for it, then `a` releases: both locks, and the ms from
 * the release call to b's grant. */
async function handOff(a: Redlock, b: Redlock, resource: string) {
  const held = await a.acquire(resource, 5_000);
  const waiting = b.acquire(resource, 5_000);
  await untilWaiting(a, resource);
  const released = performance.now();
  await held.release();
  const lock = await waiting;
  return { held, lock, waited: since(released) };
}

test('a waiter is handed the lock on release, with a larger token and no round trip of its own', async () => {
  const nodes = env.clients();
  const { a, b, acquired, lk, q } = await holderAndWaiter('handed');
  const { held, lock, waited } = await handOff(a, b, 'handed');
  assert.ok(waited < 500, `b waited ${waited} ms after the release (retry delay 2000)`);
  assert.deepEqual(acquired, [{ resources: ['handed'], fencingToken: lock.fencingToken, attempts: 1, slowPath: false }], 'granted by the hand-over: only the queued attempt was made');
  assert.ok(lock.fencingToken > held.fencingToken);
  assert.ok(lock.remainingMs() > 4_000, `validity ${lock.remainingMs()} ms`);
  const values = await Promise.all(nodes.map((n) => n.get(lk)));
  assert.ok(values.filter((v) => v?.endsWith(':g')).length >= 3, `leases: ${values.join(', ')}`);
  await lock.extend(5_000);
  await lock.release();
  assert.deepEqual(await Promise.all(nodes.map((n) => n.exists(lk))), [0, 0, 0, 0, 0], 'released everywhere');
  assert.deepEqual(await Promise.all(nodes.map((n) => n.exists(q))), [0, 0, 0, 0, 0], 'the queues are empty');
});

test('hand-over grants that moved to different tokens take round 2 to the largest', async () => {
  const nodes = env.clients();
  const { a, b, acquired, fc, q } = await holderAndWaiter('handed-slow');
  const held = await a.acquire('handed-slow', 5_000);
  const waiting = b.acquire('handed-slow', 5_000);
  await untilQueued(nodes, q);
  // Nodes 0-2 ran ahead, each to another value (e.g. grants that failed elsewhere): whichever 3
  // hand-overs b hears first, they hold different tokens, so b raises the others to the largest.
  const ahead = held.fencingToken + 1_000_000_000n;
  await Promise.all(nodes.slice(0, 3).map((node, i) => node.set(fc, (ahead + BigInt(10 * i)).toString())));
  await held.release();
  const lock = await waiting;
  assert.ok(lock.fencingToken > ahead, `token ${lock.fencingToken} above the counters that ran ahead`);
  assert.deepEqual(acquired.map((e) => [e.attempts, e.slowPath]), [[1, true]]);
  const counters = await Promise.all(nodes.map((n) => n.get(fc)));
  assert.ok(counters.filter((c) => c === lock.fencingToken.toString()).length >= 3, `counters: ${counters.join(', ')}`);
  await lock.release();
});

test('a hand-over from fewer than a quorum of nodes falls back to an attempt', async () => {
  const nodes = env.clients();
  const { a, b, acquired, q } = await holderAndWaiter('handed-split');
  const held = await a.acquire('handed-split', 5_000);
  const waiting = b.acquire('handed-split', 5_000, { retryDelay: 100 });
  await untilQueued(nodes, q);
  // On 3 nodes another waiter (one that will never come back) is ahead of b for 300 ms.
  const qe = q.replace(/:q$/, ':qe');
  await Promise.all(
    nodes.slice(0, 3).map(async (n) => {
      const [seconds, micros] = await n.time();
      const now = Number(seconds) * 1000 + Number(micros) / 1000;
      await n.zadd(q, 0, 'ghost/1/0');
      await n.zadd(qe, now + 300, 'ghost/1/0');
    }),
  );
  await held.release();
  const lock = await waiting;
  assert.equal(acquired.length, 1);
  assert.ok((acquired[0]?.attempts ?? 0) >= 2, `attempts ${acquired[0]?.attempts}`);
  assert.ok(lock.fencingToken > held.fencingToken);
  await lock.release();
});

test('wake-ups still arrive after the subscriber connections were dropped and came back', async () => {
  const nodes = env.clients();
  const { a, b, acquired } = await holderAndWaiter('resubscribed');
  await Promise.all(nodes.map((n) => n.client('KILL', 'TYPE', 'pubsub')));
  // ioredis reconnects, and redfence subscribes again on 'ready' (handOff waits for the channel).
  const { lock, waited } = await handOff(a, b, 'resubscribed');
  await lock.release();
  assert.ok(waited < 1_000, `b waited ${waited} ms after the release (retry delay 2000)`);
  assert.deepEqual(acquired.map((e) => e.attempts), [1], 'handed over, no second attempt');
});

test('a prefix with spaces still reaches the waiter (the wake channel travels last in the script arguments)', async () => {
  const prefix = `with space ${Date.now()}:`;
  const a = env.redlock({ prefix });
  const b = env.redlock({ prefix, retryDelay: 2_000, retryJitter: 0 });
  const { held, lock, waited } = await handOff(a, b, 'spaced');
  assert.ok(waited < 1_000, `b waited ${waited} ms after the release (retry delay 2000)`);
  assert.ok(lock.fencingToken > held.fencingToken);
  await lock.release();
});
