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

/** A toxic as the Toxiproxy API takes it (attributes per type, see CHAOS.md). */
export interface ToxicSpecIn {
  readonly type: 'latency' | 'timeout' | 'reset_peer' | 'slicer' | 'bandwidth' | 'slow_close' | 'limit_data';
  readonly stream: 'upstream' | 'downstream';
  readonly toxicity?: number;
  readonly attributes: Readonly<Record<string, number>>;
}

/**
 * Probes of a latency toxic with jitter. Each probe's delay is about uniform in latency ± jitter, so
 * the mean of 10 has a standard deviation of jitter / √30: the floor, latency − jitter (at least
 * 0.3 × latency), is ≥ 3.8 of them below what a working toxic gives. (5 probes against 60 % of
 * the latency failed a working 50 ± 50 ms toxic about 1 time in 16: S5 once in a full matrix.)
 */
const JITTER_PROBES = 10;

/**
 * Verifies toxics on one link: a reset_peer toxic must reset one of a few probes (toxicity is
 * rolled per connection), a latency must show in probes (≥ 80 %; with jitter, see JITTER_PROBES),
 * a slicer must still deliver a reply. Undefined when there is nothing to verify.
 */
export async function verifyToxics(
  endpoint: { readonly host: string; readonly port: number },
  toxics: readonly ToxicSpecIn[],
): Promise<{ ok: boolean; detail: string } | undefined> {
  const { host, port } = endpoint;
  const latencyToxic = toxics.find((t) => t.type === 'latency');
  const latency = latencyToxic?.attributes['latency'] ?? 0;
  if (toxics.some((t) => t.type === 'reset_peer')) {
    const seen: string[] = [];
    for (let i = 0; i < 12 && !seen.some((o) => o === 'reset' || o === 'closed'); i += 1) seen.push((await probeLink(host, port, 2_000)).outcome);
    return { ok: seen.some((o) => o === 'reset' || o === 'closed'), detail: `probes: ${seen.join(',')}` };
  }
  if (latency > 0) {
    const jitter = latencyToxic?.attributes['jitter'] ?? 0;
    const probes: ProbeResult[] = [];
    for (let i = 0; i < (jitter > 0 ? JITTER_PROBES : 1); i += 1) probes.push(await probeLink(host, port, (latency + jitter) * 3 + 1_000));
    const mean = probes.reduce((a, p) => a + p.ms, 0) / probes.length;
    const floor = jitter > 0 ? Math.max(latency - jitter, latency * 0.3) : latency * 0.8;
    const ok = probes.every((p) => p.outcome === 'ok') && mean >= floor;
    return { ok, detail: `${probes.length} probe(s) ${[...new Set(probes.map((p) => p.outcome))].join('/')}, mean ${mean.toFixed(0)} ms (latency ${latency} ± ${jitter})` };
  }
  if (toxics.some((t) => t.type === 'slicer')) {
    const probe = await probeLink(host, port, 2_000);
    return { ok: probe.outcome === 'ok', detail: `sliced probe ${probe.outcome} in ${probe.ms.toFixed(1)} ms` };
  }
  return undefined;
}
