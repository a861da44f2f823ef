import assert from 'node:assert/strict';
import { test } from 'node:test';
import { luaScripts } from '../../src/generated/lua-scripts.js';
import { resourceKey, resourceKeys, wakePrefix } from '../../src/core/keys.js';
import { acquireArgs, leaveArgs, releaseArgs } from '../../src/nodes/redis/script-args.js';
import { runScript } from '../../src/nodes/redis/redis-node.js';
import { useCluster } from '../support/cluster.js';

// The scripts on one real node, below the Redlock: the cases a whole-cluster test cannot aim at.
const env = useCluster(1);
const FLOOR = '1000000';

function setup(resource = 'r') {
  const redis = env.clients()[0];
  assert.ok(redis);
  const prefix = env.prefix();
  const keys = resourceKeys(prefix, [resource]);
  const acquire = (owner: string, stayMs = 0, score = '1') =>
    runScript(redis, 'acquire', keys.locks, [acquireArgs(owner, 5_000, FLOOR, score, stayMs, 1)]) as Promise<
      [number, string | number]
    >;
  const release = (owner: string, quiet = false, floor = FLOOR) =>
    runScript(redis, 'release', keys.locks, [releaseArgs(owner, quiet, floor, wakePrefix(prefix))]);
  const leave = (ticket: string) => runScript(redis, 'leaveQueue', keys.locks, [leaveArgs(ticket, FLOOR, wakePrefix(prefix))]);
  /**
   * Messages on client `c`'s wake channel. `delivered()` resolves once everything published so far
   * has arrived: it publishes a marker after it (one server delivers a channel's messages in order).
   */
  const listen = async (client = 'c') => {
    const sub = redis.duplicate();
    const channel = `${wakePrefix(prefix)}${client}`;
    const messages: string[] = [];
    let marker: (() => void) | undefined;
    sub.on('message', (_: string, m: string) => {
      if (m === DELIVERED) marker?.();
      else messages.push(m);
    });
    await sub.subscribe(channel);
    const delivered = async (): Promise<void> => {
      const arrived = new Promise<void>((resolve) => (marker = resolve));
      await redis.publish(channel, DELIVERED);
      await arrived;
    };
    return { messages, delivered, [Symbol.dispose]: () => sub.disconnect() };
  };
  return { redis, keys, queue: resourceKey(prefix, resource, 'q'), acquire, release, leave, listen };
}
const DELIVERED = '<delivered>';

test('a later attempt of the same acquire takes over what an earlier attempt left; others are blocked', async () => {
  const { redis, keys, acquire } = setup();
  await redis.set(keys.locks[0] ?? '', 'c/1/0:1', 'PX', 5_000);
  assert.deepEqual((await acquire('c/2/0:1')).slice(0, 2), [0, 1], 'another acquire is blocked');
  const [locked, token] = await acquire('c/1/0:2');
  assert.equal(locked, 1);
  assert.equal(token, FLOOR);
  assert.equal(await redis.get(keys.locks[0] ?? ''), 'c/1/0:2');
});

test('the head of the queue goes first; a quiet undo keeps the waiter queued and wakes nobody', async () => {
  const { redis, keys, queue, acquire, release, listen } = setup();
  using channel = await listen();
  assert.equal((await acquire('c/1/0:1'))[0], 1);
  assert.deepEqual((await acquire('c/2/0:1', 1_000, '10')).slice(0, 2), [0, 1], 'A queues');
  assert.deepEqual((await acquire('c/3/0:1', 1_000, '20')).slice(0, 2), [0, 1], 'B queues behind A');
  await release('c/1/0:1');
  await channel.delivered();
  assert.deepEqual(channel.messages, ['c/2/0|c/1/0:1|'], 'only the head is told (a reservation: no token)');
  assert.equal(await redis.get(keys.locks[0] ?? ''), 'c/2/0:handoff');
  assert.deepEqual((await acquire('c/3/0:2', 1_000, '20')).slice(0, 2), [0, 1], 'B may not jump ahead of A');
  assert.equal((await acquire('c/2/0:2', 1_000, '10'))[0], 1, 'A, the head, takes the reservation over');
  assert.deepEqual(await redis.zrange(queue, 0, -1), ['c/3/0'], 'A left the queue');
  await release('c/2/0:2', true);
  await channel.delivered();
  assert.equal(channel.messages.length, 1, 'a quiet undo wakes nobody');
  assert.equal((await acquire('c/3/0:3', 1_000, '20'))[0], 1);
});

test('a single-resource waiter is granted the lease on release, with the next token, and no round trip', async () => {
  const { redis, keys, queue, acquire, release, listen } = setup('grant');
  using channel = await listen();
  assert.deepEqual(await acquire('c/1/0:1'), [1, FLOOR]);
  assert.deepEqual((await acquire('c/2/7000:1', 1_000, '10')).slice(0, 2), [0, 1], 'A (one resource, TTL 7000) queues');
  await release('c/1/0:1', false, '900');
  await channel.delivered();
  const next = (BigInt(FLOOR) + 1n).toString();
  assert.deepEqual(channel.messages, [`c/2/7000|c/1/0:1|${next}`], 'the floor was lower: fc + 1');
  assert.equal(await redis.get(keys.locks[0] ?? ''), 'c/2/7000:g');
  const pttl = await redis.pttl(keys.locks[0] ?? '');
  assert.ok(pttl > 6_000 && pttl <= 7_000, `the lease runs for the waiter's TTL (${pttl} ms)`);
  assert.equal(await redis.get(keys.counters[0] ?? ''), next);
  // The lock's release deletes the hand-over lease too (any lease of its ticket), and leaves the queue.
  assert.equal(await release('c/2/7000:3'), 1);
  assert.equal(await redis.exists(keys.locks[0] ?? ''), 0);
  assert.equal(await redis.zcard(queue), 0);
  // A quiet undo deletes only its exact owner.
  await redis.set(keys.locks[0] ?? '', 'c/2/7000:g', 'PX', 5_000);
  assert.equal(await release('c/2/7000:3', true), 0);
  assert.equal(await redis.get(keys.locks[0] ?? ''), 'c/2/7000:g');
});

test('an expired ticket at the head no longer blocks, and leaving the queue wakes the next waiter', async () => {
  const { redis, keys, queue, acquire } = setup();
  assert.equal((await acquire('c/1/0:1'))[0], 1);
  assert.deepEqual((await acquire('c/2/0:1', 5_000, '10')).slice(0, 2), [0, 1]);
  assert.deepEqual((await acquire('c/3/0:1', 5_000, '20')).slice(0, 2), [0, 1]);
  await redis.del(keys.locks[0] ?? '');
  assert.deepEqual((await acquire('c/3/0:2', 5_000, '20')).slice(0, 2), [0, 1], 'A is still the head');
  await redis.zadd(`${queue}e`, '1', 'c/2/0'); // A's place ran out (A crashed)
  assert.equal((await acquire('c/3/0:3', 5_000, '20'))[0], 1, 'A expired: B goes');

  const other = setup('s');
  using channel = await other.listen();
  await other.acquire('c/1/0:1', 5_000, '1');
  await other.acquire('c/2/0:1', 5_000, '10');
  await other.acquire('c/3/0:1', 5_000, '20');
  await other.release('c/1/0:1');
  assert.equal(await redis.get(other.keys.locks[0] ?? ''), 'c/2/0:handoff');
  assert.equal(await other.leave('c/2/0'), 1);
  await channel.delivered();
  assert.deepEqual(channel.messages, ['c/2/0|c/1/0:1|', 'c/3/0||'], 'the leaver gave its reservation back; the new head is told at once');
  assert.equal(await redis.get(other.keys.locks[0] ?? ''), 'c/3/0:handoff');
});

test('counters ahead of the floor: every key of a grant moves to the largest + 1, exactly', async () => {
  const redis = env.clients()[0];
  assert.ok(redis);
  const keys = resourceKeys(env.prefix(), ['m1', 'm2', 'm3']);
  await redis.set(keys.counters[0] ?? '', '9007199254740993'); // past 2^53: a double would round it
  await redis.set(keys.counters[2] ?? '', '5');
  const reply = await runScript(redis, 'acquire', keys.locks, [acquireArgs('c/1/0:1', 5_000, FLOOR, '1', 0, 1)]);
  assert.deepEqual(reply, [1, '9007199254740994']);
  assert.deepEqual(await redis.mget(...keys.counters), ['9007199254740994', '9007199254740994', '9007199254740994']);
  // Below the floor again (all three): one SET … GET each, and the floor is the value.
  const fresh = resourceKeys(env.prefix(), ['f1', 'f2']);
  assert.deepEqual(await runScript(redis, 'acquire', fresh.locks, [acquireArgs('c/2/0:1', 5_000, FLOOR, '1', 0, 1)]), [1, FLOOR]);
  assert.deepEqual(await redis.mget(...fresh.counters), [FLOOR, FLOOR]);
  // One resource (the fast path of acquire.lua): the same rules, and a replayed attempt gets its token back.
  const one = resourceKeys(env.prefix(), ['s1']);
  await redis.set(one.counters[0] ?? '', '9007199254740993');
  const args = [acquireArgs('c/3/5000:1', 5_000, FLOOR, '1', 0, 1)];
  assert.deepEqual(await runScript(redis, 'acquire', one.locks, args), [1, '9007199254740994']);
  assert.deepEqual(await runScript(redis, 'acquire', one.locks, args), [1, '9007199254740994'], 'replayed');
  assert.equal(await redis.get(one.counters[0] ?? ''), '9007199254740994');
  assert.deepEqual(
    await runScript(redis, 'acquire', one.locks, [acquireArgs('c/4/5000:1', 5_000, FLOOR, '1', 0, 1)]),
    [0, 1, '9007199254740994'],
    'held, with the counter as it is now',
  );
  assert.equal(await redis.get(one.locks[0] ?? ''), 'c/3/5000:1');
});

test('after SCRIPT FLUSH (a restarted node) the scripts are loaded again', async () => {
  const { redis, acquire } = setup();
  await redis.script('FLUSH');
  const [locked] = await acquire('F:1');
  assert.equal(locked, 1);
  assert.deepEqual(await redis.script('EXISTS', luaScripts.acquire.sha1), [1]);
});

test('however many dead tickets lead the queue, a release hands the lease to the first live one', async () => {
  const { redis, keys, queue, acquire, release, listen } = setup('dead');
  using channel = await listen();
  assert.equal((await acquire('c/1/0:1'))[0], 1);
  // 40 waiters that crashed (their places expired long ago), ahead of one that is alive.
  for (let i = 0; i < 40; i += 1) {
    await redis.zadd(queue, String(10 + i), `c/dead${i}/5000`);
    await redis.zadd(`${queue}e`, '1', `c/dead${i}/5000`);
  }
  assert.deepEqual((await acquire('c/live/5000:1', 5_000, '100')).slice(0, 2), [0, 1], 'the live waiter queues last');
  await release('c/1/0:1');
  await channel.delivered();
  assert.equal(await redis.get(keys.locks[0] ?? ''), 'c/live/5000:g', 'the live waiter got the lease');
  assert.equal(channel.messages.length, 1);
  assert.match(channel.messages[0] ?? '', /^c\/live\/5000\|/);
  assert.deepEqual(await redis.zrange(queue, 0, -1), ['c/live/5000'], 'every dead ticket was dropped');
});

test("a waiter's place is its clock's arrival time, kept within 1 s of the node's clock", async () => {
  const { redis, queue, acquire } = setup('skew');
  assert.equal((await acquire('c/1/0:1'))[0], 1);
  const [seconds, micros] = await redis.time();
  const server = BigInt(seconds ?? 0) * 1_000_000n + BigInt(micros ?? 0);
  const far = (server - 3_600_000_000n).toString(); // an hour behind
  await acquire('c/behind/0:1', 5_000, far);
  await acquire('c/ahead/0:1', 5_000, (server + 3_600_000_000n).toString());
  const places = await redis.zrange(queue, 0, -1, 'WITHSCORES');
  const behind = BigInt(places[1] ?? '0');
  const ahead = BigInt(places[3] ?? '0');
  assert.equal(places[0], 'c/behind/0');
  assert.ok(behind >= server - 1_000_000n && behind < server, `queued ${server - behind} µs early, at most 1 s`);
  assert.ok(ahead > server && ahead <= server + 1_100_000n, `queued ${ahead - server} µs late, at most 1 s`);
});

test('a waiter granted the lease on release keeps its place no longer than the lease', async () => {
  const { redis, queue, acquire, release } = setup('place');
  assert.equal((await acquire('c/1/0:1'))[0], 1);
  // A waiter for 300 ms leases whose place would last a minute, and one behind it.
  await acquire('c/2/300:1', 60_000, '10');
  await acquire('c/3/300:1', 60_000, '20');
  await release('c/1/0:1');
  const [seconds] = await redis.time();
  const place = Number(await redis.zscore(`${queue}e`, 'c/2/300'));
  const nowMs = Number(seconds) * 1_000;
  assert.ok(place <= nowMs + 1_000 + 300, `place ends ${place - nowMs} ms from now, with the 300 ms lease`);
  assert.ok(Number(await redis.zscore(`${queue}e`, 'c/3/300')) > nowMs + 50_000, 'the next waiter keeps its place');
});
