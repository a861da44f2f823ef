/**
 * Issue 9, item 1: a stale hand-over must not be counted (two holders, network delay the only fault).
 *
 * The story, on 3 real redis-servers. H and V connect directly; W reaches every node through the
 * in-process Toxiproxy server (test/chaos), and the replies of nodes 1 and 2 reach W 150 ms late
 * (W's nodeTimeout is 50 ms) during W's first two attempts (W's subscriber connections share
 * those proxies, so those nodes' announcements reach W late too; they still arrive long before
 * attempt 2):
 *   1. H holds r. W's attempt 1 is answered "held" by node 0 only: QuorumError. W is queued on
 *      every node, but has no wake-up watch (only LockHeldError creates one); it sleeps retryDelay.
 *   2. H releases: every node hands r to W (lease `<W ticket>:g`) and announces the token on W's
 *      wake channel, which W subscribed after a warm-up grant. Nobody watches the ticket, so W's
 *      notifier buffers the announcements.
 *   3. W's attempt 2 takes the `:g` leases over, misses the late replies, and its quiet undo
 *      deletes them. V then acquires r on every node. The latency is removed.
 *   4. W's attempt 3 is answered "held" everywhere. The old code then created the watch, replayed
 *      the buffered (stale) announcements, took "held" as proof that they are newer, and granted W
 *      with no round trip while V held r. W must instead fail with LockHeldError.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Toxiproxy } from 'toxiproxy-node-client';
import { LockHeldError, Redlock } from '../../src/index.js';
import { proxyEndpoint } from '../chaos/toxiproxy.js';
import { startToxiproxyServer } from '../chaos/toxiproxy-server.js';
import { delay, until, useCluster } from '../support/cluster.js';

const env = useCluster(3);
const LATE_MS = 150; // > W's nodeTimeout (50), < the 300 ms after which a silent connection is recycled

test('a hand-over announced before an attempt is not counted after it: no two holders', { timeout: 30_000 }, async (t) => {
  const nodes = env.clients();
  const h = env.redlock({ retryCount: 0 });
  const prefix = h.settings.prefix;
  const v = env.redlock({ prefix, retryCount: 0 });
  const lk = `${prefix}{r}:lk`;
  const q = `${prefix}{r}:q`;
  const all = <T>(f: (node: (typeof nodes)[number]) => Promise<T>): Promise<T[]> => Promise.all(nodes.map(f));

  const toxiproxyServer = await startToxiproxyServer();
  t.after(() => toxiproxyServer.close());
  const toxiproxy = new Toxiproxy(toxiproxyServer.url);
  const proxies = [];
  for (const [i, node] of env.cluster.nodes.entries()) {
    proxies.push(await toxiproxy.createProxy({ name: `w-n${i}`, listen: '127.0.0.1:0', upstream: `127.0.0.1:${node.port}` }));
  }
  const w = new Redlock(
    proxies.map((p) => ({ ...proxyEndpoint(p), disableClientInfo: true })),
    { prefix, nodeTimeout: 50, retryDelay: 500, retryJitter: 0, retryCount: 4 },
  );
  t.after(() => w.quit());

  // W's warm-up grants (the first also initialises the prefix): a grant at the first attempt
  // subscribes W's wake channel in the background (one that needed a retry does not: try again).
  const channel = await until('W subscribed to its wake channel on every node', async () => {
    const lists = await all((n) => n.pubsub('CHANNELS', `${prefix}wake:*`) as Promise<string[]>);
    const first = lists[0]?.[0];
    if (first !== undefined && lists.every((l) => l.length === 1 && l[0] === first)) return first;
    await (await w.acquire('warm-up', 1_000)).release();
    return undefined;
  });

  // 1. H holds r; W's attempt 1 gets one timely "held" and two late replies.
  const hLock = await h.acquire('r', 10_000);
  const late = await Promise.all(
    proxies.slice(1).map((p) =>
      p.addToxic({ name: 'late', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: LATE_MS, jitter: 0 } }),
    ),
  );
  const wOutcome = w.acquire('r', 10_000).then(
    (lock) => ({ lock, error: undefined }),
    (error: unknown) => ({ lock: undefined, error }),
  );
  t.after(async () => (await wOutcome).lock?.release().catch(() => undefined));
  const ticket = await until('W queued on every node', async () => {
    const queues = await all((n) => n.zrange(q, 0, -1));
    const first = queues[0]?.[0];
    return first !== undefined && queues.every((m) => m.length === 1 && m[0] === first) ? first : undefined;
  });
  assert.equal(`${prefix}wake:${ticket.split('/')[0]}`, channel, 'the queued ticket is W’s');

  // 2. H releases: every node hands r over to W's ticket (and announces it to W).
  await hLock.release();
  assert.deepEqual(await all((n) => n.get(lk)), [`${ticket}:g`, `${ticket}:g`, `${ticket}:g`], 'r handed over to W on every node');

  // 3. W's attempt 2 takes the hand-over leases over and undoes them (its replies come late).
  await until('W’s attempt 2 to take over and undo the hand-over leases', async () => {
    const [values, queued] = await Promise.all([all((n) => n.get(lk)), all((n) => n.exists(q))]);
    return values.every((x) => x === null) && queued.every((x) => x === 0) ? true : undefined;
  });
  const vLock = await v.acquire('r', 10_000);
  const vOwner = await nodes[0]?.get(lk);
  assert.ok(vOwner !== null && vOwner !== undefined && !vOwner.startsWith(ticket), `V's lease: ${String(vOwner)}`);
  assert.deepEqual(await all((n) => n.get(lk)), [vOwner, vOwner, vOwner], 'V holds r on every node');
  await Promise.all(late.map((toxic) => toxic.remove()));
  const settled = await Promise.race([wOutcome.then(() => true), delay(0).then(() => false)]);
  assert.equal(settled, false, 'W was still waiting when V got r (the phases did not overlap)');

  // 4. W's attempt 3 is answered on time: "held" everywhere (W queues again behind V's lease).
  await until('W’s attempt 3 to be blocked (queued again) on every node', async () => {
    const queues = await all((n) => n.zrange(q, 0, -1));
    return queues.every((m) => m.includes(ticket)) ? true : undefined;
  });
  const { lock, error } = await wOutcome;
  const holders = await all((n) => n.get(lk));
  if (lock !== undefined) {
    assert.fail(
      `two holders: W was granted r (token ${lock.fencingToken}, ${Math.round(lock.remainingMs())} ms left) while V holds it ` +
        `(token ${vLock.fencingToken}, ${Math.round(vLock.remainingMs())} ms left; leases ${holders.join(', ')})`,
    );
  }
  assert.ok(error instanceof LockHeldError, `W failed with ${String(error)}, expected LockHeldError`);
  assert.deepEqual(holders, [vOwner, vOwner, vOwner], 'V still held r on every node when W gave up');
  assert.ok(vLock.remainingMs() > 0);
  await vLock.release();
});
