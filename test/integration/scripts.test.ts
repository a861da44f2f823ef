import assert from 'node:assert/strict';
import { test } from 'node:test';
import { luaScripts } from '../../src/generated/lua-scripts.js';
import { resourceKeys } from '../../src/nodes/keys.js';
import { runScript } from '../../src/nodes/redis-node.js';
import { useCluster } from '../support/cluster.js';

// The scripts on one real node, below the Redlock: the cases a whole-cluster test cannot aim at.
const env = useCluster(1);
const FLOOR = '1000000';

function setup() {
  const redis = env.clients()[0];
  assert.ok(redis);
  const keys = resourceKeys(env.prefix(), ['r']);
  const acquire = (owner: string, stayMs = 0, score = '1') =>
    runScript(redis, 'acquire', keys.acquire, [owner, 5_000, FLOOR, score, stayMs]) as Promise<
      [number, string | number]
    >;
  const release = (owner: string, quiet = false) =>
    runScript(redis, 'release', keys.release, [owner, quiet ? '1' : '0']);
  return { redis, keys, acquire, release };
}

test('a later attempt of the same acquire takes over what an earlier attempt left; others are blocked', async () => {
  const { redis, keys, acquire } = setup();
  await redis.set(keys.locks[0] ?? '', 'T:1', 'PX', 5_000);
  assert.deepEqual(await acquire('U:1'), [0, 1], 'another acquire is blocked');
  const [locked, token] = await acquire('T:2');
  assert.equal(locked, 1);
  assert.equal(token, FLOOR);
  assert.equal(await redis.get(keys.locks[0] ?? ''), 'T:2');
});

test('the head of the queue goes first; a quiet undo keeps the waiter queued and wakes nobody', async () => {
  const { redis, keys, acquire, release } = setup();
  const sub = redis.duplicate();
  const messages: string[] = [];
  sub.on('message', (_: string, m: string) => messages.push(m));
  await sub.subscribe(keys.channels[0] ?? '');
  try {
    assert.equal((await acquire('H:1'))[0], 1);
    assert.deepEqual(await acquire('A:1', 1_000, '10'), [0, 1], 'A queues');
    assert.deepEqual(await acquire('B:1', 1_000, '20'), [0, 1], 'B queues behind A');
    await release('H:1');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(messages, ['A|H:1'], 'only the head is told');
    assert.deepEqual(await acquire('B:2', 1_000, '20'), [0, 1], 'B may not jump ahead of A');
    assert.equal((await acquire('A:2', 1_000, '10'))[0], 1, 'A, the head, gets it');
    assert.deepEqual(await redis.zrange(keys.acquire[2] ?? '', 0, -1), ['B'], 'A left the queue');
    await release('A:2', true);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(messages, ['A|H:1'], 'a quiet undo wakes nobody');
    assert.equal((await acquire('B:3', 1_000, '20'))[0], 1);
  } finally {
    sub.disconnect();
  }
});

test('an expired ticket at the head no longer blocks, and leaving the queue wakes the next waiter', async () => {
  const { redis, keys, acquire } = setup();
  assert.equal((await acquire('H:1'))[0], 1);
  assert.deepEqual(await acquire('A:1', 50, '10'), [0, 1]);
  assert.deepEqual(await acquire('B:1', 5_000, '20'), [0, 1]);
  await redis.del(keys.locks[0] ?? '');
  assert.deepEqual(await acquire('B:2', 5_000, '20'), [0, 1], 'A is still the head');
  await new Promise((r) => setTimeout(r, 80));
  assert.equal((await acquire('B:3', 5_000, '20'))[0], 1, 'A expired: B goes');

  const other = resourceKeys(env.prefix(), ['s']);
  const sub = redis.duplicate();
  const messages: string[] = [];
  sub.on('message', (_: string, m: string) => messages.push(m));
  await sub.subscribe(other.channels[0] ?? '');
  try {
    const run = (owner: string, score: string) =>
      runScript(redis, 'acquire', other.acquire, [owner, 5_000, FLOOR, score, 5_000]);
    await run('H:1', '1');
    await run('A:1', '10');
    await run('B:1', '20');
    await redis.del(other.locks[0] ?? '');
    assert.equal(await runScript(redis, 'leaveQueue', other.release, ['A']), 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(messages, ['B|'], 'the new head is told at once');
  } finally {
    sub.disconnect();
  }
});

test('after SCRIPT FLUSH (a restarted node) the scripts are loaded again', async () => {
  const { redis, acquire } = setup();
  await redis.script('FLUSH');
  const [locked] = await acquire('F:1');
  assert.equal(locked, 1);
  assert.deepEqual(await redis.script('EXISTS', luaScripts.acquire.sha1), [1]);
});
