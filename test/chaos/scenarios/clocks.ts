/**
 * Clock faults (reference §5.3): S14 a node clock running 2× fast (NC2 = the 0.01 variant),
 * S15 node clock jumps, S16 a client wall-clock jump (NC4: the same with validity on Date.now()).
 * Node clocks come from the LD_PRELOAD shim (clock.ts); S14/S15a force bare majorities as in S11.
 */
import type { ClientOverrides } from '../client-config.js';
import type { ProcSpec, Scenario, ScenarioContext } from '../scenario.js';
import { workerProcs } from '../scenario.js';
import { bareMajority, nextGrant } from './restarts.js';

const C = 2;
const HOUR = 3_600_000;

function bareMajorityProcs(driftFactor: number): ProcSpec[] {
  const common: ClientOverrides = { clients: 1, keys: ['k0'], keyWeights: [1], driftFactor, longHoldProbability: 0, extend: false, autoRepair: false };
  return [
    { name: 'a', overrides: { ...common, holdMs: [700, 900], opsPerSection: [3, 4], thinkMs: [0, 10] } },
    { name: 'b', overrides: { ...common, holdMs: [5, 30], opsPerSection: [1, 2], thinkMs: [0, 10] } },
  ];
}

function s14(id: string, driftFactor: number, kind: Scenario['kind']): Scenario {
  const fast = driftFactor < 0.5;
  return {
    id,
    title: `Node clock 2× fast, driftFactor ${driftFactor}${id === 'NC2' ? ' (negative control)' : ''}`,
    kind,
    expected: fast ? ['ME'] : [],
    expectation: fast
      ? 'C’s clock runs 2×; A (nodes 0–2) holds k0, C’s key expires after ≈ 0.5·ttl while A’s validity is ≈ 0.99·ttl, B (nodes 2–4) gets k0: ME overlap ≈ 0.49·ttl must be reported; TOK and FENCE hold (C kept A’s fence)'
      : 'C’s clock runs 2×, driftFactor 0.5 (≥ 1 − ρ_client/ρ_node): no overlap; TOK and FENCE hold',
    durationMs: 10_000,
    nodeClocks: true,
    procs: bareMajorityProcs(driftFactor),
    nemesis: async (ctx) => {
      await bareMajority(ctx);
      await ctx.fleet.setClock(C, { rate: 2 });
      await ctx.sleep(10_000);
    },
    minGrants: 20,
    faultRequired: true,
    live: (run) => {
      // The smallest gap between a claim's end and the next grant of k0 (negative: an overlap).
      const claims = [...run.check.claims].sort((x, y) => (x.okTime < y.okTime ? -1 : 1));
      let minGap = Number.POSITIVE_INFINITY;
      for (let i = 1; i < claims.length; i += 1) {
        const prev = claims[i - 1];
        const next = claims[i];
        if (prev && next) minGap = Math.min(minGap, Number(next.okTime - prev.end) / 1e6);
      }
      run.metrics['minGapMs'] = minGap.toFixed(2);
      // With a 2× node clock the overlap is bounded by ≈ 0.5·ttl; more would be another bug.
      return fast && -minGap > 0.5 * run.ttl + 50 ? [`LIVE: overlap of ${(-minGap).toFixed(0)} ms exceeds the ≈ 0.49·ttl a 2× node clock explains`] : [];
    },
  };
}

export const s14a = s14('S14a', 0.01, 'limit');
export const s14b = s14('S14b', 0.5, 'safety');
export const nc2 = s14('NC2', 0.01, 'control');

export const s15a: Scenario = {
  id: 'S15a',
  title: 'Node clock jumps forward 10×ttl',
  kind: 'limit',
  expected: ['ME'],
  expectation: 'C’s clock jumps +10·ttl while A holds k0 through a bare majority: C expires A’s key at once and B takes k0 — ME violated (the documented limit); TOK, FENCE, RMW hold',
  durationMs: 9_000,
  nodeClocks: true,
  procs: bareMajorityProcs(0.01),
  nemesis: async (ctx) => {
    await bareMajority(ctx);
    await ctx.sleep(1_500);
    for (let round = 0; round < 3; round += 1) {
      await nextGrant(ctx, 'a');
      await ctx.fleet.setClock(C, { offsetMs: (round + 1) * 10 * ctx.ttl });
      await ctx.sleep(2_500);
    }
  },
  minGrants: 20,
  faultRequired: true,
};

export const s15b: Scenario = {
  id: 'S15b',
  title: 'Node clock jumps back 1 h',
  kind: 'safety',
  expected: [],
  expectation: 'C’s clock jumps −1 h: safety holds; a key C held at the jump may stay there for up to another hour (that key then runs on 4 of 5 nodes); stray keys are reported, not failed',
  durationMs: 12_000,
  nodeClocks: true,
  procs: workerProcs(3),
  allowStrayLocks: true,
  nemesis: async (ctx) => {
    await ctx.sleep(1_000);
    await ctx.fleet.setClock(C, { offsetMs: -HOUR });
    await ctx.sleep(11_000);
  },
  minGrants: 150,
  faultRequired: true,
};

/** Steps a client process's wall clock and checks the step from the wall clock it reports. */
async function stepClientClock(ctx: ScenarioContext, proc: string, offsetMs: number): Promise<void> {
  const clock = ctx.procClock(proc);
  clock.set({ offsetMs });
  const id = ctx.nemesis.start('client-clock', `${proc} wall clock ${offsetMs >= 0 ? '+' : ''}${offsetMs / 1000} s`);
  await ctx.sleep(100);
  const skew = await ctx.clientWallSkew(proc);
  ctx.nemesis.verify(id, Math.abs(skew - offsetMs) < 500, `process reports a wall clock ${Math.round(skew)} ms off`);
}

export const s16: Scenario = {
  id: 'S16',
  title: 'Client wall-clock jumps (±1 h)',
  kind: 'safety',
  expected: [],
  expectation: 'one client process’s wall clock (shim, monotonic untouched) steps +1 h, back, −1 h, back: no effect, validity runs on the monotonic clock; ME, TOK',
  durationMs: 12_000,
  procs: [{ name: 'p0', shimClock: true }, ...workerProcs(3).slice(1)],
  nemesis: async (ctx) => {
    for (const offset of [HOUR, 0, -HOUR, 0]) {
      await stepClientClock(ctx, 'p0', offset);
      await ctx.sleep(3_000);
    }
  },
  minGrants: 150,
  faultRequired: true,
};

export const nc4: Scenario = {
  id: 'NC4',
  title: 'Negative control: validity on Date.now(), client wall clock jumps back',
  kind: 'control',
  expected: ['ME'],
  expectation: 'S16 with p0’s Redlock clock on Date.now() (and no signal watching), p0 in long sections (4–6·ttl, extending at half validity): after its wall clock steps −1 h, p0 believes its sections stay valid, stops extending and keeps acting while others hold the key — ME overlap must be detected',
  durationMs: 10_000,
  procs: [
    {
      name: 'p0',
      shimClock: true,
      overrides: { validityClock: 'wall', watchSignal: false, longHoldProbability: 1, longHoldTtl: [4, 6], opsPerSection: [6, 10] },
    },
    ...workerProcs(3).slice(1),
  ],
  nemesis: async (ctx) => {
    await ctx.sleep(1_000);
    await stepClientClock(ctx, 'p0', -HOUR);
    await ctx.sleep(4_000);
    await stepClientClock(ctx, 'p0', -2 * HOUR);
    await ctx.sleep(4_000);
  },
  minGrants: 20,
  faultRequired: true,
};
