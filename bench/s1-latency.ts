import { type LockClient, pair } from './adapters/adapter.js';
import { interleaved } from './adapters/implementations.js';
import { newTable, record, type Table } from './result-table.js';
import type { ScenarioContext } from './scenario-context.js';
import { percentile, sorted } from './stats.js';

const JIT_WARMUP = 1_000;
/** Each repetition's pairs run in this many blocks per implementation, interleaved. */
const BLOCKS = 10;

/**
 * S1 (BENCH.md): uncontended latency. Sequential acquire+release on a fresh key, 2,000 pairs after
 * 200 warm-up, p50/p99 of the pair, for N = 1 and N = 5. Within each repetition the
 * implementations take turns in 10 blocks of 200 pairs (order rotated per block and repetition).
 * One client per implementation and N, kept across repetitions and warmed once with 1,000 pairs.
 * Run alone with `npm run bench -- --scenario S1`.
 */
export async function runS1(ctx: ScenarioContext): Promise<Table[]> {
  const iterations = ctx.quick ? 200 : 2_000;
  const warmup = ctx.quick ? 20 : 200;
  const tables: Table[] = [];
  for (const n of [1, 5]) {
    const table = newTable('S1', `N=${n}`, `S1 uncontended acquire+release, N=${n}: ${iterations} sequential pairs after ${warmup} warm-up`, [
      { key: 'p50', label: 'pair p50 µs', digits: 0, better: 'lower' },
      { key: 'p99', label: 'pair p99 µs', digits: 0, better: 'lower' },
    ]);
    const urls = ctx.urls.slice(0, n);
    const clients = new Map<string, LockClient>();
    try {
      for (const impl of ctx.impls) {
        const client = impl.create(urls, 'defaults');
        clients.set(impl.id, client);
        await client.ready();
        // Once per client: past the JIT's tiers, so repetition 1 is not a warm-up run.
        for (let i = 0; i < JIT_WARMUP; i += 1) await pair(client, `s1:n${n}:${impl.id}:jit:${i}`, 10_000);
      }
      for (let rep = 0; rep < ctx.reps; rep += 1) {
        for (const impl of interleaved(ctx.impls, rep)) {
          const client = clients.get(impl.id);
          for (let i = 0; i < warmup && client !== undefined; i += 1) await pair(client, `s1:n${n}:${rep}:${impl.id}:warm:${i}`, 10_000);
        }
        // Blocks of the implementations in turn (A B C A B C …): a noisy spell on the machine
        // hits every implementation of the repetition alike, not one of them.
        const samples = new Map(ctx.impls.map((impl) => [impl.id, new Float64Array(iterations)]));
        const block = Math.ceil(iterations / BLOCKS);
        for (let from = 0, round = 0; from < iterations; from += block, round += 1) {
          ctx.checkBudget();
          for (const impl of interleaved(ctx.impls, rep + round)) {
            const client = clients.get(impl.id);
            const into = samples.get(impl.id);
            if (client === undefined || into === undefined) continue;
            for (let i = from; i < Math.min(iterations, from + block); i += 1) {
              const start = performance.now();
              await pair(client, `s1:n${n}:${rep}:${impl.id}:${i}`, 10_000);
              into[i] = (performance.now() - start) * 1_000;
            }
          }
        }
        for (const impl of ctx.impls) {
          const s = sorted(samples.get(impl.id) ?? []);
          record(table, impl, rep, { p50: percentile(s, 50), p99: percentile(s, 99) });
        }
        ctx.log(`S1 N=${n} rep ${rep + 1}/${ctx.reps} done`);
      }
    } finally {
      await Promise.all([...clients.values()].map((c) => c.close()));
    }
    tables.push(table);
  }
  return tables;
}
