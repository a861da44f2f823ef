/**
 * S4 (../shared/BENCH.md), on its own for now: `addBulk` of 20,000 tiny jobs, then one Worker with
 * concurrency 50; jobs/s from the worker's start to the last completion. redfence with
 * `distributedLock: false` (the queue's Redis is one node) and `true` (quorum locks on 5 nodes),
 * and BullMQ in the same run when it is installed (a dev dependency: `npm i -D --save-exact
 * bullmq`); without it the BullMQ row says so. Repetitions are interleaved. redfence runs from
 * src/ through tsx here (bench/run.ts measures a tsc build), so its figures are a little low.
 *
 *   node --import tsx bench/s4-queue.ts [--jobs 20000] [--reps 3]
 */
import { parseArgs } from 'node:util';
import { type LocalCluster, Queue, Redlock, startLocalCluster, Worker } from '../src/index.js';

const { values } = parseArgs({ options: { jobs: { type: 'string' }, reps: { type: 'string' } } });
const JOBS = Number(values.jobs ?? 20_000);
const REPS = Number(values.reps ?? 3);
const CONCURRENCY = 50;

interface QueueLib {
  readonly label: string;
  /** Adds JOBS jobs, then resolves with ms from the worker's start to the last completion. */
  run(name: string): Promise<number>;
  close(): Promise<void>;
}

async function addAll(add: (jobs: { name: string; data: { i: number } }[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < JOBS; i += 1_000) {
    await add(Array.from({ length: Math.min(1_000, JOBS - i) }, (_, k) => ({ name: 'tiny', data: { i: i + k } })));
  }
}

function redfence(cluster: LocalCluster, distributedLock: boolean): QueueLib {
  const redlock = distributedLock ? new Redlock(cluster.urls, { prefix: 's4:' }) : undefined;
  const options = { connection: cluster.urls[0] ?? '', ...(redlock === undefined ? {} : { redlock, distributedLock: true }) };
  return {
    label: distributedLock ? 'redfence, distributedLock (5 nodes)' : 'redfence, single-node lock',
    async run(name) {
      const queue = new Queue(name, options);
      await addAll((jobs) => queue.addBulk(jobs));
      let done = 0;
      const start = performance.now();
      const worker = new Worker(name, async () => 1, { ...options, concurrency: CONCURRENCY });
      await new Promise<void>((resolve) => worker.on('completed', () => ++done === JOBS && resolve()));
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

async function bullmq(cluster: LocalCluster): Promise<QueueLib | string> {
  let lib: BullModule;
  // A string, not a literal: the type checker must not look for a package that may be absent.
  const specifier: string = 'bullmq';
  try {
    lib = (await import(specifier)) as BullModule;
  } catch {
    return 'BullMQ is not installed (npm i -D --save-exact bullmq): no comparison in this run';
  }
  const port = Number(new URL(cluster.urls[0] ?? '').port);
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  return {
    label: 'BullMQ',
    async run(name) {
      const queue = new lib.Queue(name, { connection });
      await addAll((jobs) => queue.addBulk(jobs));
      let done = 0;
      const start = performance.now();
      const worker = new lib.Worker(name, async () => 1, { connection, concurrency: CONCURRENCY });
      await new Promise<void>((resolve) => worker.on('completed', () => ++done === JOBS && resolve()));
      const ms = performance.now() - start;
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      return ms;
    },
    async close() {},
  };
}

const cluster = await startLocalCluster({ nodes: 5 });
try {
  const maybeBull = await bullmq(cluster);
  const libs = [redfence(cluster, false), redfence(cluster, true), ...(typeof maybeBull === 'string' ? [] : [maybeBull])];
  const rates = new Map<string, number[]>(libs.map((l) => [l.label, []]));
  for (let rep = 0; rep < REPS; rep += 1) {
    for (const lib of libs) {
      const ms = await lib.run(`s4-${rep}-${libs.indexOf(lib)}-${Date.now()}`);
      rates.get(lib.label)?.push((JOBS / ms) * 1_000);
      process.stderr.write(`[S4] ${lib.label}: ${((JOBS / ms) * 1_000).toFixed(0)} jobs/s\n`);
    }
  }
  for (const lib of libs) await lib.close();
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const bull = rates.get('BullMQ');
  process.stdout.write(`\n| S4: ${JOBS} jobs, concurrency ${CONCURRENCY} | jobs/s (median of ${REPS}) | vs BullMQ |\n|---|---|---|\n`);
  for (const [label, xs] of rates) {
    const ratio = bull === undefined ? '—' : `${(median(xs) / median(bull)).toFixed(2)}×`;
    process.stdout.write(`| ${label} | ${median(xs).toFixed(0)} | ${ratio} |\n`);
  }
  if (typeof maybeBull === 'string') process.stdout.write(`\n${maybeBull}\n`);
} finally {
  await cluster.stop();
}
