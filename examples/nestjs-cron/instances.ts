import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../../tsconfig.legacy.json', import.meta.url));

/** One line an instance printed. */
export interface Line {
  readonly instance: string;
  readonly event: 'ready' | 'run' | 'skipped' | 'memoryFallback';
  readonly second?: number;
  readonly token?: string;
  readonly reason?: string;
}

export interface Instance {
  readonly child: ChildProcess;
  readonly lines: Line[];
  /** Resolves when the app has bootstrapped (its crons are scheduled). */
  readonly ready: Promise<void>;
  /** SIGTERM, then waits for the exit (SIGKILL after 5 s); resolves with the signal that ended it, or its exit code. */
  stop(): Promise<NodeJS.Signals | number | null>;
}

/** Starts one instance of the example app (main.ts) in a process of its own, on `urls`. */
export function startInstance(name: string, urls: readonly string[], prefix: string, onLine?: (line: Line) => void): Instance {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, INSTANCE: name, REDFENCE_NODES: urls.join(','), REDFENCE_PREFIX: prefix, TSX_TSCONFIG_PATH: TSCONFIG },
    // stdin stays open: the instance exits when it closes, so it never outlives its parent.
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const lines: Line[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`instance ${name} exited before it was ready (${signal ?? code})`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      if (!text.startsWith('{')) return;
      const line = JSON.parse(text) as Line;
      lines.push(line);
      onLine?.(line);
      if (line.event === 'ready') resolve();
    });
  });
  ready.catch(() => undefined);
  return {
    child,
    lines,
    ready,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      const ended = await exited;
      clearTimeout(timer);
      return ended;
    },
  };
}

/** Runs and skips per second, across all instances, in order of the second. */
export function countPerSecond(lines: readonly Line[]): Map<number, { runs: number; skips: number }> {
  const counts = new Map<number, { runs: number; skips: number }>();
  for (const line of lines) {
    if (line.second === undefined || (line.event !== 'run' && line.event !== 'skipped')) continue;
    const count = counts.get(line.second) ?? { runs: 0, skips: 0 };
    if (line.event === 'run') count.runs += 1;
    else count.skips += 1;
    counts.set(line.second, count);
  }
  return new Map([...counts].sort(([a], [b]) => a - b));
}
