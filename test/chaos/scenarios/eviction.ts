/**
 * NC5 (reference §4.8): nodes run with `maxmemory` and `allkeys-lru` (instead of noeviction) under
 * memory pressure, so Redis evicts fencing counters (`fc` keys). A client whose wall clock lags
 * (so that redfence's wall-clock token floor does not hide it) then gets tokens below earlier
 * ones: TOK must fire. Evicted lease keys may also break ME: tolerated.
 */
import { randomBytes } from 'node:crypto';
import type { Scenario } from '../scenario.js';

// Many resources, so that each one's counter sits idle long enough for LRU to pick it.
const RESOURCES = Array.from({ length: 300 }, (_, i) => `r${i}`);
const spread = { keys: RESOURCES, keyWeights: RESOURCES.map(() => 1), holdMs: [5, 30] as const, longHoldProbability: 0 };

export const nc5: Scenario = {
  id: 'NC5',
  title: 'Negative control: allkeys-lru evicts fencing counters',
  kind: 'control',
  expected: ['TOK'],
  tolerated: ['ME'],
  expectation: 'maxmemory 4 MB with allkeys-lru and a writer filling memory: fc keys are evicted and a client with a lagging wall clock gets lower tokens — TOK regression must fire',
  durationMs: 12_000,
  redisArgs: ['--maxmemory', '4mb', '--maxmemory-policy', 'allkeys-lru'],
  procs: [
    { name: 'p0', overrides: { ...spread } },
    { name: 'p1', overrides: { ...spread } },
    { name: 'lag', overrides: { ...spread, clients: 2, wallClockOffsetMs: -3_600_000 } },
  ],
  allowStrayLocks: true,
  nemesis: async (ctx) => {
    const value = randomBytes(4_096).toString('hex');
    const id = ctx.nemesis.start('memory-pressure', 'junk writer, 8 KB values');
    const before = await ctx.fleet.admin(0).info('stats');
    const end = performance.now() + 12_000;
    for (let n = 0; performance.now() < end; n += 1) {
      await Promise.all(Array.from({ length: ctx.fleet.size }, (_, i) => ctx.fleet.admin(i).set(`junk:${n % 5_000}`, value).catch(() => undefined)));
      if (n % 4 === 0) await ctx.sleep(10);
    }
    const after = await ctx.fleet.admin(0).info('stats');
    const evicted = (s: string): number => Number(/evicted_keys:(\d+)/.exec(s)?.[1] ?? 0);
    const n0 = evicted(after) - evicted(before);
    ctx.metrics['evictedOnNode0'] = n0;
    ctx.nemesis.verify(id, n0 > 0, `node 0 evicted ${n0} keys`);
    ctx.nemesis.stop(id);
  },
  minGrants: 50,
  faultRequired: true,
};
