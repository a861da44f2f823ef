/**
 * Turns a bench result into docs/benchmarks.md and docs/benchmarks-chart.svg.
 *   node --import tsx bench/make-docs.ts [bench/results/<timestamp>.json]   (default: the newest)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDocs } from './docs-writer.js';
import type { BenchResult } from './result-table.js';

const dir = fileURLToPath(new URL('./results/', import.meta.url));
const path =
  process.argv[2] ??
  (() => {
    const newest = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .at(-1);
    if (newest === undefined) throw new Error(`no results in ${dir}; run npm run bench first`);
    return join(dir, newest);
  })();
const result = JSON.parse(readFileSync(path, 'utf8')) as BenchResult;
if (result.format !== 'redfence-bench/1') throw new Error(`${path} is not a redfence bench result`);
for (const file of writeDocs(result, path)) console.log(`written ${file}`);
