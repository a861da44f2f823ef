import type { ImplId } from './adapters/adapter.js';

/** The JSON shape of one run (bench/results/<timestamp>.json) and the tables inside it. */

export type ScenarioId = 'S0' | 'S1' | 'S2' | 'S3' | 'S4' | 'S5';

export interface MetricSpec {
  readonly key: string;
  /** Column header, with its unit. */
  readonly label: string;
  readonly digits: number;
  /** Which way is better, for readers and the chart. */
  readonly better: 'lower' | 'higher';
  /** false for counts where the floor is mostly 0 (failures): no ratio shown. @defaultValue true */
  readonly ratio?: boolean;
}

export interface Row {
  readonly impl: ImplId;
  readonly label: string;
  /** metric key → one value per repetition (index = repetition; NaN when it did not run). */
  readonly values: Record<string, number[]>;
  /** Per repetition: anything else worth keeping (error reasons, per-command calls, …). */
  readonly detail: Record<string, unknown>[];
}

export interface Table {
  readonly scenario: ScenarioId;
  /** e.g. `N=5`, `defaults`. */
  readonly group: string;
  readonly title: string;
  readonly metrics: readonly MetricSpec[];
  readonly rows: Row[];
  readonly notes: string[];
}

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly redis: string;
  readonly loadAverageStart: readonly number[];
  readonly loadAverageEnd: readonly number[];
  readonly redfenceCommit: string;
}

export interface BenchResult {
  readonly format: 'redfence-bench/1';
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationSeconds: number;
  readonly machine: Machine;
  readonly options: {
    readonly reps: number;
    readonly quick: boolean;
    readonly scenarios: readonly ScenarioId[];
    readonly nodes: number;
    /** `build`: tsc output of src/ at the start of the run; `src`: src/ through tsx. */
    readonly redfenceFrom: 'build' | 'src';
    /** .lua files newer than the generated scripts the run used (empty when up to date). */
    readonly staleLuaScripts: readonly string[];
  };
  /** Implementation label → tuning → the settings it resolved to. */
  readonly settings: Record<string, { readonly defaults: string; readonly tuned: string }>;
  readonly tables: Table[];
  readonly skipped: string[];
}

export function newTable(scenario: ScenarioId, group: string, title: string, metrics: readonly MetricSpec[]): Table {
  return { scenario, group, title, metrics, rows: [], notes: [] };
}

/** Stores one repetition's figures of one implementation in `table`. */
export function record(
  table: Table,
  impl: { readonly id: ImplId; readonly label: string },
  rep: number,
  values: Record<string, number>,
  detail: Record<string, unknown> = {},
): void {
  let row = table.rows.find((r) => r.impl === impl.id);
  if (row === undefined) {
    row = { impl: impl.id, label: impl.label, values: {}, detail: [] };
    table.rows.push(row);
  }
  for (const [key, value] of Object.entries(values)) {
    const series = (row.values[key] ??= []);
    while (series.length < rep) series.push(Number.NaN);
    series[rep] = value;
  }
  while (row.detail.length < rep) row.detail.push({});
  row.detail[rep] = detail;
}

/** Per repetition: `row`'s value ÷ the raw floor's value in the same table and repetition. */
export function ratios(table: Table, row: Row, key: string): number[] {
  const raw = table.rows.find((r) => r.impl === 'raw')?.values[key] ?? [];
  return (row.values[key] ?? []).map((v, rep) => {
    const base = raw[rep];
    return base === undefined || !Number.isFinite(base) || base === 0 ? Number.NaN : v / base;
  });
}
