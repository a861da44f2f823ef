/**
 * The lock thread's entry (see lock-thread.ts): keeps the locks the main thread hands over, with
 * a Redlock of its own per node set (its own connections) on the process-wide monotonic clock.
 * Each lock is a Lock with the grant's owner, token and renewal options, whose validity lives in
 * memory the main thread reads. Renewals are refused once the main thread's heartbeat is older
 * than the lock's `lockThreadMaxBlockMs`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { runScript } from '../nodes/redis/redis-node.js';
import type { Clock } from '../clock.js';
import type { LockLostError } from '../errors.js';
import type { Lock, ValidityCell } from './lock.js';
import { type FromThread, hrNowMs, LOST_CODES, type NodeDescription, postError, type ToThread } from './lock-thread.js';
import { Redlock } from './redlock.js';
import { Renewer } from './renewer.js';
import type { RedlockSettings } from './redlock-options.js';

const port = parentPort;
if (port === null) throw new Error('lock-thread-worker.ts runs as a worker thread');
const heartbeat = new BigInt64Array((workerData as { heartbeat: SharedArrayBuffer }).heartbeat);

/** The process-wide monotonic clock (validity is kept on it); the thread acquires nothing, so no wall clock. */
const clock: Clock = {
  now: hrNowMs,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The thread writes the cell the main thread reads (µs on the hr clock). */
class SharedCell implements ValidityCell {
  readonly #view: BigInt64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#view = new BigInt64Array(buffer);
  }

  get until(): number {
    return Number(Atomics.load(this.#view, 0)) / 1_000;
  }

  set until(ms: number) {
    Atomics.store(this.#view, 0, BigInt(Math.floor(ms * 1_000)));
  }

  get deadline(): number {
    return Number(Atomics.load(this.#view, 1)) / 1_000;
  }

  set deadline(ms: number) {
    Atomics.store(this.#view, 1, BigInt(Math.floor(ms * 1_000)));
  }

  readonly lost = undefined;

  /** Tells the main thread (which reads this before any message) that the lock is lost. */
  fail(error: LockLostError): void {
    Atomics.store(this.#view, 2, BigInt(Math.max(1, LOST_CODES.indexOf(error.reason))));
  }
}

const redlocks = new Map<string, Redlock>();
const locks = new Map<number, { readonly lock: Lock; readonly cell: SharedCell; readonly maxBlockMs: number }>();
const blockLimits = new WeakMap<Lock, number>();

/** Why nothing may be renewed now: the main thread's event loop has not turned for longer than `limit`. */
function silentFor(limit: number): string | undefined {
  const silent = hrNowMs() - Number(Atomics.load(heartbeat, 0)) / 1_000;
  return silent <= limit ? undefined : `the process's event loop has not turned for ${Math.round(silent)} ms (more than lockThreadMaxBlockMs, ${limit} ms): renewal stopped`;
}

/** The Redlock's renewal gate for the locks held here. */
function gate(lock: Lock): string | undefined {
  const limit = blockLimits.get(lock);
  return limit === undefined ? undefined : silentFor(limit);
}

function redlockFor(message: { readonly nodes: readonly NodeDescription[]; readonly settings: RedlockSettings }): Redlock {
  const key = JSON.stringify([message.nodes, message.settings.prefix, message.settings.nodeTimeout, message.settings.driftFactor]);
  let redlock = redlocks.get(key);
  if (redlock === undefined) {
    redlock = new Redlock(message.nodes, { ...message.settings, useDedicatedLockThread: false, autoRepair: false, clock });
    redlock.renewalGate = gate;
    redlocks.set(key, redlock);
  }
  return redlock;
}

const post = (message: FromThread): void => port.postMessage(message);

/** Connections of the script leases, one per node description. */
const leaseClients = new Map<string, Redis>();
const leases = new Map<number, Renewer>();

/**
 * A script lease (a queue's single-node job lock): the queue's own renewal script, run every
 * `everyMs` on the thread's connection by the one Renewer, under the same heartbeat as the locks.
 * The script answers 1 while the delivery's token is current; anything else ends the lease.
 */
function lease(message: Extract<ToThread, { op: 'lease' }>): void {
  const key = JSON.stringify(message.node);
  let client = leaseClients.get(key);
  if (client === undefined) {
    client = typeof message.node === 'string' ? new Redis(message.node) : new Redis(message.node);
    client.on('error', () => undefined);
    leaseClients.set(key, client);
  }
  const redis = client;
  const { id, script, keys, msIndex, leaseMs, everyMs, deadline, maxBlockMs } = message;
  let leaseEnd = hrNowMs() + leaseMs;
  const lost = (why: string): void => {
    if (!leases.has(id)) return;
    leases.get(id)?.stop();
    leases.delete(id);
    post({ op: 'lost', id, error: { name: 'LockLostError', message: why, reason: 'extendFailed' } });
  };
  const renewer = new Renewer(clock, {
    next: () => (leases.has(id) ? everyMs : undefined),
    renew: async () => {
      const blocked = silentFor(maxBlockMs);
      if (blocked !== undefined) return lost(blocked);
      const now = hrNowMs();
      const ms = Math.ceil(deadline < 0 ? leaseMs : Math.min(leaseMs, deadline - now));
      if (ms <= 0) return void leases.delete(id);
      let reply: unknown;
      try {
        reply = await runScript(redis, script, keys, message.args.map((arg, i) => (i === msIndex ? ms : arg)));
      } catch (error) {
        // A failed request is tried again at the next turn, while the lease lasts.
        if (hrNowMs() >= leaseEnd) lost(`the job's lock could not be renewed before its lease ran out: ${String(error)}`);
        return;
      }
      if (Number(reply) !== 1) return lost("the job is no longer this delivery's (its token is not current, or it left active)");
      leaseEnd = now + ms;
    },
    failed: (error) => lost(String(error)),
  });
  leases.set(id, renewer);
  renewer.start();
}

function adopt(message: Extract<ToThread, { op: 'adopt' }>): void {
  const cell = new SharedCell(message.cell);
  const lock = redlockFor(message).adopt(message.resources, message.owner, BigInt(message.token), message.ttl, message.validity, message.settings, cell);
  blockLimits.set(lock, message.settings.lockThreadMaxBlockMs);
  locks.set(message.id, { lock, cell, maxBlockMs: message.settings.lockThreadMaxBlockMs });
  const ended = (): void => {
    const reason = lock.signal.reason as LockLostError;
    if (!locks.has(message.id)) return; // released or abandoned by the main thread
    // Kept for the main thread's release (which clears what is left on the nodes) until its
    // lease is surely over.
    cell.fail(reason);
    setTimeout(() => locks.delete(message.id), message.ttl + 1_000).unref();
    post({ op: 'lost', id: message.id, error: postError(reason) });
  };
  if (lock.signal.aborted) ended();
  else lock.signal.addEventListener('abort', ended, { once: true });
}

port.on('message', (message: ToThread) => {
  if (message.op === 'adopt') {
    adopt(message);
    return;
  }
  if (message.op === 'lease') {
    lease(message);
    return;
  }
  if (message.op === 'unlease') {
    leases.get(message.id)?.stop();
    leases.delete(message.id);
    return;
  }
  if (message.op === 'prepare') {
    // Connected (and the scripts loaded) before the first lock arrives, so its first renewal is
    // as fast as the main thread's would be. A node that does not answer is not waited for.
    const { req } = message;
    redlockFor(message)
      .holder('__redfence_lock_thread__')
      .then(
        () => post({ op: 'reply', req }),
        () => post({ op: 'reply', req }),
      );
    return;
  }
  const held = locks.get(message.id);
  if (message.op === 'abandon') {
    locks.delete(message.id);
    held?.lock.abandon();
    return;
  }
  const { req } = message;
  if (held === undefined) {
    // Lost, and its lease long over: nothing to release; nothing to extend.
    if (message.op === 'release') post({ op: 'reply', req });
    else post({ op: 'reply', req, error: { name: 'LockLostError', message: 'the lock thread no longer holds this lock', reason: 'extendFailed' } });
    return;
  }
  if (message.op === 'release') {
    locks.delete(message.id);
    held.lock.release().then(
      () => post({ op: 'reply', req }),
      (error: unknown) => post({ op: 'reply', req, error: postError(error) }),
    );
    return;
  }
  held.lock.extend(message.ttl).then(
    () => post({ op: 'reply', req, value: { until: held.cell.until, deadline: held.cell.deadline } }),
    (error: unknown) => post({ op: 'reply', req, error: postError(error) }),
  );
});
