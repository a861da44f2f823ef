import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InvalidOptionsError, QuorumError, RedfenceError, Redlock, type RepairReport } from '../../src/index.js';
import { connected, delay, useCluster } from '../support/cluster.js';

// Issue 10: a new cluster with a node down, messages that tell "never initialised" from "lost its
// data", and two node sets under one prefix.
const env = useCluster(5);
afterEach(() => env.heal());

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', MAIN, ...args], { timeout: 60_000 });

describe('a new cluster', () => {
  test('with a node down: the error says "never initialised", and init() starts it; the late node is repaired', async () => {
    const redlock = env.redlock({ maxTtl: 300, automaticExtensionThreshold: 100, nodeTimeout: 100, retryCount: 0 });
    await env.cluster.crash(4);
    const error = await redlock.acquire('first', 200).then(
      () => assert.fail('granted on a cluster that was never initialised'),
      (e: unknown) => e as QuorumError,
    );
    assert.ok(error instanceof QuorumError);
    assert.match(error.message, /never initialised/);
    assert.match(error.message, /redlock\.init\(\)/);
    assert.doesNotMatch(error.message, /lost its data: run/);

    const report = await redlock.init();
    assert.equal(report.alreadyInitialised, false);
    assert.deepEqual(report.marked, redlock.nodes.slice(0, 4).map((n) => n.name));
    assert.deepEqual(report.unreachable, [redlock.nodes[4]?.name]);
    const lock = await redlock.acquire('first', 200);
    await lock.release();

    // Node 4 comes: it answers notReady and autoRepair brings it in (copy, then the max TTL).
    const repaired = new Promise<RepairReport>((resolve) => redlock.once('repaired', resolve));
    await env.cluster.restart(4);
    await connected(redlock, 4);
    await redlock.acquire('first', 200).then((l) => l.release());
    const r = await Promise.race([repaired, delay(10_000).then(() => assert.fail('node 4 not repaired'))]);
    assert.equal(r.node, redlock.nodes[4]?.name);
    assert.deepEqual((await redlock.inspect()).map((s) => typeof s.ready), Array(5).fill('string'));
    assert.equal((await redlock.init()).alreadyInitialised, true);
  });

  test('init() refuses nodes that were used already, and needs a majority', async () => {
    const used = env.redlock();
    await used.acquire('x', 500).then((l) => l.release());
    for (const client of env.clients().slice(0, 2)) await client.del(`${used.settings.prefix}__ready`);
    await assert.rejects(used.init(), (e: unknown) => e instanceof RedfenceError && e.code === 'INIT_NOT_NEW');

    const fresh = env.redlock({ nodeTimeout: 100 });
    for (const i of [2, 3, 4]) await env.cluster.crash(i);
    await assert.rejects(fresh.init(), (e: unknown) => e instanceof QuorumError && e.code === 'INIT_QUORUM');
  });

  test('redfence inspect says "not initialised" of a never-used cluster, and init initialises it', async () => {
    const prefix = `${env.prefix()}`;
    const before = await cli('inspect', '--prefix', prefix, ...env.cluster.urls).catch((e: { stdout: string }) => e);
    assert.match(before.stdout, /no node has a ready marker/);
    assert.doesNotMatch(before.stdout, /lost its data/);
    const init = await cli('init', '--prefix', prefix, ...env.cluster.urls);
    assert.match(init.stdout, /initialised cluster \S+ \(max TTL 60000 ms\) on /);
    const after = await cli('inspect', '--prefix', prefix, ...env.cluster.urls);
    assert.equal((after.stdout.match(/ready \(cluster \S+, max TTL 60000 ms, 5 nodes\)/g) ?? []).length, 5, after.stdout);
  });
});

describe('two node sets under one prefix', () => {
  test('a Redlock over more nodes than the cluster was initialised with is refused, and says why', async () => {
    const three = new Redlock(env.cluster.urls.slice(0, 3), { prefix: env.prefix() });
    // `five` and `fewer` make one attempt each, the first call on new connections: a nodeTimeout
    // that a cold start on a loaded machine meets (the refusal comes from the nodes' markers).
    const five = new Redlock(env.cluster.urls, { prefix: three.settings.prefix, retryCount: 0, nodeTimeout: 1_000 });
    const fewer = new Redlock(env.cluster.urls.slice(0, 2), { prefix: three.settings.prefix, retryCount: 0, nodeTimeout: 1_000 });
    try {
      await three.acquire('shared', 500).then((l) => l.release());
      await assert.rejects(
        five.acquire('shared', 500),
        (e: unknown) => e instanceof InvalidOptionsError && /initialised as a cluster of 3 nodes, and this Redlock has 5/.test(e.message),
      );
      await assert.rejects(fewer.acquire('shared', 500), (e: unknown) => e instanceof InvalidOptionsError && /cluster of 3 nodes/.test(e.message));
    } finally {
      // Also on failure: an open Redlock keeps the test process alive.
      await Promise.all([three.quit(), five.quit(), fewer.quit()]);
    }
  });
});
