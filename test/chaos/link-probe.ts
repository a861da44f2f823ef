/**
 * Probes one client→node link through its fault proxy with a raw `PING`, to verify that a fault is
 * in effect (a black hole answers nothing, a down proxy refuses, a reset_peer toxic resets, a
 * latency toxic is slow). Raw TCP on purpose: no client library retries or queues in between.
 */
import { connect } from 'node:net';

export type ProbeOutcome = 'ok' | 'timeout' | 'refused' | 'reset' | 'closed' | 'error';

export interface ProbeResult {
  readonly outcome: ProbeOutcome;
  /** Milliseconds until the outcome was known. */
  readonly ms: number;
}

/** Sends `PING` to `host:port`; resolves with what happened within `timeoutMs`. */
export function probeLink(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const socket = connect({ host, port });
    const finish = (outcome: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve({ outcome, ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    let reply = '';
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG') ? 'ok' : 'error');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') finish('refused');
      else if (error.code === 'ECONNRESET' || error.code === 'EPIPE') finish('reset');
      else finish('error');
    });
    socket.on('close', () => finish('closed'));
  });
}
