/**
 * One job-queue process of the chaos suite (S18, S19): `node --import tsx test/chaos/queue-client.ts <config.json>`.
 *
 * The queue lives on node 0 of the fleet, reached through this process's own fault proxy. Roles:
 *
 * - `producer`: from the runner's `go`, adds `jobs` jobs (ids `j0` …), one every `addEveryMs`, recording `enqueue`
 *   invoke/ok. On `final <ms>` from the runner it waits (at most `ms`) until no job is waiting,
 *   delayed or active, then records a `final` event per job (its state, and the token its result
 *   names) and prints `final` with the counts.
 * - `worker`: a redfence Worker (`concurrency`, the scenario's lock options). The handler records
 *   `deliver` with `job.fencingToken`, touches the job's store resource (`job:<id>`, a fenced read
 *   with the token), works `jobMs` (a timer, not abortable: a zombie goes on), sometimes blocks the
 *   event loop for `blockMs`, then writes the increment with the token and returns `{ token, proc }`.
 *   A refused touch or write throws (the delivery is stale). Worker events give `complete` ok
 *   (accepted) / fail (refused: `stale`) and `failattempt`.
 * - `rescuer` (negative controls, before the stalled sweep existed): every 100 ms takes over active
 *   jobs whose lock ran out with `job.takeLock()` (a new delivery, larger token) and runs the same
 *   handler, finishing with `moveToCompleted` / `moveToFailed` and the delivery's token.
 *
 * `forceStale` (NC13): the handler returns success even when its effect was refused, and a
 * completion the queue refused is forced through on the client side — the job's hash and the
 * completed set written raw, as a queue without the token check would — and recorded as accepted.
 *
 * stdout (JSON lines): `ready`, `jobs` (the ids running now, on every change), `stats` (every
 * second), `final`, `error`, `done`. stdin: `go`, `final <ms>`, `stop`.
 */
import { openSync, readFileSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { type Job, JobError, Queue, StaleTokenError, Worker } from '../../src/index.js';
import { QueueKeys } from '../../src/queue/queue-keys.js';
import { seededRandom } from '../support/random.js';
import type { ClientConfig, QueueClientConfig } from './client-config.js';
import { type HistoryEvent, hrNow, toJsonLine } from './history.js';
import { outcomeOf, StoreClient } from './store-client.js';

const configPath = process.argv[2];
if (configPath === undefined) throw new Error('usage: queue-client.ts <config.json>');
const config = JSON.parse(readFileSync(configPath, 'utf8')) as ClientConfig;
const q: QueueClientConfig = config.queue ?? (() => {
  throw new Error('queue-client.ts needs a `queue` config');
})();

const CLIENT = `${config.proc}/0`;
const historyFd = openSync(config.historyFile, 'a');
type Draft = Omit<HistoryEvent, 'proc' | 't' | 'client'> & { readonly t?: bigint };
function record(event: Draft): void {
  writeSync(historyFd, `${toJsonLine({ proc: config.proc, client: CLIENT, ...event, t: event.t ?? hrNow() })}\n`);
}
function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${toJsonLine(event)}\n`);
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const random = seededRandom(config.seed);
const between = ([lo, hi]: readonly [number, number]): number => lo + random() * (hi - lo);
const errorText = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

const node = config.nodes[0];
if (node === undefined) throw new Error('no node to keep the queue on');
const connection = { host: node.host, port: node.port, disableClientInfo: true } as const;
const store = new StoreClient(config.storeUrl);
const stats = { grants: 0, fails: 0, rejected: 0, added: 0, completed: 0, refused: 0, blocked: 0, forced: 0 };
let stopping = false;
let ops = 0;

/** What a delivery's handler returns: the token its result names. */
interface Result {
  readonly token: string;
  readonly proc: string;
}

// ---- the effect: a fenced increment of the job's resource with the delivery's token ---------------

const running = new Set<string>();
function jobsChanged(): void {
  emit({ ev: 'jobs', running: [...running] });
}

/**
 * One fenced store op with the delivery's token, recorded in the history. The read is
 * `<grantId>/read` (the write names it as its `readOpId`); writes are numbered.
 */
async function storeOp(job: Job, grantId: string, op: 'read' | 'write', value?: number): Promise<{ ok: boolean; value: number }> {
  const key = `job:${job.id}`;
  const token = job.fencingToken;
  const opId = op === 'read' ? `${grantId}/read` : `${grantId}/${op[0]}${(ops += 1)}`;
  record({ op, phase: 'invoke', key, jobId: job.id, grantId, opId, token, ...(value === undefined ? {} : { value }) });
  const result = await store.send({
    op, resource: key, token: token.toString(), grantId, opId, proc: config.proc, client: CLIENT,
    ...(value === undefined ? {} : { value }), ...(op === 'write' ? { readOpId: `${grantId}/read` } : {}),
  });
  const outcome = outcomeOf(result, op, value ?? 0);
  record({ op, key, jobId: job.id, grantId, opId, token, ...outcome });
  if (outcome.phase === 'ok') return { ok: true, value: outcome.value ?? 0 };
  stats.rejected += 1;
  return { ok: false, value: 0 };
}

/** Busy-waits: the event loop (and any renewal on it) stops for `ms`. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  let spins = 0;
  while (performance.now() < until && spins < 1e10) spins += 1;
}

/** The handler of one delivery (worker and rescuer alike). */
async function handle(job: Job): Promise<Result> {
  const token = job.fencingToken;
  const grantId = `${config.proc}/${job.id}/t${token}`;
  stats.grants += 1;
  record({ op: 'deliver', phase: 'ok', key: `job:${job.id}`, jobId: job.id, grantId, token, value: job.attemptsStarted });
  running.add(job.id);
  jobsChanged();
  try {
    const touch = await readAndIncrement(job, grantId);
    if (!touch && !q.forceStale) throw new Error(`job ${job.id}: the store refused token ${token} (a newer delivery touched it)`);
    record({ op: 'complete', phase: 'invoke', key: `job:${job.id}`, jobId: job.id, grantId, token });
    return { token: token.toString(), proc: config.proc };
  } finally {
    running.delete(job.id);
    jobsChanged();
  }
}

/** Touch (read), work, maybe block, write read + 1; true when both were accepted. */
async function readAndIncrement(job: Job, grantId: string): Promise<boolean> {
  // The read id the write names (RMW pairs them by readOpId).
  const read = await storeOp(job, grantId, 'read');
  if (!read.ok && !q.forceStale) return false;
  await sleep(between(q.jobMs));
  if (q.blockProbability > 0 && random() < q.blockProbability) {
    stats.blocked += 1;
    record({ op: 'deliver', phase: 'info', key: `job:${job.id}`, jobId: job.id, grantId, token: job.fencingToken, err: `blocking the event loop ${q.blockMs} ms` });
    blockEventLoop(q.blockMs);
  }
  const write = await storeOp(job, grantId, 'write', read.value + 1);
  return read.ok && write.ok;
}

// ---- finishing, as the queue reports it ----------------------------------------------------------

/** Deliveries whose handler returned (their `stale` is a refused completion, else a refused failure). */
const returned = new Set<string>();
let raw: Redis | undefined;
const keys = new QueueKeys('redfence', q.name);

function completed(job: Job): void {
  stats.completed += 1;
  record({ op: 'complete', phase: 'ok', key: `job:${job.id}`, jobId: job.id, grantId: `${config.proc}/${job.id}/t${job.fencingToken}`, token: job.fencingToken });
}

function failed(job: Job, error: Error): void {
  const state = job.finishedOn !== undefined ? 'failed' : 'retry';
  record({ op: 'failattempt', phase: 'ok', key: `job:${job.id}`, jobId: job.id, grantId: `${config.proc}/${job.id}/t${job.fencingToken}`, token: job.fencingToken, state, err: errorText(error) });
}

async function refused(job: Job, error: Error): Promise<void> {
  stats.refused += 1;
  const id = `${job.id}/${job.fencingToken}`;
  const wasResult = returned.has(id);
  const grantId = `${config.proc}/${job.id}/t${job.fencingToken}`;
  record({ op: wasResult ? 'complete' : 'failattempt', phase: 'fail', key: `job:${job.id}`, jobId: job.id, grantId, token: job.fencingToken, err: errorText(error) });
  if (!q.forceStale || !wasResult) return;
  // NC13: a queue without the token check would have taken this completion: write it raw.
  raw ??= new Redis({ ...connection, lazyConnect: false });
  const result: Result = { token: job.fencingToken.toString(), proc: config.proc };
  const now = Date.now();
  await raw
    .multi()
    .hset(keys.job(job.id), 'returnvalue', JSON.stringify(result), 'finishedOn', String(now))
    .lrem(keys.active, 0, job.id)
    .zadd(keys.completed, now, job.id)
    .exec();
  stats.forced += 1;
  record({ op: 'complete', phase: 'ok', key: `job:${job.id}`, jobId: job.id, grantId, token: job.fencingToken, err: 'forced past the token check (NC13)' });
}

// ---- roles ---------------------------------------------------------------------------------------

const added: string[] = [];
let adding: Promise<void> = Promise.resolve();
let queue: Queue | undefined;
let worker: Worker | undefined;

async function produce(target: Queue): Promise<void> {
  let next = performance.now();
  for (let i = 0; i < q.jobs && !stopping; i += 1) {
    const jobId = `j${i}`;
    record({ op: 'enqueue', phase: 'invoke', key: `job:${jobId}`, jobId });
    try {
      await target.add('chaos', { i }, { jobId, attempts: 1 });
      added.push(jobId);
      stats.added += 1;
      record({ op: 'enqueue', phase: 'ok', key: `job:${jobId}`, jobId });
    } catch (error) {
      stats.fails += 1;
      record({ op: 'enqueue', phase: 'info', key: `job:${jobId}`, jobId, err: errorText(error) });
    }
    next = Math.max(next + q.addEveryMs, performance.now());
    await sleep(next - performance.now());
  }
}

/** Waits (bounded) until no job is waiting, delayed or active, then records every job's final state. */
async function finalRead(target: Queue, timeoutMs: number): Promise<void> {
  await adding;
  const started = performance.now();
  let counts: Record<string, number> = {};
  for (let i = 0; i < 10_000; i += 1) {
    counts = await target.getJobCounts('waiting', 'paused', 'prioritized', 'delayed', 'active', 'completed', 'failed');
    const open = (counts['waiting'] ?? 0) + (counts['paused'] ?? 0) + (counts['prioritized'] ?? 0) + (counts['delayed'] ?? 0) + (counts['active'] ?? 0);
    if (open === 0 || performance.now() - started >= timeoutMs) break;
    await sleep(100);
  }
  const waitedMs = Math.round(performance.now() - started);
  for (const jobId of added) {
    const job = await target.getJob(jobId);
    const state = job === undefined ? 'missing' : await job.getState();
    const result = job?.returnvalue as Partial<Result> | undefined;
    const token = state === 'completed' && typeof result?.token === 'string' ? BigInt(result.token) : undefined;
    record({ op: 'final', phase: 'info', key: `job:${jobId}`, jobId, state, ...(token === undefined ? {} : { token }), ...(job === undefined ? {} : { value: job.attemptsStarted }) });
  }
  emit({ ev: 'final', counts, waitedMs, jobs: added.length });
}

async function rescue(target: Queue): Promise<void> {
  const mine = new Set<Promise<void>>();
  for (let round = 0; round < 100_000 && !stopping; round += 1) {
    let active: Job[] = [];
    try {
      active = await target.getActive(0, 100);
    } catch (error) {
      emit({ ev: 'warn', message: errorText(error) });
    }
    for (const job of active) {
      if (running.has(job.id) || mine.size >= 4) continue;
      let taken: number | false;
      try {
        taken = await job.takeLock();
      } catch {
        continue;
      }
      if (taken === false) continue;
      const p = runTaken(job).finally(() => mine.delete(p));
      mine.add(p);
    }
    await sleep(100);
  }
  await Promise.all(mine);
}

async function runTaken(job: Job): Promise<void> {
  let result: Result | undefined;
  let failure: Error | undefined;
  try {
    result = await handle(job);
    returned.add(`${job.id}/${job.fencingToken}`);
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
  }
  try {
    if (result !== undefined) {
      await job.moveToCompleted(result, job.token);
      completed(job);
    } else {
      await job.moveToFailed(failure ?? new Error('failed'), job.token);
      failed(job, failure ?? new Error('failed'));
    }
  } catch (error) {
    if (error instanceof StaleTokenError || error instanceof JobError) await refused(job, error);
    else emit({ ev: 'warn', message: errorText(error) });
  }
}

// ---- the process -------------------------------------------------------------------------------

let stopped: () => void = () => undefined;
const untilStopped = new Promise<void>((resolve) => (stopped = resolve));
const input = createInterface({ input: process.stdin });
input.on('line', (raw0) => {
  const [cmd, arg] = raw0.trim().split(/\s+/);
  if (cmd === 'stop') {
    stopping = true;
    stopped();
  } else if (cmd === 'go' && queue !== undefined && q.role === 'producer') {
    adding = produce(queue);
  } else if (cmd === 'final' && queue !== undefined && q.role === 'producer') {
    finalRead(queue, Number(arg ?? 5_000)).catch((error: unknown) => emit({ ev: 'error', message: `final: ${errorText(error)}` }));
  }
});
setTimeout(() => {
  stopping = true;
  stopped();
}, config.maxRunMs).unref();
setTimeout(() => process.exit(3), config.maxRunMs + 15_000).unref();
const statsTimer = setInterval(() => emit({ ev: 'stats', ...stats, running: running.size, wall: Date.now(), hr: hrNow() }), 1_000);

let work: Promise<void> = Promise.resolve();
try {
  if (q.role === 'worker') {
    worker = new Worker(
      q.name,
      async (job: Job) => {
        const result = await handle(job);
        returned.add(`${job.id}/${job.fencingToken}`);
        return result;
      },
      { connection, concurrency: q.concurrency, name: config.proc, ...q.lockOptions },
    );
    worker.on('completed', (job) => completed(job));
    worker.on('failed', (job, error) => {
      if (job !== undefined) failed(job, error);
    });
    worker.on('stale', (job, error) => {
      refused(job, error).catch((e: unknown) => emit({ ev: 'error', message: `forcing: ${errorText(e)}` }));
    });
    worker.on('redisError', (error) => emit({ ev: 'warn', message: errorText(error) }));
    await worker.waitUntilReady();
  } else {
    queue = new Queue(q.name, { connection, ...q.lockOptions });
    await queue.waitUntilReady();
    // The producer adds its jobs from the runner's `go` on (when the nemesis starts).
    if (q.role === 'rescuer') work = rescue(queue);
  }
  emit({ ev: 'ready', pid: process.pid });
  await untilStopped;
} catch (error) {
  emit({ ev: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 2;
} finally {
  stopping = true;
  clearInterval(statsTimer);
  await worker?.close({ timeout: 3_000 }).catch((error: unknown) => emit({ ev: 'error', message: `close: ${errorText(error)}` }));
  await Promise.race([Promise.all([adding, work]), sleep(3_000)]);
  await queue?.close().catch(() => undefined);
  raw?.disconnect();
  emit({ ev: 'stats', ...stats, running: running.size, wall: Date.now(), hr: hrNow() });
  emit({ ev: 'done' });
  input.close();
  process.stdin.destroy();
  process.exit(process.exitCode ?? 0);
}
