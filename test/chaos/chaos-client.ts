/**
 * One chaos client process: `node --import tsx test/chaos/chaos-client.ts <config.json>`.
 *
 * Runs `clients` logical clients, each with its own redfence Redlock reaching the nodes through
 * this process's own fault proxies, doing critical sections of fenced read-modify-write
 * increments on the store. Every step is appended to a history file (history.ts) with a
 * synchronous write, so it survives SIGKILL; times are `process.hrtime.bigint()`.
 *
 * stdout (JSON lines, for the runner): `ready`, `granted`, `victim-ready`, `stats`, `clockDrift`,
 * `repaired`, `error`, `done`. stdin: the line `stop` ends the run (sections in progress finish);
 * a victim waits for a `go` line before each round.
 */
import { openSync, readFileSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { type Clock, type Lock, LockLostError, RedfenceError, Redlock } from '../../src/index.js';
import { unsafe } from '../../src/unsafe.js';
import { seededRandom } from '../support/random.js';
import { type ClientConfig, redlockSetup } from './client-config.js';
import { type HistoryEvent, hrNow, toJsonLine } from './history.js';
import { installOldQueueHead } from './old-queue-head.js';
import { outcomeOf, StoreClient } from './store-client.js';

const configPath = process.argv[2];
if (configPath === undefined) throw new Error('usage: chaos-client.ts <config.json>');
const config = JSON.parse(readFileSync(configPath, 'utf8')) as ClientConfig;

if (config.wallClockOffsetMs !== 0) {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + config.wallClockOffsetMs;
}

// Issue 9 negative controls: the old behaviour back, before any Redlock exists.
for (const name of config.unsafe ?? []) {
  if (!(name in unsafe)) throw new Error(`unknown unsafe switch ${name}`);
  unsafe[name] = true;
}
const patchedScripts = config.oldQueueHead ? installOldQueueHead() : [];

const historyFd = openSync(config.historyFile, 'a');
type Draft = Omit<HistoryEvent, 'proc' | 't'> & { readonly t?: bigint };
function record(event: Draft): void {
  writeSync(historyFd, `${toJsonLine({ proc: config.proc, ...event, t: event.t ?? hrNow() })}\n`);
}
function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${toJsonLine(event)}\n`);
}

const hrClock: Clock = {
  now: () => Number(process.hrtime.bigint()) / 1e6,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
const wallClock: Clock = { ...hrClock, now: () => Date.now() };

const store = new StoreClient(config.storeUrl);
const stats = { grants: 0, fails: 0, rejected: 0 };
let stopping = false;
/** `halt`: the work loops end (no new acquires), but the process stays up until `stop`. */
let halted = false;
/** `go` lines from the runner not yet used (a victim waits for one before each round). */
let goes = 0;
let wake: (() => void) | undefined;
async function nextGo(): Promise<boolean> {
  while (goes === 0 && !stopping) await new Promise<void>((resolve) => (wake = resolve));
  if (stopping) return false;
  goes -= 1;
  return true;
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** The validity end the lock reports now, in hrtime ns (rounded up: never earlier than the truth). */
function validityEnd(lock: Lock): bigint {
  const rem = lock.remainingMs();
  return hrNow() + BigInt(Math.ceil(rem * 1e6));
}

function errCode(error: unknown): string {
  if (error instanceof RedfenceError) return error.code;
  if (error instanceof Error) return error.name === 'TimeoutError' || error.name === 'AbortError' ? 'DEADLINE' : error.name;
  return String(error);
}

class LogicalClient {
  readonly name: string;
  readonly redlock: Redlock;
  readonly random: () => number;
  #ops = 0;

  constructor(index: number) {
    this.name = `${config.proc}/${index}`;
    this.random = seededRandom(config.seed * 7919 + index * 104_729 + 1);
    const setup = redlockSetup(config, config.keyPrefix);
    this.redlock = new Redlock(
      setup.nodes,
      {
        ...setup.options,
        automaticExtensionThreshold: Math.min(500, config.maxTtl - 1),
        clock: config.validityClock === 'wall' ? wallClock : hrClock,
      },
    );
    this.redlock.on('clockDrift', (e) => emit({ ev: 'clockDrift', client: this.name, stepMs: e.stepMs }));
    this.redlock.on('repaired', (e) => emit({ ev: 'repaired', client: this.name, node: e.node, waitedMs: e.waitedMs, counters: e.counters, raised: e.raised }));
    this.redlock.on('nodeError', (e) => {
      if (e.operation === 'repair') emit({ ev: 'repair-error', client: this.name, node: e.node, message: e.error.message });
    });
  }

  uniform([lo, hi]: readonly [number, number]): number {
    return lo + (hi - lo) * this.random();
  }

  pickKey(): string {
    const total = config.keyWeights.reduce((a, b) => a + b, 0);
    let x = this.random() * total;
    for (const [i, key] of config.keys.entries()) {
      x -= config.keyWeights[i] ?? 0;
      if (x < 0) return key;
    }
    return config.keys[config.keys.length - 1] ?? 'k0';
  }

  /** Acquires `key`; records the outcome. Undefined when no grant. */
  async acquire(key: string, grantId: string): Promise<Lock | undefined> {
    record({ client: this.name, op: 'acquire', phase: 'invoke', key, grantId });
    try {
      const lock = await this.redlock.acquire(key, config.ttl, { signal: AbortSignal.timeout(config.acquireDeadlineMs) });
      const t = hrNow();
      const end = validityEnd(lock);
      record({ client: this.name, op: 'acquire', phase: 'ok', t, key, grantId, token: lock.fencingToken, validityEnd: end });
      stats.grants += 1;
      emit({ ev: 'granted', client: this.name, key, grantId, token: lock.fencingToken, validityEnd: end });
      if (config.watchSignal) {
        lock.signal.addEventListener('abort', () => {
          const reason: unknown = lock.signal.reason;
          if (reason instanceof LockLostError && reason.reason === 'released') return;
          record({ client: this.name, op: 'lost', phase: 'info', key, grantId, err: reason instanceof LockLostError ? reason.reason : String(reason) });
        });
      }
      return lock;
    } catch (error) {
      const code = errCode(error);
      stats.fails += 1;
      // A definite failure (the library undid the attempt) is `fail`; anything else may have won.
      const definite = error instanceof RedfenceError;
      record({ client: this.name, op: 'acquire', phase: definite ? 'fail' : 'info', key, grantId, err: code });
      if (!definite && code !== 'DEADLINE') emit({ ev: 'error', client: this.name, message: String(error) });
      return undefined;
    }
  }

  /** Waits until `atMs` (performance.now), extending when less than half the validity is left. False: lost. */
  async holdUntil(lock: Lock, key: string, grantId: string, atMs: number): Promise<boolean> {
    for (let guard = 0; guard < 10_000; guard += 1) {
      const left = atMs - performance.now();
      if (config.extend && !config.skipValidityCheck && lock.remainingMs() > 0 && lock.remainingMs() < config.ttl / 2) {
        record({ client: this.name, op: 'extend', phase: 'invoke', key, grantId, token: lock.fencingToken });
        try {
          await lock.extend(config.ttl);
          record({ client: this.name, op: 'extend', phase: 'ok', key, grantId, token: lock.fencingToken, validityEnd: validityEnd(lock) });
        } catch (error) {
          record({ client: this.name, op: 'extend', phase: 'fail', key, grantId, err: errCode(error) });
          return false;
        }
        continue;
      }
      if (left <= 0) return true;
      await sleep(Math.min(left, 25));
    }
    return true;
  }

  /**
   * One fenced store op. Unless the S7 hook skips it, validity is checked after the invoke time is
   * taken, so an op that passes was invoked before the validity end.
   */
  async storeOp(lock: Lock, key: string, grantId: string, op: 'read' | 'write', extra: { value?: number; readOpId?: string }) {
    const opId = `${grantId}/${op[0]}${(this.#ops += 1)}`;
    const t = hrNow();
    let belief: bigint | undefined;
    if (!config.skipValidityCheck) {
      if (lock.remainingMs() <= 0) {
        record({ client: this.name, op: 'abandon', phase: 'info', t, key, grantId, token: lock.fencingToken });
        return { opId, result: undefined };
      }
      belief = validityEnd(lock);
    }
    record({
      client: this.name, op, phase: 'invoke', t, key, grantId, opId, token: lock.fencingToken,
      ...(belief === undefined ? {} : { validityEnd: belief }),
      ...(extra.value === undefined ? {} : { value: extra.value }),
      ...(extra.readOpId === undefined ? {} : { readOpId: extra.readOpId }),
    });
    const result = await store.send({
      op, resource: key, token: lock.fencingToken.toString(), grantId, opId, proc: config.proc, client: this.name,
      ...(extra.value === undefined ? {} : { value: extra.value }),
      ...(extra.readOpId === undefined ? {} : { readOpId: extra.readOpId }),
    });
    const outcome = outcomeOf(result, op, extra.value);
    if (outcome.phase === 'fail') stats.rejected += 1;
    record({ client: this.name, op, key, grantId, opId, token: lock.fencingToken, ...outcome });
    return { opId, result };
  }

  /** A fenced increment: read, then write the value + 1. False when fenced off, abandoned or unknown. */
  async increment(lock: Lock, key: string, grantId: string): Promise<boolean> {
    const read = await this.storeOp(lock, key, grantId, 'read', {});
    if (read.result?.kind !== 'accepted') return false;
    const write = await this.storeOp(lock, key, grantId, 'write', { value: (read.result.value ?? 0) + 1, readOpId: read.opId });
    return write.result?.kind === 'accepted';
  }

  async release(lock: Lock, key: string, grantId: string): Promise<void> {
    record({ client: this.name, op: 'release', phase: 'invoke', key, grantId, token: lock.fencingToken });
    await lock.release();
    record({ client: this.name, op: 'release', phase: 'ok', key, grantId });
  }

  /** The worker loop: random keys, random sections, until told to stop. */
  async work(): Promise<void> {
    if (config.startOnGo) await started;
    for (let n = 0; !stopping && !halted; n += 1) {
      const key = this.pickKey();
      const grantId = `${this.name}/${n}`;
      const lock = await this.acquire(key, grantId);
      if (lock !== undefined) {
        const long = this.random() < config.longHoldProbability;
        const holdMs = long ? config.ttl * this.uniform(config.longHoldTtl) : this.uniform(config.holdMs);
        const ops = Math.round(this.uniform(config.opsPerSection));
        const start = performance.now();
        for (let i = 0; i < ops; i += 1) {
          if (!(await this.holdUntil(lock, key, grantId, start + (holdMs * i) / ops))) break;
          if (!(await this.increment(lock, key, grantId))) break;
        }
        await this.holdUntil(lock, key, grantId, start + holdMs);
        await this.release(lock, key, grantId);
      }
      await sleep(this.uniform(config.thinkMs) + (lock === undefined ? config.retryDelay : 0));
    }
  }

  /** The scripted victim (S7, S8, NC1): see VictimConfig. */
  async victim(): Promise<void> {
    const v = config.victim;
    if (v === undefined) return;
    for (let n = 0, round = 0; round < v.rounds && (await nextGo()); round += 1) {
      let lock: Lock | undefined;
      let grantId = '';
      while (lock === undefined && !stopping) {
        grantId = `${this.name}/${n++}`;
        lock = await this.acquire(v.key, grantId);
        if (lock === undefined) await sleep(config.retryDelay);
      }
      if (lock === undefined) break;
      const read = await this.storeOp(lock, v.key, grantId, 'read', {});
      if (read.result?.kind === 'accepted') {
        emit({ ev: 'victim-ready', client: this.name, key: v.key, grantId, token: lock.fencingToken });
        await sleep(v.waitAfterReadyMs);
        if (v.holdAfterMs === 0) {
          await this.storeOp(lock, v.key, grantId, 'write', { value: (read.result.value ?? 0) + 1, readOpId: read.opId });
        } else {
          const start = performance.now();
          for (let at = start; at < start + v.holdAfterMs; at += v.opEveryMs) {
            if (!(await this.holdUntil(lock, v.key, grantId, at))) break;
            if (v.releaseOnGo && goes > 0) {
              goes -= 1;
              break;
            }
            if (!(await this.increment(lock, v.key, grantId))) break;
          }
        }
      }
      await this.release(lock, v.key, grantId);
      await sleep(v.gapMs);
    }
  }
}

/** Resolves at the first `go` line (startOnGo) or at `stop`. */
let start: () => void = () => undefined;
const started = new Promise<void>((resolve) => (start = resolve));
/** Resolves at `stop` (idle processes wait for it). */
let stopped: () => void = () => undefined;
const untilStopped = new Promise<void>((resolve) => (stopped = resolve));

/** `repair <node index>`: repairs that node with the first logical client's Redlock; reports the outcome. */
function repairCommand(arg: string): void {
  const node = Number(arg);
  const client = clients[0];
  if (client === undefined || !Number.isInteger(node)) {
    emit({ ev: 'repair-failed', node, err: 'no client or bad node index' });
    return;
  }
  const t = hrNow();
  client.redlock.repair(node).then(
    (r) => emit({ ev: 'repair-done', node, t, ms: Number(hrNow() - t) / 1e6, counters: r.counters, raised: r.raised, waitedMs: r.waitedMs, alreadyReady: r.alreadyReady }),
    (error: unknown) => emit({ ev: 'repair-failed', node, t, ms: Number(hrNow() - t) / 1e6, err: errCode(error), message: String(error) }),
  );
}

const input = createInterface({ input: process.stdin });
input.on('line', (raw) => {
  const line = raw.trim();
  if (line === 'stop') {
    stopping = true;
    start();
    stopped();
  }
  if (line === 'halt') halted = true;
  if (line === 'go') {
    goes += 1;
    start();
  }
  if (line.startsWith('repair ')) repairCommand(line.slice('repair '.length));
  wake?.();
});
setTimeout(() => {
  stopping = true;
  start();
  stopped();
}, config.maxRunMs).unref();
setTimeout(() => process.exit(3), config.maxRunMs + 15_000).unref();
const statsTimer = setInterval(() => emit({ ev: 'stats', ...stats, wall: Date.now(), hr: hrNow() }), 1_000);

/**
 * The logical clients. A Redlock that refuses this process's options (e.g. ioredis `keyPrefix`,
 * issue 9 item 5) is reported (`refused`, and an acquire `fail` INVALID_OPTIONS in the history) and
 * the process then idles until `stop`.
 */
let clients: LogicalClient[] = [];
let refused: string | undefined;
try {
  clients = Array.from({ length: config.clients }, (_, i) => new LogicalClient(i));
} catch (error) {
  if (!(error instanceof RedfenceError)) throw error;
  refused = `${error.code}: ${error.message}`;
  record({ client: `${config.proc}/0`, op: 'acquire', phase: 'fail', key: 'construct', err: error.code });
}
emit({ ev: 'ready', pid: process.pid, ...(refused === undefined ? {} : { refused }), ...(patchedScripts.length > 0 ? { patchedScripts } : {}) });
try {
  if (refused !== undefined || config.idle) await untilStopped;
  else await Promise.all(clients.map((c) => (config.victim ? c.victim() : c.work())));
  // No acquire is in flight from here on (closing the connections may still take a while).
  emit({ ev: 'work-done' });
  if (halted) await untilStopped;
} catch (error) {
  emit({ ev: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 2;
} finally {
  clearInterval(statsTimer);
  await Promise.all(clients.map((c) => c.redlock.quit()));
  emit({ ev: 'stats', ...stats, wall: Date.now(), hr: hrNow() });
  emit({ ev: 'done' });
  input.close();
  process.stdin.destroy();
  // Undici keeps store connections alive; every history line is already on disk (writeSync).
  process.exit(process.exitCode ?? 0);
}
