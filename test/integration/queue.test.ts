import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidOptionsError, type Job, JobError, RedfenceError, UnrecoverableError } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { collect, next, queueKeys, useQueues } from '../support/queue.js';

// Queue, Worker, Job and QueueEvents on one real redis-server (issue 13): adding, the states, the
// job options, events, and the admin operations. Fencing: queue-fencing.test.ts.
const env = useCluster(1);
const q = useQueues();
const url = (): string => env.cluster.urls[0] ?? '';
const T = { timeout: 30_000 };

test('Bull style: add(data, opts) and process(concurrency, handler(job, signal)); tokens are bigints that grow per delivery', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  const tokens: bigint[] = [];
  queue.process(3, async (job, signal) => {
    assert.ok(signal instanceof AbortSignal);
    assert.equal(typeof job.fencingToken, 'bigint');
    tokens.push(job.fencingToken);
    return (job.data as { n: number }).n * 2;
  });
  const done = collect<[Job, number]>(queue, 'completed', 5);
  for (let n = 0; n < 5; n += 1) await queue.add({ n }, { jobId: `j${n}` });
  const results = (await done).map(([job, result]) => [job.id, result]).sort();
  assert.deepEqual(results, [['j0', 0], ['j1', 2], ['j2', 4], ['j3', 6], ['j4', 8]]);
  assert.equal(new Set(tokens).size, 5, 'one token per delivery');
  const job = await queue.getJob('j3');
  assert.equal(job?.returnvalue, 6);
  assert.equal(job?.attemptsMade, 1);
  assert.equal(job?.attemptsStarted, 1);
  assert.equal(await job?.getState(), 'completed');
  assert.ok((job?.finishedOn ?? 0) >= (job?.processedOn ?? Infinity));
  assert.deepEqual(await queue.getJobCounts('completed', 'waiting', 'active'), { completed: 5, waiting: 0, active: 0 });
});

test('BullMQ style: add(name, data), Worker(job, token, signal); the token is the fencing token in decimal', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  const worker = q.worker(name, async (job, token, signal) => {
    assert.equal(token, job.fencingToken.toString());
    assert.equal(job.token, token);
    assert.equal(signal.aborted, false);
    return `${job.name}:${(job.data as { x: string }).x}`;
  }, { connection: url(), concurrency: 2 });
  const completed = next<[Job, string]>(worker, 'completed');
  const added = await queue.add('greet', { x: 'hi' });
  const [job, result] = await completed;
  assert.equal(job.id, added.id);
  assert.equal(result, 'greet:hi');
});

test('the same jobId is one job; addBulk writes all jobs or, on bad input, none', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  const a = await queue.add('a', { v: 1 }, { jobId: 'same' });
  const b = await queue.add('b', { v: 2 }, { jobId: 'same' });
  assert.equal(b.id, a.id);
  assert.deepEqual(b.data, { v: 1 }, 'the existing job, unchanged');
  const jobs = await queue.addBulk([{ name: 'x', data: 1 }, { name: 'y', data: 2, opts: { jobId: '10' } }, { name: 'z', data: 3 }]);
  assert.deepEqual(jobs.map((j) => j.name), ['x', 'y', 'z']);
  assert.equal(jobs[1]?.id, '10');
  // Auto ids skip a custom id that took the number.
  const more = await queue.addBulk(Array.from({ length: 10 }, (_, i) => ({ name: 'n', data: i })));
  assert.equal(new Set([...jobs, ...more].map((j) => j.id)).size, 13);
  const before = await queue.getJobCounts();
  await assert.rejects(queue.addBulk([{ name: 'ok', data: 1 }, { name: 'bad', data: { f: () => 1 } }]), (e: unknown) => e instanceof InvalidOptionsError && /jobs\[1\]\.data\.f/.test(e.message));
  await assert.rejects(queue.addBulk([{ name: 'ok', data: 1 }, { name: 'bad', data: 1, opts: { attempts: 0 } }]), InvalidOptionsError);
  await assert.rejects(queue.add({ n: 1 }, { delay: -5 }), InvalidOptionsError);
  await assert.rejects(queue.add({ n: 1 }, { backoff: { type: 'nope' } }), InvalidOptionsError);
  assert.deepEqual(await queue.getJobCounts(), before, 'nothing half-written');
});

test('attempts with backoff: a failed attempt runs again after its delay; an UnrecoverableError ends it at once', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  const seen: { id: string; attemptsMade: number; token: bigint }[] = [];
  const worker = q.worker(name, async (job) => {
    seen.push({ id: job.id, attemptsMade: job.attemptsMade, token: job.fencingToken });
    if (job.name === 'fatal') throw new UnrecoverableError('no point');
    if (job.attemptsMade < 2) throw new Error(`attempt ${job.attemptsMade + 1}`);
    return 'ok';
  }, { connection: url() });
  const failures = collect<[Job, Error]>(worker, 'failed', 3);
  const flaky = await queue.add('flaky', {}, { attempts: 3, backoff: { type: 'exponential', delay: 20 } });
  const completed = next<[Job]>(worker, 'completed', (job) => job.id === flaky.id);
  await completed;
  const fatal = await queue.add('fatal', {}, { attempts: 5, backoff: 10 });
  const all = await failures;
  assert.deepEqual(all.map(([job, error]) => [job.id, error.message]), [[flaky.id, 'attempt 1'], [flaky.id, 'attempt 2'], [fatal.id, 'no point']]);
  const flakyRuns = seen.filter((s) => s.id === flaky.id);
  assert.deepEqual(flakyRuns.map((s) => s.attemptsMade), [0, 1, 2]);
  for (let i = 1; i < flakyRuns.length; i += 1) assert.ok((flakyRuns[i]?.token ?? 0n) > (flakyRuns[i - 1]?.token ?? 0n), 'strictly larger on every redelivery');
  const done = await queue.getJob(flaky.id);
  assert.equal(done?.attemptsMade, 3);
  assert.equal(done?.stacktrace.length, 2);
  const dead = await queue.getJob(fatal.id);
  assert.equal(await dead?.getState(), 'failed');
  assert.equal(dead?.attemptsMade, 1);
  assert.equal(dead?.failedReason, 'no point');
});

test('custom backoff strategies: Bull settings.backoffStrategies on the Queue, BullMQ settings.backoffStrategy on the Worker', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url(), settings: { backoffStrategies: { twice: (attemptsMade) => attemptsMade * 2 } } });
  const calls: string[] = [];
  queue.process(async (job) => {
    if (job.attemptsMade === 0) throw new Error('again');
    return job.attemptsMade;
  });
  const bull = await queue.add({}, { attempts: 2, backoff: { type: 'twice' } });
  await next(queue, 'completed', (job: Job) => job.id === bull.id);
  const name2 = q.name();
  const queue2 = q.queue(name2, { connection: url() });
  const worker = q.worker(name2, async (job) => {
    if (job.attemptsMade === 0) throw new Error('again');
    return 'ok';
  }, { connection: url(), settings: { backoffStrategy: (attemptsMade, type) => (calls.push(`${type}:${attemptsMade}`), 5) } });
  const bullmq = await queue2.add('c', {}, { attempts: 2, backoff: { type: 'custom' } });
  await next(worker, 'completed', (job: Job) => job.id === bullmq.id);
  assert.deepEqual(calls, ['custom:1']);
});

test('delay, priority (1 = highest; none first) and lifo decide the order', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  await queue.pause();
  await queue.add('p3', {}, { priority: 3 });
  await queue.add('p1', {}, { priority: 1 });
  await queue.add('plain1', {});
  await queue.add('plain2', {});
  await queue.add('lifo', {}, { lifo: true });
  await queue.add('p1b', {}, { priority: 1 });
  const delayed = await queue.add('later', {}, { delay: 300 });
  assert.equal(await delayed.getState(), 'delayed');
  assert.deepEqual(await queue.getJobCounts('paused', 'prioritized', 'delayed', 'waiting'), { paused: 3, prioritized: 3, delayed: 1, waiting: 0 });
  assert.equal(await (await queue.getJob('1'))?.getState(), 'prioritized');
  assert.equal(await (await queue.getJob('3'))?.getState(), 'paused');
  assert.equal((await queue.getJobs(['waiting', 'paused'])).length, 3, 'one list, read once');
  assert.equal((await queue.getWaiting()).length, 3, 'waiting includes a paused queue\'s jobs');
  const order: string[] = [];
  const worker = q.worker(name, async (job) => void order.push(job.name), { connection: url() });
  const seven = collect(worker, 'completed', 7);
  await queue.resume();
  await seven;
  assert.deepEqual(order, ['lifo', 'plain1', 'plain2', 'p1', 'p1b', 'p3', 'later']);
  const later = await queue.getJob(delayed.id);
  assert.ok((later?.processedOn ?? 0) >= (later?.timestamp ?? 0) + 300, 'not before its delay');
});

test('promote runs a delayed job now; retry runs a failed one again', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  let fail = true;
  const worker = q.worker(name, async () => {
    if (fail) throw new Error('boom');
    return 'fine';
  }, { connection: url() });
  const job = await queue.add('d', {}, { delay: 60_000 });
  await assert.rejects(job.retry(), (e: unknown) => e instanceof JobError && e.code === 'JOB_STATE');
  const failed = next(worker, 'failed');
  await job.promote();
  await failed;
  assert.equal(await job.getState(), 'failed');
  fail = false;
  const completed = next(worker, 'completed');
  await job.retry();
  await completed;
  const again = await queue.getJob(job.id);
  assert.equal(again?.returnvalue, 'fine');
  assert.equal(again?.attemptsMade, 1, 'counted from zero after retry');
});

test('removeOnComplete / removeOnFail: true, a count, and the worker default', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  const worker = q.worker(name, async (job) => {
    if (job.name === 'bad') throw new Error('x');
    return job.name;
  }, { connection: url(), removeOnFail: 1 });
  const all = collect(worker, 'completed', 5);
  const bads = collect(worker, 'failed', 3);
  await queue.add('gone', {}, { removeOnComplete: true });
  for (let i = 0; i < 4; i += 1) await queue.add('kept', {}, { removeOnComplete: 2 });
  for (let i = 0; i < 3; i += 1) await queue.add('bad', {});
  await all;
  await bads;
  assert.equal((await queue.getCompleted()).length, 2);
  assert.equal((await queue.getFailed()).length, 1);
  const keys = await queueKeys(env.clients()[0]!, name);
  assert.equal(keys.filter((k) => k.includes(':j:')).length, 3, 'the removed jobs\' hashes are gone');
});

test('timeout aborts the job\'s signal and fails the attempt; the late result is dropped', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  let aborted: unknown;
  const worker = q.worker(name, (_job, _token, signal) => new Promise((resolve) => {
    signal.addEventListener('abort', () => {
      aborted = signal.reason;
      setTimeout(() => resolve('too late'), 20);
    });
  }), { connection: url() });
  const failed = next<[Job, Error]>(worker, 'failed');
  const job = await queue.add('slow', {}, { timeout: 50 });
  const [, error] = await failed;
  assert.ok(error instanceof JobError && error.code === 'JOB_TIMEOUT');
  assert.equal(aborted, error);
  const stored = await queue.getJob(job.id);
  assert.equal(await stored?.getState(), 'failed');
  assert.match(stored?.failedReason ?? '', /timed out after 50 ms/);
  assert.equal(stored?.returnvalue, undefined);
});

test('progress, logs and data; QueueEvents and waitUntilFinished from another connection', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  const events = await q.events(name, url());
  const progress = collect(events, 'progress', 2);
  const worker = q.worker(name, async (job) => {
    await job.updateProgress(50);
    await job.updateProgress({ step: 'two' });
    assert.equal(await job.log('row one'), 1);
    await job.updateData({ ...(job.data as object), touched: true });
    if (job.name === 'bad') throw new Error('it failed');
    return { ok: job.id };
  }, { connection: url() });
  const local = next<[Job, number | object]>(worker, 'progress');
  const good = await queue.add('good', { a: 1 });
  assert.deepEqual(await good.waitUntilFinished(events, 10_000), { ok: good.id });
  assert.deepEqual((await progress).map(([args]) => (args as { data: unknown }).data), [50, { step: 'two' }]);
  assert.equal((await local)[1], 50);
  const stored = await queue.getJob(good.id);
  assert.deepEqual(stored?.data, { a: 1, touched: true });
  assert.deepEqual(stored?.progress, { step: 'two' });
  assert.deepEqual(await stored?.getLogs(), { logs: ['row one'], count: 1 });
  assert.deepEqual(await queue.getJobLogs(good.id), { logs: ['row one'], count: 1 });
  const bad = await queue.add('bad', {});
  await assert.rejects(bad.waitUntilFinished(events, 10_000), (e: unknown) => e instanceof JobError && e.code === 'JOB_FAILED' && e.message === 'it failed');
  // A job that finished before the wait began is seen too.
  assert.deepEqual(await good.waitUntilFinished(events, 10_000), { ok: good.id });
  await worker.close();
  const never = await queue.add('never', {});
  await assert.rejects(never.waitUntilFinished(events, 50), (e: unknown) => e instanceof JobError && e.code === 'JOB_TIMEOUT');
});

test('pause for every worker; the worker picks up again on resume', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  await queue.pause();
  assert.equal(await queue.isPaused(), true);
  const worker = q.worker(name, async () => 'ok', { connection: url(), drainDelay: 0.2 });
  const ready = next(worker, 'ready');
  await queue.add('a', {});
  await ready;
  // A worker's fetch on a paused queue moves nothing.
  const manual = q.worker(name, null, { connection: url() });
  assert.equal(await manual.getNextJob(), undefined);
  assert.deepEqual(await queue.getJobCounts('paused', 'active', 'waiting'), { paused: 1, active: 0, waiting: 0 });
  const completed = next(worker, 'completed');
  await queue.resume();
  await completed;
  assert.equal(await queue.isPaused(), false);
});

test('the limiter: at most max jobs start per duration, across workers', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  const limiter = { max: 2, duration: 60_000 };
  const a = q.worker(name, null, { connection: url(), limiter });
  const b = q.worker(name, null, { connection: url(), limiter });
  for (let i = 0; i < 4; i += 1) await queue.add('j', { i });
  assert.ok(await a.getNextJob());
  assert.ok(await b.getNextJob());
  assert.equal(await a.getNextJob(), undefined, 'the window is full');
  assert.equal(await b.getNextJob(), undefined);
  assert.deepEqual(await queue.getJobCounts('waiting', 'active'), { waiting: 2, active: 2 });
});

test('getJobs, counts and the admin operations: remove, clean, drain, obliterate', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  const manual = q.worker(name, null, { connection: url() });
  const jobs = await queue.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: `j${i}`, data: i })));
  await queue.add('later', {}, { delay: 60_000 });
  const first = await manual.getNextJob();
  assert.equal(first?.id, jobs[0]?.id, 'FIFO');
  await first?.moveToCompleted('done');
  const second = await manual.getNextJob();
  await second?.moveToFailed(new Error('nope'));
  const active = await manual.getNextJob();
  assert.deepEqual(await queue.getJobCounts(), { waiting: 3, paused: 0, prioritized: 0, delayed: 1, active: 1, completed: 1, failed: 1 });
  assert.deepEqual((await queue.getWaiting()).map((j) => j.name), ['j3', 'j4', 'j5']);
  assert.deepEqual((await queue.getWaiting(0, 1)).map((j) => j.name), ['j3', 'j4']);
  assert.deepEqual((await queue.getActive()).map((j) => j.id), [active?.id]);
  assert.equal((await queue.getJobs(['completed', 'failed'])).length, 2);
  assert.equal(await queue.getWaitingCount(), 3);
  assert.equal(await queue.count(), 4);
  await assert.rejects(queue.remove(active?.id ?? ''), (e: unknown) => e instanceof JobError && e.code === 'JOB_LOCKED');
  assert.equal(await queue.remove(jobs[5]?.id ?? ''), 1);
  assert.equal(await queue.remove('nope'), 0);
  assert.deepEqual(await queue.clean(0, 0, 'completed'), [first?.id]);
  assert.deepEqual(await queue.clean(0, 0, 'failed'), [second?.id]);
  await queue.drain();
  assert.deepEqual(await queue.getJobCounts('waiting', 'delayed', 'active'), { waiting: 0, delayed: 1, active: 1 });
  await queue.drain(true);
  assert.equal(await queue.getDelayedCount(), 0);
  await assert.rejects(queue.obliterate(), (e: unknown) => e instanceof JobError && e.code === 'JOB_LOCKED');
  const redis = env.clients()[0]!;
  const fence = await redis.get(`{redfence:${name}}:fence`);
  await queue.obliterate({ force: true, count: 1 });
  assert.deepEqual((await queueKeys(redis, name)).sort(), [`{redfence:${name}}:fence`, `{redfence:${name}}:id`], 'only the counters stay');
  assert.equal(await redis.get(`{redfence:${name}}:fence`), fence);
  await assert.rejects(active!.moveToCompleted('late'), (e: unknown) => e instanceof JobError && e.code === 'JOB_NOT_FOUND');
});

test('clean of waiting jobs also while the queue is paused (BullMQ\'s \'wait\')', T, async () => {
  const queue = q.queue(q.name(), { connection: url() });
  await queue.pause();
  const a = await queue.add('a', {});
  const b = await queue.add('b', {});
  assert.deepEqual(await queue.clean(0, 0, 'delayed'), []);
  assert.deepEqual((await queue.clean(0, 0, 'wait')).sort(), [a.id, b.id].sort());
  assert.equal(await queue.getWaitingCount(), 0);
});

test('a maxmemory-policy that may evict keys is refused at start-up (or only warned about)', T, async () => {
  const redis = env.clients()[0]!;
  await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
  try {
    const queue = q.queue(q.name(), { connection: url() });
    await assert.rejects(queue.add({}), (e: unknown) => e instanceof RedfenceError && e.code === 'EVICTION_POLICY' && /noeviction/.test(e.message));
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    const lenient = q.queue(q.name(), { connection: url(), evictionPolicy: 'warn' });
    await lenient.add({});
    assert.match((await warned).message, /allkeys-lru/);
  } finally {
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
  }
});

test('close({ timeout }) aborts running jobs and puts them straight back to waiting', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  let reason: unknown;
  const worker = q.worker(name, (_job, _token, signal) => {
    started();
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject((reason = signal.reason))));
  }, { connection: url() });
  const job = await queue.add('long', {});
  await running;
  await worker.close({ timeout: 20 });
  assert.ok(reason instanceof JobError && reason.code === 'JOB_ABANDONED');
  const back = await queue.getJob(job.id);
  assert.equal(await back?.getState(), 'waiting');
  assert.equal(back?.attemptsMade, 0, 'not counted as a failed attempt');
  const next2 = q.worker(name, async (j) => j.attemptsStarted, { connection: url() });
  const [, result] = await next<[Job, number]>(next2, 'completed');
  assert.equal(result, 2);
});

test('bad options are refused synchronously with InvalidOptionsError', () => {
  assert.throws(() => q.queue('', { connection: url() }), InvalidOptionsError);
  assert.throws(() => q.queue('a{b}', { connection: url() }), /hash tag/);
  assert.throws(() => q.queue('x', { connection: 42 as never }), InvalidOptionsError);
  assert.throws(() => q.queue('x', { connection: url(), defaultJobOptions: { attempts: -1 } }), /`attempts`/);
  assert.throws(() => q.worker('x', async () => 1, { connection: url(), concurrency: 0 }), /`concurrency`/);
  assert.throws(() => q.worker('x', 'file.js' as never, { connection: url() }), /`processor`/);
  const queue = q.queue('x', { connection: url() });
  assert.throws(() => queue.process(0, async () => 1), /`concurrency`/);
  assert.throws(() => queue.process('name', 2, 'x' as never), /handler function/);
});

test('Bull named handlers: process(name, [concurrency], handler) takes that name\'s jobs; an unnamed one the rest', T, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  const seen: string[] = [];
  queue.process('resize', 2, async (job) => void seen.push(`resize:${job.id}`));
  queue.process(async (job) => void seen.push(`any:${job.name}`));
  assert.throws(() => queue.process('resize', async () => 1), /registered already/);
  const done = collect(queue, 'completed', 3);
  const a = await queue.add('resize', {});
  await queue.add('other', {});
  await queue.add({ plain: true });
  await done;
  assert.deepEqual(seen.sort(), ['any:__default__', 'any:other', `resize:${a.id}`].sort());
});

