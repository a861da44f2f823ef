import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, test, type TestContext } from 'node:test';
import { type Job, LockLostError, type Worker, type WorkerOptions } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { next, useQueues } from '../support/queue.js';

// Issue 14: renewal, seppuku, keepAlive and the stalled sweep, with workers in child processes
// that are SIGKILLed, SIGSTOPped and blocked. Outcomes are decided by events; the times measured
// are reported (t.diagnostic), bounded here only loosely: timing goals live in bench/.
const env = useCluster(3);
const q = useQueues();
const url = (): string => env.cluster.urls[0] ?? '';
const SCRIPT = fileURLToPath(new URL('../support/stall-worker-process.ts', import.meta.url));
const children = new Set<ChildProcess>();

afterEach(() => {
  for (const child of children) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  children.clear();
});

interface Child {
  readonly child: ChildProcess;
  /** Resolves with the first line (past or future) starting with `prefix`. */
  said(prefix: string, ms?: number): Promise<string>;
  readonly lines: string[];
}

async function workerProcess(label: string, name: string, options: Partial<WorkerOptions>, quorum?: { prefix: string }): Promise<Child> {
  const config = { url: url(), name, label, options, ...(quorum === undefined ? {} : { redlockUrls: env.cluster.urls, redlockPrefix: quorum.prefix }) };
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const lines: string[] = [];
  const waiters: [string, (line: string) => void][] = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      lines.push(line);
      for (const [prefix, resolve] of waiters) if (line.startsWith(prefix)) resolve(line);
    }
  });
  const said = (prefix: string, ms = 20_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const seen = lines.find((line) => line.startsWith(prefix));
      if (seen !== undefined) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`${label} did not say ${prefix} within ${ms} ms`)), ms);
      waiters.push([prefix, (line) => (clearTimeout(timer), resolve(line))]);
      child.once('exit', (code, signal) => reject(new Error(`${label} exited (${code ?? signal}) before saying ${prefix}`)));
    });
  await said('ready');
  return { child, said, lines };
}

/** The rescuer: a worker in this process that completes what it gets with 'B'. */
function rescuer(name: string, options: Partial<WorkerOptions>): Worker {
  return q.worker(name, async () => 'B', { connection: url(), ...options });
}

const tokenOf = (line: string): bigint => BigInt(line.split(' ')[2] ?? '0');

for (const [what, keepAlive, lockDuration, target] of [
  ['without keepAlive', 0, 2_000, 2_000 + 2 * 500 + 250],
  ['with keepAlive 1000 and lockDuration 30000', 1_000, 30_000, 2_000],
] as const) {
  test(`a SIGKILLed worker's job is re-dispatched ${what} (stalledInterval 500)`, { timeout: 60_000 }, async (t: TestContext) => {
    const name = q.name();
    const options = { lockDuration, stalledInterval: 500, keepAlive };
    const queue = q.queue(name, { connection: url(), ...options });
    const a = await workerProcess('A', name, options);
    const job = await queue.add('j', { mode: 'hang' });
    const started = await a.said(`started ${job.id} `);
    const b = rescuer(name, options);
    const active = next<[Job]>(b, 'active', (j) => j.id === job.id, 30_000);
    const stalled = next<[string]>(b, 'stalled', (id) => id === job.id, 30_000);
    const completed = next<[Job, string]>(b, 'completed', (j) => j.id === job.id, 30_000);
    const killedAt = performance.now();
    a.child.kill('SIGKILL');
    const [redelivered] = await active;
    const ms = Math.round(performance.now() - killedAt);
    await stalled;
    const [done, result] = await completed;
    t.diagnostic(`re-dispatched ${ms} ms after SIGKILL (${what}; target ≤ ${target} ms)`);
    assert.equal(result, 'B');
    assert.ok(redelivered.fencingToken > tokenOf(started), 'the re-delivery has a larger token');
    assert.equal(done.attemptsMade, 1, 'a stall is not a failed attempt');
    // Loose: far below lockDuration with keepAlive; about lockDuration without.
    assert.ok(ms < (keepAlive > 0 ? 10_000 : lockDuration + 10_000), `re-dispatched after ${ms} ms`);
  });
}

test("a SIGSTOPped worker's job is re-dispatched and its late completion refused", { timeout: 60_000 }, async (t: TestContext) => {
  const name = q.name();
  // The handler's 400 ms timer comes due before the renewal (1000 ms) when the process resumes:
  // its result goes to the fenced finish.
  const options = { lockDuration: 1_500, lockRenewTime: 1_000, stalledInterval: 300 };
  const queue = q.queue(name, { connection: url(), ...options });
  const a = await workerProcess('A', name, options);
  const job = await queue.add('j', { mode: 'wait', ms: 400 });
  await a.said(`started ${job.id} `);
  a.child.kill('SIGSTOP');
  const stoppedAt = performance.now();
  const b = rescuer(name, options);
  const [, result] = await next<[Job, string]>(b, 'completed', (j) => j.id === job.id, 30_000);
  t.diagnostic(`re-dispatched and completed ${Math.round(performance.now() - stoppedAt)} ms after SIGSTOP`);
  assert.equal(result, 'B');
  a.child.kill('SIGCONT');
  const refused = await Promise.race([a.said(`stale ${job.id}`), a.said(`lost ${job.id}`)]);
  t.diagnostic(`the resumed worker: ${refused}`);
  assert.ok(!a.lines.includes(`completed ${job.id}`), 'the zombie did not complete the job');
  const final = await queue.getJob(job.id);
  assert.equal(final?.returnvalue, 'B');
  assert.equal(await (await queue.getJob(job.id))?.getState(), 'completed');
});

test('a handler that blocks the event loop 5 s past lockDuration 2000 without the lock thread: re-dispatched, its late result refused', { timeout: 60_000 }, async (t: TestContext) => {
  const name = q.name();
  const options = { lockDuration: 2_000, stalledInterval: 500 };
  const queue = q.queue(name, { connection: url(), ...options });
  const a = await workerProcess('A', name, options);
  const job = await queue.add('j', { mode: 'block', ms: 5_000 });
  await a.said(`started ${job.id} `);
  const startedAt = performance.now();
  const b = rescuer(name, options);
  const [, result] = await next<[Job, string]>(b, 'completed', (j) => j.id === job.id, 30_000);
  t.diagnostic(`re-dispatched and completed ${Math.round(performance.now() - startedAt)} ms into the 5 s block`);
  assert.equal(result, 'B');
  const refused = await Promise.race([a.said(`stale ${job.id}`), a.said(`lost ${job.id}`)]);
  t.diagnostic(`the blocked worker afterwards: ${refused}`);
  assert.ok(!a.lines.includes(`completed ${job.id}`));
  assert.equal((await queue.getJob(job.id))?.returnvalue, 'B');
});

for (const thread of [true, false]) {
  test(`distributedLock, a handler blocking the event loop 5 s, lockDuration 2000, ${thread ? 'with' : 'without'} the lock thread: ${thread ? 'keeps its job' : 're-dispatched'}`, { timeout: 60_000 }, async (t: TestContext) => {
    const name = q.name();
    const prefix = `t-${randomUUID().slice(0, 8)}:`;
    const redlock = env.redlock({ prefix });
    const options = { lockDuration: 2_000, stalledInterval: 500, ...(thread ? { useDedicatedLockThread: true } : {}) };
    const quorum = { distributedLock: true, redlock } as const;
    const queue = q.queue(name, { connection: url(), lockDuration: 2_000, ...quorum });
    const events = await q.events(name, url());
    const a = await workerProcess('A', name, options, { prefix });
    const job = await queue.add('j', { mode: 'block', ms: 5_000 });
    await a.said(`started ${job.id} `);
    const startedAt = performance.now();
    const b = rescuer(name, { lockDuration: 2_000, stalledInterval: 500, ...quorum });
    const byB: string[] = [];
    b.on('active', (j) => byB.push(j.id));
    const [{ returnvalue }] = await next<[{ jobId: string; returnvalue: string }]>(events, 'completed', (e) => e.jobId === job.id, 30_000);
    const ms = Math.round(performance.now() - startedAt);
    if (thread) {
      await a.said(`completed ${job.id}`);
      t.diagnostic(`kept: completed by the blocked worker ${ms} ms after it started`);
      assert.equal(returnvalue, 'A');
      assert.deepEqual(byB, [], 'never re-dispatched');
    } else {
      t.diagnostic(`re-dispatched: completed by the rescuer ${ms} ms after the block began`);
      assert.equal(returnvalue, 'B');
      await Promise.race([a.said(`stale ${job.id}`), a.said(`lost ${job.id}`)]);
      assert.ok(!a.lines.includes(`completed ${job.id}`));
    }
    assert.equal(await (await queue.getJob(job.id))?.getState(), 'completed');
  });
}

test('single-node lock, a handler blocking the event loop 5 s, lockDuration 2000, with the lock thread: keeps its job', { timeout: 60_000 }, async (t: TestContext) => {
  const name = q.name();
  const options = { lockDuration: 2_000, stalledInterval: 500 };
  const queue = q.queue(name, { connection: url(), ...options });
  const events = await q.events(name, url());
  const a = await workerProcess('A', name, { ...options, useDedicatedLockThread: true });
  const job = await queue.add('j', { mode: 'block', ms: 5_000 });
  await a.said(`started ${job.id} `);
  const startedAt = performance.now();
  const b = rescuer(name, options);
  const byB: string[] = [];
  b.on('active', (j) => byB.push(j.id));
  const [{ returnvalue }] = await next<[{ jobId: string; returnvalue: string }]>(events, 'completed', (e) => e.jobId === job.id, 30_000);
  await a.said(`completed ${job.id}`);
  t.diagnostic(`kept: completed by the blocked worker ${Math.round(performance.now() - startedAt)} ms after it started`);
  assert.equal(returnvalue, 'A');
  assert.deepEqual(byB, [], 'never re-dispatched');
});

test('single-node lock with the lock thread: a process blocked past lockThreadMaxBlockMs (default 10 s) stops renewing and loses the job', { timeout: 60_000 }, async (t: TestContext) => {
  const name = q.name();
  const options = { lockDuration: 2_000, stalledInterval: 500 };
  const queue = q.queue(name, { connection: url(), ...options });
  const a = await workerProcess('A', name, { ...options, useDedicatedLockThread: true });
  const job = await queue.add('j', { mode: 'block', ms: 14_000 });
  await a.said(`started ${job.id} `);
  const startedAt = performance.now();
  const b = rescuer(name, options);
  const [, result] = await next<[Job, string]>(b, 'completed', (j) => j.id === job.id, 40_000);
  t.diagnostic(`re-dispatched and completed ${Math.round(performance.now() - startedAt)} ms into the 14 s block`);
  assert.equal(result, 'B');
  await Promise.race([a.said(`stale ${job.id}`, 30_000), a.said(`lost ${job.id}`, 30_000)]);
  assert.ok(!a.lines.includes(`completed ${job.id}`));
});

for (const distributedLock of [false, true]) {
  test(`${distributedLock ? 'distributedLock: ' : ''}a renewal that fails aborts job.signal with a LockLostError (seppuku); Worker lockRenewalFailed, Queue lock-extension-failed`, { timeout: 30_000 }, async () => {
    const name = q.name();
    const redlock = distributedLock ? env.redlock() : undefined;
    const options = { connection: url(), lockDuration: 600, ...(redlock === undefined ? {} : { redlock, distributedLock }) };
    const queue = q.queue(name, options);
    let started!: (job: Job) => void;
    const running = new Promise<Job>((resolve) => (started = resolve));
    const worker = q.worker(name, async (job, _token, signal) => {
      started(job);
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
    }, options);
    const failed = next<[string[]]>(worker, 'lockRenewalFailed');
    const job = await queue.add('j', {});
    const delivered = await running;
    // The takeover: another holder's value in the job's lock key.
    await env.clients()[0]!.set(delivered.lockKey(), 'someone-else', 'PX', 60_000);
    const [ids] = await failed;
    assert.deepEqual(ids, [job.id]);
    assert.ok(delivered.signal.aborted);
    assert.ok(delivered.signal.reason instanceof LockLostError, 'the signal aborted with a LockLostError');
    assert.equal(await (await queue.getJob(job.id))?.getState(), 'active', 'left to the stalled sweep or the new holder, not finished');

    // Queue.process: Bull's lock-extension-failed(job, err).
    const name2 = q.name();
    const queue2 = q.queue(name2, options);
    const extension = next<[Job, Error]>(queue2, 'lock-extension-failed');
    let started2!: (job: Job) => void;
    const running2 = new Promise<Job>((resolve) => (started2 = resolve));
    queue2.process(async (job, signal) => {
      started2(job);
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
    });
    await queue2.add('j', {});
    const delivered2 = await running2;
    await env.clients()[0]!.set(delivered2.lockKey(), 'someone-else', 'PX', 60_000);
    const [lostJob, error] = await extension;
    assert.equal(lostJob.id, delivered2.id);
    assert.ok(error instanceof LockLostError);
  });
}

test('maxStalledCount: a job that stalls more often fails through its attempts (retried, then failed)', { timeout: 60_000 }, async () => {
  const name = q.name();
  const options = { connection: url(), stalledInterval: 200, maxStalledCount: 1 };
  const queue = q.queue(name, options);
  // The sweeper fetches nothing (paused); a manual worker takes the deliveries that "die".
  const sweeper = q.worker(name, async () => 'never', options);
  void sweeper.pause(true);
  const manual = q.worker(name, null, options);
  const job = await queue.add('j', {}, { attempts: 2 });
  const client = env.clients()[0]!;
  const tokens: bigint[] = [];
  const dieOnce = async (): Promise<void> => {
    const delivered = await manual.getNextJob();
    assert.equal(delivered?.id, job.id);
    tokens.push(delivered.fencingToken);
    await client.del(delivered.lockKey()); // the worker died: its lock is gone
  };
  await dieOnce();
  await next(sweeper, 'stalled', (id: string) => id === job.id);
  await dieOnce();
  const [, firstError] = await next<[Job, Error]>(sweeper, 'failed', (j) => j.id === job.id);
  assert.match(firstError.message, /stalled more than allowable limit/);
  assert.equal(await (await queue.getJob(job.id))?.getState(), 'waiting', 'an attempt remains: retried');
  await dieOnce();
  await next(sweeper, 'stalled', (id: string) => id === job.id);
  await dieOnce();
  await next<[Job, Error]>(sweeper, 'failed', (j) => j.id === job.id);
  const final = await queue.getJob(job.id);
  assert.equal(await (await queue.getJob(job.id))?.getState(), 'failed');
  assert.equal(final?.attemptsMade, 2);
  assert.match(final?.failedReason ?? '', /stalled more than allowable limit/);
  for (let i = 1; i < tokens.length; i += 1) assert.ok(tokens[i]! > tokens[i - 1]!, 'each delivery a larger token');
});

test('skipStalledCheck: a worker that skips sweeps leaves a dead job to the others', { timeout: 30_000 }, async () => {
  const name = q.name();
  const options = { connection: url(), stalledInterval: 200 };
  const queue = q.queue(name, options);
  const skipper = q.worker(name, async () => 'never', { ...options, skipStalledCheck: true });
  void skipper.pause(true);
  const swept: string[] = [];
  skipper.on('stalled', (id) => swept.push(id));
  await next(skipper, 'ready');
  const manual = q.worker(name, null, options);
  const job = await queue.add('j', {});
  const delivered = await manual.getNextJob();
  await env.clients()[0]!.del(delivered!.lockKey());
  const other = q.worker(name, async () => 'never', options);
  void other.pause(true);
  const [id] = await next<[string]>(other, 'stalled');
  assert.equal(id, job.id);
  assert.deepEqual(swept, [], 'the skipping worker swept nothing');
});
