import { implementations } from './adapters/implementations.js';
import type { ImplId } from './adapters/adapter.js';
import { type BenchResult, ratios, type Table } from './result-table.js';
import { median } from './stats.js';

/** docs/benchmarks-chart.svg: bar charts of the headline figures, self-contained SVG, no deps. */

const COLORS: Record<ImplId, string> = {
  raw: '#8c8c8c',
  redfence: '#c0392b',
  'redfence-base': '#d98880',
  'redfence-keepalive': '#e67e22',
  'redfence-quorum': '#a04000',
  bullmq: '#16a085',
  'node-redlock': '#2e6da4',
  sesamecare: '#3a9d5d',
  'redis-semaphore': '#8e5ea2',
};
const WIDTH = 960;
const LABEL_W = 200;
const PLOT_W = WIDTH - LABEL_W - 90;
const BAR_H = 16;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

interface Bar {
  readonly name: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly opacity: number;
}
interface Group {
  readonly label: string;
  readonly color: string;
  readonly bars: readonly Bar[];
}
interface Panel {
  readonly title: string;
  readonly subtitle: string;
  readonly groups: readonly Group[];
  readonly digits: number;
  readonly suffix: string;
  readonly reference?: { readonly value: number; readonly label: string };
  readonly target?: { readonly value: number; readonly label: string };
  readonly legend?: readonly { readonly name: string; readonly opacity: number }[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number, digits: number): string => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function bar(values: readonly number[], name: string, opacity: number): Bar | undefined {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return undefined;
  return { name, median: median(finite), min: Math.min(...finite), max: Math.max(...finite), opacity };
}

function renderPanel(panel: Panel, top: number): { svg: string; height: number } {
  const rowsH = panel.groups.reduce((h, g) => h + g.bars.length * (BAR_H + 3) + 10, 0);
  const plotTop = top + 62;
  const all = panel.groups.flatMap((g) => g.bars.map((b) => b.max));
  const scaleMax = niceMax(Math.max(...all, panel.target?.value ?? 0, panel.reference?.value ?? 0) * 1.05);
  const x = (v: number): number => LABEL_W + (Math.max(0, v) / scaleMax) * PLOT_W;
  const out: string[] = [];
  out.push(`<text x="16" y="${top + 18}" font-size="16" font-weight="600" ${FONT}>${esc(panel.title)}</text>`);
  out.push(`<text x="16" y="${top + 36}" font-size="12" fill="#555" ${FONT}>${esc(panel.subtitle)}</text>`);
  // grid and ticks
  for (let i = 0; i <= 5; i += 1) {
    const v = (scaleMax * i) / 5;
    const gx = x(v);
    out.push(`<line x1="${gx}" y1="${plotTop - 4}" x2="${gx}" y2="${plotTop + rowsH}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${gx}" y="${plotTop + rowsH + 14}" font-size="11" fill="#666" text-anchor="middle" ${FONT}>${fmt(v, scaleMax < 10 ? 1 : 0)}${esc(panel.suffix)}</text>`);
  }
  for (const [line, dash, color] of [
    [panel.reference, '', '#444'],
    [panel.target, '6 4', '#c0392b'],
  ] as const) {
    if (line === undefined) continue;
    const lx = x(line.value).toFixed(1);
    out.push(`<line x1="${lx}" y1="${plotTop - 8}" x2="${lx}" y2="${plotTop + rowsH - 6}" stroke="${color}" stroke-width="1.5"${dash === '' ? '' : ` stroke-dasharray="${dash}"`}/>`);
    // reference label to the left of its line, target label to the right: they never collide
    const anchor = line === panel.reference ? 'end' : 'start';
    const tx = (x(line.value) + (anchor === 'end' ? -4 : 4)).toFixed(1);
    out.push(`<text x="${tx}" y="${plotTop - 10}" font-size="11" fill="${color}" text-anchor="${anchor}" ${FONT}>${esc(line.label)}</text>`);
  }
  let y = plotTop;
  for (const group of panel.groups) {
    const groupH = group.bars.length * (BAR_H + 3);
    out.push(`<text x="${LABEL_W - 10}" y="${y + groupH / 2 + 4}" font-size="13" text-anchor="end" ${FONT}>${esc(group.label)}</text>`);
    for (const b of group.bars) {
      const w = Math.max(1, x(b.median) - LABEL_W);
      out.push(`<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${group.color}" fill-opacity="${b.opacity}"><title>${esc(`${group.label} ${b.name}: ${fmt(b.median, panel.digits)}${panel.suffix} (min ${fmt(b.min, panel.digits)}, max ${fmt(b.max, panel.digits)})`)}</title></rect>`);
      if (b.max > b.min) {
        const cy = y + BAR_H / 2;
        out.push(`<path d="M${x(b.min).toFixed(1)} ${cy}H${x(b.max).toFixed(1)}M${x(b.min).toFixed(1)} ${cy - 4}V${cy + 4}M${x(b.max).toFixed(1)} ${cy - 4}V${cy + 4}" stroke="#222" stroke-width="1.2" fill="none"/>`);
      }
      const label = `${fmt(b.median, panel.digits)}${panel.suffix}${group.bars.length > 1 ? ` ${b.name}` : ''}`;
      out.push(`<text x="${(Math.max(x(b.max), x(b.median)) + 6).toFixed(1)}" y="${y + BAR_H - 3}" font-size="12" stroke="#fff" stroke-width="3" paint-order="stroke" ${FONT}>${esc(label)}</text>`);
      y += BAR_H + 3;
    }
    y += 10;
  }
  if (panel.legend !== undefined) {
    let lx = WIDTH - 260;
    for (const item of panel.legend) {
      out.push(`<rect x="${lx}" y="${top + 8}" width="14" height="12" fill="#555" fill-opacity="${item.opacity}"/>`);
      out.push(`<text x="${lx + 19}" y="${top + 18}" font-size="12" ${FONT}>${esc(item.name)}</text>`);
      lx += 120;
    }
  }
  return { svg: out.join('\n'), height: rowsH + 96 };
}

function find(result: BenchResult, scenario: string, group: string): Table | undefined {
  return result.tables.find((t) => t.scenario === scenario && t.group === group);
}

function ratioPanel(table: Table | undefined, key: string, title: string, subtitle: string, target?: Panel['target']): Panel | undefined {
  if (table === undefined) return undefined;
  const groups: Group[] = [];
  for (const impl of implementations) {
    const row = table.rows.find((r) => r.impl === impl.id);
    const b = row === undefined ? undefined : bar(ratios(table, row, key), '', 1);
    if (b !== undefined) groups.push({ label: impl.label, color: COLORS[impl.id], bars: [b] });
  }
  return { title, subtitle, groups, digits: 2, suffix: '×', reference: { value: 1, label: 'raw floor' }, ...(target === undefined ? {} : { target }) };
}

export function chartSvg(result: BenchResult): string {
  const panels: Panel[] = [];
  const s1 = ratioPanel(
    find(result, 'S1', 'N=5'),
    'p50',
    'S1 uncontended acquire+release latency, N=5: p50 ÷ raw floor',
    'lower is better · bar = median over repetitions, whisker = min–max · raw floor = SET NX on 5 nodes, no fencing',
    { value: 1.1, label: 'target 1.10' },
  );
  if (s1 !== undefined) panels.push(s1);
  const s2 = ratioPanel(
    find(result, 'S2', 'N=5'),
    'pairsPerSecond',
    'S2 uncontended throughput, N=5: pairs/s ÷ raw floor',
    'higher is better · 64 concurrent loops on distinct keys',
    { value: 2, label: 'target 2.0' },
  );
  if (s2 !== undefined) panels.push(s2);
  const s3d = find(result, 'S3', 'defaults');
  const s3t = find(result, 'S3', 'tuned');
  if (s3d !== undefined || s3t !== undefined) {
    const groups: Group[] = [];
    for (const impl of implementations) {
      const bars = [
        bar(s3d?.rows.find((r) => r.impl === impl.id)?.values['acqPerSecond'] ?? [], 'defaults', 1),
        bar(s3t?.rows.find((r) => r.impl === impl.id)?.values['acqPerSecond'] ?? [], 'tuned', 0.45),
      ].filter((b): b is Bar => b !== undefined);
      if (bars.length > 0) groups.push({ label: impl.label, color: COLORS[impl.id], bars });
    }
    panels.push({
      title: 'S3 contention, N=5: acquisitions per second on one key',
      subtitle: 'higher is better · 8 clients with their own connections, 2 ms hold · tuned = retry every 10 ± 5 ms',
      groups,
      digits: 0,
      suffix: '',
      target: { value: 400, label: 'target 400 at defaults' },
      legend: [
        { name: 'library defaults', opacity: 1 },
        { name: 'tuned', opacity: 0.45 },
      ],
    });
  }
  let top = 10;
  const body: string[] = [];
  for (const panel of panels) {
    const rendered = renderPanel(panel, top);
    body.push(rendered.svg);
    top += rendered.height + 16;
  }
  const m = result.machine;
  const footer = `${result.startedAt.slice(0, 16).replace('T', ' ')} UTC · ${m.cpuModel}, ${m.cores} cores · Node ${m.node} · Redis ${m.redis} · ${result.options.reps} repetition${result.options.reps === 1 ? '' : 's'}${result.options.quick ? ' (--quick)' : ''}`;
  body.push(`<text x="16" y="${top + 6}" font-size="11" fill="#777" ${FONT}>${esc(footer)}</text>`);
  const height = top + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="redfence benchmark chart">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
