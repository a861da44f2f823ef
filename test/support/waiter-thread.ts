/**
 * The waiter of extend-lost-overlap.test.ts, in its own thread (so that it runs while the
 * holder's thread is busy, as another process would): acquires `resource` once and posts
 * {grantedNs, token}; process.hrtime.bigint() is CLOCK_MONOTONIC, shared with the holder.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Redlock } from '../../src/index.js';

const { urls, prefix, resource } = workerData as { urls: string[]; prefix: string; resource: string };
const port = parentPort;
if (port === null) throw new Error('a worker');
const redlock = new Redlock(urls, { prefix, retryCount: 20, retryDelay: 2_000, retryJitter: 0, nodeTimeout: 500 });
// Warm-up: a grant at the first attempt subscribes the wake channel in the background.
await (await redlock.acquire(`${resource}-warm-up`, 1_000)).release();
port.postMessage({ ready: true });
const invokedNs = process.hrtime.bigint();
const lock = await redlock.acquire(resource, 1_000);
const grantedNs = process.hrtime.bigint();
port.postMessage({ grantedNs: grantedNs.toString(), invokedNs: invokedNs.toString(), token: lock.fencingToken.toString() });
await lock.release();
await redlock.quit();
