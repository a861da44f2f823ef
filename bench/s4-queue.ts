/**
 * S4 (../shared/BENCH.md): `addBulk` of 20,000 tiny jobs, then one Worker with concurrency 50;
 * jobs/s from the worker's start to the last completion. redfence's Queue with
 * `distributedLock: false` (queue and lock on node 0) and `true` (quorum locks on the 5 nodes),
 * and BullMQ on node 0 in the same run when it is installed (a dev dependency: `npm i -D
 * --save-exact bullmq`); without it the table says so and has no ratio. Repetitions are
 * interleaved. Part of `npm run bench`; on its own:
 *
 *   node --import tsx bench/s4-queue.ts [--jobs 20000] [--reps 3]
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type LocalCluster, startLocalCluster } from '../src/index.js';
import type { ImplId } from './adapters/adapter.js';
import { loadRedfence, REDFENCE_MODULE_ENV } from './redfence-build.js';
import { newTable, record, type Table } from './result-table.js';
import type { ScenarioContext } from './scenario-context.js';

const CONCURRENCY = 50;

interface QueueLib {
  readonly id: ImplId;
  readonly label: string;
  /** Adds `jobs` jobs, then resolves with ms from the worker's start to the last completion. */
  run(name: string, jobs: number): Promise<number>;
  close(): Promise<void>;
}

async function addAll(jobs: number, add: (batch: { name: string; data: { i: number } }[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < jobs; i += 1_000) {
    await add(Array.from({ length: Math.min(1_000, jobs - i) }, (_, k) => ({ name: 'tiny', data: { i: i + k } })));
  }
}

async function redfenceQueue(urls: readonly string[], distributedLock: boolean): Promise<QueueLib> {
  const { Queue, Redlock, Worker } = await loadRedfence(process.env[REDFENCE_MODULE_ENV]);
  const redlock = distributedLock ? new Redlock(urls, { prefix: 's4:' }) : undefined;
  const options = { connection: urls[0] ?? '', ...(redlock === undefined ? {} : { redlock, distributedLock: true }) };
  return {
    id: distributedLock ? 'redfence-quorum' : 'redfence',
    label: distributedLock ? 'redfence Queue, distributedLock (5 nodes)' : 'redfence Queue, single-node lock',
    async run(name, jobs) {
      const queue = new Queue(name, options);
      await addAll(jobs, (batch) => queue.addBulk(batch));
      let done = 0;
      const start = performance.now();
      const worker = new Worker(name, async () => 1, { ...options, concurrency: CONCURRENCY });
      await new Promise<void>((resolve) => worker.on('completed', () => ++done === jobs && resolve()));
      const ms = performance.now() - start;
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      return ms;
    },
    async close() {
      await redlock?.quit();
    },
  };
}

/** The part of BullMQ's API S4 uses (it is an optional dev dependency: no types at compile time). */
interface BullModule {
  Queue: new (name: string, opts: object) => { addBulk(jobs: object[]): Promise<unknown>; obliterate(o: object): Promise<void>; close(): Promise<void> };
  Worker: new (name: string, fn: () => Promise<unknown>, opts: object) => { on(event: 'completed', fn: () => void): unknown; close(): Promise<void> };
}

async function bullmq(urls: readonly string[]): Promise<QueueLib | undefined> {
  let lib: BullModule;
  // A string, not a literal: the type checker must not look for a package that may be absent.
  const specifier: string = 'bullmq';
  try {
    lib = (await import(specifier)) as BullModule;
  } catch {
    return undefined;
  }
  const port = Number(new URL(urls[0] ?? '').port);
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  return {
    id: 'bullmq',
    label: 'BullMQ',
    async run(name, jobs) {
      const queue = new lib.Queue(name, { connection });
      await addAll(jobs, (batch) => queue.addBulk(batch));
      let done = 0;
      const start = performance.now();
      const worker = new lib.Worker(name, async () => 1, { connection, concurrency: CONCURRENCY });
      await new Promise<void>((resolve) => worker.on('completed', () => ++done === jobs && resolve()));
      const ms = performance.now() - start;
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      return ms;
    },
    async close() {},
  };
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** S4 as a table of `npm run bench` (jobs/s per implementation; notes: the ratios to BullMQ). */
export async function runS4(ctx: Pick<ScenarioContext, 'urls' | 'reps' | 'quick' | 'log' | 'checkBudget'>, jobs = ctx.quick ? 2_000 : 20_000): Promise<Table[]> {
  const table = newTable('S4', 'N=5', `S4 queue, ${jobs} tiny jobs, one worker with concurrency ${CONCURRENCY}: jobs/s from the worker's start to the last completion`, [
    { key: 'jobsPerSecond', label: 'jobs/s', digits: 0, better: 'higher', ratio: false },
  ]);
  const bull = await bullmq(ctx.urls);
  const libs = [await redfenceQueue(ctx.urls, false), await redfenceQueue(ctx.urls, true), ...(bull === undefined ? [] : [bull])];
  try {
    for (let rep = 0; rep < ctx.reps; rep += 1) {
      // Interleaved, and the order rotated every repetition: none always runs first (or after the same one).
      for (const [k] of libs.entries()) {
        const i = (k + rep) % libs.length;
        const lib = libs[i];
        if (lib === undefined) continue;
        ctx.checkBudget();
        const ms = await lib.run(`s4-${rep}-${i}-${Date.now()}`, jobs);
        const rate = (jobs / ms) * 1_000;
        record(table, lib, rep, { jobsPerSecond: rate });
        ctx.log(`S4 ${lib.label}: ${rate.toFixed(0)} jobs/s`);
      }
    }
  } finally {
    for (const lib of libs) await lib.close();
  }
  const bullRow = table.rows.find((r) => r.impl === 'bullmq');
  if (bullRow === undefined) {
    table.notes.push('BullMQ is not installed (`npm i -D --save-exact bullmq`): no comparison in this run (targets: ≥ 1.0× single-node, ≥ 0.5× with 5 nodes).');
  } else {
    const base = median(bullRow.values['jobsPerSecond'] ?? []);
    for (const row of table.rows.filter((r) => r.impl !== 'bullmq')) {
      table.notes.push(`${row.label}: ${(median(row.values['jobsPerSecond'] ?? []) / base).toFixed(2)}× BullMQ (medians).`);
    }
  }
  return [table];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { jobs: { type: 'string' }, reps: { type: 'string' } } });
  const cluster: LocalCluster = await startLocalCluster({ nodes: 5 });
  try {
    const [table] = await runS4(
      { urls: cluster.urls, reps: Number(values.reps ?? 3), quick: false, log: (m) => process.stderr.write(`[S4] ${m}\n`), checkBudget: () => undefined },
      Number(values.jobs ?? 20_000),
    );
    for (const row of table?.rows ?? []) process.stdout.write(`${row.label}: ${median(row.values['jobsPerSecond'] ?? []).toFixed(0)} jobs/s (median)\n`);
    for (const note of table?.notes ?? []) process.stdout.write(`${note}\n`);
  } finally {
    await cluster.stop();
  }
}
