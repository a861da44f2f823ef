/**
 * Runs one scenario end to end (CHAOS.md "Shape of a scenario"): fleet, store and client processes
 * up; warm-up; the seeded nemesis script; heal; recovery with the clients still running; stop the
 * clients; final reads; then the checkers over the history and the store log. Everything it started
 * is stopped in `finally`, also on failure, deadline or SIGINT. Artifacts go to `dir`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RedfenceError, Redlock } from '../../src/index.js';
import { unsafe, type UnsafeSwitch } from '../../src/unsafe.js';
import { seededRandom } from '../support/random.js';
import { checkHistory, type CheckResult, type Finding, VIOLATION_CLASSES, type ViolationClass, withFindings } from './checkers/check-history.js';
import { checkVacuity } from './checkers/vacuity.js';
import { type ClientConfig, clientDefaults } from './client-config.js';
import { ClientProcesses } from './client-processes.js';
import type { ClockShim, NodeClock } from './clock.js';
import { FencedStore, type StoreEntry } from './fenced-store.js';
import { Fleet } from './fleet.js';
import { hrNow, readHistory, toJsonLine } from './history.js';
import { type FaultWindow, NemesisLog } from './nemesis-log.js';
import type { ProcSpec, Scenario, ScenarioContext } from './scenario.js';

export interface RunScenarioOptions {
  readonly seed: number;
  /** Artifacts of this scenario go to `<runDir>/<id>-<seed>/`. */
  readonly runDir: string;
  readonly shim: ClockShim | undefined;
  /** Aborts the scenario (SIGINT); cleanup still runs. */
  readonly signal: AbortSignal;
  readonly onProgress?: (line: string) => void;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly seed: number;
  readonly grants: number;
  readonly faults: { readonly total: number; readonly effective: number };
  readonly counts: Readonly<Record<ViolationClass, number>>;
  readonly pass: boolean;
  readonly skipped: string | undefined;
  /** Why it failed (VAC, LIVE, unexpected or missing violations, errors). */
  readonly problems: readonly string[];
  readonly seconds: number;
  readonly dir: string;
  readonly findings: readonly Finding[];
  readonly check: CheckResult | undefined;
  readonly windows: readonly FaultWindow[];
  readonly staleOps: readonly StoreEntry[];
  readonly metrics: Readonly<Record<string, number | string>>;
  readonly t0: bigint;
  readonly tEnd: bigint;
}

export const KEY_PREFIX = 'rf:';

export async function runScenario(s: Scenario, options: RunScenarioOptions): Promise<ScenarioResult> {
  const started = performance.now();
  const { seed } = options;
  const dir = join(options.runDir, `${s.id}-${seed}`);
  mkdirSync(dir, { recursive: true });
  const needsShim = s.nodeClocks === true || s.procs.some((p) => p.shimClock === true);
  const empty = (problem: string | undefined, skipped: string | undefined): ScenarioResult => ({
    scenario: s, seed, grants: 0, faults: { total: 0, effective: 0 }, counts: zeroCounts(), pass: false, skipped,
    problems: problem ? [problem] : [], seconds: (performance.now() - started) / 1000, dir, findings: [], check: undefined,
    windows: [], staleOps: [], metrics: {}, t0: 0n, tEnd: 0n,
  });
  if (needsShim && options.shim === undefined) return empty(undefined, 'needs the clock shim (no C compiler?)');

  const ttl = s.common?.ttl ?? clientDefaults.ttl;
  const keyPrefix = s.keyPrefix ?? '';
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort(options.signal.reason);
  options.signal.addEventListener('abort', onOuterAbort, { once: true });
  const recoveryMs = s.recoveryMs ?? ttl + 1_000;
  const warmupMs = s.warmupMs ?? 2_000;
  const deadlineMs = warmupMs + s.durationMs + recoveryMs + 90_000;
  const deadline = setTimeout(() => controller.abort(new Error(`hard deadline of ${deadlineMs} ms passed`)), deadlineMs);

  const nemesis = new NemesisLog(join(dir, 'nemesis.jsonl'));
  const problems: string[] = [];
  const metrics: Record<string, number | string> = {};
  const cleanups: (() => Promise<unknown>)[] = [];
  const random = seededRandom(seed);
  let store: FencedStore | undefined;
  let clients: ClientProcesses | undefined;
  let t0 = hrNow();
  let healT = t0;
  let progress: NodeJS.Timeout | undefined;

  try {
    store = await FencedStore.start({ fencing: s.fencing ?? true });
    cleanups.push(() => store?.close() ?? Promise.resolve());
    const fleet = await Fleet.start({
      nodes: s.nodes ?? 5, appendOnly: s.appendOnly ?? false, args: s.redisArgs ?? [], procs: s.procs.map((p) => p.name),
      ...(s.nodeClocks && options.shim ? { shim: options.shim } : {}), prefix: `${keyPrefix}${KEY_PREFIX}`, nemesis, workDir: dir,
    });
    cleanups.push(() => fleet.stop());

    const keys = new Set<string>([...clientDefaults.keys]);
    for (const p of s.procs) for (const k of [...(p.overrides?.keys ?? s.common?.keys ?? []), p.overrides?.victim?.key ?? 'k0']) keys.add(k);
    // The cluster's maxTtl (kept with the ready marker) must admit the longest TTL any process uses.
    const maxTtl = Math.max(BOOTSTRAP_MAX_TTL, ...s.procs.map((p) => p.overrides?.maxTtl ?? s.common?.maxTtl ?? clientDefaults.maxTtl));
    const refused = await bootstrap(fleet.cluster.urls, [...keys], { maxTtl, keyPrefix, unsafe: s.unsafe ?? [] });
    if (refused !== undefined) metrics['bootstrap'] = `refused: ${refused}`;

    const procClocks = new Map<string, NodeClock>();
    const procs = new ClientProcesses(nemesis, dir);
    clients = procs;
    cleanups.push(() => procs.stopAll(3_000));
    let spawned = 0;
    const spawnProc = (spec: ProcSpec): Promise<unknown> => {
      const i = spawned++;
      const config: ClientConfig = {
        ...clientDefaults, keyPrefix, ...s.common, ...spec.overrides,
        proc: spec.name, nodes: fleet.endpoints(spec.name), prefix: KEY_PREFIX, storeUrl: store?.url ?? '',
        historyFile: join(dir, `history-${spec.name}.jsonl`), seed: seed * 100 + i,
        maxRunMs: warmupMs + s.durationMs + recoveryMs + 30_000,
      };
      let env: Record<string, string> = {};
      if (spec.shimClock && options.shim) {
        const clock = options.shim.createNodeClock(join(dir, `clock-${spec.name}`));
        procClocks.set(spec.name, clock);
        env = { ...clock.env };
      }
      return procs.spawn(config, env);
    };
    await Promise.all(s.procs.map((spec) => spawnProc(spec)));

    t0 = hrNow();
    const ctx: ScenarioContext = {
      id: s.id, seed, random, fleet, store, clients: procs, nemesis, ttl, signal: controller.signal, metrics, problems,
      sleep: (ms) => abortableSleep(ms, controller.signal),
      procClock: (name) => {
        const clock = procClocks.get(name);
        if (clock === undefined) throw new Error(`process ${name} was not started with shimClock`);
        return clock;
      },
      clientWallSkew: async (name) => {
        const e = await procs.waitFor(name, (ev) => ev.ev === 'stats', 3_000, controller.signal);
        const hr = BigInt(String(e['hr']));
        return Number(e['wall']) - (Date.now() - Number(hrNow() - hr) / 1e6);
      },
      spawn: async (spec) => {
        if (spec.shimClock) throw new Error('a process started mid-run cannot have a shim clock');
        if (procs.procs.has(spec.name)) throw new Error(`process ${spec.name} exists already`);
        await fleet.addProcs([spec.name]);
        await spawnProc(spec);
      },
    };
    progress = setInterval(() => {
      const seconds = Number(hrNow() - t0) / 1e9;
      options.onProgress?.(`[${s.id} seed ${seed}] ${seconds.toFixed(1)} s  grants ${procs.grants()}  faults ${nemesis.windows().length}  stale ops ${store?.staleCount() ?? 0}`);
    }, 2_000);

    await ctx.sleep(warmupMs);
    await s.nemesis(ctx);
    for (const name of procs.procs.keys()) procs.resume(name);
    await fleet.heal();
    healT = hrNow();
    nemesis.note('heal', 'all faults removed');
    await ctx.sleep(recoveryMs);
    await procs.stopAll();
    for (const c of procClocks.values()) c.reset();
    // Final reads: every lock must be gone within a TTL of the last release.
    await ctx.sleep(ttl + 300);
    const stray = await fleet.strayLocks();
    metrics['strayLocks'] = stray.map((x) => `n${x.node}:${x.keys.length}`).join(' ') || 'none';
    if (stray.length > 0 && !s.allowStrayLocks) problems.push(`LIVE: lock keys left after ttl: ${metrics['strayLocks']}`);
  } catch (error) {
    problems.push(`ERROR: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    clearTimeout(deadline);
    clearInterval(progress);
    options.signal.removeEventListener('abort', onOuterAbort);
    for (const cleanup of cleanups.reverse()) await withTimeout(cleanup(), 20_000).catch((e: unknown) => problems.push(`cleanup: ${String(e)}`));
  }
  const tEnd = hrNow();

  // ---- checks -------------------------------------------------------------------------------
  const procs = clients;
  const { events, torn } = readHistory([...(procs?.procs.values() ?? [])].map((p) => p.config.historyFile));
  writeFileSync(join(dir, 'history.jsonl'), events.map((e) => toJsonLine(e)).join('\n') + '\n');
  store?.writeLog(join(dir, 'store.jsonl'));
  if (torn > 0) metrics['tornLines'] = torn;
  for (const e of procs?.errors ?? []) problems.push(`client: ${e}`);
  const storeLog = store?.log ?? [];
  const common = checkHistory({ events, deaths: procs?.deaths() ?? new Map(), storeLog, finalValues: store?.values ?? new Map() });
  const windows = nemesis.windows();
  const check = s.findings === undefined ? common : withFindings(common, s.findings({ events, claims: common.claims, windows, metrics, ttl, healT, storeLog }));
  const overlaps = check.findings.filter((f) => f.cls === 'ME').map((f) => Number(f.to - f.from) / 1e6);
  if (overlaps.length > 0) metrics['maxOverlapMs'] = Math.max(...overlaps).toFixed(1);
  const claimLeft = check.findings.map((f) => Number(f.earlierLeftNs ?? 0n) / 1e6).filter((x) => x > 0);
  if (claimLeft.length > 0) metrics['maxEarlierClaimLeftMs'] = Math.max(...claimLeft).toFixed(1);
  // Terms won in an election (S17) are grants of its seat; a job's deliveries (S18, S19) of its resource.
  const grants = check.claims.length + events.filter((e) => (e.op === 'elected' || e.op === 'deliver') && e.phase === 'ok').length;
  const staleOps = storeLog.filter((e) => e.token < e.maxBefore);
  problems.push(
    ...checkVacuity({
      grants, minGrants: s.minGrants, effectiveFaults: nemesis.effectiveCount(), faultRequired: s.faultRequired,
      staleOps: staleOps.length, staleRequired: s.staleRequired ?? false,
    }),
  );
  const ineffective = windows.filter((w) => w.effective === false);
  if (ineffective.length > 0) problems.push(`VAC: ${ineffective.length} fault(s) not verified effective, e.g. ${ineffective[0]?.nemesis} ${ineffective[0]?.value}`);
  for (const cls of VIOLATION_CLASSES) {
    const expected = s.expected.includes(cls);
    const n = check.counts[cls];
    if (expected && n === 0) problems.push(`expected a ${cls} violation, the checkers found none`);
    if (!expected && n > 0 && !(s.tolerated ?? []).includes(cls)) problems.push(`${n} unexpected ${cls} violation(s): ${check.findings.find((f) => f.cls === cls)?.message ?? ''}`);
  }
  if (s.live !== undefined && !problems.some((p) => p.startsWith('ERROR'))) {
    problems.push(...s.live({ events, check, windows, metrics, ttl, healT, t0, storeLog }));
  }
  const result: ScenarioResult = {
    scenario: s, seed, grants, faults: { total: windows.length, effective: nemesis.effectiveCount() }, counts: check.counts,
    pass: problems.length === 0, skipped: undefined, problems, seconds: (performance.now() - started) / 1000, dir,
    findings: check.findings, check, windows, staleOps, metrics, t0, tEnd,
  };
  writeFileSync(
    join(dir, 'result.json'),
    toJsonLine({ id: s.id, seed, pass: result.pass, grants, faults: result.faults, counts: check.counts, problems, metrics, seconds: result.seconds, findings: check.findings.slice(0, 200) }),
  );
  return result;
}

const BOOTSTRAP_MAX_TTL = 3_000;

interface BootstrapOptions {
  readonly maxTtl: number;
  /** ioredis keyPrefix ('' = none). */
  readonly keyPrefix: string;
  /** src/unsafe.ts switches on while the bootstrap runs (restored after). */
  readonly unsafe: readonly UnsafeSwitch[];
}

/**
 * Marks a fresh cluster ready and gives every key a counter on every node (a grant reaching all N).
 * Resolves with the refusal when the library refuses the options (keyPrefix, issue 9 item 5).
 */
async function bootstrap(urls: readonly string[], keys: readonly string[], options: BootstrapOptions): Promise<string | undefined> {
  const saved = { ...unsafe };
  for (const name of options.unsafe) unsafe[name] = true;
  try {
    const nodes = urls.map((url) => {
      const { hostname, port } = new URL(url);
      return { host: hostname, port: Number(port), ...(options.keyPrefix ? { keyPrefix: options.keyPrefix } : {}) };
    });
    let redlock: Redlock;
    try {
      redlock = new Redlock(nodes, { prefix: KEY_PREFIX, maxTtl: options.maxTtl, nodeTimeout: 500, retryCount: 20, retryDelay: 50 });
    } catch (error) {
      if (options.keyPrefix && error instanceof RedfenceError) return `${error.code}: ${error.message}`;
      throw error;
    }
    try {
      for (const key of keys) await (await redlock.acquire(key, 1_000)).release();
    } catch (error) {
      if (options.keyPrefix && error instanceof RedfenceError && error.code === 'INVALID_OPTIONS') return `${error.code}: ${error.message}`;
      throw error;
    } finally {
      await redlock.quit();
    }
    return undefined;
  } finally {
    Object.assign(unsafe, saved);
  }
}

function zeroCounts(): Record<ViolationClass, number> {
  return Object.fromEntries(VIOLATION_CLASSES.map((c) => [c, 0])) as Record<ViolationClass, number>;
}

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
