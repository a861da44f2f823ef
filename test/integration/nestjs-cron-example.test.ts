/**
 * examples/nestjs-cron end to end: two instances of a real NestJS app (two processes, legacy
 * decorators as NestJS compiles) on one local 3-node cluster, a cron every second under
 * `@DistributedLock`. Over 8 whole seconds, each second's task runs exactly once across both
 * instances, and the other instance's tick is skipped as "locked".
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { countPerSecond, type Instance, startInstance } from '../../examples/nestjs-cron/instances.js';
import { until, useCluster } from '../support/cluster.js';

const env = useCluster(3);
const instances: Instance[] = [];
after(async () => {
  await Promise.all(instances.map((i) => i.stop()));
});

const SECONDS = 8;

test('two NestJS instances, a cron every second: each second the task runs exactly once', { timeout: 90_000 }, async (t) => {
  const prefix = env.prefix();
  instances.push(startInstance('a', env.cluster.urls, prefix), startInstance('b', env.cluster.urls, prefix));
  await Promise.all(instances.map((i) => i.ready));
  // The first whole second after both are up, and the 8 after it.
  const first = Math.ceil(Date.now() / 1000) + 1;
  const last = first + SECONDS - 1;
  const lines = () => instances.flatMap((i) => i.lines);
  await until(`ticks up to second ${last + 1}`, () => lines().some((l) => (l.second ?? 0) > last), (SECONDS + 10) * 1000);
  const ended = await Promise.all(instances.map((i) => i.stop()));
  assert.deepEqual(ended, ['SIGTERM', 'SIGTERM'], 'both shut down on SIGTERM, without SIGKILL');

  const counts = countPerSecond(lines());
  const window = [...counts].filter(([second]) => second >= first && second <= last);
  const shown = window.map(([second, { runs, skips }]) => `${second}: ran ${runs}, skipped ${skips}`).join('\n');
  t.diagnostic('per-second executions across both instances (second: runs, skips):');
  for (const row of shown.split('\n')) t.diagnostic(row);
  assert.equal(window.length, SECONDS, `every second of the window ticked:\n${shown}`);
  for (const [second, { runs, skips }] of window) {
    assert.equal(runs, 1, `second ${second} ran ${runs} times:\n${shown}`);
    assert.equal(skips, 1, `second ${second}: the other instance's tick was skipped:\n${shown}`);
  }
  const tokens = lines()
    .filter((l) => l.event === 'run' && (l.second ?? 0) >= first && (l.second ?? 0) <= last)
    .sort((x, y) => (x.second ?? 0) - (y.second ?? 0))
    .map((l) => BigInt(l.token ?? '0'));
  assert.ok(tokens.every((t, i) => i === 0 || t > (tokens[i - 1] as bigint)), 'fencing tokens increase second by second');
});
