import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { useCluster } from '../support/cluster.js';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', MAIN, ...args], { timeout: 60_000 });

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

test('demo prints grants with tokens and a summary, and leaves no process behind', async () => {
  const { stdout } = await cli('demo', '--duration', '1', '--nodes', '3', '--workers', '3');
  const ports = (/started 3 redis-server nodes: ([\d, ]+)/.exec(stdout)?.[1] ?? '').split(', ').map(Number);
  assert.equal(ports.length, 3);
  assert.match(stdout, /worker \d+ {2}account:\d {2}token \d+/);
  const grants = Number(/summary: (\d+) grants/.exec(stdout)?.[1]);
  assert.ok(grants > 10, stdout.slice(-500));
  assert.match(stdout, /tokens not increasing per resource: 0/);
  for (const port of ports) assert.equal(await listening(port), false, `port ${port} still open`);
});

test('bad demo arguments are refused with a clear message', async () => {
  await assert.rejects(cli('demo', '--nodes', '0'), (e: { stderr: string; code: number }) => e.code === 1 && /`--nodes` to be a positive integer/.test(e.stderr));
  await assert.rejects(cli('frobnicate'), (e: { stderr: string; code: number }) => e.code === 2 && /unknown command/.test(e.stderr));
});

test('inspect and repair bring back a node that lost its data', async () => {
  const redlock = env.redlock({ maxTtl: 500, automaticExtensionThreshold: 100, autoRepair: false });
  const prefix = redlock.settings.prefix;
  await redlock.acquire('cli', 400).then((l) => l.release());
  await env.cluster.restart(2, { empty: true });
  const before = await cli('inspect', '--prefix', prefix, ...env.cluster.urls);
  assert.match(before.stdout, /NOT READY/);
  assert.equal((before.stdout.match(/ready \(cluster/g) ?? []).length, 2);
  const repaired = await cli('repair', '--node', '2', '--prefix', prefix, '--max-ttl', '500', ...env.cluster.urls);
  assert.match(repaired.stdout, /repaired: 1 counters seen, 1 raised/);
  const after = await cli('inspect', '--prefix', prefix, ...env.cluster.urls);
  assert.equal((after.stdout.match(/ready \(cluster/g) ?? []).length, 3);
  assert.doesNotMatch(after.stdout, /NOT READY/);
});
