/**
 * Network partitions as client × node matrices (reference §5.3):
 * S2 a minority of nodes unreachable, S3 a majority unreachable, S4 a rotating ring of majorities.
 */
import type { CutMode } from '../fleet.js';
import type { FaultWindow } from '../nemesis-log.js';
import { pickNodes, type Scenario, type ScenarioContext, type ScenarioRun, workerProcs } from '../scenario.js';
import { type AcquireOutcome, acquireOutcomes, fmt, inWindow, percentile, uncontendedLatencies } from './measure.js';

const TAU = 100;
const RETRY = 50 + 25;
/** Slack added to the table's latency bounds: 2 shared cores, event-loop jitter of tens of ms. */
const SLACK_MS = 60;

/** Cuts `nodes` from every client process for `onMs`, heals, waits `offMs`. */
async function cutCycle(ctx: ScenarioContext, nodes: readonly number[], mode: CutMode, onMs: number, offMs: number): Promise<void> {
  const id = await ctx.fleet.cut(ctx.fleet.links(ctx.fleet.procs, nodes), mode);
  await ctx.sleep(onMs);
  await ctx.fleet.restore(id);
  await ctx.sleep(offMs);
}

const partitionWindows = (run: ScenarioRun): FaultWindow[] => run.windows.filter((w) => w.nemesis === 'partition');

/** Outcomes invoked inside a window (after `fromSlackMs`) that also completed inside it. */
function insideWindows(run: ScenarioRun, outcomes: readonly AcquireOutcome[], fromSlackMs: number, filter?: (w: FaultWindow) => boolean): AcquireOutcome[] {
  const ws = partitionWindows(run).filter((w) => filter?.(w) ?? true);
  return outcomes.filter((o) => ws.some((w) => inWindow(o.invoke, w, run.healT, fromSlackMs) && inWindow(o.done, w, run.healT)));
}

export const s2: Scenario = {
  id: 'S2',
  title: 'Minority of nodes unreachable',
  kind: 'safety',
  expected: [],
  expectation: '2 of 5 nodes cut off (black hole, then RST), 5 s on / 3 s off: acquisitions keep succeeding (uncontended ≥ 99 %), p99 barely changes (no waiting τ for dead nodes); ME, TOK, FENCE, RMW',
  durationMs: 16_000,
  procs: workerProcs(3),
  nemesis: async (ctx) => {
    await cutCycle(ctx, pickNodes(ctx, 2), 'blackhole', 5_000, 3_000);
    await cutCycle(ctx, pickNodes(ctx, 2), 'reset', 5_000, 3_000);
  },
  minGrants: 150,
  faultRequired: true,
  live: (run) => {
    const out: string[] = [];
    const all = acquireOutcomes(run.events);
    const outcomes = insideWindows(run, all, 50);
    // Quorum-level failures (not "someone else holds it") of acquires made during the cut.
    const quorumFailures = outcomes.filter((o) => o.phase !== 'ok' && o.err !== 'LOCK_HELD' && o.err !== 'DEADLINE');
    const ok = outcomes.filter((o) => o.phase === 'ok');
    const rate = ok.length / Math.max(1, ok.length + quorumFailures.length);
    run.metrics['successDuringCut'] = `${(rate * 100).toFixed(2)}% of ${ok.length + quorumFailures.length}`;
    if (rate < 0.99) out.push(`LIVE: only ${(rate * 100).toFixed(1)} % of acquires succeeded with 2 of 5 nodes cut (errors: ${[...new Set(quorumFailures.map((f) => f.err))].join(', ')})`);
    // Uncontended grants: resolving at Q means no waiting τ for the dead nodes.
    const inside = new Set(outcomes);
    const free = uncontendedLatencies(run.events, all, run.check.claims, (o) => inside.has(o)).warm;
    const p99 = percentile(free, 99);
    run.metrics['uncontendedDuringCut'] = `n=${free.length} p50 ${fmt(percentile(free, 50))} p99 ${fmt(p99)} ms`;
    if (free.length < 10) out.push(`VAC: only ${free.length} uncontended acquires during the cuts`);
    else if (!(p99 < TAU)) out.push(`LIVE: uncontended acquire p99 ${fmt(p99)} ms with 2 of 5 nodes cut (≥ τ: it waits for the dead nodes)`);
    return out;
  },
};

export const s3: Scenario = {
  id: 'S3',
  title: 'Majority unreachable',
  kind: 'safety',
  expected: [],
  expectation: '3 of 5 cut off: acquire fails with QuorumError; retries off ≤ τ + 20 ms (black hole), ≤ 20 ms (RST); retries on ≤ deadline + τ; nobody holds the lock; first grant ≤ ttl + retry + τ after healing. ME, TOK',
  durationMs: 13_000,
  procs: [
    ...workerProcs(3),
    // The "retries off" probe: one attempt per acquire, on the cold key.
    { name: 'q', overrides: { clients: 1, retryCount: 0, keys: ['c0'], keyWeights: [1], holdMs: [5, 20], thinkMs: [30, 60] } },
  ],
  nemesis: async (ctx) => {
    await cutCycle(ctx, pickNodes(ctx, 3), 'blackhole', 3_500, 3_000);
    await cutCycle(ctx, pickNodes(ctx, 3), 'reset', 3_500, 3_000);
  },
  minGrants: 100,
  faultRequired: true,
  live: (run) => {
    const out: string[] = [];
    const all = acquireOutcomes(run.events);
    const windows = partitionWindows(run);
    // Nobody is granted the lock while a majority is cut (after in-flight attempts had 2τ to finish:
    // round 1, then possibly the fencing round 2, both answered before the cut).
    const during = all.filter((o) => o.phase === 'ok' && windows.some((w) => inWindow(o.done, w, run.healT, 2 * TAU + 50)));
    if (during.length > 0) out.push(`LIVE: ${during.length} grant(s) while a majority was unreachable, e.g. ${during[0]?.grantId}`);
    // Retries off: a single attempt fails fast, and with QuorumError.
    const probe = insideWindows(run, all.filter((o) => o.proc === 'q'), 50);
    const wrongKind = probe.filter((o) => o.phase !== 'ok' && o.err !== 'QUORUM');
    if (wrongKind.length > 0) out.push(`LIVE: ${wrongKind.length} single-attempt failure(s) not QuorumError: ${[...new Set(wrongKind.map((o) => o.err))].join(', ')}`);
    for (const mode of ['blackhole', 'reset'] as const) {
      const ms = insideWindows(run, all.filter((o) => o.proc === 'q'), 50, (w) => w.value.endsWith(mode)).filter((o) => o.phase === 'fail').map((o) => o.ms);
      const bound = (mode === 'blackhole' ? TAU + 20 : 20) + SLACK_MS;
      const p90 = percentile(ms, 90);
      run.metrics[`failMs_${mode}`] = `n=${ms.length} p50 ${fmt(percentile(ms, 50))} p90 ${fmt(p90)} max ${fmt(Math.max(...ms))}`;
      if (ms.length === 0) out.push(`VAC: no single-attempt acquire failed under the ${mode} cut`);
      else if (!(p90 <= bound)) out.push(`LIVE: retries off, ${mode}: QuorumError after ${fmt(p90)} ms (p90), bound ${bound} ms (table: ${mode === 'blackhole' ? 'τ + 20' : '20'} ms + ${SLACK_MS} slack)`);
    }
    // Retries on: bounded by the acquire deadline (2·ttl) + τ.
    const workerFails = insideWindows(run, all.filter((o) => o.proc !== 'q' && o.phase !== 'ok'), 50).map((o) => o.ms);
    const maxRetrying = Math.max(0, ...workerFails);
    run.metrics['retryingFailMaxMs'] = fmt(maxRetrying);
    if (maxRetrying > 2 * run.ttl + TAU + SLACK_MS) out.push(`LIVE: a retrying acquire failed only after ${fmt(maxRetrying)} ms (bound 2·ttl + τ)`);
    // After healing, the first grant comes within ttl + retry + τ.
    for (const w of windows) {
      if (w.end === undefined) continue;
      const end = w.end;
      const first = all.filter((o) => o.phase === 'ok' && o.done > end).reduce<AcquireOutcome | undefined>((a, o) => (a === undefined || o.done < a.done ? o : a), undefined);
      const after = first === undefined ? Number.POSITIVE_INFINITY : Number(first.done - end) / 1e6;
      run.metrics[`firstGrantAfterHeal_${w.id}`] = fmt(after);
      if (after > run.ttl + RETRY + TAU + SLACK_MS * 5) out.push(`LIVE: first grant ${fmt(after)} ms after healing (bound ttl + retry + τ = ${run.ttl + RETRY + TAU} ms + slack)`);
    }
    return out;
  },
};

/** Process k sees the majority {k+shift, k+shift+1, k+shift+2} (mod N); every other link is black-holed. */
async function applyRing(ctx: ScenarioContext, shift: number, previous: number | undefined): Promise<number> {
  const n = ctx.fleet.size;
  const links = ctx.fleet.procs.flatMap((proc, k) => {
    const sees = new Set([0, 1, 2].map((d) => (k + shift + d) % n));
    return Array.from({ length: n }, (_, node) => node).filter((node) => !sees.has(node)).map((node) => ({ proc, node }));
  });
  const id = await ctx.fleet.cut(links, 'blackhole');
  if (previous !== undefined) await ctx.fleet.restore(previous);
  return id;
}

export const s4: Scenario = {
  id: 'S4',
  title: 'Majorities ring and flapping partitions',
  kind: 'safety',
  expected: [],
  expectation: 'each of 4 client processes sees a different 3-node majority (P1 {1,2,3}, P2 {2,3,4}, P3 {3,4,5}, P4 {4,5,1}); the ring rotates every 2 s, then flaps every 200–500 ms: ME, TOK, FENCE, RMW hold; some grant in every window (LIVE)',
  durationMs: 14_000,
  procs: workerProcs(4, { clients: 2 }),
  nemesis: async (ctx) => {
    let id: number | undefined;
    for (let shift = 0; shift < 4; shift += 1) {
      id = await applyRing(ctx, shift, id);
      await ctx.sleep(2_000);
    }
    ctx.nemesis.note('flapping', 'ring changes every 200–500 ms');
    const flapEnd = performance.now() + 6_000;
    for (let shift = 4; performance.now() < flapEnd; shift += 1) {
      id = await applyRing(ctx, shift + Math.floor(ctx.random() * 3), id);
      await ctx.sleep(200 + ctx.random() * 300);
    }
    if (id !== undefined) await ctx.fleet.restore(id);
  },
  minGrants: 60,
  faultRequired: true,
  live: (run) => {
    const out: string[] = [];
    const grants = run.check.claims.map((c) => c.okTime);
    const rotations = partitionWindows(run).filter((w) => w.end !== undefined && Number((w.end ?? 0n) - w.start) > 1_500_000_000);
    for (const w of rotations) {
      if (!grants.some((t) => inWindow(t, w, run.healT))) out.push(`LIVE: no grant while ring window ${w.id} (${w.value.slice(0, 40)}…) lasted`);
    }
    const flaps = partitionWindows(run).filter((w) => !rotations.includes(w));
    const first = flaps[0];
    const last = flaps[flaps.length - 1];
    if (first && last) {
      const inFlap = grants.filter((t) => t >= first.start && t <= (last.end ?? run.healT)).length;
      run.metrics['grantsWhileFlapping'] = inFlap;
      if (inFlap === 0) out.push('LIVE: no grant while the partitions flapped');
    }
    run.metrics['ringWindows'] = rotations.length;
    return out;
  },
};
