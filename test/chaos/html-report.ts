/**
 * The run's HTML report: a summary table, then per scenario a timeline of grants a person can read
 * (in the spirit of Jepsen's timeline and Porcupine's visualizer, drawn from scratch): one lane per
 * client per key, a bar per claim coloured per client, fault windows shaded, violations in red,
 * stale ops that the store rejected as small black ticks. Self-contained HTML + inline SVG.
 */
import { VIOLATION_CLASSES } from './checkers/check-history.js';
import type { GrantClaim } from './grant-claims.js';
import type { ScenarioResult } from './run-scenario.js';

const LANE = 12;
const GAP = 3;
const LEFT = 130;
const WIDTH = 1500;
const TOP = 34;

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderHtmlReport(results: readonly ScenarioResult[], meta: { readonly seed: number; readonly title: string }): string {
  const rows = results.map((r) => {
    const found = VIOLATION_CLASSES.filter((c) => r.counts[c] > 0).map((c) => `${c}:${r.counts[c]}`).join(' ') || '–';
    const verdict = r.skipped ? 'SKIP' : r.pass ? 'pass' : 'FAIL';
    return `<tr class="${r.pass ? 'ok' : 'bad'}"><td><a href="#${esc(r.scenario.id)}">${esc(r.scenario.id)}</a></td><td>${esc(r.scenario.title)}</td><td>${r.seed}</td><td>${r.grants}</td>` +
      `<td>${r.faults.effective}/${r.faults.total}</td><td>${esc(found)}</td><td>${esc(r.scenario.expected.join(', ') || '–')}</td>` +
      `<td><b>${verdict}</b></td><td>${r.seconds.toFixed(0)}</td></tr>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(meta.title)}</title><style>
body{font:13px/1.4 system-ui,sans-serif;margin:20px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
tr.bad td{background:#fde8e8}tr.ok td{background:#eef8ee}
h2{margin-top:36px;border-top:2px solid #444;padding-top:8px}
.prob{color:#b00}.muted{color:#777}svg{border:1px solid #ddd;background:#fff}
.legend span{display:inline-block;margin-right:14px}
</style></head><body>
<h1>${esc(meta.title)}</h1>
<p>seed ${meta.seed}. Times are CLOCK_MONOTONIC, shared by every process, shown in seconds from the scenario start.
A bar is a claim: from the moment <code>acquire</code> returned to the earliest of validity end, release, observed loss or process death.</p>
<p class="legend"><span>▮ claim (colour = client)</span><span style="color:#c60">▮ fault window</span><span style="color:#d00">▮ violation</span><span>▾ stale op rejected by the store</span></p>
<table><tr><th>scenario</th><th>title</th><th>seed</th><th>grants</th><th>faults effective</th><th>violations found</th><th>expected</th><th>result</th><th>s</th></tr>
${rows.join('\n')}</table>
${results.map(section).join('\n')}
</body></html>
`;
}

function section(r: ScenarioResult): string {
  const problems = r.problems.length ? `<ul>${r.problems.map((p) => `<li class="prob">${esc(p)}</li>`).join('')}</ul>` : '<p>All checks passed.</p>';
  const metrics = Object.entries(r.metrics).map(([k, v]) => `${esc(k)}=${esc(String(v))}`).join(', ');
  const findings = r.findings.slice(0, 40).map((f) => `<li><b>${f.cls}</b> ${esc(f.message)}</li>`).join('');
  return `<h2 id="${esc(r.scenario.id)}">${esc(r.scenario.id)} — ${esc(r.scenario.title)} <small>${r.skipped ? 'SKIP' : r.pass ? 'pass' : 'FAIL'}</small></h2>
<p><b>Expected:</b> ${esc(r.scenario.expectation)}<br><span class="muted">artifacts: ${esc(r.dir)}${metrics ? `<br>metrics: ${metrics}` : ''}</span></p>
${problems}
${r.check ? timeline(r) : ''}
${findings ? `<details><summary>${r.findings.length} finding(s)</summary><ul>${findings}</ul></details>` : ''}`;
}

function timeline(r: ScenarioResult): string {
  const claims = r.check?.claims ?? [];
  if (claims.length === 0) return '<p class="muted">no grants</p>';
  const lanes = laneOrder(claims);
  const laneIndex = new Map(lanes.map((l, i) => [l, i]));
  const clients = [...new Set(claims.map((c) => c.client))].sort();
  const colour = new Map(clients.map((c, i) => [c, clientColour(i)]));
  let tMin = claims[0]?.okTime ?? r.t0;
  let tMax = tMin;
  for (const c of claims) {
    if (c.okTime < tMin) tMin = c.okTime;
    if (c.end > tMax) tMax = c.end;
  }
  for (const w of r.windows) {
    if (w.start < tMin) tMin = w.start;
    if ((w.end ?? w.start) > tMax) tMax = w.end ?? w.start;
  }
  const span = Number(tMax - tMin) || 1;
  const x = (t: bigint): number => LEFT + ((WIDTH - LEFT - 10) * Number(t - tMin)) / span;
  const laneY = (i: number): number => TOP + i * (LANE + GAP);
  const height = laneY(lanes.length) + 20;
  const parts: string[] = [];

  // Time axis: a tick per second (or per 5 s for long runs).
  const seconds = span / 1e9;
  const step = seconds > 60 ? 10 : seconds > 25 ? 5 : 1;
  const base = Number(r.t0 - tMin) / 1e9;
  for (let s = Math.ceil(-base / step) * step; s <= seconds - base; s += step) {
    const xs = x(tMin + BigInt(Math.round((s + base) * 1e9)));
    parts.push(`<line x1="${xs}" y1="${TOP - 6}" x2="${xs}" y2="${height - 14}" stroke="#eee"/><text x="${xs}" y="${height - 3}" font-size="10" text-anchor="middle">${s}s</text>`);
  }
  // Fault windows.
  for (const w of r.windows) {
    const x0 = x(w.start);
    const label = `${w.nemesis}: ${w.value}${w.effective === false ? ' (NOT effective)' : ''}`;
    if (w.end === undefined) {
      parts.push(`<line x1="${x0}" y1="${TOP - 10}" x2="${x0}" y2="${height - 14}" stroke="#c60" stroke-width="2"><title>${esc(label)}</title></line>`);
    } else {
      parts.push(`<rect x="${x0}" y="${TOP - 10}" width="${Math.max(1, x(w.end) - x0)}" height="${height - TOP - 4}" fill="#f5a623" fill-opacity="0.16"><title>${esc(label)}</title></rect>`);
    }
    parts.push(`<text x="${x0 + 2}" y="${TOP - 14}" font-size="9" fill="#a50">${esc(w.nemesis)}</text>`);
  }
  // Lane labels and claims.
  for (const [i, lane] of lanes.entries()) {
    parts.push(`<text x="4" y="${laneY(i) + LANE - 2}" font-size="10">${esc(lane.replace('|', ' · '))}</text>`);
  }
  const badGrants = new Set(r.findings.flatMap((f) => (f.cls === 'TOK' ? f.grantIds.slice(1) : [])));
  for (const c of claims) {
    const i = laneIndex.get(`${c.key}|${c.client}`) ?? 0;
    const x0 = x(c.okTime);
    const w = Math.max(1, x(c.end) - x0);
    const stroke = badGrants.has(c.grantId) ? ' stroke="#d00" stroke-width="2"' : '';
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${laneY(i)}" width="${w.toFixed(1)}" height="${LANE}" fill="${colour.get(c.client)}"${stroke}>` +
        `<title>${esc(`${c.grantId} token ${c.token} · ${fmtS(c.okTime, r.t0)}–${fmtS(c.end, r.t0)} s · ends by ${c.endReason}`)}</title></rect>`,
    );
  }
  // Stale ops the store saw (rejected: fencing at work; accepted: a FENCE violation, drawn below).
  const byGrant = new Map(claims.map((c) => [c.grantId, c]));
  for (const e of r.staleOps.slice(0, 2_000)) {
    const g = byGrant.get(e.grantId);
    const i = g ? (laneIndex.get(`${g.key}|${g.client}`) ?? 0) : 0;
    const xs = x(e.t);
    parts.push(`<path d="M${xs - 4},${laneY(i) - 2} L${xs + 4},${laneY(i) - 2} L${xs},${laneY(i) + 5} Z" fill="${e.accepted ? '#d00' : '#000'}"><title>${esc(`stale ${e.op} ${e.opId} token ${e.token} < ${e.maxBefore}: ${e.accepted ? 'ACCEPTED' : 'rejected'}`)}</title></path>`);
  }
  // Violations.
  for (const f of r.findings.slice(0, 500)) {
    const grants = f.grantIds.map((id) => byGrant.get(id)).filter((g): g is GrantClaim => g !== undefined);
    const ys = grants.map((g) => laneY(laneIndex.get(`${g.key}|${g.client}`) ?? 0));
    const y0 = ys.length ? Math.min(...ys) - 2 : TOP;
    const y1 = ys.length ? Math.max(...ys) + LANE + 2 : TOP + LANE;
    const x0 = x(f.from);
    const w = Math.max(3, x(f.to) - x0);
    parts.push(`<rect x="${x0.toFixed(1)}" y="${y0}" width="${w.toFixed(1)}" height="${y1 - y0}" fill="#e00" fill-opacity="0.35" stroke="#d00"><title>${esc(`${f.cls}: ${f.message}`)}</title></rect>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">${parts.join('')}</svg>`;
}

/** Lanes `key|client`: keys in first-grant order, clients sorted within a key. */
function laneOrder(claims: readonly GrantClaim[]): string[] {
  const keys: string[] = [];
  const byKey = new Map<string, Set<string>>();
  for (const c of claims) {
    if (!byKey.has(c.key)) {
      keys.push(c.key);
      byKey.set(c.key, new Set());
    }
    byKey.get(c.key)?.add(c.client);
  }
  keys.sort();
  return keys.flatMap((k) => [...(byKey.get(k) ?? [])].sort().map((client) => `${k}|${client}`));
}

const fmtS = (t: bigint, t0: bigint): string => (Number(t - t0) / 1e9).toFixed(3);

/** Distinct colours that stay clear of the red used for violations. */
function clientColour(i: number): string {
  const hue = 30 + ((i * 137.5) % 300);
  return `hsl(${hue.toFixed(0)},55%,${42 + (i % 3) * 9}%)`;
}
