/**
 * A worker in its own process, for test/integration/queue-stalls.test.ts (issue 14). argv[2] is
 * JSON: { url, name, label, options, redlockUrls?, redlockPrefix? }. `options` are Worker options
 * (lock settings); with `redlockUrls` the worker takes quorum locks (`distributedLock`).
 *
 * Each job says `started <id> <token>` and then, by `job.data.mode`:
 *   'hang'  waits until its signal aborts;
 *   'wait'  waits `job.data.ms` on a timer (not on its signal: the result is offered to the fence);
 *   'block' blocks the event loop for `job.data.ms` (Atomics.wait), then returns;
 * and returns the label. Prints `ready`, `completed <id>`, `stale <id>`, `lost <id>` (lockRenewalFailed).
 */
import { Redlock, Worker, type WorkerOptions } from '../../src/index.js';

interface Config {
  readonly url: string;
  readonly name: string;
  readonly label: string;
  readonly options: Partial<WorkerOptions>;
  readonly redlockUrls?: readonly string[];
  readonly redlockPrefix?: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const redlock = config.redlockUrls === undefined ? undefined : new Redlock(config.redlockUrls, { prefix: config.redlockPrefix ?? 'redfence' });
const worker = new Worker<{ mode: string; ms?: number }, string>(
  config.name,
  async (job, token, signal) => {
    say(`started ${job.id} ${token}`);
    const { mode, ms = 0 } = job.data;
    if (mode === 'block') {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    } else if (mode === 'wait') {
      await new Promise((resolve) => setTimeout(resolve, ms));
    } else if (mode === 'hang') {
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
    }
    return config.label;
  },
  { connection: config.url, ...config.options, ...(redlock === undefined ? {} : { redlock, distributedLock: true }) },
);
worker.on('ready', () => say('ready'));
worker.on('completed', (job) => say(`completed ${job.id}`));
worker.on('stale', (job) => say(`stale ${job.id}`));
worker.on('lockRenewalFailed', (ids) => say(`lost ${ids.join(',')}`));
process.once('SIGTERM', () => void worker.close({ timeout: 0 }).then(() => process.exit(0)));
