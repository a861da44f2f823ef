import assert from 'node:assert/strict';
import { test } from 'node:test';
import calculateSlot from 'cluster-key-slot';
import { type Job, Redlock, StaleTokenError } from '../../src/index.js';
import { useRedisClusterWithStandalones } from '../support/redis-cluster.js';
import { collect, next, useQueues } from '../support/queue.js';

// A queue stored on a real sharded Redis Cluster (3 masters, joined by redis-cli --cluster create):
// every key of a queue carries one hash tag, so each script runs on the one shard that owns it.
const q = useQueues();
const env = useRedisClusterWithStandalones({ masters: 3, replicasPerMaster: 0 });
const { cluster, closers } = env;

test('on a Cluster: add, process, events, counts and obliterate; all keys in one slot', { timeout: 60_000 }, async () => {
  const name = q.name();
  const connection = cluster().client();
  const queue = q.queue(name, { connection });
  const events = await q.events(name, connection);
  const worker = q.worker(name, async (job) => {
    await job.updateProgress(1);
    if (job.name === 'bad') throw new Error('bad');
    return (job.data as number) + 1;
  }, { connection, concurrency: 4 });
  const completed = collect<[Job, number]>(worker, 'completed', 20);
  const failed = next<[{ jobId: string }]>(events, 'failed');
  await queue.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: 'inc', data: i })));
  const bad = await queue.add('bad', 0, { attempts: 2 });
  const results = (await completed).map(([, r]) => r).sort((x, y) => x - y);
  assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i + 1));
  assert.equal((await failed)[0].jobId, bad.id);
  const delayed = await queue.add('later', 0, { delay: 60_000 });
  assert.equal(await delayed.getState(), 'delayed');
  assert.deepEqual(await queue.getJobCounts('completed', 'failed', 'delayed'), { completed: 20, failed: 1, delayed: 1 });
  // Every key of the queue is on the one shard that owns its hash tag.
  const slot = calculateSlot(`{redfence:${name}}`);
  const { master } = await cluster().shardOf(slot);
  const keys = await cluster().direct(master.port).keys(`{redfence:${name}}:*`);
  assert.ok(keys.length > 20);
  for (const key of keys) assert.equal(calculateSlot(key), slot, key);
  await worker.close();
  await queue.obliterate();
  assert.deepEqual((await cluster().direct(master.port).keys(`{redfence:${name}}:*`)).sort(), [`{redfence:${name}}:fence`, `{redfence:${name}}:id`]);
});

test('on a Cluster with distributedLock: the quorum lock spans the Cluster and two standalone nodes; a stale completion is refused', { timeout: 60_000 }, async () => {
  const standalones = env.standalones();
  const name = q.name();
  const connection = cluster().client();
  const lockClient = cluster().client();
  const redlock = new Redlock([lockClient, ...standalones.urls], { prefix: `${name}:` });
  closers.push(() => redlock.quit());
  const options = { connection, redlock, distributedLock: true };
  const queue = q.queue(name, options);
  const manual = q.worker(name, null, options);
  await queue.add('j', { n: 1 });
  const a = await manual.getNextJob();
  assert.ok(a !== undefined && a.fencingToken > 0n);
  await a.releaseLock();
  const b = (await queue.getJob(a.id))!;
  assert.notEqual(await b.takeLock(), false);
  assert.ok(b.fencingToken > a.fencingToken);
  await assert.rejects(a.moveToCompleted('A'), StaleTokenError);
  await b.moveToCompleted('B');
  assert.equal((await queue.getJob(a.id))?.returnvalue, 'B');
});
