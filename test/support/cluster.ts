import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { type LocalCluster, RedisNode, Redlock, type RedlockOptions, startLocalCluster } from '../../src/index.js';

/**
 * Starts one local cluster for the test file (stopped after it, also on failure) and hands out
 * Redlocks with a fresh key prefix each, all closed when the file ends.
 */
export function useCluster(nodes = 5, options: { appendOnly?: boolean } = {}) {
  let cluster: LocalCluster | undefined;
  const closers: (() => Promise<unknown>)[] = [];
  before(async () => {
    cluster = await startLocalCluster({ nodes, ...options });
  });
  after(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    await cluster?.stop();
  });
  const get = (): LocalCluster => {
    if (cluster === undefined) throw new Error('cluster not started');
    return cluster;
  };
  return {
    get cluster() {
      return get();
    },
    /** A fresh prefix for one test. */
    prefix: () => `t-${randomUUID().slice(0, 8)}:`,
    /** A Redlock on the cluster (its own connections), closed at the end of the file. */
    redlock(options: RedlockOptions = {}): Redlock {
      const redlock = new Redlock(get().urls, { prefix: `t-${randomUUID().slice(0, 8)}:`, ...options });
      closers.push(() => redlock.quit());
      return redlock;
    },
    /** Plain clients to look at the nodes directly, closed at the end of the file. */
    clients(): Redis[] {
      const clients = get().urls.map((url) => new Redis(url, { maxRetriesPerRequest: 1 }).on('error', () => undefined));
      closers.push(() => Promise.all(clients.map((c) => c.quit())));
      return clients;
    },
    /** Restarts every paused or crashed node so the next test starts clean. */
    async heal(): Promise<void> {
      const c = get();
      for (const [i, node] of c.nodes.entries()) {
        if (node.pid === undefined) await c.restart(i);
        else c.resume(i);
      }
    },
  };
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Milliseconds since `start` (performance.now()). */
export const since = (start: number): number => performance.now() - start;

/**
 * Polls `check` every few ms until it returns something other than `undefined` or `false`, and
 * resolves with that; throws after `ms`. For waiting on what the servers show, not on time.
 */
export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 5_000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(2);
  }
}

/**
 * Resolves once exactly `count` waiters are queued at `queue` (a resource's `:q` key) on every
 * node (at most 5 s): waiters arrive (or leave) in a known order without sleeps.
 */
export async function untilQueued(nodes: readonly Redis[], queue: string, count = 1): Promise<void> {
  const deadline = performance.now() + 5_000;
  while ((await Promise.all(nodes.map((n) => n.zcard(queue)))).some((n) => n !== count)) {
    if (performance.now() > deadline) throw new Error(`not ${count} queued at ${queue} on every node within 5 s`);
    await delay(2);
  }
}

/**
 * Resolves once the client of every ticket queued at `queue` (a resource's `:q` key, under
 * `prefix`) has its wake-up channel subscribed on every node (at most 5 s). A client subscribes
 * when it is first refused, after its ticket was queued; a release published before that reached
 * a node is missed, and the waiter sleeps out its retry delay.
 */
export async function untilListening(nodes: readonly Redis[], prefix: string, queue: string): Promise<void> {
  const deadline = performance.now() + 5_000;
  for (;;) {
    const tickets = (await nodes[0]?.zrange(queue, 0, -1)) ?? [];
    const channels = [...new Set(tickets.map((t) => `${prefix}wake:${t.split('/')[0] ?? ''}`))];
    if (channels.length > 0) {
      const counts = await Promise.all(nodes.map((n) => n.pubsub('NUMSUB', ...channels) as Promise<(string | number)[]>));
      if (counts.every((c) => c.filter((_, i) => i % 2 === 1).every((x) => Number(x) > 0))) return;
    }
    if (performance.now() > deadline) throw new Error(`the waiters at ${queue} were not subscribed on every node within 5 s`);
    await delay(2);
  }
}

/** Node `i` of a Redlock made from URLs: a RedisNode. */
export function redisNode(redlock: Redlock, i: number): RedisNode {
  const node = redlock.nodes[i];
  if (!(node instanceof RedisNode)) throw new Error(`node ${i} is not a RedisNode`);
  return node;
}

/** Waits (at most 5 s) until the Redlock's connection to node `i` is up again after a restart. */
export async function connected(redlock: Redlock, i: number): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (redisNode(redlock, i).client.status !== 'ready') {
    if (performance.now() > deadline) throw new Error(`node ${i} did not reconnect within 5 s`);
    await delay(10);
  }
}
