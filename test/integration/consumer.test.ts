/**
 * The package as a user gets it. The working tree is copied without dist/ or src/generated/ (as a
 * clean clone is) and packed there with `npm pack`, so the package must build itself
 * (prepack/prepare); the tarball is installed into temporary apps together with ioredis from the
 * registry; a strict NodeNext TypeScript sample is type-checked against the shipped declarations
 * and run as ESM and as CommonJS (`require('redfence')`) against real redis-servers.
 *
 * Two apps, one per ioredis major: redfence uses the app's ioredis (a peer dependency), and each
 * app also holds the other major under an npm alias, whose clients must type-check and work too.
 * Nothing here touches the repository's own dist/.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type LocalCluster, startLocalCluster } from '../../src/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The repository's own TypeScript and @types (not installed again into the apps). */
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const TYPE_ROOTS = join(ROOT, 'node_modules', '@types');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline'];
const MINUTE = 60_000;

/**
 * The environment of every command: without what `npm test` tells its scripts about this
 * repository (`npm_config_local_prefix` would make a nested npm work on the repository), nor the
 * test runner's own variables.
 */
const ENV = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) =>
      !/^npm_(package_|lifecycle_|command$|config_local_prefix$)/i.test(key) &&
      !['INIT_CWD', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT'].includes(key),
  ),
);

const running = new Set<ChildProcess>();

/** Kills a command's whole process group (npm's scripts, tsc, a sample and what it started). */
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

const tail = (text: string): string => (text.length > 4_000 ? `…${text.slice(-4_000)}` : text);

interface Ran {
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/**
 * Runs a command in its own process group, bounded by `timeoutMs`; on timeout, failure or exit
 * the group is killed, so nothing it started outlives it. Rejects with its output on failure.
 */
function run(command: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<Ran> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: ENV, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMs);
    child.once('exit', () => killGroup(child));
    child.once('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const ms = Math.round(performance.now() - start);
      if (code === 0 && !timedOut) {
        resolve({ stdout, stderr, ms });
        return;
      }
      const why = timedOut ? `timed out after ${timeoutMs} ms` : `failed (${signal ?? `exit code ${code}`})`;
      reject(new Error(`\`${command} ${args.join(' ')}\` in ${cwd} ${why}\n--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`));
    });
  });
}

let root: string | undefined;
let cluster: LocalCluster | undefined;
let tarball: string | undefined;

/** Ends every command still running (also when the process exits without the after hook). */
const killAll = (): void => {
  for (const child of running) killGroup(child);
};
process.once('exit', killAll);

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'redfence-consumer-'));
  cluster = await startLocalCluster({ nodes: 3 });
});

after(async () => {
  killAll();
  await cluster?.stop();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

const temp = (): string => {
  if (root === undefined) throw new Error('no temp folder');
  return root;
};

/** The files a clean clone of the working tree would have (tracked and new, not ignored ones). */
function copyCleanClone(to: string): void {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  for (const file of listed.split('\0')) {
    if (file === '' || !existsSync(join(ROOT, file))) continue; // deleted in the working tree
    mkdirSync(dirname(join(to, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(to, file));
  }
  // The build's tools (tsc) come from the repository's node_modules, as `npm ci` would install them.
  symlinkSync(join(ROOT, 'node_modules'), join(to, 'node_modules'), 'dir');
}

test('npm pack from a clean clone builds a complete package: dist, types, LICENSE, no source maps', { timeout: 6 * MINUTE }, async (t) => {
  const clone = join(temp(), 'clone');
  copyCleanClone(clone);
  assert.equal(existsSync(join(clone, 'dist')), false, 'the copy has no dist/');
  assert.equal(existsSync(join(clone, 'src', 'generated')), false, 'the copy has no generated Lua constants');

  const packed = await run(NPM, ['pack', '--json', '--pack-destination', temp()], clone, 5 * MINUTE);
  t.diagnostic(`npm pack (clean build included): ${packed.ms} ms`);
  const [report] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  assert.ok(report !== undefined, packed.stdout);
  const files = new Set(report.files.map((f) => f.path));
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js']) {
    assert.ok(files.has(needed), `the package lacks ${needed}`);
  }
  const unexpected = [...files].filter((f) => !/^dist\/.+\.(js|d\.ts)$/.test(f) && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(f));
  assert.deepEqual(unexpected, [], 'only dist/*.js, dist/*.d.ts and the top-level files are shipped (no maps, no src)');

  // Every README link must work where the README is read from the package (npm's page, node_modules).
  const readme = readFileSync(join(clone, 'README.md'), 'utf8');
  const relative = [...readme.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] as string)
    .filter((href) => !/^(https?:|mailto:|#)/.test(href) && !files.has(href.replace(/#.*/, '')));
  assert.deepEqual(relative, [], 'README links to files that are not in the package');

  const pkg = JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')) as Record<string, Record<string, unknown> | undefined>;
  assert.equal(pkg.dependencies?.ioredis, undefined, 'ioredis is a peer dependency, not a dependency');
  assert.match(String(pkg.peerDependencies?.ioredis), /\^5.*\^6/);
  for (const field of ['repository', 'homepage', 'bugs']) assert.ok(pkg[field] !== undefined, `package.json lacks ${field}`);
  assert.equal(pkg.sideEffects, false);
  // Every entry of the exports map (`.`, `./nestjs`) is in the package; the NestJS entry is separate,
  // so the main entry loads without @nestjs/common (the sample apps below do not install it).
  const targets = Object.values(pkg.exports ?? {}).flatMap((entry) => (typeof entry === 'string' ? [entry] : Object.values(entry as Record<string, string>)));
  assert.ok(targets.includes('./dist/nestjs.js'), 'the exports map has redfence/nestjs');
  for (const target of targets) assert.ok(files.has(target.replace(/^\.\//, '')), `the exports map points at ${target}, which is not in the package`);
  assert.equal(pkg.peerDependenciesMeta?.['@nestjs/common'] !== undefined, true, '@nestjs/common is an optional peer');

  tarball = join(temp(), report.filename);
  assert.ok(existsSync(tarball));
});

/** Uses redfence as an application would; the same text is compiled as ESM (.mts) and CommonJS (.cts). */
const SAMPLE = `import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Redis as OtherRedis } from 'ioredis-other';
import { InvalidOptionsError, type Lock, LockHeldError, RedfenceError, RedisFence, Redlock, StaleTokenError } from 'redfence';

async function main(): Promise<void> {
  const [name = 'sample', ...urls] = process.argv.slice(2);
  const clients = urls.map((url) => new Redis(url)); // the app's ioredis, which redfence uses too
  const otherClients = urls.map((url) => new OtherRedis(url)); // the other major, from an npm alias
  // A generous nodeTimeout: the machine running the tests may be busy.
  const redlock = new Redlock(clients, { nodeTimeout: 1_000 });
  const otherRedlock = new Redlock(otherClients, { nodeTimeout: 1_000 });
  const fence = new RedisFence(clients[0]!);
  const otherFence = new RedisFence(otherClients[0]!);
  const account = \`\${name}:account\`;
  try {
    let first: bigint;
    {
      // The lock thread starts from the installed package's files (its worker), also under require().
      await using lock = await redlock.acquire([account], 5_000, { useDedicatedLockThread: true, refreshInterval: 1_000 });
      first = lock.fencingToken;
      await fence.set(account, '10', lock.fencingToken);
      await assert.rejects(otherRedlock.acquire(account, 5_000, { retryCount: 0 }), LockHeldError);
    } // released here
    const second: Lock = await otherRedlock.acquire(account, 5_000);
    assert.ok(second.fencingToken > first, \`\${second.fencingToken} > \${first}\`);
    await otherFence.set(account, '20', second.fencingToken);
    await assert.rejects(fence.set(account, '30', first), (error: unknown) => error instanceof StaleTokenError && error instanceof RedfenceError);
    await second.release();
    assert.throws(() => new Redlock([]), InvalidOptionsError);
    // One copy of redfence whichever way it is loaded: its classes are the same objects.
    assert.equal((await import('redfence')).Redlock, Redlock);
    console.log(JSON.stringify({
      module: typeof require === 'function' ? 'commonjs' : 'esm',
      first: String(first),
      second: String(second.fencingToken),
      value: await clients[0]!.get(account),
    }));
  } finally {
    await redlock.quit();
    await otherRedlock.quit();
    for (const client of [...clients, ...otherClients]) client.disconnect();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    // What the README says Node 20 needs for \`await using\`: lowered by TypeScript, disposable types.
    target: 'ES2022',
    lib: ['ES2022', 'ESNext.Disposable'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    types: ['node'],
    typeRoots: [TYPE_ROOTS],
    rootDir: 'src',
    outDir: 'out',
  },
  include: ['src'],
};

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(js|d\.ts)$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

async function consumerApp(t: { diagnostic(message: string): void }, major: 5 | 6, otherMajor: 5 | 6): Promise<void> {
  assert.ok(tarball !== undefined, 'the pack test made no tarball');
  const app = join(temp(), `app-ioredis${major}`);
  mkdirSync(join(app, 'src'), { recursive: true });
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: `consumer-ioredis${major}`, private: true }, null, 2)}\n`);

  const installed = await run(NPM, ['install', ...NPM_FLAGS, tarball, `ioredis@${major}`, `ioredis-other@npm:ioredis@${otherMajor}`], app, 4 * MINUTE);
  t.diagnostic(`npm install: ${installed.ms} ms`);
  const version = (pkg: string): string => (JSON.parse(readFileSync(join(app, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(version('ioredis').split('.')[0], String(major));
  assert.equal(version('ioredis-other').split('.')[0], String(otherMajor));
  assert.equal(existsSync(join(app, 'node_modules', 'redfence', 'node_modules', 'ioredis')), false, 'redfence uses the app\'s ioredis');
  assert.ok(existsSync(join(app, 'node_modules', '.bin', 'redfence')), 'the redfence command is linked');
  const mapped = jsFiles(join(app, 'node_modules', 'redfence', 'dist')).filter((file) => readFileSync(file, 'utf8').includes('sourceMappingURL'));
  assert.deepEqual(mapped, [], 'no source map comments pointing at files that are not shipped');

  writeFileSync(join(app, 'src', 'esm.mts'), SAMPLE);
  writeFileSync(join(app, 'src', 'cjs.cts'), SAMPLE);
  writeFileSync(join(app, 'tsconfig.json'), `${JSON.stringify(TSCONFIG, null, 2)}\n`);
  const compiled = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], app, 3 * MINUTE);
  t.diagnostic(`tsc (strict, NodeNext): ${compiled.ms} ms`);
  assert.match(readFileSync(join(app, 'out', 'cjs.cjs'), 'utf8'), /require\("redfence"\)/);
  assert.match(readFileSync(join(app, 'out', 'esm.mjs'), 'utf8'), /from 'redfence'/);

  const urls = cluster?.urls ?? [];
  for (const [file, module] of [['esm.mjs', 'esm'], ['cjs.cjs', 'commonjs']] as const) {
    const ran = await run(process.execPath, [join('out', file), `ioredis${major}-${module}`, ...urls], app, MINUTE);
    t.diagnostic(`${module} sample: ${ran.ms} ms to exit`);
    const result = JSON.parse(ran.stdout.trim().split('\n').at(-1) ?? '') as Record<string, string>;
    assert.equal(result.module, module, ran.stdout);
    assert.ok(BigInt(result.second ?? 0) > BigInt(result.first ?? 0), ran.stdout);
    assert.equal(result.value, '20', 'the stale write was refused');
  }
}

test('an app with the newest ioredis 6 (and a 5.x client beside it) type-checks and runs as ESM and CommonJS', { timeout: 8 * MINUTE }, (t) =>
  consumerApp(t, 6, 5),
);

test('an app with ioredis 5 (and a 6.x client beside it) type-checks and runs as ESM and CommonJS', { timeout: 8 * MINUTE }, (t) =>
  consumerApp(t, 5, 6),
);
