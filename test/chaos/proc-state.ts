/**
 * What /proc says about a pid: used to verify that a SIGSTOP really stopped a process (state `T`)
 * and that a SIGKILLed one is gone. Linux only; elsewhere the states read as unknown.
 */
import { readFileSync } from 'node:fs';

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The state letter of /proc/<pid>/stat (R, S, T, …), or undefined when it cannot be read. */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Polls /proc until the pid is in `state` or `timeoutMs` passed; resolves with the last state seen. */
export async function waitForProcState(pid: number, state: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = performance.now() + timeoutMs;
  let seen = procState(pid);
  while (seen !== state && performance.now() < deadline) {
    await delay(5);
    seen = procState(pid);
  }
  return seen;
}

export function processExists(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  const state = procState(pid);
  return state !== undefined && state !== 'Z';
}
