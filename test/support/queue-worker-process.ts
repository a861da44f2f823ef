/**
 * A worker in its own process, for test/integration/queue-processes.test.ts. argv[2] is JSON:
 * { url, name, concurrency, label }. Each job records `<id>:<token>` in the list `<name>:started`,
 * works for `job.data.ms` (aborting on its signal) and returns the label. Prints `ready` once
 * fetching; on SIGTERM closes with `{ timeout: 0 }` (running jobs go straight back) and exits.
 */
import { Redis } from 'ioredis';
import { Worker } from '../../src/index.js';

const { url, name, concurrency, label } = JSON.parse(process.argv[2] ?? '{}') as { url: string; name: string; concurrency: number; label: string };
const redis = new Redis(url);
const worker = new Worker<{ ms: number }, string>(
  name,
  async (job, token, signal) => {
    await redis.rpush(`${name}:started`, `${job.id}:${token}`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, job.data.ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason);
      });
    });
    return label;
  },
  { connection: url, concurrency },
);
worker.on('ready', () => process.stdout.write('ready\n'));
process.once('SIGTERM', () => {
  void worker.close({ timeout: 0 }).then(async () => {
    await redis.quit();
    process.stdout.write('closed\n');
    process.exit(0);
  });
});
