/**
 * Process pauses (reference §5.3): S7 a paused holder writes with a stale token (NC1: the same
 * with store fencing off), S8 a holder isolated from every node, S9 paused Redis nodes.
 */
import type { ClientOverrides } from '../client-config.js';
import { pickNodes, type ProcSpec, type Scenario, type ScenarioContext, workerProcs } from '../scenario.js';
import { acquireOutcomes, fmt } from './measure.js';

const TTL = 1_000;

/** S7's victim: acquire k0, read (touch), tell the runner, and after the pause write at once without checking validity. */
const s7Victim: ProcSpec = {
  name: 'v',
  overrides: {
    clients: 1,
    skipValidityCheck: true,
    victim: { key: 'k0', rounds: 3, waitAfterReadyMs: 300, holdAfterMs: 0, opEveryMs: 0, gapMs: 300 },
  },
};

/** Each round: wait until the victim holds k0 and touched the store, SIGSTOP it for 3×ttl, SIGCONT. */
async function pauseVictim(ctx: ScenarioContext, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round += 1) {
    ctx.clients.send('v', 'go');
    await ctx.clients.waitFor('v', (e) => e.ev === 'victim-ready', 15_000, ctx.signal);
    await ctx.clients.pause('v');
    await ctx.sleep(3 * ctx.ttl);
    ctx.clients.resume('v');
    await ctx.sleep(1_500);
  }
}

export const s7: Scenario = {
  id: 'S7',
  title: 'Holder paused longer than the TTL writes with a stale token',
  kind: 'safety',
  expected: ['ME-pause', 'DISC'],
  expectation:
    'victim gets T, touches the store, SIGSTOP 3×ttl, then (validity re-check skipped by a test hook) writes at once: others got tokens > T and touched the store, the victim’s writes are rejected (FENCE), no lost increment (RMW); ME between the victim’s belief and the new holder is expected ("expected: pause"); VAC: a stale write reached the store',
  durationMs: 15_000,
  procs: [...workerProcs(3), s7Victim],
  nemesis: (ctx) => pauseVictim(ctx, 3),
  minGrants: 150,
  faultRequired: true,
  staleRequired: true,
  live: (run) => {
    const victimWrites = run.events.filter((e) => e.proc === 'v' && e.op === 'write' && e.phase !== 'invoke');
    run.metrics['victimWrites'] = victimWrites.map((e) => e.phase).join(',');
    return victimWrites.some((e) => e.phase === 'fail') ? [] : ['VAC: no write of the paused victim was rejected by the store'];
  },
};

export const nc1: Scenario = {
  ...s7,
  id: 'NC1',
  title: 'Negative control: S7 with store fencing off',
  kind: 'control',
  fencing: false,
  expected: ['ME-pause', 'DISC', 'FENCE', 'RMW'],
  expectation: 'S7 with the store’s token check disabled: FENCE (stale write accepted) and RMW (lost update) must fire',
  live: () => [],
};

/** S8's victim: a long critical section (3×ttl), an increment every 100 ms, extending at half validity. */
const s8Victim: ClientOverrides = {
  clients: 1,
  victim: { key: 'k0', rounds: 3, waitAfterReadyMs: 0, holdAfterMs: 3 * TTL, opEveryMs: 100, gapMs: 300 },
};

export const s8: Scenario = {
  id: 'S8',
  title: 'Holder isolated from every node mid-critical-section',
  kind: 'safety',
  expected: [],
  expectation:
    'the holder’s 5 proxies black-holed for 3×ttl: extends fail, the lock’s signal aborts, the holder invokes no fenced op after its validity end (discipline); others acquire within ttl + retry + τ. ME, TOK, FENCE',
  durationMs: 15_000,
  procs: [...workerProcs(3), { name: 'v', overrides: s8Victim }],
  nemesis: async (ctx) => {
    for (let round = 0; round < 3; round += 1) {
      ctx.clients.send('v', 'go');
      await ctx.clients.waitFor('v', (e) => e.ev === 'victim-ready', 15_000, ctx.signal);
      const id = await ctx.fleet.cut(ctx.fleet.links(['v'], [0, 1, 2, 3, 4]), 'blackhole');
      await ctx.sleep(3 * ctx.ttl);
      await ctx.fleet.restore(id);
      await ctx.sleep(1_000);
    }
  },
  minGrants: 150,
  faultRequired: true,
  live: (run) => {
    const out: string[] = [];
    const v = run.check.claims.filter((c) => c.proc === 'v');
    const failedExtends = run.events.filter((e) => e.proc === 'v' && e.op === 'extend' && e.phase === 'fail').length;
    const lost = run.events.filter((e) => e.proc === 'v' && e.op === 'lost').length;
    run.metrics['victimExtendFailures'] = failedExtends;
    run.metrics['victimLossSignals'] = lost;
    if (failedExtends === 0) out.push('VAC: the isolated holder never failed to extend');
    if (lost === 0) out.push('LIVE: the isolated holder’s lock signal never aborted');
    // Others get the key within ttl + retry + τ of the isolated holder's last validity.
    const outcomes = acquireOutcomes(run.events);
    for (const w of run.windows.filter((x) => x.nemesis === 'partition')) {
      const holder = v.find((c) => c.okTime < w.start && c.end >= w.start - 50_000_000n);
      if (holder === undefined) continue;
      const next = outcomes.filter((o) => o.phase === 'ok' && o.key === holder.key && o.proc !== 'v' && o.done > w.start).sort((a, b) => (a.done < b.done ? -1 : 1))[0];
      const ms = next === undefined ? Number.POSITIVE_INFINITY : Number(next.done - w.start) / 1e6;
      run.metrics[`takeoverMs_${w.id}`] = fmt(ms);
      if (ms > run.ttl + 75 + 100 + 500) out.push(`LIVE: others got ${holder.key} only ${fmt(ms)} ms after its holder was isolated (bound ttl + retry + τ + 500 ms slack)`);
    }
    return out;
  },
};

export const s9: Scenario = {
  id: 'S9',
  title: 'Redis node paused',
  kind: 'safety',
  expected: [],
  expectation: 'SIGSTOP 1 node (then 2 nodes) for 1.5×ttl, then SIGCONT: a paused node acts as black-holed; its late replies never count; ME, TOK, FENCE, RMW',
  durationMs: 14_000,
  procs: workerProcs(3),
  nemesis: async (ctx) => {
    for (const count of [1, 2, 1, 2]) {
      const nodes = pickNodes(ctx, count);
      for (const n of nodes) await ctx.fleet.pauseNode(n);
      await ctx.sleep(1.5 * ctx.ttl);
      for (const n of nodes) ctx.fleet.resumeNode(n);
      await ctx.sleep(2_000);
    }
  },
  minGrants: 150,
  faultRequired: true,
};
