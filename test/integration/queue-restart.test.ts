import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Job } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { next, useQueues } from '../support/queue.js';

// The queue's Redis restarts under a running worker and queue (AOF on: the jobs survive). Nothing
// throws or crashes; the worker reports the outage as `redisError` events and goes on.
const env = useCluster(1, { appendOnly: true });
const q = useQueues();
const url = (): string => env.cluster.urls[0] ?? '';

test('a worker rides out a restart of the queue\'s Redis: jobs from before and after it complete', { timeout: 60_000 }, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  let hold = true;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const worker = q.worker(name, async (job) => {
    if (job.name === 'before' && hold) {
      hold = false;
      await held;
    }
    return job.name;
  }, { connection: url(), drainDelay: 0.2 });
  const errors: Error[] = [];
  worker.on('redisError', (error) => errors.push(error));
  const active = next<[Job]>(worker, 'active');
  const before = await queue.add('before', {});
  await active;
  await env.cluster.crash(0);
  await env.cluster.restart(0);
  // The job that was running finishes after the restart: its token is still current (AOF kept it).
  const first = next<[Job, string]>(worker, 'completed');
  release();
  const [done] = await first;
  assert.equal(done.id, before.id);
  const after = next<[Job, string]>(worker, 'completed');
  const added = await addWhenUp(() => queue.add('after', {}));
  const [job, result] = await after;
  assert.equal(job.id, added.id);
  assert.equal(result, 'after');
  assert.deepEqual(await queue.getJobCounts('completed', 'active', 'waiting'), { completed: 2, active: 0, waiting: 0 });
  assert.ok(errors.every((e) => e instanceof Error));
});

/** The queue's own connection may still be reconnecting: try again for a few seconds. */
async function addWhenUp<T>(add: () => Promise<T>): Promise<T> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      return await add();
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
