import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import type { Machine } from './result-table.js';

function git(args: readonly string[]): string {
  try {
    return execFileSync('git', ['--no-optional-locks', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/** A short hash of every file under src/: tells runs apart while src/ has uncommitted changes. */
function srcHash(): string {
  const root = fileURLToPath(new URL('../src/', import.meta.url));
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) hash.update(path.slice(root.length)).update(readFileSync(path));
    }
  };
  walk(root);
  return hash.digest('hex').slice(0, 12);
}

/** What the run ran on (read-only look-ups: os, git HEAD, whether src/ has uncommitted changes). */
export function describeMachine(redisVersion: string): Omit<Machine, 'loadAverageEnd'> {
  const list = cpus();
  const commit = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  const dirty = git(['status', '--porcelain', '--', 'src']) !== '';
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.version,
    redis: redisVersion,
    loadAverageStart: loadavg(),
    redfenceCommit: `${commit}${dirty ? ' with uncommitted changes in src/' : ''} (src/ content ${srcHash()})`,
  };
}
