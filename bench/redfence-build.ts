import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as RedfenceModule from '../src/index.js';

/**
 * Which redfence the bench measures. Users run tsc's output (dist/), and the competitors are
 * compiled JavaScript too, while tsx's on-the-fly transform of src/ adds its own helpers (e.g.
 * esbuild's `__name` on every closure: 3–7 % more client CPU per pair). So by default the bench
 * compiles the current src/ with the project's tsconfig into node_modules/.cache/ (not dist/,
 * which stays the developer's) and loads that; `--redfence-from src` measures src/ through tsx.
 */
export type RedfenceSource = 'build' | 'src';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const OUT = join(ROOT, 'node_modules', '.cache', 'redfence-bench', 'dist');
/** Tells a child process (S5 holder) which redfence to load: the compiled index.js, or unset = src. */
export const REDFENCE_MODULE_ENV = 'REDFENCE_BENCH_MODULE';

/** Compiles src/ into the cache folder (a minute at most) and returns its index.js path. */
export function buildRedfence(): string {
  rmSync(OUT, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json'), '--outDir', OUT,
      '--declaration', 'false', '--declarationMap', 'false', '--sourceMap', 'false', '--incremental', 'false'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 },
  );
  const index = join(OUT, 'index.js');
  if (!existsSync(index)) throw new Error(`tsc wrote no ${index}`);
  return index;
}

/** Loads redfence from a compiled index.js, or from src/ (through tsx) when `path` is undefined. */
export async function loadRedfence(path: string | undefined): Promise<typeof RedfenceModule> {
  if (path === undefined) return import('../src/index.js');
  return (await import(pathToFileURL(path).href)) as typeof RedfenceModule;
}

/** .lua files changed after src/generated/lua-scripts.ts was written (`npm run lua` regenerates it). */
export function staleLuaScripts(): string[] {
  const generated = join(ROOT, 'src', 'generated', 'lua-scripts.ts');
  if (!existsSync(generated)) return ['src/generated/lua-scripts.ts is missing (run npm run lua)'];
  const writtenAt = statSync(generated).mtimeMs;
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.lua') && statSync(path).mtimeMs > writtenAt) stale.push(path.slice(ROOT.length));
    }
  };
  walk(join(ROOT, 'src'));
  return stale;
}
