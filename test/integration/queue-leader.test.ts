import assert from 'node:assert/strict';
import { test } from 'node:test';
import calculateSlot from 'cluster-key-slot';
import { type Queue, type QueueOptions } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { next, useQueues } from '../support/queue.js';
import { startRedisCluster } from '../support/redis-cluster.js';

// Queue `horizontalScaling: true` (bun-queue's leader election): the Queue instances of one queue
// elect a leader with a LeaderElection and emit 'leader' / 'follower'; close() resigns, and another
// instance takes over. On real redis-servers: the queue's own connection, a 3-node Redlock, and a
// real Redis Cluster as the queue's connection.
const env = useCluster(3);
const q = useQueues();
const url = (): string => env.cluster.urls[0] ?? '';
const T = { timeout: 30_000 };

/** Two instances of one queue: the first leads, the second follows; closing the leader hands over. */
async function handOver(a: Queue, b: Queue, term: bigint): Promise<void> {
  assert.equal(typeof term, 'bigint');
  assert.equal(a.isLeader, true);
  assert.equal(a.election?.term, term);
  assert.equal((await next<[string]>(b, 'follower'))[0], 'not-elected');
  assert.equal(b.isLeader, false);
  assert.deepEqual(await b.election?.leader(), { id: a.election?.id, term });

  const aFollows = next<[string]>(a, 'follower');
  const closed = performance.now();
  const taking = next<[bigint]>(b, 'leader');
  await a.close();
  assert.equal((await aFollows)[0], 'stopped');
  assert.equal(a.isLeader, false);
  const [next_] = await taking;
  assert.ok(performance.now() - closed < 5_000, 'the follower takes the seat soon after the leader resigned (woken by the release, not its 15 s ttl)');
  assert.ok(next_ > term, `the new term ${next_} is larger than the old ${term}`);
  assert.equal(b.isLeader, true);
}

test('horizontalScaling on the queue connection: one leader, the other follows; closing the leader hands over', T, async () => {
  const name = q.name();
  const a = q.queue(name, { connection: url(), horizontalScaling: true });
  const [term] = await next<[bigint]>(a, 'leader');
  const b = q.queue(name, { connection: url(), horizontalScaling: true });
  await handOver(a, b, term);
});

test('horizontalScaling with distributedLock: the seat is a quorum lock on the queue\'s redlock', T, async () => {
  const name = q.name();
  const prefix = env.prefix();
  const options = (): QueueOptions => ({
    connection: url(),
    redlock: env.redlock({ prefix }),
    distributedLock: true,
    horizontalScaling: true,
  });
  const a = q.queue(name, options());
  const [term] = await next<[bigint]>(a, 'leader');
  const b = q.queue(name, options());
  await handOver(a, b, term);
  // The seat is on the quorum: every node holds the election's lock key (under the Redlock's prefix).
  const keys = await Promise.all(env.clients().map((c) => c.keys(`${prefix}*election*`)));
  assert.ok(keys.every((k) => k.length > 0), `each node has the seat: ${JSON.stringify(keys)}`);
});

test('without horizontalScaling a queue runs no election', T, async () => {
  const queue = q.queue(q.name(), { connection: url() });
  assert.equal(queue.election, undefined);
  assert.equal(queue.isLeader, false);
});

test('horizontalScaling on a Redis Cluster connection: one leader, hand-over; the seat\'s keys in one slot', { timeout: 90_000 }, async () => {
  const rc = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
  try {
    const name = q.name();
    const a = q.queue(name, { connection: rc.client(), horizontalScaling: true });
    const [term] = await next<[bigint]>(a, 'leader', () => true, 20_000);
    const b = q.queue(name, { connection: rc.client(), horizontalScaling: true });
    await handOver(a, b, term);
    // The seat's keys share one hash tag: all on one shard, none on the others.
    const seat = (await Promise.all(rc.ports.map((port) => rc.direct(port).keys(`*election:redfence:${name}*`)))).filter((keys) => keys.length > 0);
    assert.equal(seat.length, 1, `the seat's keys are on one shard: ${JSON.stringify(seat)}`);
    assert.equal(new Set(seat[0]?.map((key) => calculateSlot(key))).size, 1);
    await b.close();
  } finally {
    await rc.stop();
  }
});
