/**
 * The client processes of a scenario (chaos-client.ts, election-client.ts for candidates, queue-client.ts for the job queue): spawns them with their configs, reads the
 * JSON lines they print, pauses (SIGSTOP, verified in /proc), resumes and kills them, and stops
 * them all at the end — gracefully through stdin, then SIGKILL after a grace period. Only pids
 * spawned here are ever signalled; a process-exit hook kills any that are left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ClientConfig } from './client-config.js';
import { waitForProcState } from './proc-state.js';
import { hrNow } from './history.js';
import type { NemesisLog } from './nemesis-log.js';

const CLIENT = fileURLToPath(new URL('./chaos-client.ts', import.meta.url));
/** Leader-election candidates (S17): configs with `election`. */
const CANDIDATE = fileURLToPath(new URL('./election-client.ts', import.meta.url));
/** Job-queue producers, workers and rescuers (S18, S19): configs with `queue`. */
const QUEUE_CLIENT = fileURLToPath(new URL('./queue-client.ts', import.meta.url));

/** A line a client printed, parsed, with the process name. */
export interface ClientEvent {
  readonly proc: string;
  readonly ev: string;
  readonly [field: string]: unknown;
}

export interface ClientProcess {
  readonly name: string;
  readonly config: ClientConfig;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Latest `stats` line. */
  stats: { grants: number; fails: number; rejected: number; wall?: number; hr?: bigint };
  /** When it was killed (or died); claims end there. */
  deathT: bigint | undefined;
  exitCode: number | null | undefined;
  /** Its `ready` line (`refused`: the library refused its options; `patchedScripts`). */
  readyEvent?: ClientEvent;
}

const live = new Set<ChildProcess>();
let hookInstalled = false;
function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export class ClientProcesses {
  readonly procs = new Map<string, ClientProcess>();
  readonly errors: string[] = [];
  readonly #listeners = new Set<(event: ClientEvent) => void>();
  readonly #nemesis: NemesisLog;
  readonly #dir: string;
  readonly #paused = new Map<string, number>();

  constructor(nemesis: NemesisLog, dir: string) {
    this.#nemesis = nemesis;
    this.#dir = dir;
    installExitHook();
  }

  /** Spawns one client process; resolves when it printed `ready`. */
  async spawn(config: ClientConfig, env: Readonly<Record<string, string>> = {}, readyTimeoutMs = 30_000): Promise<ClientProcess> {
    const configFile = join(this.#dir, `client-${config.proc}.json`);
    writeFileSync(configFile, JSON.stringify(config, null, 1));
    const script = config.queue !== undefined ? QUEUE_CLIENT : config.election !== undefined ? CANDIDATE : CLIENT;
    const child = spawn(process.execPath, ['--import', 'tsx', script, configFile], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    live.add(child);
    child.stdin?.on('error', () => undefined);
    child.stderr?.pipe(createWriteStream(join(this.#dir, `client-${config.proc}.stderr.log`)));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code, signal) => {
        live.delete(child);
        proc.exitCode = code;
        proc.deathT ??= hrNow();
        if (code !== 0 && signal !== 'SIGKILL') this.errors.push(`${config.proc} exited with ${code ?? signal}`);
        resolve(code);
      }),
    );
    const proc: ClientProcess = { name: config.proc, config, child, exited, stats: { grants: 0, fails: 0, rejected: 0 }, deathT: undefined, exitCode: undefined };
    this.procs.set(config.proc, proc);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => this.#onLine(proc, line));
    proc.readyEvent = await this.waitFor(config.proc, (e) => e.ev === 'ready', readyTimeoutMs);
    return proc;
  }

  /** Calls `fn` for every event of every process; returns an unsubscribe function. */
  on(fn: (event: ClientEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Resolves with the next event of `proc` matching `match`; rejects after `timeoutMs` or on `signal`. */
  waitFor(proc: string, match: (event: ClientEvent) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<ClientEvent> {
    return new Promise((resolve, reject) => {
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no matching event from ${proc} within ${timeoutMs} ms`))), timeoutMs);
      const onAbort = (): void => done(() => reject(signal?.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      const off = this.on((e) => {
        if (e.proc === proc && match(e)) done(() => resolve(e));
      });
      const p = this.procs.get(proc);
      void p?.exited.then(() => done(() => reject(new Error(`${proc} exited`))));
    });
  }

  /** Sends one line to a process's stdin (`go` starts a victim round). */
  send(name: string, line: string): void {
    const proc = this.procs.get(name);
    if (proc === undefined || proc.exitCode !== undefined) throw new Error(`client ${name} is not running`);
    proc.child.stdin?.write(`${line}\n`);
  }

  /** Total grants reported by all processes so far. */
  grants(): number {
    let n = 0;
    for (const p of this.procs.values()) n += p.stats.grants;
    return n;
  }

  /** SIGSTOPs a client process and verifies in /proc that it stopped; returns the window id. */
  async pause(name: string): Promise<number> {
    const pid = this.#pid(name);
    process.kill(pid, 'SIGSTOP');
    const id = this.#nemesis.start('pause-client', `${name} pid ${pid}`);
    this.#paused.set(name, id);
    const state = await waitForProcState(pid, 'T', 200);
    this.#nemesis.verify(id, state === 'T', `/proc state ${state ?? 'unknown'}`);
    return id;
  }

  resume(name: string): void {
    const id = this.#paused.get(name);
    if (id === undefined) return;
    this.#paused.delete(name);
    process.kill(this.#pid(name), 'SIGCONT');
    this.#nemesis.stop(id);
  }

  /** SIGKILLs a client process (its claims end now). */
  async kill(name: string): Promise<void> {
    const proc = this.procs.get(name);
    if (proc === undefined || proc.exitCode !== undefined) return;
    proc.deathT = hrNow();
    this.#nemesis.start('kill-client', `${name} pid ${proc.child.pid}`, true);
    proc.child.kill('SIGKILL');
    await proc.exited;
  }

  /** Resumes paused processes, asks every process to stop, and SIGKILLs those still running after `graceMs`. */
  async stopAll(graceMs = 8_000): Promise<void> {
    for (const name of [...this.#paused.keys()]) {
      try {
        this.resume(name);
      } catch {
        // already gone
      }
    }
    for (const p of this.procs.values()) if (p.exitCode === undefined) p.child.stdin?.end('stop\n');
    const all = Promise.all([...this.procs.values()].map((p) => p.exited));
    const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), graceMs));
    if ((await Promise.race([all, timer])) === 'late') {
      for (const p of this.procs.values()) {
        if (p.exitCode === undefined) {
          this.errors.push(`${p.name} did not stop within ${graceMs} ms; killed`);
          p.deathT = hrNow();
          p.child.kill('SIGKILL');
        }
      }
      await all;
    }
  }

  /** Death times of processes killed or crashed while the scenario ran. */
  deaths(): Map<string, bigint> {
    const out = new Map<string, bigint>();
    for (const p of this.procs.values()) if (p.deathT !== undefined && p.exitCode !== 0) out.set(p.name, p.deathT);
    return out;
  }

  #pid(name: string): number {
    const pid = this.procs.get(name)?.child.pid;
    if (pid === undefined || this.procs.get(name)?.exitCode !== undefined) throw new Error(`client ${name} is not running`);
    return pid;
  }

  #onLine(proc: ClientProcess, line: string): void {
    let event: ClientEvent;
    try {
      event = { ...(JSON.parse(line) as Record<string, unknown>), proc: proc.name } as ClientEvent;
    } catch {
      return;
    }
    if (event.ev === 'stats') {
      proc.stats = {
        grants: Number(event['grants'] ?? 0),
        fails: Number(event['fails'] ?? 0),
        rejected: Number(event['rejected'] ?? 0),
        wall: Number(event['wall']),
        hr: BigInt(String(event['hr'] as string | number | undefined ?? '0')),
      };
    } else if (event.ev === 'error') {
      this.errors.push(`${proc.name}: ${String(event['message'])}`);
    }
    // Everything but the frequent lines, for the artifacts (repairs, refusals, errors).
    if (event.ev !== 'stats' && event.ev !== 'granted') appendFileSync(join(this.#dir, `client-${proc.name}.events.jsonl`), `${line}\n`);
    for (const fn of this.#listeners) fn(event);
  }
}
