/**
 * The adversarial review's bug classes (issue 9, "The chaos suite must find this class"): each
 * scenario A1–A6 runs the nemesis that exposes one class, and each has a negative control
 * (NC6–NC11) with the old behaviour switched back on (src/unsafe.ts, or for item 6 the old Lua
 * queue head patched into the client processes), whose checker must fire.
 *
 * | safe | control | item | nemesis | checker |
 * |---|---|---|---|---|
 * | A1 | NC6 | 1 stale hand-over | 200 ms reply delays on 2 of 3 links of one client, from its grant to another's, under contention | ME |
 * | A2 | NC7 | 2 repair wait by uptime | FLUSHALL / FLUSHDB of the shared node while A holds | ME |
 * | A3 | NC8 | 3 repairer's own maxTtl | a maxTtl 1 s client repairs while A holds a 4 s lease | ME |
 * | A4 | NC9 | 4 repair without re-check | a source wiped while the repair copies from a slow one | TOK |
 * | A5 | NC10 | 5 keyPrefix | every client with ioredis keyPrefix; a node restarted empty and repaired | TOK (A5: refused) |
 * | A6 | NC11 | 6 dead queue head | 24 waiters of one process SIGKILLed while a holder keeps the key | WAIT |
 *
 * The ME scenarios use bare majorities (as S11): A reaches nodes {0,1,2}, B {2,3,4}, so node 2
 * ("C") is the only node both see; a third process R reaches all five and repairs. The TOK
 * scenarios run B with its wall clock an hour behind, so that the µs token floor cannot hide lost
 * counters (see README, "A lagging client wall clock").
 */
import type { UnsafeSwitch } from '../../../src/unsafe.js';
import type { Finding } from '../checkers/check-history.js';
import { checkStalls } from '../checkers/waits.js';
import type { ClientOverrides } from '../client-config.js';
import type { ClientEvent } from '../client-processes.js';
import { pickNodes, type ProcSpec, type Scenario, type ScenarioContext } from '../scenario.js';
import { fmt } from './measure.js';
import { bareMajority, nextGrant } from './restarts.js';

const C = 2;
const HOUR = 3_600_000;
const LAGGING: ClientOverrides = { wallClockOffsetMs: -HOUR };

/** Sets `switches` in every process of a scenario (its negative control). */
function withUnsafe(procs: readonly ProcSpec[], switches: readonly UnsafeSwitch[]): ProcSpec[] {
  return procs.map((p) => ({ ...p, overrides: { ...p.overrides, unsafe: [...(p.overrides?.unsafe ?? []), ...switches] } }));
}

/**
 * Sends `repair <node>` to `proc` and resolves with its `repair-done` or `repair-failed` line. A
 * repair that fails because the node does not answer yet (the client is still reconnecting after a
 * restart) is asked again, up to 10 times, 200 ms apart.
 */
async function repairBy(ctx: ScenarioContext, proc: string, node: number, timeoutMs: number): Promise<ClientEvent> {
  let outcome: ClientEvent | undefined;
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const next = ctx.clients.waitFor(proc, (e) => (e.ev === 'repair-done' || e.ev === 'repair-failed') && e['node'] === node, timeoutMs, ctx.signal);
    ctx.clients.send(proc, `repair ${node}`);
    outcome = await next;
    if (outcome.ev === 'repair-done' || outcome['err'] !== 'REPAIR_UNREACHABLE') return outcome;
    await ctx.sleep(200);
  }
  if (outcome === undefined) throw new Error('unreachable');
  return outcome;
}

/**
 * Tells `proc` to halt (sections in progress finish, no new acquire) and waits until its work
 * loops ended: it makes no more grants. It stays up (idle) until the run ends.
 */
async function haltProc(ctx: ScenarioContext, proc: string): Promise<void> {
  const done = ctx.clients.waitFor(proc, (e) => e.ev === 'work-done', 10_000, ctx.signal);
  ctx.clients.send(proc, 'halt');
  await done;
  ctx.nemesis.note('halt-client', `${proc} stopped acquiring`);
}

/** k0's counter on every node (null where absent). */
async function k0Counters(ctx: ScenarioContext): Promise<(bigint | null)[]> {
  return Promise.all(Array.from({ length: ctx.fleet.size }, (_, i) => ctx.fleet.counters(i, ['k0']).then((c) => c[0] ?? null).catch(() => null)));
}

const maxOf = (xs: readonly (bigint | null)[]): bigint | null => xs.reduce<bigint | null>((m, v) => (v !== null && (m === null || v > m) ? v : m), null);

// ---- A1 / NC6: stale hand-over (item 1) ----------------------------------------------------------

const A1_LATENCY_MS = 200;

/** Resolves with the first grant of any of `procs` after `notBefore` (performance.now ms), or undefined after `timeoutMs`. */
function grantOfAny(ctx: ScenarioContext, procs: readonly string[], notBefore: number, timeoutMs: number): Promise<ClientEvent | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const off = ctx.clients.on((e) => {
      if (e.ev === 'granted' && procs.includes(e.proc) && performance.now() >= notBefore) done(e);
    });
    const onAbort = (): void => done(undefined);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    function done(e: ClientEvent | undefined): void {
      clearTimeout(timer);
      off();
      ctx.signal.removeEventListener('abort', onAbort);
      resolve(e);
    }
  });
}

/**
 * Reply delays (200 ms, above τ = 100 ms) on 2 of the 3 links of process w, switched on right
 * after one of w's grants (so that w's next acquire starts under them), and off again as soon as
 * another client is granted k0 after at least 0.45–0.65 s (at the latest after 1.5 s), while every
 * client contends for k0. Under the delays w's attempts fail with QuorumError while the nodes queue
 * it and, on release, hand it the lease (the announcements are buffered: the acquire has no watch
 * yet); its next delayed attempt takes those leases over and its undo deletes them; another client
 * takes k0; the delays end; w's next attempt is answered "held" — and the stale hand-over must not
 * count.
 */
async function delayAroundHandOvers(ctx: ScenarioContext, ms: number): Promise<void> {
  const end = performance.now() + ms;
  let windows = 0;
  let endedByGrant = 0;
  for (let i = 0; i < 100 && performance.now() < end; i += 1) {
    await nextGrant(ctx, 'w');
    const started = performance.now();
    const nodes = pickNodes(ctx, 2);
    const id = await ctx.fleet.toxic(
      ctx.fleet.links(['w'], nodes),
      [{ type: 'latency', stream: 'downstream', attributes: { latency: A1_LATENCY_MS, jitter: 0 } }],
      `reply latency ${A1_LATENCY_MS} ms (> τ)`,
    );
    const other = await grantOfAny(ctx, ['p0', 'p1'], started + 450 + ctx.random() * 200, Math.max(0, started + 1_500 - performance.now()));
    if (other !== undefined) endedByGrant += 1;
    await ctx.fleet.restore(id);
    windows += 1;
    await ctx.sleep(200 + ctx.random() * 200);
  }
  ctx.metrics['delayWindows'] = windows;
  ctx.metrics['delayWindowsEndedByGrant'] = endedByGrant;
}

function a1(id: string, kind: Scenario['kind'], switches: readonly UnsafeSwitch[]): Scenario {
  const contender: ClientOverrides = { clients: 2, keys: ['k0'], keyWeights: [1], holdMs: [40, 120], thinkMs: [0, 20], longHoldProbability: 0, opsPerSection: [1, 2] };
  const procs: ProcSpec[] = [
    // One client: a second one would usually be waiting (with a wake-up watch) when the delays
    // start, and being older in the queue it would take the hand-overs meant for the fresh acquire.
    { name: 'w', overrides: { ...contender, clients: 1, holdMs: [10, 40] } },
    { name: 'p0', overrides: contender },
    { name: 'p1', overrides: contender },
  ];
  return {
    id,
    title: kind === 'control' ? 'Negative control: A1 with stale hand-overs counted (unsafe.staleHandOver)' : 'Reply delays on one client’s links around hand-overs',
    kind,
    expected: kind === 'control' ? ['ME'] : [],
    expectation:
      kind === 'control'
        ? 'A1 with the old hand-over rule (a node that answered "held" makes any hand-over announcement count): the delayed client is granted by a stale hand-over while another client holds k0 — ME must fire'
        : '3 nodes, TTL 3 s, every client on k0 (hand-overs at every release); from a grant of w until another client’s grant ≥ 0.45 s later, w’s replies from 2 of its 3 links are 200 ms late: its fresh acquire times out while the nodes queue it and hand it the lease, takes that over and undoes it; when the delays end it is answered "held" — a hand-over older than that answer must not count: ME, TOK, FENCE, RMW',
    durationMs: 24_000,
    nodes: 3,
    // A hand-over grant counts only while half the TTL is left since the acquire's first attempt;
    // a 3 s TTL leaves room for the delayed attempts before it.
    common: { ttl: 3_000 },
    procs: withUnsafe(procs, switches),
    nemesis: (ctx) => delayAroundHandOvers(ctx, 24_000),
    minGrants: 200,
    faultRequired: true,
    // Each window that ended at another client's grant set the trap (k0 held when the delays end).
    live: (run) => (Number(run.metrics['delayWindowsEndedByGrant'] ?? 0) < 5 ? [`VAC: only ${String(run.metrics['delayWindowsEndedByGrant'])} delay windows ended while another client held k0 (need ≥ 5)`] : []),
  };
}

export const a1Safe = a1('A1', 'safety', []);
export const nc6 = a1('NC6', 'control', ['staleHandOver']);

// ---- A2 / NC7: FLUSHALL / FLUSHDB under load (item 2) ------------------------------------------

/** A holds k0 through {0,1,2} for most of its validity; B takes short sections through {2,3,4}. */
function bareProcs(a: ClientOverrides, b: ClientOverrides): ProcSpec[] {
  const common: ClientOverrides = { clients: 1, keys: ['k0'], keyWeights: [1], autoRepair: false, longHoldProbability: 0 };
  return [
    { name: 'a', overrides: { ...common, holdMs: [800, 950], opsPerSection: [2, 3], extend: false, thinkMs: [0, 10], ...a } },
    { name: 'b', overrides: { ...common, holdMs: [5, 30], opsPerSection: [1, 2], thinkMs: [0, 10], ...b } },
  ];
}

/**
 * R: reaches every node, works on other keys, and repairs (autoRepair) whatever answers NOTREADY.
 * One Redlock only: concurrent repairs of one node by several clients are another matter (S13).
 */
const LOADED_REPAIRER: ClientOverrides = { clients: 1, keys: ['k1', 'c0'], keyWeights: [0.7, 0.3], thinkMs: [0, 5], autoRepair: true };

/** Waits for r's next `repaired` line; a repair that does not come is a LIVE problem (false). */
async function repaired(ctx: ScenarioContext, pending: Promise<ClientEvent>, waits: string[], timeoutMs: number): Promise<boolean> {
  try {
    waits.push(String((await pending)['waitedMs']));
    return true;
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    ctx.problems.push(`LIVE: C was not repaired within ${timeoutMs / 1000} s (see client-r.events.jsonl)`);
    return false;
  }
}

function a2(id: string, kind: Scenario['kind'], switches: readonly UnsafeSwitch[]): Scenario {
  return {
    id,
    title: kind === 'control' ? 'Negative control: A2 with the repair wait shortened by uptime (unsafe.repairWaitByUptime)' : 'FLUSHALL / FLUSHDB of a node under load',
    kind,
    expected: kind === 'control' ? ['ME'] : [],
    expectation:
      kind === 'control'
        ? 'A2 with the old repair wait (maxTtl minus the node’s uptime, which FLUSHALL does not reset): C is marked ready at once and B gets k0 while A holds it — ME must fire'
        : 'bare majorities; C (node 2) is emptied by FLUSHALL, FLUSHDB, FLUSHALL (no restart: its uptime keeps counting) right after A’s grant; R (sees all 5, under load) repairs it, and must wait maxTtl from finding the marker missing before C serves: ME, TOK, FENCE, RMW',
    durationMs: 20_000,
    procs: withUnsafe([...bareProcs({}, {}), { name: 'r', overrides: LOADED_REPAIRER }], switches),
    nemesis: async (ctx) => {
      await bareMajority(ctx);
      // The node must have been up longer than maxTtl + 1 s, or the uptime shortcut would not show.
      for (let i = 0; i < 60 && (await ctx.fleet.uptime(C)) < 6; i += 1) await ctx.sleep(250);
      const waits: string[] = [];
      for (const how of ['FLUSHALL', 'FLUSHDB', 'FLUSHALL'] as const) {
        await nextGrant(ctx, 'a');
        const pending = ctx.clients.waitFor('r', (e) => e.ev === 'repaired', 15_000, ctx.signal);
        await ctx.fleet.flushNode(C, how);
        if (!(await repaired(ctx, pending, waits, 15_000))) break;
        await ctx.sleep(1_500);
      }
      ctx.metrics['repairWaitsMs'] = waits.join(',');
    },
    minGrants: 100,
    faultRequired: true,
  };
}

export const a2Safe = a2('A2', 'safety', []);
export const nc7 = a2('NC7', 'control', ['repairWaitByUptime']);

// ---- A3 / NC8: clients with different maxTtl (item 3) ------------------------------------------

const A3_LONG_TTL = 4_000;

function a3(id: string, kind: Scenario['kind'], switches: readonly UnsafeSwitch[]): Scenario {
  return {
    id,
    title: kind === 'control' ? 'Negative control: A3 with the repairer’s own maxTtl (unsafe.ownMaxTtl)' : 'Clients with different maxTtl; the small one repairs',
    kind,
    expected: kind === 'control' ? ['ME'] : [],
    expectation:
      kind === 'control'
        ? 'A3 with the old repair wait (the repairing client’s own maxTtl, 1 s): C serves again ≈ 2 s after its empty restart and B gets k0 while A’s 4 s lease runs — ME must fire'
        : `bare majorities; A holds k0 with ttl ${A3_LONG_TTL} ms (maxTtl 5 s), B short sections; C is restarted empty right after A’s grant and repaired by R, whose own maxTtl is 1 s: the repair must wait out the cluster’s maxTtl (kept on the nodes), not R’s: ME, TOK, FENCE, RMW`,
    durationMs: 16_000,
    recoveryMs: A3_LONG_TTL + 1_000,
    procs: withUnsafe(
      [
        ...bareProcs(
          { ttl: A3_LONG_TTL, maxTtl: 5_000, holdMs: [3_500, 3_800], acquireDeadlineMs: 2 * A3_LONG_TTL },
          { maxTtl: 5_000 },
        ),
        { name: 'r', overrides: { ...LOADED_REPAIRER, ttl: 800, maxTtl: 1_000 } },
      ],
      switches,
    ),
    nemesis: async (ctx) => {
      await bareMajority(ctx);
      await ctx.sleep(1_000);
      const waits: string[] = [];
      for (let round = 0; round < 2; round += 1) {
        await nextGrant(ctx, 'a', 15_000);
        const pending = ctx.clients.waitFor('r', (e) => e.ev === 'repaired', 20_000, ctx.signal);
        await ctx.fleet.crashNode(C);
        await ctx.fleet.restartNode(C, { empty: true });
        if (!(await repaired(ctx, pending, waits, 20_000))) break;
        await ctx.sleep(1_000);
      }
      ctx.metrics['repairWaitsMs'] = waits.join(',');
    },
    minGrants: 100,
    faultRequired: true,
  };
}

export const a3Safe = a3('A3', 'safety', []);
export const nc8 = a3('NC8', 'control', ['ownMaxTtl']);

// ---- A4 / NC9: a source wiped during a repair (item 4) -----------------------------------------

const A4_SLOW_SOURCE = 0;
const A4_WIPED_SOURCE = 3;
const A4_LATENCY_MS = 600;

/**
 * A reaches {2,3,4} only, so the newest k0 counters are on 2, 3, 4. C (2) is restarted empty; R
 * repairs it from the first three ready nodes {0, 1, 3} while its replies from node 0 are slow;
 * node 3 is wiped (FLUSHALL) as soon as the repair started, before R gets to scan it. Node 4 alone
 * still has the newest counter. B (wall clock 1 h behind) then acquires through {0,1,2}.
 */
async function wipeSourceDuringRepair(ctx: ScenarioContext): Promise<void> {
  await ctx.fleet.cut(ctx.fleet.links(['a'], [0, 1]), 'blackhole');
  await ctx.fleet.cut(ctx.fleet.links(['b'], [3, 4]), 'blackhole');
  await ctx.sleep(1_500);
  await nextGrant(ctx, 'a');
  await haltProc(ctx, 'a');
  const before = await k0Counters(ctx);
  ctx.metrics['k0CountersBefore'] = before.map(String).join(' ');
  await ctx.fleet.crashNode(C);
  await ctx.fleet.restartNode(C, { empty: true });

  const slow = await ctx.fleet.toxic(
    ctx.fleet.links(['r'], [A4_SLOW_SOURCE]),
    [{ type: 'latency', stream: 'downstream', attributes: { latency: A4_LATENCY_MS, jitter: 0 } }],
    `repairer's replies from n${A4_SLOW_SOURCE} ${A4_LATENCY_MS} ms late`,
  );
  const done = repairBy(ctx, 'r', C, 30_000);
  let settled = false;
  void done.then(
    () => (settled = true),
    () => (settled = true),
  );
  // The repair marks the node it repairs before copying; wipe a source as soon as that mark shows.
  const repairKey = `${ctx.fleet.prefix}__repairing`;
  let marked = false;
  for (let i = 0; i < 1_000 && !marked && !settled; i += 1) {
    marked = (await ctx.fleet.admin(C).exists(repairKey).catch(() => 0)) === 1;
    if (!marked) await ctx.sleep(3);
  }
  const wipe = await ctx.fleet.flushNode(A4_WIPED_SOURCE, 'FLUSHALL');
  const during = marked && !settled;
  ctx.nemesis.verify(wipe, during, during ? `n${A4_WIPED_SOURCE} wiped while n${C}'s repair ran` : `the repair was not running (marked ${marked}, settled ${settled})`);
  const outcome = await done;
  await ctx.fleet.restore(slow);
  ctx.metrics['repair'] = `${outcome.ev} in ${fmt(Number(outcome['ms']))} ms, ${String(outcome['counters'] ?? outcome['err'])} counters`;
  const after = (await ctx.fleet.counters(C, ['k0']))[0] ?? null;
  ctx.metrics['k0OnCAfterRepair'] = String(after);
  ctx.metrics['k0PreWipeMax'] = String(maxOf(before));
  // The wiped source is repaired in the background (B does not reach it).
  void repairBy(ctx, 'r', A4_WIPED_SOURCE, 30_000).catch(() => undefined);
  ctx.clients.send('b', 'go');
  await nextGrant(ctx, 'b', 10_000);
  await ctx.sleep(1_000);
}

function a4(id: string, kind: Scenario['kind'], switches: readonly UnsafeSwitch[]): Scenario {
  return {
    id,
    title: kind === 'control' ? 'Negative control: A4 with repair sources not re-checked (unsafe.repairNoRecheck)' : 'A repair source wiped while the repair copies',
    kind,
    expected: kind === 'control' ? ['TOK'] : [],
    expectation:
      kind === 'control'
        ? 'A4 with the old repair (sources picked once, never re-checked): C is repaired from a wiped source, B (clock 1 h behind) gets k0 through {0,1,2} with a token below A’s last — TOK must fire'
        : `A reaches {2,3,4}; C (2) restarted empty; R repairs it while its replies from n${A4_SLOW_SOURCE} are ${A4_LATENCY_MS} ms late, and n${A4_WIPED_SOURCE} (a source) is wiped as soon as the repair started; the repair must notice (incarnation) and copy from another set, so B (clock 1 h behind, through {0,1,2}) gets a token above A’s last: TOK, ME, FENCE, RMW`,
    durationMs: 15_000,
    warmupMs: 1_500,
    procs: withUnsafe(
      [
        { name: 'a', overrides: { clients: 1, keys: ['k0'], keyWeights: [1], holdMs: [10, 40], thinkMs: [0, 10], autoRepair: false, longHoldProbability: 0 } },
        { name: 'b', overrides: { clients: 1, keys: ['k0'], keyWeights: [1], holdMs: [10, 40], thinkMs: [0, 10], autoRepair: false, longHoldProbability: 0, startOnGo: true, ...LAGGING } },
        { name: 'r', overrides: { clients: 1, idle: true, autoRepair: false } },
      ],
      switches,
    ),
    nemesis: wipeSourceDuringRepair,
    minGrants: 20,
    faultRequired: true,
    live: (run) => {
      const out: string[] = [];
      const b = run.check.claims.filter((c) => c.proc === 'b').length;
      run.metrics['bGrants'] = b;
      if (b === 0) out.push('VAC: B (reaching the repaired node) got no grant');
      // The direct view of what TOK shows end to end (a control expects it, and TOK then fires).
      const after = run.metrics['k0OnCAfterRepair'];
      const max = run.metrics['k0PreWipeMax'];
      if (kind !== 'control' && after !== undefined && max !== undefined && max !== 'null' && (after === 'null' || BigInt(String(after)) < BigInt(String(max)))) {
        out.push(`repair: C's k0 counter is ${after} after its repair, below the pre-wipe maximum ${max}`);
      }
      return out;
    },
  };
}

export const a4Safe = a4('A4', 'safety', []);
export const nc9 = a4('NC9', 'control', ['repairNoRecheck']);

// ---- A5 / NC10: clients with ioredis keyPrefix (item 5) ----------------------------------------

const KEY_PREFIX = 'kp:';

/** A reaches {0,1,2}, B (1 h behind) {2,3,4}, idle until told; C restarted empty, R repairs it. */
async function repairUnderKeyPrefix(ctx: ScenarioContext): Promise<void> {
  const refusals = [...ctx.clients.procs.values()].flatMap((p) => (p.readyEvent?.['refused'] === undefined ? [] : [[p.name, String(p.readyEvent['refused'] as string)]]));
  const refused = refusals.map(([name]) => name);
  ctx.metrics['refused'] = refused.join(',') || 'none';
  // Each refusal reads `<code>: <message>`; only InvalidOptionsError is the promised refusal.
  ctx.metrics['refusedWith'] = [...new Set(refusals.map(([, why]) => why?.split(':')[0]))].join(',') || 'none';
  if (refused.length > 0) {
    ctx.nemesis.note('key-prefix', `refused by the library: ${refused.join(', ')}`);
    return;
  }
  await bareMajority(ctx);
  await ctx.sleep(1_500);
  await nextGrant(ctx, 'a');
  await haltProc(ctx, 'a');
  await ctx.fleet.crashNode(C);
  await ctx.fleet.restartNode(C, { empty: true });
  const outcome = await repairBy(ctx, 'r', C, 20_000);
  ctx.metrics['repair'] = `${outcome.ev}: ${String(outcome['counters'] ?? outcome['err'])} counters copied`;
  ctx.clients.send('b', 'go');
  await nextGrant(ctx, 'b', 10_000);
  await ctx.sleep(1_000);
}

function a5(id: string, kind: Scenario['kind'], switches: readonly UnsafeSwitch[]): Scenario {
  const procs: ProcSpec[] = [
    { name: 'a', overrides: { clients: 1, keys: ['k0'], keyWeights: [1], holdMs: [10, 40], thinkMs: [0, 10], autoRepair: false, longHoldProbability: 0 } },
    { name: 'b', overrides: { clients: 1, keys: ['k0'], keyWeights: [1], holdMs: [10, 40], thinkMs: [0, 10], autoRepair: false, longHoldProbability: 0, startOnGo: true, ...LAGGING } },
    { name: 'r', overrides: { clients: 1, idle: true, autoRepair: false } },
  ];
  const control = kind === 'control';
  return {
    id,
    title: control ? 'Negative control: A5 with keyPrefix clients accepted (unsafe.acceptKeyPrefix)' : 'Clients with an ioredis keyPrefix',
    kind,
    expected: control ? ['TOK'] : [],
    expectation: control
      ? 'A5 with keyPrefix accepted: the repair’s SCAN misses the prefixed counters and copies none; B (clock 1 h behind) gets k0 from the emptied C and 3,4 with a token below A’s last — TOK must fire'
      : `every client (and the bootstrap) passes ioredis keyPrefix '${KEY_PREFIX}': the library must refuse them (InvalidOptionsError) — or, if it ever supports the prefix end to end, the S12-like run (C restarted empty and repaired, B 1 h behind) must keep TOK`,
    durationMs: 12_000,
    warmupMs: 1_500,
    keyPrefix: KEY_PREFIX,
    unsafe: switches,
    procs: withUnsafe(procs, switches),
    nemesis: repairUnderKeyPrefix,
    // A refusal leaves nothing to count; the LIVE check below decides which case this run was.
    minGrants: control ? 20 : 0,
    faultRequired: control,
    live: (run) => {
      const refusedProcs = String(run.metrics['refused'] ?? 'none');
      const bootstrap = String(run.metrics['bootstrap'] ?? 'accepted');
      if (control) return [];
      if (refusedProcs !== 'none' || bootstrap.startsWith('refused')) {
        const all = refusedProcs.split(',').length === procs.length && bootstrap.startsWith('refused');
        const invalid = bootstrap.startsWith('refused: INVALID_OPTIONS') && run.metrics['refusedWith'] === 'INVALID_OPTIONS';
        return all && invalid ? [] : [`LIVE: keyPrefix refused only in part (processes: ${refusedProcs}; bootstrap: ${bootstrap})`];
      }
      const out: string[] = [];
      if (run.check.claims.length < 20) out.push(`VAC: keyPrefix clients accepted but only ${run.check.claims.length} grants`);
      if (!run.windows.some((w) => w.effective === true)) out.push('VAC: keyPrefix clients accepted but no fault was verified effective');
      return out;
    },
  };
}

export const a5Safe = a5('A5', 'safety', []);
export const nc10 = a5('NC10', 'control', ['acceptKeyPrefix']);

// ---- A6 / NC11: a process with many waiters SIGKILLed (item 6) ---------------------------------

const A6_CROWD = 24;
const A6_DEAD_TTL = 3_000;
/** A crashed waiter's queue place lasts retryDelay + retryJitter + 4·τ + 100 ms (docs/guarantees.md §3). */
const A6_STAY_MS = 50 + 25 + 4 * 100 + 100;
/** The documented bound is ≈ 0.5 s; the check allows twice that for a loaded 2-core machine. */
const A6_BOUND_MS = 1_000;
const A6_RELEASE_AFTER_EXPIRY_MS = 300;
const A6_WATCH_MS = 5_000;

/**
 * Each round: h takes q0 and holds it; a crowd process queues 24 waiters (ttl 3 s) behind it and is
 * SIGKILLed; a live waiter queues behind the dead ones. Once the dead places expired, h releases:
 * q0 must go to the live waiter within the bound, not to a dead ticket for its 3 s TTL.
 */
async function killCrowd(ctx: ScenarioContext): Promise<void> {
  const queue = `${ctx.fleet.prefix}{q0}:q`;
  for (let round = 1; round <= 2; round += 1) {
    const crowd = `k${round}`;
    const live = `l${round}`;
    ctx.clients.send('h', 'go');
    await ctx.clients.waitFor('h', (e) => e.ev === 'victim-ready', 15_000, ctx.signal);
    ctx.clients.send(crowd, 'go');
    let lengths: number[] = [];
    for (let i = 0; i < 250; i += 1) {
      lengths = await Promise.all(Array.from({ length: ctx.fleet.size }, (_, n) => ctx.fleet.admin(n).zcard(queue).catch(() => 0)));
      if (lengths.every((x) => x >= 20)) break;
      await ctx.sleep(20);
    }
    await ctx.clients.kill(crowd);
    const id = ctx.nemesis.start('crowd-queued', `${crowd}: ${A6_CROWD} waiters on q0, killed`);
    ctx.nemesis.verify(id, lengths.every((x) => x >= 20), `q0 queue lengths at the kill: ${lengths.join(',')}`);
    ctx.clients.send(live, 'go');
    // h releases once every dead place expired (then no dead waiter may be handed q0).
    await ctx.sleep(A6_STAY_MS + A6_RELEASE_AFTER_EXPIRY_MS);
    ctx.clients.send('h', 'go');
    await ctx.sleep(A6_WATCH_MS);
    ctx.clients.send(live, 'halt');
  }
}

function a6(id: string, kind: Scenario['kind'], oldQueueHead: boolean): Scenario {
  const waiter: ClientOverrides = { keys: ['q0'], keyWeights: [1], longHoldProbability: 0, opsPerSection: [1, 1], retryCount: 100 };
  const crowd: ClientOverrides = {
    ...waiter, clients: A6_CROWD, ttl: A6_DEAD_TTL, holdMs: [5, 10], thinkMs: [0, 5], startOnGo: true, acquireDeadlineMs: 15_000,
  };
  // The live waiters rely on wake-ups (they poll only every 1.5 s), so their own attempts do not
  // prune the dead tickets before h's release hands q0 on.
  const live: ClientOverrides = { ...waiter, clients: 1, holdMs: [5, 30], thinkMs: [20, 50], startOnGo: true, acquireDeadlineMs: 10_000, retryDelay: 1_500 };
  const procs: ProcSpec[] = [
    { name: 'h', overrides: { clients: 1, victim: { key: 'q0', rounds: 2, waitAfterReadyMs: 0, holdAfterMs: 5_000, opEveryMs: 100, gapMs: 0, releaseOnGo: true } } },
    { name: 'k1', overrides: crowd },
    { name: 'k2', overrides: crowd },
    { name: 'l1', overrides: live },
    { name: 'l2', overrides: live },
    { name: 'p', overrides: { clients: 2, keys: ['k0', 'k1'], keyWeights: [0.5, 0.5] } },
  ];
  const control = kind === 'control';
  return {
    id,
    title: control ? 'Negative control: A6 with the old queue head (16 dead tickets pruned, the 17th handed the lease)' : 'A process with 24 waiters on one key SIGKILLed',
    kind,
    expected: control ? ['WAIT'] : [],
    expectation: control
      ? 'A6 with the old Lua queue head patched into every client process: a release hands q0 to the 17th dead waiter for its 3 s TTL while a live waiter waits — WAIT must fire'
      : `h holds q0; ${A6_CROWD} waiters of one process (ttl ${A6_DEAD_TTL} ms) queue behind it and the process is SIGKILLed; a live waiter queues behind them; h releases once the dead places expired (${A6_STAY_MS} ms): q0 must never sit free for more than ${A6_BOUND_MS} ms while a live client waits (WAIT); ME, TOK, FENCE, RMW`,
    durationMs: 2 * (A6_WATCH_MS + 1_500),
    procs: procs.map((p) => ({ ...p, overrides: { ...p.overrides, oldQueueHead } })),
    nemesis: killCrowd,
    minGrants: 100,
    faultRequired: true,
    findings: ({ events, claims, windows, metrics }) => {
      const out: Finding[] = [];
      let examined = 0;
      let longest = 0;
      for (const w of windows.filter((x) => x.nemesis === 'kill-client')) {
        const from = w.start + BigInt((A6_STAY_MS + A6_RELEASE_AFTER_EXPIRY_MS) * 1e6);
        const report = checkStalls({ events, claims, keys: ['q0'], from, to: from + BigInt(A6_WATCH_MS * 1e6), boundMs: A6_BOUND_MS, procs: ['h', 'l1', 'l2'] });
        examined += report.examined;
        longest = Math.max(longest, report.longestMs);
        for (const s of report.stalls) {
          out.push({
            cls: 'WAIT', kind: s.kind, key: s.key, grantIds: [s.grantId], from: s.from, to: s.to,
            message: `${s.key}: free for ${fmt(Number(s.to - s.from) / 1e6)} ms while ${s.client} waited (${s.grantId}, ${s.outcome}); bound ${A6_BOUND_MS} ms after a crashed waiter's place expired`,
          });
        }
      }
      metrics['waitsExamined'] = examined;
      metrics['longestFreeWhileWaitingMs'] = fmt(longest);
      return out;
    },
    live: (run) => (Number(run.metrics['waitsExamined'] ?? 0) === 0 ? ['VAC: no live waiter waited for q0 after the crowd was killed'] : []),
  };
}

export const a6Safe = a6('A6', 'safety', false);
export const nc11 = a6('NC11', 'control', true);


