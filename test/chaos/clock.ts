/**
 * Layer 3 of the chaos harness — clock faults on redis-server (see /work/shared/CHAOS.md).
 *
 * `buildClockShim()` compiles test/chaos/clock-shim.c with the system C compiler into a temp
 * folder. `shim.createNodeClock(dir)` gives one clock: the environment to start redis-server
 * with, and setters that rewrite its config file atomically (temp file + rename). The shim
 * re-reads the file at most every {@link CLOCK_REREAD_MS} ms, so after a change wait
 * {@link CLOCK_SETTLE_MS} ms (and let the server read its clock) before relying on it.
 *
 * Semantics: skewed wall time = a continuous timeline that advances at `rate` × real time,
 * plus `offsetMs`. Changing the rate is drift (no jump); changing the offset is a jump.
 * Monotonic clocks are not touched.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How often (at most) the shim re-reads its config file. Must match REREAD_NS in clock-shim.c. */
export const CLOCK_REREAD_MS = 50;
/** A safe wait after a change before the server is guaranteed to have noticed it on its next clock read. */
export const CLOCK_SETTLE_MS = 3 * CLOCK_REREAD_MS;

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'clock-shim.c');

/** The state of one skewed clock. */
export interface ClockState {
  /** Milliseconds added to the (rate-scaled) wall clock. An integer. */
  readonly offsetMs: number;
  /** Skewed milliseconds per real millisecond, from 0 (frozen) to 1000. */
  readonly rate: number;
}

/** One redis-server's clock: pass `env` to the process, then steer it with the setters. */
export interface NodeClock {
  /** Environment for the process: `LD_PRELOAD` (the shim) and `CHAOS_CLOCK_FILE`. */
  readonly env: { readonly LD_PRELOAD: string; readonly CHAOS_CLOCK_FILE: string };
  /** The config file (`"<offset_ms> <rate>"`). */
  readonly file: string;
  /** What was written last. */
  readonly state: ClockState;
  /** Sets offset and/or rate (fields left out keep their value). */
  set(change: Partial<ClockState>): void;
  /** Jumps the clock by `ms` (negative: backwards). */
  jump(ms: number): void;
  /** Makes the clock run at `r` × real speed from now on, without a jump. */
  rate(r: number): void;
  /** Back to `0 1`. The time already gained or lost by drift stays (no jump back). */
  reset(): void;
}

/** A compiled shim in a temp folder. */
export interface ClockShim extends Disposable {
  /** Absolute path of the shared object, for `LD_PRELOAD`. */
  readonly path: string;
  /** The temp folder holding it. */
  readonly dir: string;
  /** A clock whose config file lives in `dir` (created if needed); starts at `0 1` unless told. */
  createNodeClock(dir: string, initial?: Partial<ClockState>): NodeClock;
  /** Removes the temp folder. Idempotent. Processes already running keep their mapping. */
  dispose(): void;
}

/** The result of {@link probeClockShim}: a shim, or the one-line reason this tier is skipped. */
export type ClockShimProbe = { readonly shim: ClockShim } | { readonly skip: string };

interface RunResult {
  readonly code: number | null;
  readonly output: string;
  readonly missing: boolean;
}

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, output: error.message, missing: error.code === 'ENOENT' });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, missing: false });
    });
  });
}

/**
 * Compiles the shim, or says in one line why this tier must be skipped (not Linux, no C
 * compiler). A compile error of the shim itself is a bug and throws.
 */
export async function probeClockShim(): Promise<ClockShimProbe> {
  if (process.platform !== 'linux') {
    return { skip: `clock-fault tier skipped: the LD_PRELOAD clock shim needs Linux (this is ${process.platform})` };
  }
  const cc = process.env['CC'] || 'cc';
  const version = await run(cc, ['--version'], 10_000);
  if (version.missing) {
    return {
      skip: `clock-fault tier skipped: no C compiler (\`${cc}\` not found; install one, e.g. \`sudo apt-get install -y gcc\`, or set CC)`,
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'redfence-clock-'));
  const path = join(dir, 'clock-shim.so');
  const compiled = await run(cc, ['-O2', '-shared', '-fPIC', '-std=gnu11', '-Wall', '-o', path, SOURCE], 60_000);
  if (compiled.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`compiling ${SOURCE} with ${cc} failed (exit ${compiled.code}):\n${compiled.output}`);
  }
  let disposed = false;
  const dispose = (): void => {
    if (disposed) return;
    disposed = true;
    rmSync(dir, { recursive: true, force: true });
  };
  const shim: ClockShim = {
    path,
    dir,
    createNodeClock: (clockDir, initial) => createNodeClock(path, clockDir, initial),
    dispose,
    [Symbol.dispose]: dispose,
  };
  return { shim };
}

/**
 * Compiles the shim into a temp folder. Resolves undefined when this tier cannot run here; the
 * one-line reason goes to `onSkip` (default: stderr) so the caller can skip and say why.
 */
export async function buildClockShim(
  onSkip: (reason: string) => void = (reason) => process.stderr.write(`${reason}\n`),
): Promise<ClockShim | undefined> {
  const probe = await probeClockShim();
  if ('skip' in probe) {
    onSkip(probe.skip);
    return undefined;
  }
  return probe.shim;
}

function checkState(state: ClockState): ClockState {
  const { offsetMs, rate } = state;
  if (!Number.isSafeInteger(offsetMs) || Math.abs(offsetMs) > 3e12) {
    throw new RangeError(`Expected offsetMs to be an integer number of milliseconds, got ${offsetMs}`);
  }
  if (!Number.isFinite(rate) || rate < 0 || rate > 1000) {
    throw new RangeError(`Expected rate to be a number from 0 to 1000, got ${rate}`);
  }
  return { offsetMs, rate };
}

let tempCounter = 0;

/** A clock for one process, using the shim at `shimPath`, config file `<dir>/clock.cfg`. */
export function createNodeClock(shimPath: string, dir: string, initial: Partial<ClockState> = {}): NodeClock {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'clock.cfg');
  let state = checkState({ offsetMs: initial.offsetMs ?? 0, rate: initial.rate ?? 1 });
  const write = (next: ClockState): void => {
    const checked = checkState(next);
    const temp = `${file}.${process.pid}.${(tempCounter += 1)}.tmp`;
    writeFileSync(temp, `${checked.offsetMs} ${checked.rate}\n`);
    renameSync(temp, file); // atomic: the shim sees the old or the new file, never half of one
    state = checked;
  };
  write(state);
  return {
    env: { LD_PRELOAD: shimPath, CHAOS_CLOCK_FILE: file },
    file,
    get state() {
      return state;
    },
    set: (change) => write({ offsetMs: change.offsetMs ?? state.offsetMs, rate: change.rate ?? state.rate }),
    jump: (ms) => write({ offsetMs: state.offsetMs + ms, rate: state.rate }),
    rate: (r) => write({ offsetMs: state.offsetMs, rate: r }),
    reset: () => write({ offsetMs: 0, rate: 1 }),
  };
}
