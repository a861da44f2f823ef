import { implementations } from './adapters/implementations.js';
import { type BenchResult, type MetricSpec, ratios, type Row, type Table } from './result-table.js';
import { median, spread } from './stats.js';
import { targetsMarkdown } from './targets.js';

const ORDER = implementations.map((i) => i.id);

/** Rows in the implementations' order; rows of a scenario's own (S4's queues, BullMQ) after them, as recorded. */
function sortedRows(table: Table): Row[] {
  const rank = (row: Row): number => (ORDER.includes(row.impl) ? ORDER.indexOf(row.impl) : ORDER.length);
  return [...table.rows].sort((a, b) => rank(a) - rank(b));
}

/** `median (min–max) ·×ratio`: the value over repetitions and its median ratio to the raw floor. */
function cell(table: Table, row: Row, metric: MetricSpec): string {
  const { key, digits } = metric;
  const values = row.values[key] ?? [];
  const value = spread(values, digits);
  if (row.impl === 'raw' || metric.ratio === false) return value;
  const r = ratios(table, row, key).filter((v) => Number.isFinite(v));
  return r.length === 0 ? value : `${value} ·×${median(r).toFixed(2)}`;
}

export function tableMarkdown(table: Table): string {
  const header = `| implementation | ${table.metrics.map((m) => m.label).join(' | ')} |`;
  const rule = `|---|${table.metrics.map(() => '---').join('|')}|`;
  const rows = sortedRows(table).map((row) => `| ${row.label} | ${table.metrics.map((m) => cell(table, row, m)).join(' | ')} |`);
  const notes = table.notes.map((n) => `- ${n}`);
  return [`### ${table.title}`, '', header, rule, ...rows, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n');
}

export function settingsMarkdown(result: BenchResult): string {
  const lines = ['| implementation | defaults | tuned (S3) |', '|---|---|---|'];
  for (const [label, s] of Object.entries(result.settings)) lines.push(`| ${label} | ${s.defaults} | ${s.tuned} |`);
  return lines.join('\n');
}

export function machineMarkdown(result: BenchResult): string {
  const m = result.machine;
  return [
    '| | |',
    '|---|---|',
    `| CPU | ${m.cpuModel}, ${m.cores} cores |`,
    `| memory | ${m.memoryGiB} GiB |`,
    `| OS | ${m.os} |`,
    `| Node.js | ${m.node} |`,
    `| Redis | ${m.redis} (${result.options.nodes} local redis-server processes on loopback) |`,
    `| load average (1, 5, 15 min) at start / end | ${m.loadAverageStart.map((l) => l.toFixed(2)).join(', ')} / ${m.loadAverageEnd.map((l) => l.toFixed(2)).join(', ')} |`,
    `| redfence | ${m.redfenceCommit}; measured ${result.options.redfenceFrom === 'build' ? 'as compiled by tsc (what users run)' : 'from src/ through tsx'}${(result.options.staleLuaScripts ?? []).length > 0 ? `; generated Lua older than ${(result.options.staleLuaScripts ?? []).join(', ')}` : ''} |`,
    `| run | ${result.startedAt}, ${Math.round(result.durationSeconds)} s, ${result.options.reps} repetitions${result.options.quick ? ', --quick' : ''} |`,
  ].join('\n');
}

/** Everything `npm run bench` prints: the tables, the targets, what was skipped. */
export function resultMarkdown(result: BenchResult): string {
  const parts = [
    `Cells: median over ${result.options.reps} repetitions (min–max), ·×ratio = median of (value ÷ raw floor in the same repetition); failure counts have no ratio.`,
    ...result.tables.map(tableMarkdown),
    `### Targets (BENCH.md)\n\n${targetsMarkdown(result)}`,
  ];
  if (result.skipped.length > 0) parts.push(['### Not run', '', ...result.skipped.map((s) => `- ${s}`)].join('\n'));
  return parts.join('\n\n');
}
