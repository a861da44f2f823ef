import type { ImplId } from './adapters/adapter.js';
import type { BenchResult, Table } from './result-table.js';
import { ratios } from './result-table.js';
import { median } from './stats.js';

/** BENCH.md's release targets (N = 5), checked against redfence's medians in one run. */
interface Target {
  readonly metric: string;
  readonly target: string;
  readonly scenario: string;
  readonly group: string;
  readonly key: string;
  /** Compare the ratio to the raw floor instead of the value. */
  readonly ratio: boolean;
  readonly ok: (v: number) => boolean;
  readonly digits: number;
  readonly higherIsBetter: boolean;
  /** Whose row is judged. @defaultValue 'redfence' */
  readonly impl?: ImplId;
}

const TARGETS: readonly Target[] = [
  { metric: 'S1 fenced acquire+release p50 ÷ raw floor', target: '≤ 1.10', scenario: 'S1', group: 'N=5', key: 'p50', ratio: true, ok: (v) => v <= 1.1, digits: 2, higherIsBetter: false },
  { metric: 'S2 pairs/s ÷ raw floor', target: '≥ 2.0', scenario: 'S2', group: 'N=5', key: 'pairsPerSecond', ratio: true, ok: (v) => v >= 2, digits: 2, higherIsBetter: true },
  { metric: 'S3 defaults acq/s', target: '≥ 400', scenario: 'S3', group: 'defaults', key: 'acqPerSecond', ratio: false, ok: (v) => v >= 400, digits: 0, higherIsBetter: true },
  { metric: 'S3 defaults Jain fairness', target: '≥ 0.99', scenario: 'S3', group: 'defaults', key: 'jain', ratio: false, ok: (v) => v >= 0.99, digits: 2, higherIsBetter: true },
  { metric: 'S3 defaults wait max ms', target: '≤ 50', scenario: 'S3', group: 'defaults', key: 'waitMax', ratio: false, ok: (v) => v <= 50, digits: 0, higherIsBetter: false },
  { metric: 'S3 defaults failures', target: '0', scenario: 'S3', group: 'defaults', key: 'failures', ratio: false, ok: (v) => v === 0, digits: 0, higherIsBetter: false },
  { metric: 'S3 defaults requests per acquisition (commands sent; a script counts once)', target: '≤ 15', scenario: 'S3', group: 'defaults', key: 'requestsPerAcq', ratio: false, ok: (v) => v <= 15, digits: 1, higherIsBetter: false },
  { metric: 'S3 defaults Redis calls per acquisition (calls inside scripts included)', target: '≤ 15', scenario: 'S3', group: 'defaults', key: 'callsPerAcq', ratio: false, ok: (v) => v <= 15, digits: 1, higherIsBetter: false },
  { metric: 'S5 next holder after SIGKILL, s (keepAlive 1 s)', target: '≤ 2', scenario: 'S5', group: 'N=5', key: 'takeoverS', ratio: false, ok: (v) => v <= 2, digits: 2, higherIsBetter: false, impl: 'redfence-keepalive' },
  { metric: 'S5 election: next leader after SIGKILL, s (ttl 3 s, renewInterval 0.5 s)', target: '≤ ttl + renewInterval = 3.5', scenario: 'S5', group: 'election', key: 'failoverS', ratio: false, ok: (v) => v <= 3.5, digits: 2, higherIsBetter: false },
  { metric: 'S5 election: next leader after SIGKILL, s (ttl 30 s, keepAlive 1 s)', target: '≤ 2', scenario: 'S5', group: 'election', key: 'failoverS', ratio: false, ok: (v) => v <= 2, digits: 2, higherIsBetter: false, impl: 'redfence-keepalive' },
  { metric: 'S5 election: resign hand-over (stop() → next leader), ms', target: '≤ 50', scenario: 'S5', group: 'election-resign', key: 'handoverMs', ratio: false, ok: (v) => v <= 50, digits: 1, higherIsBetter: false },
];

function find(result: BenchResult, scenario: string, group: string): Table | undefined {
  return result.tables.find((t) => t.scenario === scenario && t.group === group);
}

/** Markdown table: each target, redfence's median (worst repetition in brackets), met or not. */
export function targetsMarkdown(result: BenchResult): string {
  const lines = ['| metric (N=5) | target | redfence, median (worst rep) | met |', '|---|---|---|---|'];
  for (const t of TARGETS) {
    const table = find(result, t.scenario, t.group);
    const row = table?.rows.find((r) => r.impl === (t.impl ?? 'redfence'));
    if (table === undefined || row === undefined) {
      lines.push(`| ${t.metric} | ${t.target} | not run | — |`);
      continue;
    }
    const values = (t.ratio ? ratios(table, row, t.key) : (row.values[t.key] ?? [])).filter((v) => Number.isFinite(v));
    if (values.length === 0) {
      lines.push(`| ${t.metric} | ${t.target} | no value | — |`);
      continue;
    }
    const m = median(values);
    const worst = t.higherIsBetter ? Math.min(...values) : Math.max(...values);
    const met = values.every(t.ok) ? 'yes' : t.ok(m) ? 'median only' : 'no';
    lines.push(`| ${t.metric} | ${t.target} | ${m.toFixed(t.digits)} (${worst.toFixed(t.digits)}) | ${met} |`);
  }
  lines.push(...s4Targets(find(result, 'S4', 'N=5')));
  return lines.join('\n');
}

/** S4's two targets: redfence's queue jobs/s ÷ BullMQ's, medians of the same run. */
function s4Targets(table: Table | undefined): string[] {
  const rows = [
    { impl: 'redfence' as const, metric: 'S4 queue jobs/s ÷ BullMQ, single-node lock', target: '≥ 1.0', at: 1 },
    { impl: 'redfence-quorum' as const, metric: 'S4 queue jobs/s ÷ BullMQ, quorum locks on 5 nodes', target: '≥ 0.5', at: 0.5 },
  ];
  const bull = table?.rows.find((r) => r.impl === 'bullmq')?.values['jobsPerSecond']?.filter((v) => Number.isFinite(v)) ?? [];
  return rows.map(({ impl, metric, target, at }) => {
    const own = table?.rows.find((r) => r.impl === impl)?.values['jobsPerSecond']?.filter((v) => Number.isFinite(v)) ?? [];
    if (table === undefined || own.length === 0) return `| ${metric} | ${target} | not run | — |`;
    if (bull.length === 0) return `| ${metric} | ${target} | ${median(own).toFixed(0)} jobs/s; BullMQ not installed | — |`;
    const ratio = median(own) / median(bull);
    return `| ${metric} | ${target} | ${ratio.toFixed(2)} | ${ratio >= at ? 'yes' : 'no'} |`;
  });
}
