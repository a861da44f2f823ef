import { pair } from './adapters/adapter.js';
import { interleaved } from './adapters/implementations.js';
import { newTable, record, type Table } from './result-table.js';
import type { ScenarioContext } from './scenario-context.js';
import { median } from './stats.js';

/** Cold starts per implementation and repetition (one sample is too noisy on a shared machine). */
const CYCLES = 5;

/**
 * S0 (BENCH.md): cold start. A fresh client connects (PING on every connection, so TCP setup is
 * not counted), SCRIPT FLUSH runs on every node, then the first acquire+release and the second are
 * timed, each on a fresh key. Per repetition every implementation does this 5 times, in turns,
 * and the medians are recorded. N = 5.
 */
export async function runS0(ctx: ScenarioContext): Promise<Table[]> {
  const table = newTable('S0', 'N=5', `S0 cold start, N=5: first acquire+release after SCRIPT FLUSH vs the second (median of ${CYCLES} fresh clients)`, [
    { key: 'first', label: 'first pair µs', digits: 0, better: 'lower' },
    { key: 'second', label: 'second pair µs', digits: 0, better: 'lower' },
    { key: 'penalty', label: 'first ÷ second', digits: 2, better: 'lower' },
  ]);
  for (let rep = 0; rep < ctx.reps; rep += 1) {
    const samples = new Map(ctx.impls.map((impl) => [impl.id, { first: [] as number[], second: [] as number[] }]));
    for (let cycle = 0; cycle < CYCLES; cycle += 1) {
      for (const impl of interleaved(ctx.impls, rep + cycle)) {
        ctx.checkBudget();
        const client = impl.create(ctx.urls, 'defaults');
        try {
          await client.ready();
          await ctx.counters.flushScripts();
          const timed = async (key: string): Promise<number> => {
            const start = performance.now();
            await pair(client, key, 10_000);
            return (performance.now() - start) * 1_000;
          };
          const into = samples.get(impl.id);
          into?.first.push(await timed(`s0:${rep}:${cycle}:${impl.id}:first`));
          into?.second.push(await timed(`s0:${rep}:${cycle}:${impl.id}:second`));
        } finally {
          await client.close();
        }
      }
    }
    for (const impl of ctx.impls) {
      const s = samples.get(impl.id);
      if (s === undefined) continue;
      const first = median(s.first);
      const second = median(s.second);
      record(table, impl, rep, { first, second, penalty: first / second }, { first: s.first, second: s.second });
    }
    ctx.log(`S0 rep ${rep + 1}/${ctx.reps} done`);
  }
  return [table];
}
