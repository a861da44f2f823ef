import { Worker } from 'node:worker_threads';
import type { RedisOptions } from 'ioredis';
import { InvalidOptionsError, LockExpiredError, LockLostError, type LockLostReason, RedfenceError } from '../errors.js';
import type { Validity, ValidityCell } from './lock.js';
import type { LuaScriptName } from '../generated/lua-scripts.js';
import type { RedlockSettings } from './redlock-options.js';

/**
 * The lock thread (`useDedicatedLockThread`): one `worker_threads` thread per process, started on
 * first use, that renews the locks handed to it with its own Redis connections — so a main thread
 * whose event loop is blocked (a CPU-bound job, a long GC) keeps its locks, for at most
 * `lockThreadMaxBlockMs`. It never keeps the process alive.
 *
 * Who writes what: the thread runs the lock (a Lock of its own, with the same owner, token and
 * renewal options, on the same quorum code) and is the only writer of its validity, kept in
 * memory shared with the main thread. The main thread's Lock reads it there and sends extend,
 * release and abandon to the thread. Both threads read one monotonic clock (`process.hrtime`,
 * what `performance.now()` is measured on too); the main thread maps the thread's instants onto
 * its own with an offset taken so that it never sees more validity than the thread computed.
 *
 * The heartbeat: the main thread writes the time every {@link HEARTBEAT_MS}; the thread refuses
 * to renew once that is older than the lock's `lockThreadMaxBlockMs` (the lock is then lost and
 * its lease runs out), so a process stuck for good cannot hold a lock for ever.
 */

/** How often the main thread proves its event loop turns. */
export const HEARTBEAT_MS = 50;

/** The process-wide monotonic clock both threads read, in ms. */
export const hrNowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** A node as the thread connects to it. */
export type NodeDescription = string | RedisOptions;

/** A shared validity cell: [until µs, deadline µs, lost], on the hr clock. */
export const CELL_SLOTS = 3;
/** Why a thread lock was lost (cell slot 2): 0 live. */
export const LOST_CODES: readonly (LockLostReason | undefined)[] = [undefined, 'extendFailed', 'expired', 'released'];

/** What the main thread sends. */
export type ToThread =
  | {
      readonly op: 'adopt';
      readonly id: number;
      readonly nodes: readonly NodeDescription[];
      readonly settings: RedlockSettings;
      readonly resources: readonly string[];
      readonly owner: string;
      readonly token: string;
      readonly ttl: number;
      /** On the hr clock. */
      readonly validity: Validity;
      readonly cell: SharedArrayBuffer;
    }
  | { readonly op: 'prepare'; readonly req: number; readonly nodes: readonly NodeDescription[]; readonly settings: RedlockSettings }
  | { readonly op: 'extend'; readonly id: number; readonly req: number; readonly ttl: number }
  | { readonly op: 'release'; readonly id: number; readonly req: number }
  | { readonly op: 'abandon'; readonly id: number }
  | ({ readonly op: 'lease'; readonly id: number } & LeaseRequest)
  | { readonly op: 'unlease'; readonly id: number };

/**
 * A lease the thread renews by a script on one Redis node (the single-node job lock of a queue):
 * every `everyMs`, `script` with `keys` and `args`, `args[msIndex]` set to the lease's length
 * (`leaseMs`, cut to what is left before `deadline`); a reply other than 1 loses it.
 */
export interface LeaseRequest {
  readonly node: NodeDescription;
  readonly script: LuaScriptName;
  readonly keys: readonly string[];
  readonly args: readonly (string | number)[];
  readonly msIndex: number;
  readonly leaseMs: number;
  readonly everyMs: number;
  /** Monotonic ms on the main clock when renewals end (Infinity: never); mapped to the hr clock. */
  readonly deadline: number;
  /** The heartbeat bound: stop renewing once the main thread's loop has not turned for this long. */
  readonly maxBlockMs: number;
  readonly resources: readonly string[];
}

/** An error as it crosses threads. */
export interface PostedError {
  readonly name: string;
  readonly message: string;
  readonly reason?: LockLostReason;
}

/** What the thread sends. */
export type FromThread =
  | { readonly op: 'reply'; readonly req: number; readonly value?: Validity; readonly error?: PostedError }
  | { readonly op: 'lost'; readonly id: number; readonly error: PostedError };

export function postError(error: unknown): PostedError {
  if (error instanceof LockLostError) return { name: error.name, message: error.message, reason: error.reason };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

/** The error the thread posted, as the main thread throws it (messages keep the thread's wording). */
function revive(error: PostedError, resources: readonly string[]): Error {
  const why = error.message.replace(/^Lock on .* lost: /, '');
  if (error.name === 'LockLostError') return new LockLostError(resources, error.reason ?? 'extendFailed', why);
  if (error.name === 'LockExpiredError') return new LockExpiredError(resources, error.message);
  if (error.name === 'InvalidOptionsError') return new InvalidOptionsError(error.message);
  return new RedfenceError('NODE', error.message);
}

/**
 * The thread's entry: the compiled worker file next to this one. From the TypeScript sources
 * (tests, tsx) the thread registers tsx itself first: Node 20 does not carry `--import` hooks
 * into worker threads.
 */
function workerEntry(): URL {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new URL('./lock-thread-worker.js', here);
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./lock-thread-worker.ts', here).href;
  const code = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

/** The main thread's view of a cell the thread writes. */
class ThreadCell implements ValidityCell {
  readonly #view: BigInt64Array;
  readonly #offsetMs: number;
  readonly #resources: readonly string[];
  #lost: LockLostError | undefined;

  constructor(view: BigInt64Array, offsetMs: number, resources: readonly string[]) {
    this.#view = view;
    this.#offsetMs = offsetMs;
    this.#resources = resources;
  }

  get until(): number {
    return Number(Atomics.load(this.#view, 0)) / 1_000 - this.#offsetMs;
  }

  set until(_: number) {
    // The thread is the only writer.
  }

  get deadline(): number {
    return Number(Atomics.load(this.#view, 1)) / 1_000 - this.#offsetMs;
  }

  set deadline(_: number) {
    // The thread is the only writer.
  }

  get lost(): LockLostError | undefined {
    const code = Number(Atomics.load(this.#view, 2));
    if (code === 0) return undefined;
    this.#lost ??= new LockLostError(this.#resources, LOST_CODES[code] ?? 'extendFailed', 'the lock thread lost it');
    return this.#lost;
  }

  /** Marks the cell lost from this side (the thread died). */
  fail(): void {
    Atomics.compareExchange(this.#view, 2, 0n, 1n);
  }
}

interface Adopted {
  readonly cell: ThreadCell;
  readonly resources: readonly string[];
  readonly onLost: (error: LockLostError) => void;
}

/** The process's lock thread, seen from the main thread. */
export class LockThread {
  static #shared: LockThread | undefined;

  /** The process's lock thread, started on first use. */
  static shared(): LockThread {
    LockThread.#shared ??= new LockThread();
    return LockThread.#shared;
  }

  /**
   * hr ms − main ms, bounded from both sides by reading the clocks in turn: instants go to the
   * thread with the lower bound and come back with the upper one, so each side errs early.
   */
  readonly #toHrMs: number;
  readonly #fromHrMs: number;
  readonly #worker: Worker;
  readonly #heartbeat = new BigInt64Array(new SharedArrayBuffer(8));
  readonly #timer: NodeJS.Timeout;
  readonly #locks = new Map<number, Adopted>();
  /** Script leases the thread renews (see {@link LockThread.lease}), by id. */
  readonly #leases = new Map<number, { readonly resources: readonly string[]; readonly onLost: (error: LockLostError) => void }>();
  readonly #pending = new Map<number, { resolve: (value: Validity | undefined) => void; reject: (error: Error) => void; resources: readonly string[] }>();
  #ids = 0;
  #dead = false;
  /** Node sets the thread has connected to, by their description. */
  readonly #prepared = new Map<string, Promise<void>>();

  private constructor() {
    // performance.now() and process.hrtime() read the same clock; the offset is taken after the
    // first read of performance.now(), so hr → main mapping errs towards earlier instants.
    const before = performance.now();
    const hr = hrNowMs();
    const after = performance.now();
    this.#fromHrMs = hr - before;
    this.#toHrMs = hr - after;
    this.#beat();
    this.#worker = new Worker(workerEntry(), { workerData: { heartbeat: this.#heartbeat.buffer } });
    this.#worker.unref();
    this.#worker.on('message', (message: FromThread) => this.#receive(message));
    this.#worker.on('error', (error: Error) => this.#die(`it failed: ${error.message}`));
    this.#worker.on('exit', (code: number) => this.#die(`it exited with code ${code}`));
    this.#timer = setInterval(() => this.#beat(), HEARTBEAT_MS).unref();
  }

  /**
   * Starts the thread's connections to a node set (once per set): called before a first acquire
   * with the thread, so the thread renews the lock in time even on its first use.
   */
  prepare(nodes: readonly NodeDescription[], settings: RedlockSettings): Promise<void> {
    const key = JSON.stringify([nodes, settings.prefix, settings.nodeTimeout, settings.driftFactor]);
    let prepared = this.#prepared.get(key);
    if (prepared === undefined) {
      prepared = this.#request([], (req) => ({ op: 'prepare', req, nodes, settings })).then(() => undefined);
      this.#prepared.set(key, prepared);
    }
    return prepared;
  }

  /** Hands a granted lock to the thread; `onLost` is called if the thread loses it. */
  adopt(
    request: Omit<Extract<ToThread, { op: 'adopt' }>, 'op' | 'id' | 'cell' | 'validity'> & { readonly validity: Validity },
    onLost: (error: LockLostError) => void,
  ): { readonly id: number; readonly cell: ValidityCell } {
    if (this.#dead) throw new RedfenceError('NODE', 'The lock thread has stopped');
    const id = (this.#ids += 1);
    const buffer = new SharedArrayBuffer(8 * CELL_SLOTS);
    const view = new BigInt64Array(buffer);
    const validity = { until: request.validity.until + this.#toHrMs, deadline: request.validity.deadline + this.#toHrMs };
    // Written here first, so the Lock reads a valid cell before the thread has it.
    Atomics.store(view, 0, BigInt(Math.floor(validity.until * 1_000)));
    Atomics.store(view, 1, BigInt(Math.floor(validity.deadline * 1_000)));
    const cell = new ThreadCell(view, this.#fromHrMs, request.resources);
    this.#locks.set(id, { cell, resources: request.resources, onLost });
    this.#worker.postMessage({ ...request, op: 'adopt', id, cell: buffer, validity } satisfies ToThread);
    return { id, cell };
  }

  /** Extends a thread lock; resolves with its new validity on the main clock. */
  async extend(id: number, ttl: number): Promise<Validity> {
    const value = await this.#call(id, (req) => ({ op: 'extend', id, req, ttl }));
    if (value === undefined) throw new RedfenceError('NODE', 'The lock thread sent no validity');
    return { until: value.until - this.#fromHrMs, deadline: value.deadline - this.#fromHrMs };
  }

  async release(id: number): Promise<void> {
    await this.#call(id, (req) => ({ op: 'release', id, req }));
    this.#locks.delete(id);
  }

  abandon(id: number): void {
    this.#locks.delete(id);
    if (!this.#dead) this.#worker.postMessage({ op: 'abandon', id } satisfies ToThread);
  }

  /**
   * Has the thread renew a lease by a script on one Redis node (a queue's single-node job lock)
   * until {@link LockThread.unlease}; `onLost` is called once if a renewal is refused, Redis fails
   * past the lease, or the main thread's event loop stalls past `maxBlockMs`.
   */
  lease(request: LeaseRequest, onLost: (error: LockLostError) => void): number {
    if (this.#dead) throw new RedfenceError('NODE', 'The lock thread has stopped');
    const id = (this.#ids += 1);
    this.#leases.set(id, { resources: request.resources, onLost });
    const deadline = Number.isFinite(request.deadline) ? request.deadline + this.#toHrMs : -1;
    this.#worker.postMessage({ ...request, deadline, op: 'lease', id } satisfies ToThread);
    return id;
  }

  unlease(id: number): void {
    if (!this.#leases.delete(id) || this.#dead) return;
    this.#worker.postMessage({ op: 'unlease', id } satisfies ToThread);
  }

  #call(id: number, message: (req: number) => ToThread): Promise<Validity | undefined> {
    return this.#request(this.#locks.get(id)?.resources ?? [], message);
  }

  #request(resources: readonly string[], message: (req: number) => ToThread): Promise<Validity | undefined> {
    if (this.#dead) return Promise.reject(new LockLostError(resources, 'extendFailed', 'the lock thread has stopped'));
    const req = (this.#ids += 1);
    return new Promise((resolve, reject) => {
      // A request keeps the process alive until its reply (a release must reach the nodes).
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(req, { resolve, reject, resources });
      this.#worker.postMessage(message(req));
    });
  }

  #receive(message: FromThread): void {
    if (message.op === 'lost') {
      const leased = this.#leases.get(message.id);
      if (leased !== undefined) {
        this.#leases.delete(message.id);
        const error = revive(message.error, leased.resources);
        leased.onLost(error instanceof LockLostError ? error : new LockLostError(leased.resources, 'extendFailed', error.message));
        return;
      }
      const adopted = this.#locks.get(message.id);
      this.#locks.delete(message.id);
      if (adopted === undefined) return;
      const error = revive(message.error, adopted.resources);
      adopted.onLost(error instanceof LockLostError ? error : new LockLostError(adopted.resources, 'extendFailed', error.message));
      return;
    }
    const pending = this.#pending.get(message.req);
    if (pending === undefined) return;
    this.#pending.delete(message.req);
    if (this.#pending.size === 0) this.#worker.unref();
    if (message.error === undefined) pending.resolve(message.value);
    else pending.reject(revive(message.error, pending.resources));
  }

  #beat(): void {
    Atomics.store(this.#heartbeat, 0, BigInt(Math.floor(hrNowMs() * 1_000)));
  }

  /** The thread crashed or exited: its locks are lost, its requests fail, the next use starts another. */
  #die(why: string): void {
    if (this.#dead) return;
    this.#dead = true;
    clearInterval(this.#timer);
    if (LockThread.#shared === this) LockThread.#shared = undefined;
    for (const adopted of this.#locks.values()) {
      adopted.cell.fail();
      adopted.onLost(new LockLostError(adopted.resources, 'extendFailed', `the lock thread stopped: ${why}`));
    }
    this.#locks.clear();
    for (const leased of this.#leases.values()) leased.onLost(new LockLostError(leased.resources, 'extendFailed', `the lock thread stopped: ${why}`));
    this.#leases.clear();
    for (const pending of this.#pending.values()) pending.reject(new LockLostError(pending.resources, 'extendFailed', `the lock thread stopped: ${why}`));
    this.#pending.clear();
  }
}
