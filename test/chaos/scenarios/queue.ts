/**
 * The job queue under faults (reference §5.3 S18, S19; issue 14). One producer adds jobs (ids
 * `j0` …) to a queue on node 0; 4 worker processes × concurrency 2 run them. A job's effect is a
 * fenced increment of its own store resource (`job:<id>`) with `job.fencingToken`: a touch (read)
 * when the handler starts, the increment when its work is done (queue-client.ts). After the
 * nemesis the producer waits for the queue to drain (bounded) and reads every job's final state.
 * Checker QUEUE (checkers/queue.ts), with FENCE and RMW over the effects.
 *
 * - S18: a busy worker SIGKILLed every 3 s and replaced by a fresh process; `keepAlive` 1 s with a
 *   long `lockDuration`, `stalledInterval` 500 ms, `maxStalledCount` 1: the killed worker's jobs
 *   come back through the stalled sweep. LIVE: re-dispatch within keepAlive + 2·stalledInterval +
 *   250 ms (asserted with room for a loaded 2-core machine; measured in the metrics), and no false
 *   stalls (only the killed workers' jobs are delivered again).
 * - S19: zombie workers, `lockDuration` 1 s without the lock thread: (a) a busy worker SIGSTOPped
 *   for 2.5 s, then SIGCONT; (b) 5 % of handlers block the event loop for 1.5 s between touch and
 *   increment. Their jobs are delivered again; the zombies' late effects must be refused by the
 *   store and their completions by the queue.
 * - NC13: S19 with handlers that ignore a refused effect and completions forced past the queue's
 *   token check on the client side (the job written completed raw): QUEUE must fire.
 * - NC14: S19 with a store that does not check tokens: the zombies' late effects are accepted
 *   after the newer delivery's, and QUEUE and FENCE must fire.
 * The controls add a rescuer that takes over jobs whose lock ran out with `job.takeLock()`, so they
 * produce zombies with or without the stalled sweep.
 */
import type { Finding } from '../checkers/check-history.js';
import { checkQueue } from '../checkers/queue.js';
import type { QueueClientConfig } from '../client-config.js';
import type { ClientEvent } from '../client-processes.js';
import type { HistoryEvent } from '../history.js';
import type { ProcSpec, Scenario, ScenarioContext, ScenarioRun } from '../scenario.js';
import { fmt } from './measure.js';

const QUEUE = 'chaos';
const PRODUCER = 'qp';
const WORKERS = ['w0', 'w1', 'w2', 'w3'];
const RESCUER = 'qr';

/** S18's lock options: a long lease, liveness by keepAlive. */
const S18_LOCKS = { lockDuration: 30_000, keepAlive: 1_000, stalledInterval: 500, maxStalledCount: 1 } as const;
/** S19's: the table's lockDuration 1 s, renewal on the event loop. */
const S19_LOCKS = { lockDuration: 1_000, lockRenewTime: 500, stalledInterval: 500, maxStalledCount: 1, useDedicatedLockThread: false } as const;
/** keepAlive + 2·stalledInterval + 250 ms (the table's bound with keepAlive in lockDuration's place). */
const S18_BOUND_MS = S18_LOCKS.keepAlive + 2 * S18_LOCKS.stalledInterval + 250;
/** What LIVE asserts: the bound, with room for a loaded 2-core machine. */
const S18_ASSERT_MS = S18_BOUND_MS + 750;

interface Setup {
  readonly jobs: number;
  readonly addEveryMs: number;
  readonly lockOptions: Readonly<Record<string, number | boolean>>;
  readonly blockProbability: number;
  readonly forceStale: boolean;
  readonly rescuer: boolean;
}

function queueConfig(setup: Setup, role: QueueClientConfig['role']): QueueClientConfig {
  return {
    name: QUEUE, role, jobs: setup.jobs, addEveryMs: setup.addEveryMs, concurrency: 2, jobMs: [20, 200],
    blockProbability: role === 'producer' ? 0 : setup.blockProbability, blockMs: 1_500, lockOptions: setup.lockOptions, forceStale: setup.forceStale,
  };
}

function procs(setup: Setup): ProcSpec[] {
  const spec = (name: string, role: QueueClientConfig['role']): ProcSpec => ({ name, overrides: { clients: 1, queue: queueConfig(setup, role) } });
  return [spec(PRODUCER, 'producer'), ...WORKERS.map((w) => spec(w, 'worker')), ...(setup.rescuer ? [spec(RESCUER, 'rescuer')] : [])];
}

/** Which jobs each process runs now (its `jobs` lines). */
class JobsWatch {
  readonly running = new Map<string, string[]>();
  readonly #off: () => void;

  constructor(ctx: ScenarioContext) {
    this.#off = ctx.clients.on((e: ClientEvent) => {
      if (e.ev === 'jobs' && Array.isArray(e['running'])) this.running.set(e.proc, (e['running'] as unknown[]).map(String));
    });
  }

  /** A live worker running a job now, chosen at random; waits (bounded) for one. */
  async busyWorker(ctx: ScenarioContext, timeoutMs = 2_000): Promise<{ proc: string; jobs: string[] } | undefined> {
    const until = performance.now() + timeoutMs;
    for (let i = 0; i < 1_000 && performance.now() < until; i += 1) {
      const busy = [...this.running].filter(([proc, jobs]) => jobs.length > 0 && proc.startsWith('w') && ctx.clients.procs.get(proc)?.exitCode === undefined);
      if (busy.length > 0) {
        const [proc, jobs] = busy[Math.floor(ctx.random() * busy.length)] ?? busy[0] ?? ['', []];
        return { proc, jobs };
      }
      await ctx.sleep(10);
    }
    return undefined;
  }

  close(): void {
    this.#off();
  }
}

/** Asks the producer to wait for the drain (at most `drainMs`) and read every job; records the counts. */
async function finalRead(ctx: ScenarioContext, drainMs: number): Promise<void> {
  const done = ctx.clients.waitFor(PRODUCER, (e) => e.ev === 'final', drainMs + 20_000, ctx.signal);
  ctx.clients.send(PRODUCER, `final ${drainMs}`);
  const e = await done;
  ctx.metrics['drainWaitedMs'] = Number(e['waitedMs'] ?? -1);
  ctx.metrics['countsAfterDrain'] = Object.entries((e['counts'] ?? {}) as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ');
}

/** S18: SIGKILL a busy worker every 3 s, a fresh process in its place. */
async function killNemesis(ctx: ScenarioContext, kills: number): Promise<void> {
  const watch = new JobsWatch(ctx);
  const restarts = new Map<string, number>();
  const targets: string[] = [];
  let hit = 0;
  const started = performance.now();
  ctx.clients.send(PRODUCER, 'go');
  try {
    for (let k = 0; k < kills; k += 1) {
      // One kill every 3 s from the start, whatever the restarts took.
      await ctx.sleep(2_000 + k * 3_000 - (performance.now() - started));
      const busy = await watch.busyWorker(ctx);
      if (busy === undefined) continue;
      targets.push(`${busy.proc} (${busy.jobs.join(' ')})`);
      hit += 1;
      ctx.nemesis.note('kill-holds', busy.proc, busy.jobs.join(' '));
      await ctx.clients.kill(busy.proc);
      const base = busy.proc.split('r')[0] ?? busy.proc;
      const n = (restarts.get(base) ?? 0) + 1;
      restarts.set(base, n);
      const queue = ctx.clients.procs.get(busy.proc)?.config.queue;
      const restart = ctx.spawn({ name: `${base}r${n}`, overrides: { clients: 1, ...(queue === undefined ? {} : { queue }) } });
      await restart;
    }
    await ctx.sleep(1_000);
    await finalRead(ctx, 3_000 + S18_BOUND_MS);
  } finally {
    watch.close();
    ctx.metrics['faultTargets'] = targets.join('; ');
    ctx.metrics['killsHoldingJobs'] = hit;
  }
}

/** S19: SIGSTOP a busy worker for 2.5 s (> lockDuration), `pauses` times; blocked handlers run meanwhile. */
async function pauseNemesis(ctx: ScenarioContext, pauses: number): Promise<void> {
  const watch = new JobsWatch(ctx);
  const targets: string[] = [];
  ctx.clients.send(PRODUCER, 'go');
  try {
    for (let p = 0; p < pauses; p += 1) {
      await ctx.sleep(1_500);
      const busy = await watch.busyWorker(ctx);
      if (busy === undefined) continue;
      targets.push(`${busy.proc} (${busy.jobs.join(' ')})`);
      await ctx.clients.pause(busy.proc);
      await ctx.sleep(2_500);
      ctx.clients.resume(busy.proc);
    }
    await ctx.sleep(1_500);
    await finalRead(ctx, 6_000);
  } finally {
    watch.close();
    ctx.metrics['faultTargets'] = targets.join('; ');
  }
}

function queueFindings(events: readonly HistoryEvent[], storeLog: Parameters<typeof checkQueue>[0]['storeLog'], metrics: Record<string, number | string>, maxDeliveries: number | undefined): Finding[] {
  const report = checkQueue({ events, storeLog, ...(maxDeliveries === undefined ? {} : { maxDeliveries }) });
  metrics['jobsEnqueued'] = report.enqueued;
  metrics['deliveries'] = report.deliveries;
  metrics['jobsRedelivered'] = report.redelivered;
  metrics['jobsCompleted'] = report.completed;
  metrics['jobsFailed'] = report.failed;
  metrics['finishesRefused'] = report.refused;
  metrics['effectsRejected'] = report.effectsRejected;
  metrics['supersededEffects'] = report.supersededEffects;
  metrics['finalStates'] = Object.entries(report.states).map(([k, v]) => `${k} ${v}`).join(', ');
  const kinds = new Map<string, number>();
  for (const v of report.violations) kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + 1);
  if (kinds.size > 0) metrics['queueViolations'] = [...kinds].map(([k, n]) => `${k} ${n}`).join(', ');
  return report.violations.map((v) => ({ cls: 'QUEUE', kind: v.kind, key: `job:${v.jobId}`, grantIds: [], from: v.t, to: v.t, message: v.message }));
}

/** Process a window targeted (`w1 pid 123`). */
const targetOf = (value: string): string => /^([^ ]+)/.exec(value)?.[1] ?? '';

/**
 * S18 LIVE: for each kill, the jobs the killed worker had delivered and not finished, and how long
 * until each was delivered again; failed jobs only after more stalls than allowed.
 */
function redispatch(run: ScenarioRun, kills: number): string[] {
  const out: string[] = [];
  const delivered = run.events.filter((e) => e.op === 'deliver' && e.phase === 'ok');
  const finished = new Set(run.events.filter((e) => (e.op === 'complete' || e.op === 'failattempt') && e.phase !== 'invoke').map((e) => `${e.proc}#${e.jobId ?? ''}#${e.token ?? ''}`));
  const latencies: number[] = [];
  let lostJobs = 0;
  const windows = run.windows.filter((w) => w.nemesis === 'kill-client');
  const killedJobs = new Set<string>();
  for (const w of windows) {
    const proc = targetOf(w.value);
    const held = delivered.filter((e) => e.proc === proc && e.t <= w.start && !finished.has(`${e.proc}#${e.jobId ?? ''}#${e.token ?? ''}`));
    for (const d of held) {
      killedJobs.add(d.jobId ?? '');
      const next = delivered.find((e) => e.jobId === d.jobId && e.t > w.start);
      if (next === undefined) {
        lostJobs += 1;
        continue;
      }
      latencies.push(Number(next.t - w.start) / 1e6);
    }
  }
  run.metrics['killedJobs'] = latencies.length + lostJobs;
  run.metrics['killedJobsNotRedelivered'] = lostJobs;
  if (latencies.length > 0) {
    run.metrics['redispatchMaxMs'] = fmt(Math.max(...latencies));
    run.metrics['redispatchMedianMs'] = fmt([...latencies].sort((a, b) => a - b)[Math.floor(latencies.length / 2)] ?? 0);
    const slow = latencies.filter((ms) => ms > S18_ASSERT_MS);
    if (slow.length > 0) out.push(`LIVE: ${slow.length} killed worker's job(s) re-dispatched only after ${fmt(Math.max(...slow))} ms (bound ${S18_BOUND_MS} ms, asserted ${S18_ASSERT_MS} ms)`);
  }
  if (windows.length < kills) out.push(`VAC: only ${windows.length} worker kills (need ${kills})`);
  if (latencies.length + lostJobs === 0) out.push('VAC: no kill hit a worker while it held a job');
  // No false stalls: only a killed worker's jobs are delivered again (healthy workers do not block).
  const counts = new Map<string, number>();
  for (const d of delivered) counts.set(d.jobId ?? '', (counts.get(d.jobId ?? '') ?? 0) + 1);
  const falseStalls = [...counts].filter(([job, n]) => n > 1 && !killedJobs.has(job)).map(([job]) => job);
  run.metrics['falseStalls'] = falseStalls.length;
  if (falseStalls.length > 0) out.push(`LIVE: ${falseStalls.length} job(s) delivered again though no killed worker held them (false stalls), e.g. ${falseStalls.slice(0, 5).join(' ')}`);
  // A failed job must have stalled more than maxStalledCount times (the handler itself never fails here).
  const deliveries = new Map<string, number>();
  for (const d of delivered) deliveries.set(d.jobId ?? '', (deliveries.get(d.jobId ?? '') ?? 0) + 1);
  for (const f of run.events.filter((e) => e.op === 'final' && e.state === 'failed')) {
    const n = deliveries.get(f.jobId ?? '') ?? 0;
    if (n <= S18_LOCKS.maxStalledCount) out.push(`LIVE: job ${f.jobId ?? '?'} failed after ${n} deliveries (a job fails only after more than maxStalledCount = ${S18_LOCKS.maxStalledCount} stalls)`);
  }
  return out;
}

/** S19 and its controls: a zombie was made, and its late effect and finish reached the store and the queue. */
function zombies(run: ScenarioRun, pauses: number): string[] {
  const out: string[] = [];
  const pausesDone = run.windows.filter((w) => w.nemesis === 'pause-client').length;
  const blocked = run.events.filter((e) => e.op === 'deliver' && e.phase === 'info').length;
  run.metrics['blockedHandlers'] = blocked;
  if (pausesDone < pauses) out.push(`VAC: only ${pausesDone} worker pauses (need ${pauses})`);
  if (blocked === 0) out.push('VAC: no handler blocked the event loop');
  if (Number(run.metrics['jobsRedelivered'] ?? 0) === 0) out.push('VAC: no job was delivered twice (no zombie was made)');
  // A zombie's late effect: an effect op of a job resource whose token is below one already seen there.
  const late = run.storeLog.filter((e) => e.resource.startsWith('job:') && e.token < e.maxBefore);
  run.metrics['zombieEffectsAtStore'] = late.length;
  if (late.length === 0) out.push('VAC: no zombie effect reached the store after a newer delivery touched it');
  const refused = run.events.filter((e) => (e.op === 'complete' || e.op === 'failattempt') && e.phase === 'fail').length;
  if (refused === 0) out.push('VAC: the queue refused no zombie completion or failure');
  return out;
}

function s18Like(id: string): Scenario {
  const setup: Setup = { jobs: 300, addEveryMs: 55, lockOptions: S18_LOCKS, blockProbability: 0, forceStale: false, rescuer: false };
  const kills = 5;
  return {
    id,
    title: 'Job queue: workers SIGKILLed mid-job',
    kind: 'safety',
    expected: [],
    expectation: `300 jobs of 20–200 ms, 4 worker processes × concurrency 2, lockDuration 30 s with keepAlive 1 s, stalledInterval 500 ms, maxStalledCount 1, attempts 1; a busy worker SIGKILLed every 3 s (${kills} times) and replaced by a fresh process. QUEUE: every job completed or failed after the drain (none lost or stuck active), one completion per job by its newest delivery, tokens increasing, ≤ 2 deliveries, the completing delivery's effect the last accepted; FENCE, RMW; LIVE: re-dispatch ≤ keepAlive + 2·stalledInterval + 250 = ${S18_BOUND_MS} ms (asserted ${S18_ASSERT_MS} ms), no false stalls (only killed workers' jobs delivered again), failed jobs only after 2 stalls`,
    durationMs: 18_000,
    nodes: 3,
    recoveryMs: 300,
    procs: procs(setup),
    nemesis: (ctx) => killNemesis(ctx, kills),
    minGrants: setup.jobs,
    faultRequired: true,
    findings: (input) => queueFindings(input.events, input.storeLog, input.metrics, 1 + S18_LOCKS.maxStalledCount),
    live: (run) => redispatch(run, kills),
  };
}

function s19Like(id: string, control: 'none' | 'force-stale' | 'store-unfenced'): Scenario {
  const setup: Setup = {
    jobs: 250, addEveryMs: 50, lockOptions: S19_LOCKS, blockProbability: 0.05, forceStale: control === 'force-stale', rescuer: control !== 'none',
  };
  const pauses = 3;
  const titles = {
    none: 'Job queue: zombie workers (paused, or blocking the event loop) past lockDuration',
    'force-stale': 'Negative control: S19 with completions forced past the token check (and refused effects ignored)',
    'store-unfenced': 'Negative control: S19 with a store that does not check tokens',
  } as const;
  const expectations = {
    none: `250 jobs, 4 worker processes × concurrency 2, lockDuration 1 s (renewal on the event loop), stalledInterval 500 ms, maxStalledCount 1; (a) a busy worker SIGSTOPped 2.5 s, ${pauses} times; (b) 5 % of handlers block the event loop 1.5 s between touch and increment. Their jobs are delivered again with a larger token; the zombies' late effects are refused by the store and their completions by the queue. QUEUE (one completion per job, by its newest delivery; its effect the last accepted; none lost or stuck), FENCE, RMW; VAC: a zombie effect reached the store and a zombie finish reached the queue`,
    'force-stale': 'S19 plus a takeLock() rescuer; handlers return success although their effect was refused, and a completion the queue refused is written raw into Redis: QUEUE must fire (double completion, completion by a stale token)',
    'store-unfenced': 'S19 plus a takeLock() rescuer, store fencing off: the zombies\' late effects are accepted after the newer delivery\'s — QUEUE (effect) and FENCE must fire',
  } as const;
  return {
    id,
    title: titles[control],
    kind: control === 'none' ? 'safety' : 'control',
    expected: control === 'none' ? [] : control === 'force-stale' ? ['QUEUE'] : ['QUEUE', 'FENCE'],
    // Accepted stale increments may also show as lost updates.
    ...(control === 'store-unfenced' ? { tolerated: ['RMW'] as const } : {}),
    expectation: expectations[control],
    durationMs: 20_000,
    nodes: 3,
    recoveryMs: 300,
    fencing: control !== 'store-unfenced',
    procs: procs(setup),
    nemesis: (ctx) => pauseNemesis(ctx, pauses),
    minGrants: setup.jobs,
    faultRequired: true,
    findings: (input) => queueFindings(input.events, input.storeLog, input.metrics, control === 'none' ? 1 + S19_LOCKS.maxStalledCount : undefined),
    live: (run) => zombies(run, pauses),
  };
}

export const s18 = s18Like('S18');
export const s19 = s19Like('S19', 'none');
export const nc13 = s19Like('NC13', 'force-stale');
export const nc14 = s19Like('NC14', 'store-unfenced');
