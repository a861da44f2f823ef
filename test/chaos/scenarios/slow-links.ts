/**
 * Slow and lossy links (reference §5.3): S5 latency above τ, jitter, sliced frames and resets
 * mid-reply; S6 replies of one client delayed longer than the TTL.
 */
import type { Link, ToxicSpecIn } from '../fleet.js';
import { pickNodes, type Scenario, type ScenarioContext, workerProcs } from '../scenario.js';
import { acquireOutcomes, inWindow } from './measure.js';

/** One phase of S5: four nodes each get one kind of bad link (for every client process). */
async function slowPhase(ctx: ScenarioContext, ms: number): Promise<void> {
  const [slow = 0, jittery = 1, sliced = 2, resetting = 3] = pickNodes(ctx, 4);
  const all = (node: number): Link[] => ctx.fleet.links(ctx.fleet.procs, [node]);
  const slicer = (stream: 'upstream' | 'downstream', size: number, delayUs: number): ToxicSpecIn => ({
    type: 'slicer', stream, attributes: { average_size: size, size_variation: size - 1, delay: delayUs },
  });
  const ids = [
    await ctx.fleet.toxic(all(slow), [{ type: 'latency', stream: 'downstream', attributes: { latency: 300, jitter: 0 } }], 'latency 300 ms (> τ)'),
    await ctx.fleet.toxic(all(jittery), [{ type: 'latency', stream: 'downstream', attributes: { latency: 50, jitter: 50 } }], 'latency 50 ± 50 ms'),
    await ctx.fleet.toxic(all(sliced), [slicer('downstream', 8, 50), slicer('upstream', 8, 50)], 'RESP frames sliced into 1–15 B'),
    await ctx.fleet.toxic(
      all(resetting),
      [slicer('downstream', 4, 1_000), { type: 'reset_peer', stream: 'downstream', toxicity: 0.3, attributes: { timeout: 2 } }],
      'reset mid-reply on 30 % of connections',
    ),
  ];
  await ctx.sleep(ms);
  for (const id of ids) await ctx.fleet.restore(id);
}

export const s5: Scenario = {
  id: 'S5',
  title: 'Slow and lossy links',
  kind: 'safety',
  expected: [],
  expectation:
    'latency 300 ms (> τ) on one node, 50 ± 50 ms on another, RESP frames sliced on a third, resets mid-reply on random connections of a fourth: no acquire returns without validity left; a reset mid-reply never counts as a vote; stray lock keys expire within the TTL; ME, TOK, FENCE, RMW',
  durationMs: 14_000,
  procs: workerProcs(3),
  nemesis: async (ctx) => {
    await slowPhase(ctx, 6_000);
    await ctx.sleep(2_000);
    await slowPhase(ctx, 6_000);
  },
  minGrants: 100,
  faultRequired: true,
  live: (run) => {
    const none = run.events.filter((e) => e.op === 'acquire' && e.phase === 'ok' && (e.validityEnd ?? 0n) <= e.t);
    run.metrics['grantsWithoutValidity'] = none.length;
    return none.length > 0 ? [`LIVE: ${none.length} grant(s) returned with no validity left, e.g. ${none[0]?.grantId}`] : [];
  },
};

export const s6: Scenario = {
  id: 'S6',
  title: 'Acquire replies delayed longer than the TTL',
  kind: 'safety',
  expected: [],
  expectation:
    'downstream latency 1.5·ttl on all 5 proxies of client d (its τ is 2.5·ttl so it does wait): d’s acquisitions all fail with LockExpiredError (or LockHeld while others hold k0) and never report success; the others acquire once d’s keys expire; ME (zero claims from d), TOK',
  durationMs: 12_000,
  // The workers rarely take k0, so d's attempts usually find it free and really lock it.
  procs: [
    ...workerProcs(2, { keyWeights: [0.1, 0.6, 0.3] }),
    {
      name: 'd',
      overrides: { clients: 1, keys: ['k0'], keyWeights: [1], nodeTimeout: 2_500, retryCount: 0, thinkMs: [50, 100], acquireDeadlineMs: 8_000 },
    },
  ],
  nemesis: async (ctx) => {
    const id = await ctx.fleet.toxic(ctx.fleet.links(['d'], [0, 1, 2, 3, 4]), [{ type: 'latency', stream: 'downstream', attributes: { latency: 1.5 * ctx.ttl, jitter: 0 } }], 'latency 1.5·ttl on every reply');
    await ctx.sleep(10_000);
    await ctx.fleet.restore(id);
    await ctx.sleep(2_000);
  },
  minGrants: 100,
  faultRequired: true,
  live: (run) => {
    const out: string[] = [];
    const windows = run.windows.filter((w) => w.nemesis === 'toxic');
    const outcomes = acquireOutcomes(run.events).filter((o) => windows.some((w) => inWindow(o.invoke, w, run.healT, 2 * run.ttl) && inWindow(o.done, w, run.healT)));
    const mine = outcomes.filter((o) => o.proc === 'd');
    const granted = mine.filter((o) => o.phase === 'ok');
    const expired = mine.filter((o) => o.err === 'LOCK_EXPIRED');
    const other = mine.filter((o) => o.phase !== 'ok' && o.err !== 'LOCK_EXPIRED' && o.err !== 'LOCK_HELD');
    run.metrics['delayedClient'] = `${mine.length} acquires: ${expired.length} LOCK_EXPIRED, ${mine.length - expired.length - other.length - granted.length} LOCK_HELD, ${other.length} other, ${granted.length} ok`;
    if (granted.length > 0) out.push(`LIVE: the delayed client was granted ${granted.length} lock(s)`);
    if (expired.length === 0) out.push('VAC: no acquire of the delayed client failed with LockExpiredError');
    if (other.length > 0) out.push(`LIVE: the delayed client failed with ${[...new Set(other.map((o) => o.err))].join(', ')} (expected LockExpiredError)`);
    const others = outcomes.filter((o) => o.proc !== 'd' && o.key === 'k0' && o.phase === 'ok').length;
    run.metrics['othersK0GrantsInWindow'] = others;
    if (others === 0) out.push('LIVE: no other client acquired k0 while d was delayed');
    return out;
  },
};
