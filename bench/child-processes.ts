import { type ChildProcess, spawn } from 'node:child_process';

/**
 * Every child process the bench starts, so that each is killed at the end, also on failure or
 * Ctrl-C (bench/run.ts calls killChildren; the exit hook is the last resort).
 */
const children = new Set<ChildProcess>();
let hooked = false;

/** Starts `script` (a .ts file) with the same node flags as this process (so tsx loads it). */
export function spawnScript(script: string, args: readonly string[]): ChildProcess {
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const child of children) child.kill('SIGKILL');
    });
  }
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGKILLs `child` and resolves when it is gone. */
export function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  return gone;
}

export async function killChildren(): Promise<void> {
  await Promise.all([...children].map(killChild));
}
