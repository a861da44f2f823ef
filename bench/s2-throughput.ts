import { pair } from './adapters/adapter.js';
import { interleaved } from './adapters/implementations.js';
import { RedisCounters } from './redis-counters.js';
import { newTable, record, type Table } from './result-table.js';
import type { ScenarioContext } from './scenario-context.js';

const LOOPS = 64;
/** Bound on pairs per loop, whatever the speed (the time bound is the real one). */
const MAX_PAIRS_PER_LOOP = 1_000_000;
/** A loop stops after this many failed pairs (uncontended pairs should never fail). */
const MAX_ERRORS_PER_LOOP = 100;

/**
 * S2 (BENCH.md): uncontended throughput. One client per implementation and repetition, 64
 * concurrent loops each on its own key, acquire+release back to back for the duration; pairs/s,
 * the client's CPU per pair (process.cpuUsage, user + system) and the servers' CPU per pair
 * (INFO cpu used_cpu_sys + used_cpu_user, summed over the nodes). N = 5.
 */
export async function runS2(ctx: ScenarioContext): Promise<Table[]> {
  const durationMs = ctx.quick ? 1_000 : 5_000;
  const table = newTable('S2', 'N=5', `S2 uncontended throughput, N=5: ${LOOPS} concurrent loops on distinct keys for ${durationMs / 1000} s`, [
    { key: 'pairsPerSecond', label: 'pairs/s', digits: 0, better: 'higher' },
    { key: 'clientCpuUs', label: 'client CPU µs/pair', digits: 0, better: 'lower' },
    { key: 'redisCpuUs', label: 'Redis CPU µs/pair', digits: 0, better: 'lower' },
    { key: 'errors', label: 'failed pairs', digits: 0, better: 'lower', ratio: false },
  ]);
  for (let rep = 0; rep < ctx.reps; rep += 1) {
    for (const impl of interleaved(ctx.impls, rep)) {
      ctx.checkBudget();
      const client = impl.create(ctx.urls, 'defaults');
      try {
        await client.ready();
        const keyOf = (loop: number) => `s2:${rep}:${impl.id}:${loop}`;
        // Warm-up: scripts loaded, JIT warm, every loop's key used once.
        await Promise.all(Array.from({ length: LOOPS }, (_, loop) => pair(client, keyOf(loop), 10_000)));
        const before = await ctx.counters.snapshot();
        const cpuBefore = process.cpuUsage();
        const start = performance.now();
        const deadline = start + durationMs;
        let pairs = 0;
        let errors = 0;
        const reasons: Record<string, number> = {};
        await Promise.all(
          Array.from({ length: LOOPS }, async (_, loop) => {
            let loopErrors = 0;
            for (let i = 0; i < MAX_PAIRS_PER_LOOP && performance.now() < deadline; i += 1) {
              try {
                await pair(client, keyOf(loop), 10_000);
                pairs += 1;
              } catch (error) {
                errors += 1;
                const name = error instanceof Error ? error.name : 'unknown';
                reasons[name] = (reasons[name] ?? 0) + 1;
                if ((loopErrors += 1) >= MAX_ERRORS_PER_LOOP) break;
              }
            }
          }),
        );
        const elapsedMs = performance.now() - start;
        const cpu = process.cpuUsage(cpuBefore);
        const after = await ctx.counters.snapshot();
        const server = RedisCounters.delta(before, after);
        record(
          table,
          impl,
          rep,
          {
            pairsPerSecond: (pairs * 1_000) / elapsedMs,
            clientCpuUs: (cpu.user + cpu.system) / pairs,
            redisCpuUs: (server.cpuSeconds * 1e6) / pairs,
            errors,
          },
          { pairs, elapsedMs, redisCallsPerPair: server.totalCalls / pairs, callsByCommand: server.byCommand, reasons },
        );
      } finally {
        await client.close();
      }
    }
    ctx.log(`S2 rep ${rep + 1}/${ctx.reps} done`);
  }
  return [table];
}
