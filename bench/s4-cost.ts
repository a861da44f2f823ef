/**
 * Where S4's time goes (docs/performance.md): one configuration per process — redfence's Queue with
 * `distributedLock: false` (`single`), `true` on 5 nodes (`quorum`), or BullMQ (`bullmq`, when
 * installed) — 20,000 tiny jobs, one Worker with concurrency 50, as S4. Prints jobs/s, the bench
 * process's CPU per job (`process.cpuUsage()`, user + system), each node's server CPU per job
 * (`INFO cpu`), its Redis calls per job (`INFO commandstats`, calls inside scripts included) and
 * the script calls sent to it per job (`EVALSHA`, `EVAL`), over the worker's run only. Run the
 * modes alternately, several times; add `--cpu-prof` to see the client's profile.
 *
 *   node --import tsx bench/s4-cost.ts single|quorum|bullmq [jobs, default 20000]
 */
import { Redis } from 'ioredis';
import { Queue, Redlock, startLocalCluster, Worker } from '../src/index.js';

const mode = process.argv[2] ?? 'single';
if (!['single', 'quorum', 'bullmq'].includes(mode)) throw new Error(`mode must be single, quorum or bullmq, got ${mode}`);
const jobs = Number(process.argv[3] ?? 20_000);
if (!Number.isInteger(jobs) || jobs < 1_000) throw new Error(`jobs must be an integer ≥ 1000, got ${process.argv[3]}`);

type Batch = { name: string; data: { i: number } }[];
interface Run {
  add(batch: Batch): Promise<unknown>;
  /** Starts the worker; `onCompleted` for each completion; resolves with its closer. */
  work(onCompleted: () => void): () => Promise<void>;
}

/** The part of BullMQ's API used here (an optional dev dependency: no types at compile time). */
interface BullModule {
  Queue: new (name: string, opts: object) => { addBulk(jobs: object[]): Promise<unknown>; close(): Promise<void> };
  Worker: new (name: string, fn: () => Promise<unknown>, opts: object) => { on(event: 'completed', fn: () => void): unknown; close(): Promise<void> };
}

const cluster = await startLocalCluster({ nodes: 5 });
const clients = cluster.urls.map((url) => new Redis(url));
const serverCpu = async (c: Redis): Promise<number> => {
  const info = await c.info('cpu');
  return Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]);
};
/** [Redis calls, script calls sent (EVALSHA + EVAL)] since RESETSTAT. */
const calls = async (c: Redis): Promise<[number, number]> => {
  const stats = await c.info('commandstats');
  const all = [...stats.matchAll(/calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  const scripts = [...stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  return [all, scripts];
};

async function setUp(): Promise<Run & { close(): Promise<void> }> {
  const url = cluster.urls[0] ?? '';
  if (mode === 'bullmq') {
    const specifier: string = 'bullmq';
    const lib = (await import(specifier)) as BullModule;
    const connection = { host: '127.0.0.1', port: Number(new URL(url).port), maxRetriesPerRequest: null };
    const queue = new lib.Queue('s4cost', { connection });
    return {
      add: (batch) => queue.addBulk(batch),
      work(onCompleted) {
        const worker = new lib.Worker('s4cost', async () => 1, { connection, concurrency: 50 });
        worker.on('completed', onCompleted);
        return () => worker.close();
      },
      close: () => queue.close(),
    };
  }
  const redlock = mode === 'quorum' ? new Redlock(cluster.urls, { prefix: 's4:' }) : undefined;
  const options = { connection: url, ...(redlock === undefined ? {} : { redlock, distributedLock: true }) };
  const queue = new Queue('s4cost', options);
  return {
    add: (batch) => queue.addBulk(batch),
    work(onCompleted) {
      const worker = new Worker('s4cost', async () => 1, { ...options, concurrency: 50 });
      worker.on('completed', onCompleted);
      return () => worker.close();
    },
    async close() {
      await queue.close();
      await redlock?.quit();
    },
  };
}

try {
  const run = await setUp();
  for (let i = 0; i < jobs; i += 1_000) await run.add(Array.from({ length: Math.min(1_000, jobs - i) }, (_, k) => ({ name: 'tiny', data: { i: i + k } })));
  for (const c of clients) await c.config('RESETSTAT');
  const server0 = await Promise.all(clients.map(serverCpu));
  const cpu0 = process.cpuUsage();
  let done = 0;
  let finished!: () => void;
  const all = new Promise<void>((resolve) => (finished = resolve));
  const start = performance.now();
  const closeWorker = run.work(() => ++done === jobs && finished());
  await all;
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const server1 = await Promise.all(clients.map(serverCpu));
  const perJob = await Promise.all(clients.map(calls));
  await closeWorker();
  await run.close();
  const us = (v: number): string => v.toFixed(0).padStart(4);
  process.stdout.write(
    `${mode.padEnd(6)} ${us((jobs / ms) * 1_000)} jobs/s | client CPU ${us((cpu.user + cpu.system) / jobs)} µs/job | ` +
      `server CPU µs/job per node ${server1.map((v, i) => us(((v - (server0[i] ?? 0)) * 1e6) / jobs)).join(' ')} | ` +
      `Redis calls/job per node ${perJob.map(([c]) => (c / jobs).toFixed(1)).join(' ')} | ` +
      `scripts sent/job per node ${perJob.map(([, c]) => (c / jobs).toFixed(2)).join(' ')}\n`,
  );
} finally {
  for (const c of clients) c.disconnect();
  await cluster.stop();
}
