import { type Implementation, type LockClient, pair, requestCount, sleep, type Tuning } from './adapters/adapter.js';
import { interleaved } from './adapters/implementations.js';
import { type CounterSnapshot, RedisCounters } from './redis-counters.js';
import { newTable, record, type Table } from './result-table.js';
import type { ScenarioContext } from './scenario-context.js';
import { jain, mean, percentile, sorted } from './stats.js';

const CLIENTS = 8;
const HOLD_MS = 2;
const TTL_MS = 10_000;
/** Bound on acquire calls per client, whatever the speed (the time bound is the real one). */
const MAX_CALLS_PER_CLIENT = 1_000_000;
/** An idle gap between holders longer than this counts as a stall (reported in the JSON detail). */
const STALL_MS = 20;

interface Grant {
  readonly client: number;
  /** This acquire call started. */
  readonly wantAt: number;
  /** The client started wanting the lock (earlier when calls before this one gave up). */
  readonly firstWantAt: number;
  readonly grantedAt: number;
  /** The holder called release (after its hold). */
  readonly releaseAt: number;
  readonly attempts: number | undefined;
}

export interface ContentionResult {
  readonly values: Record<string, number>;
  readonly detail: Record<string, unknown>;
}

/**
 * One S3 run: `CLIENTS` clients, each with its own connections, loop acquire → hold 2 ms →
 * release on ONE key for `durationMs`. Only grants and failures inside the window count; calls
 * still pending at the end are cancelled where the library supports a signal, otherwise awaited
 * (and their lock released at once). wait = time in the acquire call until the grant; a call
 * still waiting when the window closes counts with its wait so far (a starved client shows).
 */
export async function contend(
  impl: Implementation,
  tuning: Tuning,
  urls: readonly string[],
  key: string,
  durationMs: number,
  counters: RedisCounters,
): Promise<ContentionResult> {
  const clients: LockClient[] = Array.from({ length: CLIENTS }, () => impl.create(urls, tuning));
  try {
    await Promise.all(clients.map((c) => c.ready()));
    await Promise.all(clients.map((c, i) => pair(c, `${key}:warm:${i}`, TTL_MS)));
    const grants: Grant[] = [];
    const failures: { client: number; at: number; waitedMs: number; reason: string }[] = [];
    const censored: { wait: number; starve: number }[] = [];
    const before = await counters.snapshot();
    const requestsBefore = requestCount();
    let requestsAfter: number | undefined;
    const controller = new AbortController();
    const start = performance.now();
    const deadline = start + durationMs;
    let after: Promise<CounterSnapshot> | undefined;
    const timer = setTimeout(() => {
      after = counters.snapshot();
      requestsAfter = requestCount();
      after.catch(() => undefined); // awaited below; a failure must not be an unhandled rejection first
      controller.abort(Object.assign(new Error('S3 window over'), { name: 'WindowOver' }));
    }, durationMs);
    await Promise.all(
      clients.map(async (client, index) => {
        let firstWantAt: number | undefined;
        for (let call = 0; call < MAX_CALLS_PER_CLIENT && performance.now() < deadline; call += 1) {
          const wantAt = performance.now();
          firstWantAt ??= wantAt;
          let held;
          try {
            held = await client.acquire(key, TTL_MS, controller.signal);
          } catch (error) {
            const at = performance.now();
            if (at >= deadline || controller.signal.aborted) {
              // The window closed while this client waited: its wait so far counts (censored).
              censored.push({ wait: deadline - wantAt, starve: deadline - firstWantAt });
              break;
            }
            failures.push({ client: index, at: at - start, waitedMs: at - wantAt, reason: error instanceof Error ? error.name : String(error) });
            continue;
          }
          const grantedAt = performance.now();
          if (grantedAt >= deadline) {
            censored.push({ wait: deadline - wantAt, starve: deadline - firstWantAt });
            await held.release();
            break;
          }
          await sleep(HOLD_MS);
          const releaseAt = performance.now();
          await held.release();
          grants.push({ client: index, wantAt, firstWantAt, grantedAt, releaseAt, attempts: held.attempts });
          firstWantAt = undefined;
        }
      }),
    );
    clearTimeout(timer);
    const server = RedisCounters.delta(before, await (after ?? counters.snapshot()));
    return summarize(grants, failures, censored, start, deadline, server, (requestsAfter ?? requestCount()) - requestsBefore);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

function summarize(
  grants: Grant[],
  failures: readonly { reason: string; waitedMs: number }[],
  censored: readonly { wait: number; starve: number }[],
  start: number,
  deadline: number,
  server: ReturnType<typeof RedisCounters.delta>,
  requests: number,
): ContentionResult {
  grants.sort((a, b) => a.grantedAt - b.grantedAt);
  const perClient = Array.from({ length: CLIENTS }, (_, i) => grants.filter((g) => g.client === i).length);
  let regrabs = 0;
  let overlaps = 0;
  const handoffGaps: number[] = [];
  const allGaps: number[] = [];
  for (let i = 1; i < grants.length; i += 1) {
    const prev = grants[i - 1];
    const next = grants[i];
    if (prev === undefined || next === undefined) continue;
    const gap = next.grantedAt - prev.releaseAt;
    if (gap < 0) overlaps += 1;
    allGaps.push(gap);
    if (next.client === prev.client) regrabs += 1;
    else handoffGaps.push(gap);
  }
  const waits = sorted([...grants.map((g) => g.grantedAt - g.wantAt), ...censored.map((c) => c.wait)]);
  const starves = sorted([...grants.map((g) => g.grantedAt - g.firstWantAt), ...censored.map((c) => c.starve)]);
  const gaps = sorted(handoffGaps);
  // The lock lay idle for long: a lost wake-up, a split vote, or the machine stalling us.
  // Idle before the first grant and after the last release count too (a freeze until the end).
  const idle = [(grants[0]?.grantedAt ?? deadline) - start, ...allGaps, deadline - (grants.at(-1)?.releaseAt ?? start)];
  const stalls = idle.filter((g) => g > STALL_MS);
  const scriptCalls = (server.byCommand['evalsha'] ?? 0) + (server.byCommand['eval'] ?? 0);
  const gapsAll = sorted(allGaps);
  const holds = grants.map((g) => g.releaseAt - g.grantedAt);
  const attempts = grants.map((g) => g.attempts).filter((a): a is number => a !== undefined);
  const reasons: Record<string, number> = {};
  for (const f of failures) reasons[f.reason] = (reasons[f.reason] ?? 0) + 1;
  return {
    values: {
      acqPerSecond: (grants.length * 1_000) / (deadline - start),
      failures: failures.length,
      regrabPercent: grants.length > 1 ? (100 * regrabs) / (grants.length - 1) : Number.NaN,
      jain: jain(perClient),
      waitP99: percentile(waits, 99),
      waitMax: waits.at(-1) ?? Number.NaN,
      gapP50: percentile(gaps, 50),
      gapP99: percentile(gaps, 99),
      callsPerAcq: grants.length === 0 ? Number.NaN : server.totalCalls / grants.length,
      requestsPerAcq: grants.length === 0 ? Number.NaN : requests / grants.length,
    },
    detail: {
      grants: grants.length,
      perClient,
      overlaps,
      waitP50: percentile(waits, 50),
      waitsCensored: censored.length,
      starveMax: starves.at(-1) ?? Number.NaN,
      idleGapP50: percentile(gapsAll, 50),
      idleGapP99: percentile(gapsAll, 99),
      holdMeanMs: mean(holds),
      busyPercent: (100 * holds.reduce((a, b) => a + b, 0)) / (deadline - start),
      stalls: stalls.length,
      stalledMs: stalls.reduce((a, b) => a + b, 0),
      longestIdleMs: Math.max(...idle),
      scriptCallsPerAcq: grants.length === 0 ? null : scriptCalls / grants.length,
      attemptsMean: attempts.length === 0 ? null : mean(attempts),
      attemptsMax: attempts.length === 0 ? null : Math.max(...attempts),
      failureReasons: reasons,
      failureWaitMaxMs: failures.length === 0 ? null : Math.max(...failures.map((f) => f.waitedMs)),
      redisCpuMs: server.cpuSeconds * 1_000,
      callsByCommand: server.byCommand,
    },
  };
}

/**
 * S3 (BENCH.md): 8 clients on one key, 2 ms hold, at library defaults and tuned (retry 10 ± 5 ms).
 * An implementation whose two tunings are the same settings (raw floor, redis-semaphore) runs once
 * per repetition and appears in both tables; the raw floor is the ratio base of both.
 */
export async function runS3(ctx: ScenarioContext): Promise<Table[]> {
  const durationMs = ctx.quick ? 1_000 : 5_000;
  const metrics = [
    { key: 'acqPerSecond', label: 'acq/s', digits: 0, better: 'higher' },
    { key: 'failures', label: 'failures', digits: 0, better: 'lower', ratio: false },
    { key: 'regrabPercent', label: 're-grab %', digits: 0, better: 'lower' },
    { key: 'jain', label: 'Jain', digits: 2, better: 'higher' },
    { key: 'waitP99', label: 'wait p99 ms', digits: 1, better: 'lower' },
    { key: 'waitMax', label: 'wait max ms', digits: 0, better: 'lower' },
    { key: 'gapP50', label: 'handoff p50 ms', digits: 2, better: 'lower' },
    { key: 'gapP99', label: 'handoff p99 ms', digits: 1, better: 'lower' },
    { key: 'callsPerAcq', label: 'Redis calls/acq', digits: 1, better: 'lower' },
    { key: 'requestsPerAcq', label: 'requests/acq', digits: 1, better: 'lower' },
  ] as const;
  const tables = {
    defaults: newTable('S3', 'defaults', `S3 contention at library defaults, N=5: ${CLIENTS} clients, one key, ${HOLD_MS} ms hold, ${durationMs / 1000} s`, metrics),
    tuned: newTable('S3', 'tuned', `S3 contention tuned (retry 10 ± 5 ms), N=5: ${CLIENTS} clients, one key, ${HOLD_MS} ms hold, ${durationMs / 1000} s`, metrics),
  };
  interface Run {
    readonly impl: Implementation;
    readonly tuning: Tuning;
    readonly into: readonly Tuning[];
  }
  const runs = ctx.impls.flatMap((impl): Run[] =>
    impl.settings('defaults') === impl.settings('tuned')
      ? [{ impl, tuning: 'tuned', into: ['defaults', 'tuned'] }]
      : [
          { impl, tuning: 'defaults', into: ['defaults'] },
          { impl, tuning: 'tuned', into: ['tuned'] },
        ],
  );
  for (let rep = 0; rep < ctx.reps; rep += 1) {
    for (const run of interleaved(runs, rep)) {
      ctx.checkBudget();
      const key = `s3:${rep}:${run.impl.id}:${run.tuning}`;
      const result = await contend(run.impl, run.tuning, ctx.urls, key, durationMs, ctx.counters);
      for (const group of run.into) record(tables[group], run.impl, rep, result.values, result.detail);
      const d = result.detail;
      ctx.log(
        `S3 rep ${rep + 1} ${run.impl.label} ${run.tuning}: ${result.values['acqPerSecond']?.toFixed(0)} acq/s, ` +
          `${result.values['failures']} failures, Jain ${result.values['jain']?.toFixed(2)}, ` +
          `stalls > ${STALL_MS} ms: ${String(d['stalls'])} (${Number(d['stalledMs']).toFixed(0)} ms, longest ${Number(d['longestIdleMs']).toFixed(0)} ms), ` +
          `overlaps ${String(d['overlaps'])}`,
      );
    }
  }
  for (const table of Object.values(tables)) {
    for (const row of table.rows) {
      const overlaps = row.detail.reduce((n, d) => n + Number(d['overlaps'] ?? 0), 0);
      if (overlaps > 0) table.notes.push(`${row.label}: ${overlaps} grants before the previous holder released (mutual exclusion broken in the bench).`);
    }
  }
  tables.defaults.notes.push('raw floor and redis-semaphore have one configuration (retry every 10 ms); the same runs appear in both S3 tables.');
  const holdsMs = Object.values(tables).flatMap((t) => t.rows.flatMap((r) => r.detail.map((d) => Number(d['holdMeanMs']))));
  const hold = mean(holdsMs.filter((h) => Number.isFinite(h)));
  for (const table of Object.values(tables)) {
    table.notes.push(
      `The ${HOLD_MS} ms hold is a timer and lasts ${hold.toFixed(2)} ms on average here, so no lock can exceed ≈ ${Math.floor(1_000 / hold)} acq/s in this scenario; ` +
        'the rest of each cycle is the handoff (JSON: holdMeanMs, busyPercent).',
      'Redis calls/acq: every command the servers ran (INFO commandstats), including the calls a Lua script makes inside Redis — ' +
        'how BENCH.md\'s baseline was counted. requests/acq: commands the clients sent (a script counts once, SUBSCRIBE too).',
    );
  }
  return [tables.defaults, tables.tuned];
}
