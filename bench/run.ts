/**
 * `npm run bench` — every scenario of BENCH.md that redfence can run today, implementations
 * interleaved, on 5 local redis-server processes started here and stopped at the end (also on
 * failure or Ctrl-C). Prints markdown tables (stdout; progress goes to stderr) and writes JSON to
 * bench/results/<timestamp>.json.
 *
 *   npm run bench -- [--scenario S1,S3] [--reps 3] [--quick] [--only raw,redfence] [--docs]
 *                    [--out file.json] [--redfence-from build|src] [--base <dist/index.js>]
 *
 * --quick: short durations for a smoke check. --docs: also write docs/benchmarks.md and
 * docs/benchmarks-chart.svg from this run (same as bench/make-docs.ts). --redfence-from: measure
 * redfence compiled by tsc from the current src/ (default, what users run) or src/ through tsx.
 * --base: also measure another build of redfence (e.g. an older commit compiled with tsc into a
 * folder inside this tree, so its imports resolve) as `redfence-base`, in the same run: an A/B of
 * two builds whose ratios share their raw-floor repetitions.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startLocalCluster, type LocalCluster } from '../src/index.js';
import { type ImplId, pair } from './adapters/adapter.js';
import { implementations } from './adapters/implementations.js';
import { redfence, redfenceBase, useRedfence, useRedfenceBase } from './adapters/redfence-adapter.js';
import { killChildren } from './child-processes.js';
import { writeDocs } from './docs-writer.js';
import { describeMachine } from './machine.js';
import { resultMarkdown } from './markdown-report.js';
import { buildRedfence, loadRedfence, REDFENCE_MODULE_ENV, type RedfenceSource, staleLuaScripts } from './redfence-build.js';
import { RedisCounters } from './redis-counters.js';
import type { BenchResult, ScenarioId, Table } from './result-table.js';
import { runS0 } from './s0-cold-start.js';
import { runS1 } from './s1-latency.js';
import { runS2 } from './s2-throughput.js';
import { runS3 } from './s3-contention.js';
import { runS4 } from './s4-queue.js';
import { runS5Election } from './s5-election.js';
import { runS5 } from './s5-failover.js';
import type { ScenarioContext } from './scenario-context.js';

/** S5: the lock-holder half (every implementation), then the leader-election half (redfence only). */
const runS5Both = async (ctx: ScenarioContext): Promise<Table[]> => [...(await runS5(ctx)), ...(await runS5Election(ctx))];
const SCENARIOS: Record<ScenarioId, (ctx: ScenarioContext) => Promise<Table[]>> = { S0: runS0, S1: runS1, S2: runS2, S3: runS3, S4: (ctx) => runS4(ctx), S5: runS5Both };
const NOT_RUN: string[] = [];

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    reps: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    docs: { type: 'boolean', default: false },
    out: { type: 'string' },
    'redfence-from': { type: 'string', default: 'build' },
    base: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help === true) {
  process.stdout.write(
    [
      'usage: npm run bench -- [--scenario S1,S3] [--reps 3] [--quick] [--only raw,redfence] [--docs]',
      '                        [--out file.json] [--redfence-from build|src] [--base <dist/index.js>]',
      '  --scenario   S0 cold start, S1 latency, S2 throughput, S3 contention, S4 queue (vs BullMQ), S5 failover (lock holder and leader election)',
      '               e.g. npm run bench -- --scenario S5 --only redfence',
      '  --reps       repetitions (1–20, default 3)      --quick   short durations for a smoke check',
      `  --only       implementations besides the raw floor: ${implementations.map((i) => i.id).join(', ')}`,
      '  --docs       also rewrite docs/benchmarks.md and its chart from this run',
      '',
    ].join('\n'),
  );
  process.exit(0);
}
const redfenceFrom = values['redfence-from'] as RedfenceSource;
if (redfenceFrom !== 'build' && redfenceFrom !== 'src') throw new Error(`--redfence-from takes build or src, got ${String(redfenceFrom)}`);

const quick = values.quick === true;
const reps = Number(values.reps ?? 3);
if (!Number.isInteger(reps) || reps < 1 || reps > 20) throw new Error(`--reps must be an integer from 1 to 20, got ${values.reps}`);
const scenarios = (values.scenario ?? ['S0,S1,S2,S3,S4,S5'])
  .flatMap((s) => s.split(','))
  .map((s) => s.trim().toUpperCase())
  .filter((s) => s !== '');
for (const s of scenarios) if (!(s in SCENARIOS)) throw new Error(`unknown --scenario ${s} (S0, S1, S2, S3, S4, S5)`);
const only = values.only?.split(',').map((s) => s.trim()) ?? [];
const impls = [
  ...implementations.filter((i) => only.length === 0 || i.id === 'raw' || only.includes(i.id)),
  // --base <dist/index.js of another build>: that build as `redfence-base`, beside this one.
  ...(values.base === undefined ? [] : [redfenceBase]),
];
if (only.some((id) => !implementations.some((i) => i.id === (id as ImplId)))) {
  throw new Error(`--only takes ${implementations.map((i) => i.id).join(', ')}`);
}

/** Hard bound of the whole run; scenarios check it between runs, the watchdog enforces it. */
const BUDGET_MS = (quick ? 5 : 14) * 60_000;
const started = performance.now();
const log = (message: string): void => {
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
};

let cluster: LocalCluster | undefined;
let counters: RedisCounters | undefined;
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await killChildren().catch(() => undefined);
    await counters?.close().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
  })();
  return cleaning;
}
const watchdog = setTimeout(() => {
  log(`over the time budget by 60 s; stopping everything`);
  void cleanup().finally(() => process.exit(1));
}, BUDGET_MS + 60_000);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping every process started`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  const startedAt = new Date();
  const stale = staleLuaScripts();
  if (stale.length > 0) log(`warning: src/generated/lua-scripts.ts is older than ${stale.join(', ')} (npm run lua regenerates it)`);
  if (redfenceFrom === 'build') {
    log('compiling src/ with tsc into node_modules/.cache/redfence-bench/ (what users run; --redfence-from src skips this)');
    process.env[REDFENCE_MODULE_ENV] = buildRedfence();
  } else {
    delete process.env[REDFENCE_MODULE_ENV];
  }
  useRedfence(await loadRedfence(process.env[REDFENCE_MODULE_ENV]));
  if (values.base !== undefined) useRedfenceBase(await loadRedfence(values.base));
  log(`starting 5 redis-server nodes; scenarios ${scenarios.join(', ')}; ${reps} repetitions${quick ? ' (quick)' : ''}`);
  cluster = await startLocalCluster({ nodes: 5 });
  counters = new RedisCounters(cluster.urls);
  const machine = describeMachine(await counters.version());
  // redfence's ready gate bootstraps the cluster on its first acquire: once, here, not in S0.
  const bootstrap = redfence.create(cluster.urls, 'defaults');
  await bootstrap.ready();
  await pair(bootstrap, 'bench:bootstrap', 1_000);
  await bootstrap.close();

  const ctx: ScenarioContext = {
    urls: cluster.urls,
    counters,
    impls,
    reps,
    quick,
    log,
    checkBudget() {
      if (performance.now() - started > BUDGET_MS) throw new Error(`over the time budget of ${BUDGET_MS / 60_000} min`);
    },
  };
  const tables: Table[] = [];
  const skipped = [...NOT_RUN];
  for (const id of (['S0', 'S1', 'S2', 'S3', 'S4', 'S5'] as const).filter((s) => scenarios.includes(s))) {
    log(`${id} …`);
    try {
      tables.push(...(await SCENARIOS[id](ctx)));
    } catch (error) {
      process.exitCode = 1;
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`${id} failed: ${message}`);
      skipped.push(`${id} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  const result: BenchResult = {
    format: 'redfence-bench/1',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    durationSeconds: (performance.now() - started) / 1000,
    machine: { ...machine, loadAverageEnd: loadavg() },
    options: { reps, quick, scenarios: scenarios as ScenarioId[], nodes: 5, redfenceFrom, staleLuaScripts: stale },
    settings: Object.fromEntries(impls.map((i) => [i.label, { defaults: i.settings('defaults'), tuned: i.settings('tuned') }])),
    tables,
    skipped,
  };
  const out = values.out ?? new URL(`./results/${startedAt.toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url).pathname;
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n${resultMarkdown(result)}\n\n`);
  log(`JSON written to ${out}`);
  if (values.docs === true) log(`written: ${writeDocs(result, out).join(', ')}`);
} catch (error) {
  process.exitCode = 1;
  log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await cleanup();
  clearTimeout(watchdog);
  log('every process started was stopped');
  // A library timer or socket left open must not keep the bench alive.
  setTimeout(() => process.exit(), 2_000).unref();
}
