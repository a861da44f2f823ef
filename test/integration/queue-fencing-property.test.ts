import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Job, RedisFence, StaleTokenError } from '../../src/index.js';
import { delay, useCluster } from '../support/cluster.js';
import { collect, useQueues } from '../support/queue.js';

// A property of fenced delivery, under load: three workers process jobs while a "nemesis" keeps
// taking jobs over from under them (their lock is deleted, as if it expired, and a takeover with
// a larger token writes and completes the job). Every write goes through a RedisFence keyed by
// the job. Whatever the interleaving: every job completes exactly once, the store holds the
// write of the delivery that completed it, and every takeover costs its victim exactly one
// refused (stale) result.
const env = useCluster(1);
const q = useQueues();
const url = (): string => env.cluster.urls[0] ?? '';
const JOBS = 120;

test('under takeovers: each job completes once, with the store holding the completing delivery\'s write', { timeout: 60_000 }, async () => {
  const name = q.name();
  const redis = env.clients()[0]!;
  const fence = new RedisFence(redis, { prefix: `${name}:fence:` });
  const write = (job: Job, value: string): Promise<void> => fence.set(`${name}:out:${job.id}`, value, job.fencingToken, { resource: `job:${job.id}` });
  const queue = q.queue(name, { connection: url() });
  const events = await q.events(name, url());
  const completedEvents = collect<[{ jobId: string; returnvalue: string }]>(events, 'completed', JOBS, 50_000);
  let stale = 0;
  const other: Error[] = [];
  const workers = [0, 1, 2].map((i) => {
    const worker = q.worker(name, async (job) => {
      await write(job, `w${i}:${job.token}`);
      await delay(10 + Math.floor(Math.random() * 20));
      return `w${i}:${job.token}`;
    }, { connection: url(), concurrency: 4 });
    worker.on('stale', (_job, error) => {
      if (error instanceof StaleTokenError) stale += 1;
      else other.push(error);
    });
    return worker;
  });
  let takeovers = 0;
  let finished = false;
  const nemesis = (async () => {
    while (!finished) {
      const active = await queue.getActive();
      const victim = active[Math.floor(Math.random() * active.length)];
      if (victim === undefined) {
        await delay(1);
        continue;
      }
      await redis.del(victim.lockKey()); // its lease "expired"
      const taker = await queue.getJob(victim.id);
      if (taker === undefined || (await taker.takeLock()) === false) continue;
      takeovers += 1;
      await write(taker, `t:${taker.token}`);
      await taker.moveToCompleted(`t:${taker.token}`);
    }
  })();
  await queue.addBulk(Array.from({ length: JOBS }, (_, i) => ({ name: 'job', data: i })));
  const completed = await completedEvents;
  finished = true;
  await nemesis;
  await Promise.all(workers.map((w) => w.close()));
  const ids = completed.map(([args]) => args.jobId);
  assert.equal(new Set(ids).size, JOBS, 'each job completed exactly once');
  assert.deepEqual(await queue.getJobCounts('completed', 'active', 'waiting', 'failed'), { completed: JOBS, active: 0, waiting: 0, failed: 0 });
  for (const [{ jobId, returnvalue }] of completed) {
    assert.equal(await redis.get(`${name}:out:${jobId}`), returnvalue, `job ${jobId}: the store holds the completing delivery's write`);
  }
  assert.ok(takeovers >= 3, `the nemesis took jobs over (${takeovers})`);
  assert.equal(stale, takeovers, 'every takeover cost its victim exactly one refused result');
  assert.deepEqual(other, [], 'no result was dropped for another reason');
});
