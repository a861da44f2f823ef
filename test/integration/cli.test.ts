import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createView, type WorkerView } from '../../src/cli/demo-view.js';
import { useCluster } from '../support/cluster.js';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', MAIN, ...args], { timeout: 60_000 });

/** What a failed CLI run looks like (execFile rejects on a non-zero exit). */
interface Failed {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
/** Runs a call that must fail; resolves with its exit code and output. */
const refused = (...args: string[]): Promise<Failed> =>
  cli(...args).then(
    ({ stdout }) => assert.fail(`\`redfence ${args.join(' ')}\` succeeded: ${stdout}`),
    (error: Failed) => error,
  );

/** Maps `items` through `fn`, `width` at a time: many CLI processes at once crowd a small machine. */
async function few<T, R>(items: readonly T[], fn: (item: T) => Promise<R>, width = 4): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += width) results.push(...(await Promise.all(items.slice(i, i + width).map(fn))));
  return results;
}

const env = useCluster(3);

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

test('--version prints package.json version', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const { stdout } = await cli('--version');
  assert.equal(stdout, `${version}\n`);
});

test('--help and -h print the usage and exit 0, for the CLI and for each command', async () => {
  const overview = await cli('--help');
  for (const command of ['demo', 'inspect', 'repair', 'init']) assert.match(overview.stdout, new RegExp(`^  ${command} `, 'm'));
  const calls = ['demo', 'inspect', 'repair', 'init'].flatMap((command) => [
    [command, '--help'],
    [command, '-h'],
  ]);
  // With other arguments too, even wrong ones: help wins.
  calls.push(['repair', '--bogus', '-h'], ['help', 'init']);
  const results = await few(calls, (args) => cli(...args));
  for (const [i, { stdout }] of results.entries()) {
    const command = calls[i]?.[0] === 'help' ? calls[i]?.[1] : calls[i]?.[0];
    assert.match(stdout, new RegExp(`^Usage: redfence ${command} `), calls[i]?.join(' '));
  }
  assert.match(results[0]?.stdout ?? '', /--duration s/);
  assert.match(results[4]?.stdout ?? '', /--node i /);
});

test('bad calls get a one-line reason, a pointer to --help and exit code 2', async () => {
  const cases: [args: string[], reason: RegExp][] = [
    [['repair', 'redis://127.0.0.1:6379'], /^redfence repair: `--node` is required/],
    [['repair', '--node', '3', 'redis://127.0.0.1:6379', 'redis://127.0.0.1:6380'], /^redfence repair: `--node` must be the index of one of the 2 URLs given, from 0 to 1, got `3`/],
    [['repair', '--node', 'one', 'redis://127.0.0.1:6379'], /^redfence repair: `--node` must be .* got `one`/],
    [['repair', '--node', '0'], /^redfence repair: the node URLs are required/],
    [['inspect'], /^redfence inspect: the node URLs are required/],
    [['init', '--prefix', 'app:'], /^redfence init: the node URLs are required/],
    [['inspect', 'localhost:6379'], /^redfence inspect: `localhost:6379` is not a node URL/],
    [['inspect', '--max-ttl', '5', 'redis://127.0.0.1:6379'], /^redfence inspect: unknown option `--max-ttl`/],
    [['demo', '--bogus'], /^redfence demo: unknown option `--bogus`/],
    [['demo', '--duration'], /^redfence demo: option `--duration` needs a value/],
    [['demo', '--nodes', '0'], /^redfence demo: `--nodes` must be a whole number from 1 to 9, got `0`/],
    [['demo', '--nodes', '10'], /^redfence demo: `--nodes` must be a whole number from 1 to 9, got `10`/],
    [['demo', '--workers', '1'], /^redfence demo: `--workers` must be a whole number from 2 to 16/],
    [['demo', '--duration', 'soon'], /^redfence demo: `--duration` must be a number of seconds/],
    [['frobnicate'], /^redfence: unknown command `frobnicate`/],
    [['--frobnicate'], /^redfence: unknown option `--frobnicate`/],
  ];
  const results = await few(cases, ([args]) => refused(...args));
  for (const [i, { code, stdout, stderr }] of results.entries()) {
    const [args, reason] = cases[i] as [string[], RegExp];
    const what = `redfence ${args.join(' ')} -> ${stderr}`;
    assert.equal(code, 2, what);
    const lines = stderr.trimEnd().split('\n');
    assert.equal(lines.length, 2, what);
    assert.match(lines[0] ?? '', reason, what);
    assert.match(lines[1] ?? '', /^Run `redfence( \w+)? --help` for usage\.$/, what);
    assert.doesNotMatch(stderr, /NaN|Expected `|\n\s+at /, what); // no API wording, no stack
    assert.equal(stdout, '', what);
  }
  // No command at all: the overview, on stderr.
  const bare = await refused();
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /^Usage: redfence <command>/);
});

test('the demo, piped: fencing at work in a compact log and a summary; no process left behind', async () => {
  const started = performance.now();
  const { stdout, stderr } = await cli('demo', '--duration', '3');
  const tookMs = performance.now() - started;
  const ports = [
    ...(/lock nodes: 5 redis-servers on ports ([\d, ]+) /.exec(stdout)?.[1] ?? '').split(', ').map(Number),
    Number(/store: one more on port (\d+)/.exec(stdout)?.[1]),
  ];
  assert.equal(ports.filter((p) => p > 0).length, 6, stdout);
  assert.equal(stderr, '');
  assert.ok(!stdout.includes('\u001b'), 'no terminal escapes when piped');

  // Live: a status line about once a second, and the events.
  assert.ok((stdout.match(/^ *\d+\.\d\ds {2}\d+ grants {2}last token/gm) ?? []).length >= 2, stdout);
  assert.match(stdout, /worker \d+ holds token \d+, reads balance \d+, then stalls/);
  assert.match(stdout, /worker \d+ takes the lock with token \d+/);
  assert.match(stdout, /-> REJECTED by the store: StaleTokenError, it has seen token \d+/);
  assert.match(stdout, /lock node 4 \(port \d+\) paused with SIGSTOP/);
  assert.match(stdout, /lock node 4 resumed \(SIGCONT\); \d+ grants while it was paused/);

  // The summary.
  const grants = Number(/^ {2}grants +(\d+)/m.exec(stdout)?.[1]);
  assert.ok(grants > 50, stdout);
  const [, first, last] = /^ {2}fencing tokens +(\d+)\.\.(\d+)/m.exec(stdout) ?? [];
  assert.ok(BigInt(first ?? 0) > 0n && BigInt(first ?? 0) < BigInt(last ?? 0), stdout);
  assert.ok(Number(/^ {2}stale writes rejected +(\d+)/m.exec(stdout)?.[1]) >= 1, stdout);
  const [, balance, accepted] = /^ {2}store balance +(\d+), increments accepted (\d+): lost updates 0$/m.exec(stdout) ?? [];
  assert.equal(balance, accepted, stdout);
  assert.match(stdout, /^ {2}violations +0$/m);
  assert.match(stdout, /^ {2}every process stopped {2}\(6 redis-servers\)$/m);

  // Compact: measured 17 lines for 3 s (one status line a second, about 7 event lines).
  const lines = stdout.trimEnd().split('\n').length;
  assert.ok(lines < 40, `${lines} lines:\n${stdout}`);
  // Bounded by --duration (3 s), plus starting and stopping six servers; a loose bound for a busy machine.
  assert.ok(tookMs < 30_000, `took ${tookMs} ms`);
  for (const port of ports) assert.equal(await listening(port), false, `port ${port} still open`);
});

test('the demo with an even number of nodes says odd is recommended, and runs', async () => {
  const { stdout, stderr } = await cli('demo', '--duration', '2', '--nodes', '2', '--workers', '2');
  assert.match(stderr, /^redfence demo: note: 2 nodes survive no more failures than 1 \(a grant needs 2\); an odd number is recommended\n$/);
  assert.match(stdout, /no node is paused \(with 2, a grant needs every one\)/);
  assert.match(stdout, /^ {2}violations +0$/m);
});

test('in a terminal the live view redraws in place: one line per worker and a status line', () => {
  let text = '';
  const workers: WorkerView[] = [
    { grants: 3, state: 'holding', token: 17n },
    { grants: 2, state: 'stalled', token: 12n },
  ];
  const view = createView({ write: (t) => (text += t), tty: true, workers, status: () => 'status', columns: () => 50 });
  view.line('header');
  view.start();
  view.line('an event');
  workers[0] = { grants: 4, state: 'waiting', token: 18n };
  view.stop();
  const up = '\x1b[3A\r\x1b[J';
  assert.equal(
    text,
    'header\n' +
      '  worker 0      3 grants  token 17  holding\n  worker 1      2 grants  token 12  STALLED (simu\n  status\n' +
      `${up}an event\n` +
      '  worker 0      3 grants  token 17  holding\n  worker 1      2 grants  token 12  STALLED (simu\n  status\n' +
      `${up}  worker 0      4 grants  token 18  waiting\n  worker 1      2 grants  token 12  STALLED (simu\n  status\n`,
  );
});

test('inspect and repair bring back a node that lost its data', async () => {
  const redlock = env.redlock({ maxTtl: 500, automaticExtensionThreshold: 100, autoRepair: false });
  const prefix = redlock.settings.prefix;
  await redlock.acquire('cli', 400).then((l) => l.release());
  await env.cluster.restart(2, { empty: true });
  const before = await cli('inspect', '--prefix', prefix, ...env.cluster.urls); // 2 of 3 ready: exit 0
  assert.match(before.stdout, /NOT READY/);
  assert.equal((before.stdout.match(/ready \(cluster/g) ?? []).length, 2);
  const repaired = await cli('repair', '--node', '2', '--prefix', prefix, '--max-ttl', '500', ...env.cluster.urls);
  assert.match(repaired.stdout, /repaired: 1 counters seen, 1 raised/);
  const after = await cli('inspect', '--prefix', prefix, ...env.cluster.urls);
  assert.equal((after.stdout.match(/ready \(cluster/g) ?? []).length, 3);
  assert.doesNotMatch(after.stdout, /NOT READY/);
});
