import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionsError, type Job, JobError, RedisFence, StaleTokenError } from '../../src/index.js';
import { until, useCluster } from '../support/cluster.js';
import { collect, next, useQueues } from '../support/queue.js';

// Fenced delivery (issue 13): every delivery of a job has a token strictly larger than the one
// before; finishing, progress and downstream writes are judged by it. Each test here fails if the
// fencing is broken: a stale delivery's result must be refused, a current late one accepted.
const env = useCluster(3);
const q = useQueues();
const url = (): string => env.cluster.urls[0] ?? '';
const T = { timeout: 30_000 };

const stale = (token: bigint, highest: bigint) => (e: unknown): boolean =>
  e instanceof StaleTokenError && e.token === token && e.highest === highest;

for (const distributedLock of [false, true]) {
  describe(distributedLock ? 'distributedLock: quorum locks on 3 nodes' : 'single-node lock', () => {
    const setup = (lockDuration = 10_000) => {
      const name = q.name();
      const redlock = distributedLock ? env.redlock() : undefined;
      const options = { connection: url(), lockDuration, distributedLock, ...(redlock === undefined ? {} : { redlock }) };
      return { name, redlock, options, queue: q.queue(name, options), manual: q.worker(name, null, options) };
    };

    test('after a takeover the old delivery is stale: its completion, progress and lock calls are refused', T, async () => {
      const { name, queue, manual } = setup();
      const events = await q.events(name, url());
      await queue.add('j', { n: 1 });
      const a = await manual.getNextJob();
      assert.ok(a !== undefined && a.token === a.fencingToken.toString());
      const t1 = a.fencingToken;
      const other = await queue.getJob(a.id);
      assert.equal(await other?.takeLock(), false, 'the lock is held: no takeover');
      await a.releaseLock(); // as if its lease ran out
      const b = await queue.getJob(a.id);
      const t2 = await b?.takeLock();
      assert.ok(typeof t2 === 'number' && b !== undefined);
      assert.ok(b.fencingToken > t1, 'strictly larger');
      assert.equal(BigInt(t2), b.fencingToken);
      const observed = next<[{ jobId: string; token: string; current: string }]>(events, 'stale');
      await assert.rejects(a.moveToCompleted('from A'), stale(t1, b.fencingToken));
      assert.deepEqual((await observed)[0], { jobId: a.id, token: t1.toString(), current: b.fencingToken.toString() }, 'observers in other processes see it');
      await assert.rejects(a.updateProgress(50), stale(t1, b.fencingToken));
      await assert.rejects(a.moveToFailed(new Error('A failed')), StaleTokenError);
      assert.equal(await a.extendLock(5_000), 0);
      assert.equal(await b.getState(), 'active', 'the stale calls changed nothing');
      await b.moveToCompleted('from B');
      await assert.rejects(b.moveToCompleted('again'), (e: unknown) => e instanceof JobError && e.code === 'JOB_STATE', 'at most once');
      const done = await queue.getJob(a.id);
      assert.equal(done?.returnvalue, 'from B');
      assert.equal(done?.attemptsMade, 1);
    });

    test('a late completion whose token is still current is accepted although the lease ran out', T, async () => {
      const { name, queue, manual } = setup(distributedLock ? 200 : 100);
      await queue.add('j', {});
      const a = await manual.getNextJob();
      assert.ok(a !== undefined);
      const lockKey = a.lockKey();
      assert.equal(lockKey, `{redfence:${name}}:l:${a.id}`);
      const redis = env.clients()[0]!;
      await until('the lock to expire', async () => (await redis.exists(lockKey)) === 0);
      if (!distributedLock) {
        // BullMQ's extendLock(token, ms): a current token may take its expired lock back (1).
        assert.equal(await a.extendLock(a.token ?? '', 5_000), 1);
        assert.equal(await redis.get(lockKey), a.token);
        assert.equal(await a.extendLock('999999', 5_000), 0, 'another token may not');
      }
      await a.moveToCompleted('late but uncontested');
      assert.equal((await queue.getJob(a.id))?.returnvalue, 'late but uncontested');
    });

    test('no bypass: ignoreLock (true) and the token "0" are refused', T, async () => {
      const { queue, manual } = setup();
      await queue.add('j', {});
      const a = await manual.getNextJob();
      assert.ok(a !== undefined);
      await assert.rejects(a.moveToCompleted('x', true as never), (e: unknown) => e instanceof InvalidOptionsError && /ignoreLock/.test(e.message));
      await assert.rejects(a.moveToFailed(new Error('x'), '0'), stale(0n, a.fencingToken));
      const outsider = await queue.getJob(a.id);
      await assert.rejects(outsider!.moveToCompleted('x'), (e: unknown) => e instanceof InvalidOptionsError && /not delivered to you/.test(e.message));
      assert.equal(await a.getState(), 'active');
    });

    test('a worker whose job was taken over mid-handler has its result dropped (stale event) and its fenced write refused', T, async () => {
      const { name, queue, options } = setup();
      const fence = new RedisFence(env.clients()[1]!, { prefix: `${name}:fence:` });
      let proceed!: () => void;
      const gate = new Promise<void>((resolve) => (proceed = resolve));
      let started!: (job: Job) => void;
      const running = new Promise<Job>((resolve) => (started = resolve));
      let written: unknown;
      const worker = q.worker(name, async (job) => {
        started(job);
        await gate;
        written = await fence.set(`out:${job.id}`, 'A', job.fencingToken, { resource: `job:${job.id}` }).catch((e: unknown) => e);
        return 'A';
      }, options);
      const completed: Job[] = [];
      worker.on('completed', (job) => completed.push(job));
      const staleEvent = next<[Job, Error]>(worker, 'stale');
      const added = await queue.add('j', {});
      const a = await running;
      // The takeover: A's lease ends (released here), B takes the job, writes and completes.
      await a.releaseLock();
      const b = (await queue.getJob(added.id))!;
      assert.notEqual(await b.takeLock(), false);
      await fence.set(`out:${b.id}`, 'B', b.fencingToken, { resource: `job:${b.id}` });
      await b.moveToCompleted('B');
      proceed();
      const [job, error] = await staleEvent;
      assert.equal(job.id, added.id);
      assert.ok(error instanceof StaleTokenError && error.token === a.fencingToken && error.highest === b.fencingToken);
      assert.ok(written instanceof StaleTokenError, 'the downstream store refused the stale write too');
      assert.equal(await env.clients()[1]!.get(`out:${b.id}`), 'B');
      assert.equal(completed.length, 0, 'no completed event for the stale delivery');
      assert.equal((await queue.getJob(added.id))?.returnvalue, 'B');
    });

    test('every redelivery has a larger token: retries and a close that put the job back', T, async () => {
      const { name, queue, options, redlock } = setup();
      const tokens: bigint[] = [];
      let hang = true;
      let started!: () => void;
      const hung = new Promise<void>((resolve) => (started = resolve));
      const first = q.worker(name, (job, _token, signal) => {
        tokens.push(job.fencingToken);
        if (job.attemptsMade === 0) throw new Error('retry me');
        if (hang) {
          started();
          return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        }
        return 'done';
      }, options);
      const added = await queue.add('j', {}, { attempts: 3 });
      await hung;
      const abandoned = tokens.at(-1)!;
      await first.close({ timeout: 0 });
      hang = false;
      const second = q.worker(name, async (job) => {
        tokens.push(job.fencingToken);
        return 'done';
      }, options);
      await next(second, 'completed');
      assert.equal(tokens.length, 3);
      assert.ok(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, `strictly increasing: ${tokens.join(' < ')}`);
      const job = await queue.getJob(added.id);
      assert.equal(job?.returnvalue, 'done');
      assert.equal(job?.attemptsStarted, 3);
      assert.equal(job?.attemptsMade, 2, 'the attempt the close put back is not counted');
      // The put-back delivery can no longer finish the job (its token stopped being current).
      const late = (await queue.getJob(added.id))!;
      await assert.rejects(late.moveToCompleted('late', abandoned.toString()), (e: unknown) => e instanceof StaleTokenError || (e instanceof JobError && e.code === 'JOB_STATE'));
      if (redlock !== undefined) {
        // The tokens are the quorum lock's: the next grant of the job's resource is larger still.
        await using lock = await redlock.acquire(`${name}:job:${added.id}`, 1_000);
        assert.ok(lock.fencingToken > tokens[2]!);
      }
    });
  });
}

test('distributedLock: a claim whose lease ran out while the quorum lock was busy is still delivered (the job is not stranded)', T, async () => {
  const name = q.name();
  const redlock = env.redlock();
  const options = { connection: url(), lockDuration: 150, distributedLock: true, redlock };
  const queue = q.queue(name, options);
  const manual = q.worker(name, null, options);
  const added = await queue.add('j', {}, { jobId: 'x' });
  // Someone holds the job's quorum resource: the worker's acquire waits, its claim runs out.
  const blocker = await redlock.acquire(`${name}:job:x`, 10_000);
  const delivered = manual.getNextJob();
  const redis = env.clients()[0]!;
  const lockKey = added.lockKey();
  await until('the claim', async () => (await redis.exists(lockKey)) === 1);
  await until('the claim to run out', async () => (await redis.exists(lockKey)) === 0);
  await blocker.release();
  const job = await delivered;
  assert.ok(job !== undefined, 'delivered');
  assert.ok(job.fencingToken > blocker.fencingToken);
  assert.equal(await redis.get(lockKey), job.token);
  await job.moveToCompleted('ok');
  assert.equal(await job.getState(), 'completed');
});

test('Bull style on quorum locks: Queue(name, { redlock, distributedLock }) with process(5, handler) and add(data, { jobId })', T, async () => {
  const name = q.name();
  const redlock = env.redlock();
  const queue = q.queue(name, { connection: url(), redlock, distributedLock: true, lockDuration: 5_000, stalledInterval: 5_000 });
  const tokens = new Map<string, bigint>();
  queue.process(5, async (job) => {
    assert.equal(typeof job.fencingToken, 'bigint');
    tokens.set(job.id, job.fencingToken);
    return (job.data as { n: number }).n;
  });
  const done = collect<[Job, number]>(queue, 'completed', 10);
  for (let n = 0; n < 10; n += 1) await queue.add({ n }, { jobId: `acc-${n}` });
  assert.equal((await done).length, 10);
  for (const [id, token] of tokens) {
    // Each delivery's token is its quorum lock's: a new grant of the job's resource is larger.
    const lock = await redlock.acquire(`${name}:job:${id}`, 1_000);
    assert.ok(lock.fencingToken > token, id);
    await lock.release();
  }
  assert.deepEqual(await queue.getJobCounts('completed', 'active'), { completed: 10, active: 0 });
});
