/**
 * Node crashes and restarts (reference §5.3): S10 with AOF (nothing acknowledged is lost), S11 an
 * empty restart with the ready gate bypassed (negative control NC3), S12 an empty restart after a
 * delay but without repair, S13 an empty restart through the ready gate.
 *
 * S11–S13 force bare majorities: client A reaches only nodes {0,1,2}, client B only {2,3,4}, so
 * node 2 ("C") is the only node both see.
 */
import type { ClientOverrides } from '../client-config.js';
import type { ProcSpec, Scenario, ScenarioContext } from '../scenario.js';
import { pickNodes, workerProcs } from '../scenario.js';

const C = 2;
const KEYS = ['k0', 'k1', 'c0'];

/** S10: SIGKILL a node every 5 s and restart it at once on the same data dir. */
function s10(id: string, fsync: 'always' | 'everysec'): Scenario {
  return {
    id,
    title: `Node SIGKILL and restart with AOF (appendfsync ${fsync})`,
    kind: 'safety',
    expected: [],
    expectation: 'a process crash loses nothing acknowledged (counters never go back); the node rejoins at once with its __ready key; ME, TOK, FENCE, RMW',
    durationMs: 15_000,
    appendOnly: true,
    redisArgs: ['--appendfsync', fsync],
    procs: workerProcs(3),
    nemesis: async (ctx) => {
      for (let round = 0; round < 3; round += 1) {
        const [node = 0] = pickNodes(ctx, 1);
        const before = await ctx.fleet.counters(node, KEYS);
        await ctx.fleet.crashNode(node);
        const { ready } = await ctx.fleet.restartNode(node);
        if (!ready) ctx.problems.push(`LIVE: n${node} came back from a crash without its __ready key`);
        const after = await ctx.fleet.counters(node, KEYS);
        for (const [i, key] of KEYS.entries()) {
          const b = before[i] ?? null;
          const a = after[i] ?? null;
          if (b !== null && (a === null || a < b)) ctx.problems.push(`AOF: n${node} lost the counter of ${key}: ${b} before the crash, ${a} after`);
        }
        await ctx.sleep(5_000);
      }
    },
    minGrants: 150,
    faultRequired: true,
  };
}

export const s10a = s10('S10a', 'always');
export const s10b = s10('S10b', 'everysec');

/** Client A: long sections on k0 through {0,1,2}. Client B: short ones through {2,3,4}. */
function bareMajorityProcs(a: ClientOverrides, b: ClientOverrides): ProcSpec[] {
  const common: ClientOverrides = { clients: 1, keys: ['k0'], keyWeights: [1], autoRepair: false, longHoldProbability: 0 };
  return [
    { name: 'a', overrides: { ...common, holdMs: [600, 800], opsPerSection: [2, 3], extend: false, thinkMs: [0, 10], ...a } },
    { name: 'b', overrides: { ...common, holdMs: [5, 30], opsPerSection: [1, 2], thinkMs: [0, 10], ...b } },
  ];
}

/** Black-holes A from nodes 3,4 and B from nodes 0,1 (for the rest of the run). */
export async function bareMajority(ctx: ScenarioContext): Promise<void> {
  await ctx.fleet.cut(ctx.fleet.links(['a'], [3, 4]), 'blackhole');
  await ctx.fleet.cut(ctx.fleet.links(['b'], [0, 1]), 'blackhole');
}

/** Resolves when process `proc` reports a grant (after this call). */
export function nextGrant(ctx: ScenarioContext, proc: string, timeoutMs = 10_000): Promise<unknown> {
  return ctx.clients.waitFor(proc, (e) => e.ev === 'granted', timeoutMs, ctx.signal);
}

/**
 * B's wall clock lags 1 h. redfence raises every token to the client's wall clock in µs, and on
 * one machine every client shares that clock, so a node that forgot its counters would still hand
 * out increasing tokens; a lagging client clock (which the docs allow for) makes the lost counters
 * show. Without it S11/S12 cannot show a token regression on a single host.
 */
const LAGGING: ClientOverrides = { wallClockOffsetMs: -3_600_000 };

export const s11: Scenario = {
  id: 'S11',
  title: 'Node restarted empty at once, ready gate bypassed',
  kind: 'limit',
  expected: ['ME', 'TOK'],
  expectation:
    'A (sees nodes 0–2) holds k0; C (node 2) is SIGKILLed, restarted empty and marked ready by hand; B (sees nodes 2–4, wall clock 1 h behind) gets k0 from the empty C and the lagging 3,4: ME overlap (≈ rest of A’s validity) and TOK regression must both be reported; the store rejects B (FENCE holds)',
  durationMs: 10_000,
  // A holds almost its whole validity, so B (whose connection to C must first reconnect) gets in.
  procs: bareMajorityProcs({ holdMs: [800, 950] }, LAGGING),
  nemesis: async (ctx) => {
    await bareMajority(ctx);
    await ctx.sleep(2_000);
    for (let round = 0; round < 3; round += 1) {
      await nextGrant(ctx, 'a');
      await ctx.fleet.crashNode(C);
      await ctx.fleet.restartNode(C, { empty: true });
      await ctx.fleet.markReadyByHand(C);
      await ctx.sleep(2_500);
    }
  },
  minGrants: 30,
  faultRequired: true,
  staleRequired: true,
};

export const nc3: Scenario = {
  ...s11,
  id: 'NC3',
  title: 'Negative control: S11, empty restart without the gate',
  kind: 'control',
  expectation: 'S11 run as a negative control: ME and TOK must fire',
};

export const s12: Scenario = {
  id: 'S12',
  title: 'Node restarted empty after a delay, not repaired',
  kind: 'limit',
  expected: ['TOK'],
  expectation:
    'as S11, but C stays down ≥ ttl + drift (A’s lock expires meanwhile) and is marked ready without repair: ME holds, the TOK regression must be detected (B reads only the zeroed C and the lagging 3,4); the store rejects B’s lower token, so its own order looks clean',
  durationMs: 12_000,
  procs: bareMajorityProcs({}, LAGGING),
  nemesis: async (ctx) => {
    await bareMajority(ctx);
    await ctx.sleep(2_000);
    for (let round = 0; round < 2; round += 1) {
      await nextGrant(ctx, 'a');
      // A must not reach C before B does, or A's fresh floor would hide the lost counters.
      const aToC = await ctx.fleet.cut(ctx.fleet.links(['a'], [C]), 'blackhole');
      await ctx.fleet.crashNode(C);
      await ctx.sleep(1.3 * ctx.ttl);
      const granted = nextGrant(ctx, 'b');
      await ctx.fleet.restartNode(C, { empty: true });
      await ctx.fleet.markReadyByHand(C);
      await granted;
      await ctx.fleet.restore(aToC);
      await ctx.sleep(2_000);
    }
  },
  minGrants: 30,
  faultRequired: true,
  staleRequired: true,
};

export const s13: Scenario = {
  id: 'S13',
  title: 'Node restarted empty through the __ready gate',
  kind: 'safety',
  expected: [],
  expectation:
    'as S11 but with the gate: C answers NOTREADY until a client that sees a majority repaired it (counters copied, maxTtl waited out); ME, TOK, FENCE, RMW hold; availability stays normal for clients that reach 4 of 5 nodes; after repair C’s counter ≥ the pre-crash maximum',
  durationMs: 12_000,
  procs: [
    ...bareMajorityProcs({ autoRepair: true }, { ...LAGGING, autoRepair: true }),
    { name: 'p', overrides: { clients: 2 } },
  ],
  nemesis: async (ctx) => {
    await bareMajority(ctx);
    await ctx.sleep(2_000);
    await nextGrant(ctx, 'a');
    const before = await Promise.all(Array.from({ length: ctx.fleet.size }, (_, i) => ctx.fleet.counters(i, KEYS)));
    const crashedAt = ctx.clients.procs.get('p')?.stats.grants ?? 0;
    await ctx.fleet.crashNode(C);
    await ctx.fleet.restartNode(C, { empty: true });
    const restartedAt = performance.now();
    let marker: string | null = null;
    while (marker === null && performance.now() - restartedAt < 15_000) {
      await ctx.sleep(200);
      marker = await ctx.fleet.readyMarker(C).catch(() => null);
    }
    ctx.metrics['repairedAfterMs'] = Math.round(performance.now() - restartedAt);
    ctx.metrics['grantsOfPWhileCOut'] = (ctx.clients.procs.get('p')?.stats.grants ?? 0) - crashedAt;
    if (marker === null) ctx.problems.push('LIVE: C was not repaired within 15 s');
    const after = await ctx.fleet.counters(C, KEYS);
    for (const [i, key] of KEYS.entries()) {
      const max = before.map((b) => b[i] ?? null).reduce<bigint | null>((m, v) => (v !== null && (m === null || v > m) ? v : m), null);
      const a = after[i] ?? null;
      if (marker !== null && max !== null && (a === null || a < max)) ctx.problems.push(`repair: C's counter of ${key} is ${a}, below the pre-crash maximum ${max}`);
    }
    if (Number(ctx.metrics['grantsOfPWhileCOut']) === 0) ctx.problems.push('LIVE: the client that sees 4 of 5 nodes got no grant while C was out');
    await ctx.sleep(2_000);
  },
  minGrants: 40,
  faultRequired: true,
};
