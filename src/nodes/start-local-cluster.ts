import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { InvalidOptionsError, RedfenceError } from '../errors.js';
import { nonNegativeInteger, positiveInteger } from '../core/options.js';

/** Options of {@link startLocalCluster}. */
export interface LocalClusterOptions {
  /** How many independent redis-server processes. @defaultValue 5 */
  readonly nodes?: number;
  /** Run with `appendonly yes` (data survives a crash and restart). @defaultValue false */
  readonly appendOnly?: boolean;
  /** Path of redis-server. @defaultValue `REDIS_SERVER_BIN`, else `redis-server` on PATH */
  readonly redisServer?: string;
  /** Extra arguments for every redis-server, e.g. `['--maxmemory', '64mb']`. */
  readonly args?: readonly string[];
  /**
   * Extra environment for every redis-server (e.g. an LD_PRELOAD clock shim), or a function that
   * gives node `index` its own (a clock per node).
   */
  readonly env?: Readonly<Record<string, string>> | ((index: number) => Readonly<Record<string, string>>);
  /** Milliseconds to wait for one server to be ready. @defaultValue 10000 */
  readonly startTimeout?: number;
}

/** One redis-server of a {@link LocalCluster}. */
export interface LocalNode {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly dir: string;
  /** The current process id; undefined while crashed. */
  readonly pid: number | undefined;
}

/**
 * Real redis-server processes on loopback, on free ports, with data under a temp folder. Every
 * process is stopped by `stop()` (or `await using`), on process exit even if `stop()` is never
 * called, and when this process dies any other way (SIGTERM, SIGINT, SIGKILL, a crash): a
 * watchdog process then stops the servers and removes the folder. No signal handler is installed.
 * For tests, demos and benchmarks, not production.
 */
export interface LocalCluster extends AsyncDisposable {
  readonly nodes: readonly LocalNode[];
  /** The nodes' `redis://` URLs, ready to pass to `new Redlock(...)`. */
  readonly urls: readonly string[];
  /** Freezes node `i` (SIGSTOP): connections stay open, nothing is answered. */
  pause(i: number): void;
  /** Thaws node `i` (SIGCONT). */
  resume(i: number): void;
  /** Kills node `i` (SIGKILL) and waits until it is gone. */
  crash(i: number): Promise<void>;
  /** Starts node `i` again on the same port, with its data dir emptied first when `empty`. */
  restart(i: number, options?: { readonly empty?: boolean }): Promise<void>;
  /** Kills every process and removes the data folders. Idempotent. */
  stop(): Promise<void>;
}

interface NodeState {
  index: number;
  port: number;
  dir: string;
  child: ChildProcess | undefined;
  paused: boolean;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * The watchdog of one cluster: a shell that outlives its owner only to clean up after it. It reads
 * `+<pid>` / `-<pid>` lines (servers started and stopped) from a pipe whose other end only this
 * process holds; when the pipe closes without `exit` — the owner died, by SIGTERM, SIGINT, SIGKILL
 * or a crash — it SIGKILLs the servers still listed (only while they are still redis-servers: a pid
 * is never signalled once reused) and removes the data folder. In its own process group and deaf
 * to INT/TERM/HUP, so a Ctrl-C that kills the owner does not kill it first. The owner's own signal
 * handling is left as it is.
 */
const WATCHDOG = `trap '' INT TERM HUP
pids=' '
while IFS= read -r line; do
  case "$line" in
    +*) pids="$pids\${line#+} " ;;
    -*) pids=$(printf '%s' "$pids" | sed "s/ \${line#-} / /") ;;
    exit) exit 0 ;;
  esac
done
for p in $pids; do
  if [ ! -r /proc/$p/comm ] || [ "$(cat /proc/$p/comm 2>/dev/null)" = redis-server ]; then kill -9 "$p" 2>/dev/null; fi
done
rm -rf "$1"`;

interface Watchdog {
  started(pid: number | undefined): void;
  stopped(pid: number | undefined): void;
  dismiss(): void;
}

function startWatchdog(root: string): Watchdog {
  const dog = spawn('/bin/sh', ['-c', WATCHDOG, 'redfence-watchdog', root], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  dog.on('error', () => undefined); // no /bin/sh: the exit hook still covers a normal exit
  dog.stdin?.on('error', () => undefined);
  // Neither the watchdog nor its pipe keeps this process alive.
  dog.unref();
  (dog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  const send = (line: string): void => {
    if (dog.stdin?.writable === true) dog.stdin.write(`${line}\n`);
  };
  return {
    started: (pid) => pid !== undefined && send(`+${pid}`),
    stopped: (pid) => pid !== undefined && send(`-${pid}`),
    dismiss: () => {
      send('exit');
      dog.stdin?.end();
    },
  };
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** Finds redis-server, or throws one sentence that says how to install it. */
export function findRedisServer(explicit?: string): string {
  const candidates = explicit
    ? [explicit]
    : process.env['REDIS_SERVER_BIN']
      ? [process.env['REDIS_SERVER_BIN']]
      : (process.env['PATH'] ?? '').split(delimiter).map((dir) => join(dir, 'redis-server'));
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // try the next one
    }
  }
  throw new RedfenceError(
    'REDIS_SERVER_MISSING',
    'redis-server was not found on PATH (or at REDIS_SERVER_BIN); install it with ' +
      '`sudo apt-get install -y redis-server` on Debian/Ubuntu or `brew install redis` on macOS.',
  );
}

const startError = (message: string, cause?: Error): RedfenceError =>
  new RedfenceError('REDIS_SERVER_START', message, cause === undefined ? undefined : { cause });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `nodes` independent redis-server processes on 127.0.0.1 (no persistence unless
 * `appendOnly`, `maxmemory-policy noeviction`) and resolves when all accept commands.
 *
 * @example
 * await using cluster = await startLocalCluster({ nodes: 5 })
 * const redlock = new Redlock(cluster.urls)
 * @throws {RedfenceError} code `REDIS_SERVER_MISSING` when redis-server is not installed.
 */
export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const count = positiveInteger('nodes', options.nodes ?? 5);
  const startTimeout = nonNegativeInteger('startTimeout', options.startTimeout ?? 10_000);
  if (options.args !== undefined && !Array.isArray(options.args)) {
    throw new InvalidOptionsError('Expected `args` to be an array of strings');
  }
  const bin = findRedisServer(options.redisServer);
  installExitHook();
  const root = mkdtempSync(join(tmpdir(), 'redfence-'));
  const watchdog = startWatchdog(root);
  const states: NodeState[] = [];

  const launch = async (state: NodeState): Promise<void> => {
    const args = [
      '--port', String(state.port), '--bind', '127.0.0.1', '--dir', state.dir,
      '--save', '', '--appendonly', options.appendOnly ? 'yes' : 'no',
      '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--protected-mode', 'no',
      '--loglevel', 'notice', '--logfile', '',
      ...(options.args ?? []),
    ];
    const extra = typeof options.env === 'function' ? options.env(state.index) : options.env;
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...extra } });
    live.add(child);
    watchdog.started(child.pid);
    state.child = child;
    state.paused = false;
    child.once('exit', () => {
      live.delete(child);
      watchdog.stopped(child.pid);
      if (state.child === child) state.child = undefined;
    });
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => fail(startError(`redis-server on port ${state.port} not ready after ${startTimeout} ms`)), startTimeout);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) done();
      };
      const onExit = (code: number | null): void => fail(startError(`redis-server on port ${state.port} exited (${code}): ${output.slice(-400)}`));
      const onError = (error: Error): void => fail(startError(`${bin} could not be started: ${error.message}`, error));
      const cleanup = (): void => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        child.off('exit', onExit);
        child.off('error', onError);
        child.stdout?.resume();
        child.stderr?.resume();
      };
      const done = (): void => {
        cleanup();
        resolve();
      };
      const fail = (error: Error): void => {
        cleanup();
        child.kill('SIGKILL');
        reject(error);
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', onExit);
      child.once('error', onError);
    });
  };

  const kill = async (state: NodeState): Promise<void> => {
    const child = state.child;
    if (child === undefined) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  };

  const stop = async (): Promise<void> => {
    await Promise.all(states.map(kill));
    rmSync(root, { recursive: true, force: true });
    watchdog.dismiss();
  };

  try {
    for (let i = 0; i < count; i += 1) {
      const dir = join(root, `node-${i}`);
      for (let tries = 0; ; tries += 1) {
        const state: NodeState = { index: i, port: await freePort(), dir, child: undefined, paused: false };
        mkdirSync(dir, { recursive: true });
        try {
          await launch(state);
          states.push(state);
          break;
        } catch (error) {
          if (tries >= 3) throw error; // the port was taken between probe and bind; try another
        }
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const at = (i: number): NodeState => {
    const state = states[i];
    if (state === undefined) throw new InvalidOptionsError(`Expected a node index from 0 to ${states.length - 1}, got \`${i}\``);
    return state;
  };
  const signal = (i: number, sig: NodeJS.Signals): void => {
    const child = at(i).child;
    if (child?.pid === undefined) throw new RedfenceError('NODE_DOWN', `Node ${i} is not running`);
    child.kill(sig);
  };

  return {
    nodes: states.map((s) => ({
      host: '127.0.0.1' as const,
      port: s.port,
      url: `redis://127.0.0.1:${s.port}`,
      dir: s.dir,
      get pid() {
        return s.child?.pid;
      },
    })),
    urls: states.map((s) => `redis://127.0.0.1:${s.port}`),
    pause: (i) => {
      signal(i, 'SIGSTOP');
      at(i).paused = true;
    },
    resume: (i) => {
      signal(i, 'SIGCONT');
      at(i).paused = false;
    },
    crash: (i) => kill(at(i)),
    restart: async (i, opts = {}) => {
      const state = at(i);
      await kill(state);
      if (opts.empty) rmSync(state.dir, { recursive: true, force: true });
      mkdirSync(state.dir, { recursive: true });
      await launch(state);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
