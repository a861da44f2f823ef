import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, test } from 'node:test';
import { useCluster } from '../support/cluster.js';
import { collect, useQueues } from '../support/queue.js';

// Workers in child processes on one queue (issue 13): every job completes exactly once, also when
// one worker process is told to stop in the middle and puts its running jobs straight back.
const env = useCluster(1);
const q = useQueues();
const url = (): string => env.cluster.urls[0] ?? '';
const SCRIPT = fileURLToPath(new URL('../support/queue-worker-process.ts', import.meta.url));
const children = new Set<ChildProcess>();

afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

/** Starts a worker process; resolves once it fetches, with a promise of its next stdout line `word`. */
async function workerProcess(name: string, label: string, concurrency: number): Promise<{ child: ChildProcess; said: (word: string) => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, JSON.stringify({ url: url(), name, concurrency, label })], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const lines: string[] = [];
  const waiters: [string, () => void][] = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      lines.push(line);
      for (const [word, resolve] of waiters) if (word === line) resolve();
    }
  });
  const said = (word: string): Promise<void> =>
    new Promise((resolve, reject) => {
      if (lines.includes(word)) return resolve();
      const timer = setTimeout(() => reject(new Error(`${label} did not say ${word}`)), 20_000);
      waiters.push([word, () => (clearTimeout(timer), resolve())]);
      child.once('exit', (code) => !lines.includes(word) && reject(new Error(`${label} exited (${code}) before saying ${word}`)));
    });
  await said('ready');
  return { child, said };
}

test('two worker processes share a queue; one stops mid-way and every job still completes exactly once', { timeout: 60_000 }, async () => {
  const name = q.name();
  const queue = q.queue(name, { connection: url() });
  const events = await q.events(name, url());
  const [a] = await Promise.all([workerProcess(name, 'A', 3), workerProcess(name, 'B', 3)]);
  const jobs = 60;
  const all = collect<[{ jobId: string; returnvalue: string }]>(events, 'completed', jobs, 45_000);
  const some = collect(events, 'completed', 10, 20_000);
  await queue.addBulk(Array.from({ length: jobs }, (_, i) => ({ name: 'work', data: { ms: 100 + (i % 5) * 25 } })));
  await some;
  // A stops: its running jobs are aborted and put back at once, and B runs them.
  a.child.kill('SIGTERM');
  await a.said('closed');
  const completed = await all;
  const ids = completed.map(([args]) => args.jobId);
  assert.equal(new Set(ids).size, jobs, 'every job completed once: no completion twice');
  assert.deepEqual(await queue.getJobCounts('completed', 'active', 'waiting', 'failed'), { completed: jobs, active: 0, waiting: 0, failed: 0 });
  const started = await env.clients()[0]!.lrange(`${name}:started`, 0, -1);
  const byJob = new Map<string, bigint[]>();
  for (const entry of started) {
    const [id = '', token = '0'] = entry.split(':');
    byJob.set(id, [...(byJob.get(id) ?? []), BigInt(token)]);
  }
  for (const [id, tokens] of byJob) {
    for (let i = 1; i < tokens.length; i += 1) assert.ok(tokens[i]! > tokens[i - 1]!, `job ${id}: each redelivery has a larger token`);
  }
  const rerun = [...byJob.values()].filter((t) => t.length > 1).length;
  const byA = completed.filter(([args]) => args.returnvalue === 'A').length;
  assert.ok(byA > 0 && byA < jobs, `both processes worked (A completed ${byA})`);
  // Jobs take 100–200 ms and A runs 3 at a time while dozens wait: it had jobs running when told to stop.
  assert.ok(rerun >= 1 && rerun <= 3, `A's running jobs (1 to 3) were put back and run again (${rerun})`);
  const job = await queue.getJob(ids[0]!);
  assert.equal(job?.attemptsMade, 1);
});
