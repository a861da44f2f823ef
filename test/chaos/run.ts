/**
 * The chaos runner: `npm run chaos -- [--smoke] [--scenario S7 --scenario S2,S3] [--seed N] [--list]`.
 *
 * Runs the selected scenarios one at a time (timing-sensitive: never in parallel), prints progress
 * while they run and a summary table at the end, and writes artifacts under `.chaos/<timestamp>/`:
 * per scenario `history.jsonl`, `store.jsonl`, `nemesis.jsonl`, `result.json`, and for the run
 * `report.html` (timelines + summary) and `summary.json`. Exit code 0 only if every scenario passed.
 * SIGINT stops the current scenario (everything it started is stopped) and exits 130.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIOLATION_CLASSES } from './checkers/check-history.js';
import { type ClockShim, probeClockShim } from './clock.js';
import { renderHtmlReport } from './html-report.js';
import { runScenario, type ScenarioResult } from './run-scenario.js';
import { scenarios, selectScenarios, smokeIds } from './scenarios/index.js';

interface Args {
  ids: string[];
  seed: number | undefined;
  list: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { ids: [], seed: undefined, list: false };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i] ?? '';
    const value = (): string => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--smoke') args.ids.push(...smokeIds);
    else if (a === '--all') args.ids.push(...scenarios.map((s) => s.id));
    else if (a === '--list') args.list = true;
    else if (a.startsWith('--scenario')) args.ids.push(...value().split(','));
    else if (a.startsWith('--seed')) {
      const seed = Number(value());
      if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer`);
      args.seed = seed;
    } else if (a === '--help' || a === '-h') {
      console.log('usage: npm run chaos -- [--smoke | --all | --scenario S7[,S2…] …] [--seed N] [--list]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (args.list) {
  for (const s of scenarios) console.log(`${s.id.padEnd(5)} ${s.kind.padEnd(7)} ${s.title}${smokeIds.includes(s.id) ? '  [smoke]' : ''}`);
  process.exit(0);
}
const selected = selectScenarios(args.ids.length > 0 ? args.ids : scenarios.map((s) => s.id));
const seed = args.seed ?? Math.floor(Math.random() * 1_000_000);
const root = fileURLToPath(new URL('../../', import.meta.url));
const runDir = join(root, '.chaos', new Date().toISOString().replace(/[:.]/g, '-'));
mkdirSync(runDir, { recursive: true });
console.log(`chaos run: ${selected.map((s) => s.id).join(' ')}  seed ${seed}  artifacts ${relative(process.cwd(), runDir)}`);

const controller = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts += 1;
  if (interrupts > 1) process.exit(130);
  console.log('\nSIGINT: stopping the current scenario and cleaning up (Ctrl-C again to exit at once)');
  controller.abort(new Error('interrupted (SIGINT)'));
});

let shim: ClockShim | undefined;
if (selected.some((s) => s.nodeClocks === true || s.procs.some((p) => p.shimClock === true))) {
  const probe = await probeClockShim();
  if ('shim' in probe) shim = probe.shim;
  else console.log(probe.skip);
}

const results: ScenarioResult[] = [];
const startedAll = performance.now();
try {
  for (const s of selected) {
    if (controller.signal.aborted) break;
    console.log(`\n▶ ${s.id} — ${s.title} (seed ${seed}; expected: ${s.expected.length ? s.expected.join(', ') : 'no violations'})`);
    const result = await runScenario(s, { seed, runDir, shim, signal: controller.signal, onProgress: (line) => console.log(`  ${line}`) });
    results.push(result);
    const verdict = result.skipped ? `SKIP (${result.skipped})` : result.pass ? 'PASS' : 'FAIL';
    console.log(`  ${verdict}  ${result.grants} grants, ${result.faults.effective}/${result.faults.total} faults effective, ${countsText(result)}, ${result.seconds.toFixed(1)} s`);
    for (const p of result.problems) console.log(`    - ${p}`);
  }
} finally {
  shim?.dispose();
}

console.log(`\n${summaryTable(results)}`);
console.log(`total ${((performance.now() - startedAll) / 1000).toFixed(0)} s; seed ${seed}`);
writeFileSync(join(runDir, 'report.html'), renderHtmlReport(results, { seed, title: `redfence chaos run ${relative(root, runDir)}` }));
writeFileSync(
  join(runDir, 'summary.json'),
  JSON.stringify(
    results.map((r) => ({ id: r.scenario.id, seed: r.seed, grants: r.grants, faults: r.faults, counts: r.counts, expected: r.scenario.expected, pass: r.pass, skipped: r.skipped, problems: r.problems, metrics: r.metrics, seconds: r.seconds })),
    null,
    1,
  ),
);
console.log(`report: ${relative(process.cwd(), join(runDir, 'report.html'))}`);
const allPass = results.length === selected.length && results.every((r) => r.pass);
const skipped = results.filter((r) => r.skipped).length;
const passed = results.filter((r) => r.pass && !r.skipped).length;
console.log(`chaos: ${passed} passed, ${selected.length - passed - skipped} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(controller.signal.aborted ? 130 : allPass ? 0 : 1);

function countsText(r: ScenarioResult): string {
  const found = VIOLATION_CLASSES.filter((c) => r.counts[c] > 0).map((c) => `${c}:${r.counts[c]}`);
  return `violations ${found.length ? found.join(' ') : 'none'} (expected ${r.scenario.expected.length ? r.scenario.expected.join(',') : 'none'})`;
}

function summaryTable(rs: readonly ScenarioResult[]): string {
  const rows = [['scenario', 'seed', 'grants', 'faults', 'violations found', 'expected', 'result', 's']];
  for (const r of rs) {
    const found = VIOLATION_CLASSES.filter((c) => r.counts[c] > 0).map((c) => `${c}:${r.counts[c]}`).join(' ') || '-';
    rows.push([
      r.scenario.id, String(r.seed), String(r.grants), `${r.faults.effective}/${r.faults.total}`, found,
      r.scenario.expected.join(',') || '-', r.skipped ? 'SKIP' : r.pass ? 'pass' : 'FAIL', r.seconds.toFixed(0),
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row, j) => {
    const line = row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ');
    return j === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}
