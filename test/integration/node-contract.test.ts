/**
 * The node contract: one set of behavioural tests, run against a RedisNode (a real redis-server
 * running redfence's scripts) and a MemoryNode (with a fake clock), calling the node port directly.
 * Whatever a Redlock relies on — tokens, queues, hand-over, wake-ups, the ready gate, repair — must
 * read the same on both. Time passes for real on Redis (a few tens of ms where a lease or a place
 * must expire) and by moving the fake clock on the MemoryNode.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { type LockNode, MemoryNode, RedisNode, systemClock } from '../../src/index.js';
import { counterPattern, resourceKey, type ResourceKeys, resourceKeys, wakePrefix } from '../../src/core/keys.js';
import type { AcquireReply, Done, ExtendReply } from '../../src/core/lock-node.js';
import { delay, useCluster } from '../support/cluster.js';
import { FakeClock } from '../support/fake-clock.js';

/** The floor the tests pass (wall clock µs in real use: any value works for the rules). */
const FLOOR = '1000000';
const MAX_TTL = 60_000;
/** How long a test waits for a wake-up before failing. */
const WAKE_TIMEOUT_MS = 2_000;

/** One node under test and what the tests need around it; a fresh prefix (and MemoryNode) per test. */
interface Subject {
  readonly node: LockNode;
  readonly prefix: string;
  /** Lets `ms` pass on the node's clock. */
  elapse(ms: number): Promise<void>;
  /** Loses everything on the node (FLUSHALL; `flush()` on a MemoryNode). */
  wipe(): Promise<void>;
}

interface Kind {
  readonly name: string;
  subject(): Promise<Subject>;
}

const redis = useCluster(1);
let redisNode: RedisNode | undefined;
let plain: Redis | undefined;
after(async () => {
  await redisNode?.close();
  plain?.disconnect();
});

const kinds: Kind[] = [
  {
    name: 'RedisNode',
    subject() {
      const url = redis.cluster.urls[0] as string;
      redisNode ??= new RedisNode(url, 0, systemClock);
      plain ??= new Redis(url, { maxRetriesPerRequest: 1 }).on('error', () => undefined);
      const client = plain;
      return Promise.resolve({
        node: redisNode,
        prefix: redis.prefix(),
        elapse: (ms: number) => delay(ms),
        wipe: async () => {
          await client.flushall();
        },
      });
    },
  },
  {
    name: 'MemoryNode',
    subject() {
      const clock = new FakeClock();
      const node = new MemoryNode({ clock });
      return Promise.resolve({
        node,
        prefix: `t-${randomUUID().slice(0, 8)}:`,
        elapse: async (ms: number) => {
          clock.advance(ms);
          await Promise.resolve();
        },
        wipe: () => {
          node.flush();
          return Promise.resolve();
        },
      });
    },
  },
];

/** Calls a callback-style operation; its reply must never come synchronously. */
function call<T>(operation: (done: Done<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let returned = false;
    operation((error, reply) => {
      if (!returned) reject(new Error('the node answered synchronously'));
      else if (error !== undefined) reject(error);
      else resolve(reply as T);
    });
    returned = true;
  });
}

/** The port, with the test's defaults, on one subject. */
function port(s: Subject) {
  const { node, prefix } = s;
  const wake = wakePrefix(prefix);
  const keysOf = (resources: string | readonly string[]): ResourceKeys => resourceKeys(prefix, typeof resources === 'string' ? [resources] : resources);
  return {
    keysOf,
    ready: (maxTtl = MAX_TTL, nodes: number | '' = 1) => node.marker(keysOf('x').ready, `cluster ${maxTtl} inc${nodes === '' ? '' : ` ${nodes}`}`),
    acquire: (
      resources: string | readonly string[],
      owner: string,
      options: { ttl?: number; stayMs?: number; score?: string; floor?: string; clusterSize?: number } = {},
    ) =>
      call<AcquireReply>((done) =>
        node.acquire(
          {
            keys: keysOf(resources),
            owner,
            ttl: options.ttl ?? 5_000,
            floor: options.floor ?? FLOOR,
            score: options.score ?? '1',
            stayMs: options.stayMs ?? 0,
            clusterSize: options.clusterSize ?? 1,
          },
          done,
        ),
      ),
    extend: (resources: string | readonly string[], owner: string, ttl = 5_000) =>
      call<ExtendReply>((done) => node.extend({ keys: keysOf(resources), owner, ttl }, done)),
    release: (resources: string | readonly string[], owner: string, quiet = false, floor = FLOOR) =>
      call<number>((done) => node.release({ keys: keysOf(resources), owner, quiet, floor, wake }, done)),
    leave: (resources: string | readonly string[], ticket: string) =>
      call<number>((done) => node.leaveQueue({ keys: keysOf(resources), ticket, floor: FLOOR, wake }, done)),
    raiseFence: (resources: string | readonly string[], owner: string, token: string) =>
      call<boolean>((done) => node.raiseFence({ keys: keysOf(resources), owner, token }, done)),
    counters: async (limit?: number) =>
      new Map(await node.counters(counterPattern(prefix), { limit, requestTimeoutMs: 2_000 })),
    counterKey: (resource: string) => keysOf(resource).counters[0] as string,
    /** Wake-ups on client `client`'s channel, in order. */
    async listen(client = 'c') {
      const messages: string[] = [];
      let waiting: (() => void) | undefined;
      await node.subscribe(`${wake}${client}`, (message) => {
        messages.push(message);
        waiting?.();
      });
      let read = 0;
      return {
        /** The next wake-up not read yet (fails after WAKE_TIMEOUT_MS). */
        async next(): Promise<string> {
          const deadline = performance.now() + WAKE_TIMEOUT_MS;
          while (messages.length <= read) {
            const left = deadline - performance.now();
            if (left <= 0) throw new Error(`no wake-up within ${WAKE_TIMEOUT_MS} ms`);
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, left);
              waiting = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            waiting = undefined;
          }
          return messages[read++] as string;
        },
      };
    },
  };
}

const next = (value: string, by = 1n): string => (BigInt(value) + by).toString();
const locked = (token: string): AcquireReply => ({ locked: true, token });
const held = (counter: string): AcquireReply => ({ locked: false, counter });

for (const kind of kinds) {
  describe(`node contract: ${kind.name}`, () => {
    test('replies come asynchronously; the identity tells servers apart', async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      assert.deepEqual(await p.acquire('r', 'c/1/0:1'), locked(FLOOR));
      assert.equal(typeof s.node.identity, 'string', 'known once the node answered');
      assert.equal(s.node.gated, true);
      assert.equal(s.node.slotted, false);
    });

    test('tokens: the floor when above every counter, else the largest + 1, exact, the same on every key; held carries the first counter', async () => {
      const s = await kind.subject();
      const p = port(s);
      const big = '9007199254740993'; // past 2^53: a double would round it
      assert.equal(await s.node.raiseCounters(p.keysOf('x').ready, [[p.counterKey('m1'), big], [p.counterKey('m3'), '5']]), 2);
      await p.ready();
      assert.deepEqual(await p.acquire(['m1', 'm2', 'm3'], 'c/1/0:1'), locked(next(big)));
      const counters = await p.counters();
      for (const r of ['m1', 'm2', 'm3']) assert.equal(counters.get(p.counterKey(r)), next(big), r);
      assert.deepEqual(await p.acquire(['f1', 'f2'], 'c/2/0:1'), locked(FLOOR), 'below the floor: the floor');
      assert.deepEqual(await p.acquire(['f1', 'f2'], 'c/3/0:1'), held(FLOOR), 'held: the first counter now');

      // One resource (the fast path on Redis): the same rules, and a replayed attempt gets its token back.
      assert.equal(await s.node.raiseCounters(p.keysOf('x').ready, []), 0, 'nothing to raise: not refused');
      await assert.rejects(s.node.raiseCounters(p.keysOf('x').ready, [[p.counterKey('s1'), big]]), /^(ReplyError|Error): READY/, 'refused once ready');
      assert.deepEqual(await p.acquire('s1', 'c/4/5000:1', { floor: '10' }), locked('10'));
      await p.release('s1', 'c/4/5000:1');
      assert.deepEqual(await p.acquire('s1', 'c/5/5000:1', { floor: '10' }), locked('11'), 'counter at the floor: + 1');
      assert.deepEqual(await p.acquire('s1', 'c/5/5000:1', { floor: '10' }), locked('11'), 'replayed');
      assert.deepEqual(await p.acquire('s1', 'c/6/5000:1'), held('11'));
      assert.deepEqual(await p.acquire('s1', 'c/6/5000:2', { floor: '5' }), held('11'), 'the floor does not move a blocked counter');
    });

    test('holder notes: written only under the owner\'s lease, shown only while that lease is still the owner\'s', async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      const note = (r: string): string => resourceKey(s.prefix, r, 'h');
      const write = (resources: readonly string[], owner: string, token: string, label: string) =>
        s.node.writeHolder({ keys: p.keysOf(resources), notes: resources.map(note), owner, token, label, ttl: 60_000 });
      const read = (r: string) => s.node.readHolder(p.keysOf(r).locks[0] as string, note(r));
      assert.equal(await read('h1'), null, 'no note');
      assert.equal((await p.acquire(['h1', 'h2'], 'c/1/0:1', { ttl: 1_000 })).locked, true);
      assert.equal(await write(['h1', 'h2'], 'c/9/0:1', '7', 'intruder'), 0, 'not the holder: nothing written');
      assert.equal(await read('h1'), null);
      assert.equal(await write(['h1', 'h2'], 'c/1/0:1', '12345678901234567890', 'candidate A'), 2);
      const shown = await read('h2');
      assert.ok(shown !== null && shown.leaseMs > 0 && shown.leaseMs <= 1_000, JSON.stringify(shown));
      assert.deepEqual({ ...shown, leaseMs: 0 }, { token: '12345678901234567890', label: 'candidate A', leaseMs: 0 });
      await p.release(['h1', 'h2'], 'c/1/0:1');
      assert.equal(await read('h1'), null, 'released: the note is not shown');
      assert.equal((await p.acquire('h1', 'c/2/0:1', { ttl: 300 })).locked, true);
      assert.equal(await read('h1'), null, "another owner's lease: the old note is not shown");
      assert.equal(await write(['h1'], 'c/2/0:1', '8', 'candidate B'), 1);
      assert.equal((await read('h1'))?.label, 'candidate B');
      await s.elapse(350);
      assert.equal(await read('h1'), null, 'the lease expired: not shown');
    });

    test('all or none: a lock blocked on one resource leaves none of the others taken', async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      assert.deepEqual(await p.acquire('b', 'c/1/0:1'), locked(FLOOR));
      assert.deepEqual(await p.acquire(['a', 'b', 'c'], 'c/2/0:1'), held('0'), 'blocked on b; a has no counter yet');
      assert.equal((await p.acquire('a', 'c/3/0:1')).locked, true, 'a was given back');
      assert.equal((await p.acquire('c', 'c/4/0:1')).locked, true);
      assert.equal((await p.counters()).has(p.counterKey('a')), true);
    });

    test("a later attempt of the same acquire takes over its ticket's lease; other acquires are blocked", async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      assert.deepEqual(await p.acquire('r', 'c/1/0:1'), locked(FLOOR));
      assert.deepEqual(await p.acquire('r', 'c/2/0:1'), held(FLOOR), 'another acquire is blocked');
      assert.deepEqual(await p.acquire('r', 'c/1/0:2'), locked(next(FLOOR)), 'taken over, the counter moved');
      assert.equal(await p.extend('r', 'c/1/0:2'), 'extended', 'the new attempt holds it');
      assert.equal(await p.extend('r', 'c/1/0:1'), 'otherOwner');
      assert.equal(await p.release('r', 'c/1/0:1', true), 0, 'a quiet undo of the old attempt takes nothing');
      assert.equal(await p.release('r', 'c/1/0:1'), 1, "the lock's release takes any lease of its ticket");
      assert.equal((await p.acquire('r', 'c/2/0:2')).locked, true);
    });

    test('extend: extended, gone when a lease expired, otherOwner when another holds any; all or nothing', async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      assert.equal((await p.acquire(['a', 'b'], 'c/1/0:1', { ttl: 100 })).locked, true);
      assert.equal(await p.extend(['a', 'b'], 'c/1/0:1', 60_000), 'extended');
      assert.equal(await p.extend(['a', 'b'], 'c/9/0:1'), 'otherOwner');
      await s.elapse(150);
      assert.equal(await p.extend(['a', 'b'], 'c/1/0:1'), 'extended', 'the extension outlived the first lease');
      assert.equal((await p.acquire('g', 'c/2/0:1', { ttl: 30 })).locked, true);
      await s.elapse(80);
      assert.equal(await p.extend('g', 'c/2/0:1'), 'gone');
      assert.equal((await p.acquire('h', 'c/3/0:1')).locked, true);
      assert.equal(await p.extend(['g', 'h'], 'c/2/0:1'), 'otherOwner', 'gone on g, another owner on h');
      assert.equal(await p.extend(['h', 'g'], 'c/3/0:1'), 'gone', 'nothing changes');
      assert.equal((await p.acquire('g', 'c/4/0:1')).locked, true, 'g stayed free');
    });

    test('the ready gate: NOTREADY without a marker, CLUSTERSIZE, TTLTOOLONG on acquire and extend', async () => {
      const s = await kind.subject();
      const p = port(s);
      await assert.rejects(p.acquire('r', 'c/1/0:1'), /^(ReplyError|Error): (ERR )?NOTREADY /);
      assert.equal(await p.extend('r', 'c/1/0:1'), 'gone', 'extend checks no marker presence');
      await p.ready(5_000, 3);
      await assert.rejects(p.acquire('r', 'c/1/0:1'), /^(ReplyError|Error): CLUSTERSIZE 3$/);
      assert.equal((await p.acquire('r', 'c/1/0:1', { clusterSize: 3 })).locked, true);
      await assert.rejects(p.acquire('t', 'c/2/0:1', { clusterSize: 3, ttl: 5_001 }), /^(ReplyError|Error): TTLTOOLONG 5000$/);
      assert.equal((await p.acquire('t', 'c/2/0:1', { clusterSize: 3, ttl: 5_000 })).locked, true, 'refused before anything changed');
      await assert.rejects(p.extend('r', 'c/1/0:1', 5_001), /^(ReplyError|Error): TTLTOOLONG 5000$/);
      assert.equal(await p.extend('r', 'c/1/0:1', 5_000), 'extended');

      const old = await kind.subject(); // a marker from before the node count was kept
      const q = port(old);
      await q.ready(5_000, '');
      assert.equal((await q.acquire('r', 'c/1/0:1', { clusterSize: 7 })).locked, true, 'no node count: not checked');
    });

    test('marker: read, set when absent, set under a repair claim only while the claim holds; claims expire', async () => {
      const s = await kind.subject();
      const { node, prefix } = s;
      const key = `${prefix}__ready`;
      const claim = `${prefix}__repairing`;
      assert.equal(await node.marker(key), null);
      assert.equal(await node.marker(key, 'a 1 x 1'), 'a 1 x 1');
      assert.equal(await node.marker(key, 'b 1 x 1'), 'a 1 x 1', 'set only when absent');
      assert.equal(await node.marker(key, ''), 'a 1 x 1', 'an empty value only reads');

      const other = `${prefix}other__ready`;
      assert.equal(await node.claimRepair(claim, 'one', 60_000), true);
      assert.equal(await node.claimRepair(claim, 'two', 60_000), false, 'another claim is live');
      assert.equal(await node.marker(other, 'v', { key: claim, id: 'two' }), null, 'not the claim holder');
      await node.unclaimRepair(claim, 'two');
      assert.equal(await node.claimRepair(claim, 'three', 60_000), false, 'unclaim by another id does nothing');
      assert.equal(await node.marker(other, 'v', { key: claim, id: 'one' }), 'v');
      assert.equal(await node.claimRepair(claim, 'three', 60_000), true, 'the mark dropped the claim');
      await node.unclaimRepair(claim, 'three');
      assert.equal(await node.claimRepair(claim, 'four', 30), true, 'unclaimed');
      await s.elapse(80);
      assert.equal(await node.claimRepair(claim, 'five', 60_000), true, 'the claim expired');
    });

    test('counters: the ones under a prefix, by its glob pattern (special characters escaped), up to a limit', async () => {
      const s = await kind.subject();
      const odd = port({ ...s, prefix: `${s.prefix}[a]*?\\:` });
      const near = port({ ...s, prefix: `${s.prefix}a12:` }); // what the unescaped pattern would match
      const p = port(s);
      for (const q of [odd, near]) {
        await q.ready();
        assert.equal((await q.acquire(['x', 'y'], 'c/1/0:1')).locked, true);
      }
      const found = await odd.counters();
      assert.deepEqual([...found.keys()].sort(), [odd.counterKey('x'), odd.counterKey('y')].sort());
      assert.deepEqual([...found.values()], [FLOOR, FLOOR]);
      // Stops once it has the limit (a Redis node after the SCAN step that reached it, so maybe more).
      assert.ok((await odd.counters(1)).size >= 1, 'stops at the limit');
      assert.equal((await p.counters()).size, 0, 'no counter directly under the plain prefix');
    });

    test('raiseFence: set-if-greater on every counter while the owner holds every lease', async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      assert.equal((await p.acquire(['a', 'b'], 'c/1/0:1')).locked, true);
      assert.equal(await p.raiseFence(['a', 'b'], 'c/2/0:1', '5000000'), false, 'not the owner');
      assert.equal(await p.raiseFence(['a', 'b'], 'c/1/0:1', FLOOR), false, 'not above the counter');
      assert.equal(await p.raiseFence(['a', 'b'], 'c/1/0:1', '5000000'), true);
      const counters = await p.counters();
      assert.equal(counters.get(p.counterKey('a')), '5000000');
      assert.equal(counters.get(p.counterKey('b')), '5000000');
      assert.equal(await p.raiseFence(['a', 'b'], 'c/1/0:1', '5000000'), false, 'a value is reached once');
    });

    test('the head of the queue goes first: a reservation for a multi-resource waiter; a quiet undo keeps places and wakes nobody', async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      const channel = await p.listen();
      assert.equal((await p.acquire('r', 'c/1/0:1')).locked, true);
      assert.deepEqual(await p.acquire('r', 'c/2/0:1', { stayMs: 60_000, score: '10' }), held(FLOOR), 'A queues');
      assert.deepEqual(await p.acquire('r', 'c/3/0:1', { stayMs: 60_000, score: '20' }), held(FLOOR), 'B queues behind A');
      assert.equal(await p.release('r', 'c/1/0:1'), 1);
      assert.equal(await channel.next(), 'c/2/0|c/1/0:1|', 'only the head is told (a reservation: no token)');
      assert.equal(await p.extend('r', 'c/2/0:handoff', 60_000), 'extended', 'the lease is reserved for A');
      assert.deepEqual(await p.acquire('r', 'c/3/0:2', { stayMs: 60_000, score: '20' }), held(FLOOR), 'B may not jump ahead of A');
      assert.deepEqual(await p.acquire('r', 'c/2/0:2', { stayMs: 60_000, score: '10' }), locked(next(FLOOR)), 'A takes the reservation over');
      assert.equal(await p.release('r', 'c/2/0:2', true), 1, 'a quiet undo');
      assert.equal(await p.leave('r', 'c/2/0'), 0, 'A had left the queue when it locked');
      assert.equal(await channel.next(), 'c/3/0||', 'the undo woke nobody: the next wake-up is the one leaving the queue sent');
      assert.equal((await p.acquire('r', 'c/3/0:3', { stayMs: 60_000, score: '20' })).locked, true);
    });

    test('a single-resource waiter is granted the lease on release, with the next token, announced, and its place cut to the lease', async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      const channel = await p.listen();
      assert.deepEqual(await p.acquire('r', 'c/1/0:1'), locked(FLOOR));
      assert.deepEqual(await p.acquire('r', 'c/2/7000:1', { stayMs: 60_000, score: '10' }), held(FLOOR));
      await p.release('r', 'c/1/0:1', false, '900');
      assert.equal(await channel.next(), `c/2/7000|c/1/0:1|${next(FLOOR)}`, 'the floor was lower: counter + 1');
      assert.equal((await p.counters()).get(p.counterKey('r')), next(FLOOR));
      assert.equal(await p.extend('r', 'c/2/7000:g'), 'extended', 'the waiter holds the lease');
      assert.equal(await p.release('r', 'c/2/7000:3'), 1, "the lock's release deletes the hand-over lease too");
      assert.equal((await p.acquire('r', 'c/3/0:1')).locked, true, 'and left the queue');
      await p.release('r', 'c/3/0:1');

      // A granted waiter that never comes back blocks the next one for its lease, not its place.
      assert.equal((await p.acquire('p', 'c/4/0:1')).locked, true);
      assert.deepEqual(await p.acquire('p', 'c/5/200:1', { stayMs: 60_000, score: '10' }), held(FLOOR));
      assert.deepEqual(await p.acquire('p', 'c/6/200:1', { stayMs: 60_000, score: '20' }), held(FLOOR));
      await p.release('p', 'c/4/0:1', false, '900');
      assert.equal(await channel.next(), `c/5/200|c/4/0:1|${next(FLOOR)}`);
      assert.deepEqual(await p.acquire('p', 'c/6/200:2', { stayMs: 60_000, score: '20' }), held(next(FLOOR)));
      await s.elapse(300);
      assert.deepEqual(await p.acquire('p', 'c/6/200:3', { stayMs: 60_000, score: '20' }), locked(next(FLOOR, 2n)), 'the lease and the place ended together');
    });

    test('expired places: an expired head no longer blocks, and a release skips every dead waiter', async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      assert.equal((await p.acquire('r', 'c/1/0:1', { ttl: 50 })).locked, true);
      assert.equal((await p.acquire('r', 'c/2/0:1', { stayMs: 500, score: '10' })).locked, false);
      assert.equal((await p.acquire('r', 'c/3/0:1', { stayMs: 60_000, score: '20' })).locked, false);
      await s.elapse(100);
      assert.equal((await p.acquire('r', 'c/3/0:2', { stayMs: 60_000, score: '20' })).locked, false, 'the lease expired, but A is still the head');
      await s.elapse(500);
      assert.equal((await p.acquire('r', 'c/3/0:3', { stayMs: 60_000, score: '20' })).locked, true, "A's place expired: B goes");

      const channel = await p.listen();
      assert.equal((await p.acquire('d', 'c/1/0:1')).locked, true);
      for (let i = 0; i < 5; i += 1) await p.acquire('d', `c/dead${i}/5000:1`, { stayMs: 30, score: String(10 + i) });
      await p.acquire('d', 'c/live/5000:1', { stayMs: 60_000, score: '100' });
      await s.elapse(60);
      await p.release('d', 'c/1/0:1');
      assert.match(await channel.next(), /^c\/live\/5000\|c\/1\/0:1\|\d+$/, 'the first live waiter got the lease');
      assert.equal(await p.release('d', 'c/live/5000:1'), 1);
      assert.deepEqual(await p.acquire('d', 'c/next/0:1'), locked(next(FLOOR, 2n)), 'nobody else was left queued');
    });

    test('leaving the queue gives a reservation back and tells the new head at once', async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      const channel = await p.listen();
      await p.acquire('s', 'c/1/0:1');
      await p.acquire('s', 'c/2/0:1', { stayMs: 60_000, score: '10' });
      await p.acquire('s', 'c/3/0:1', { stayMs: 60_000, score: '20' });
      await p.release('s', 'c/1/0:1');
      assert.equal(await channel.next(), 'c/2/0|c/1/0:1|');
      assert.equal(await p.leave('s', 'c/2/0'), 1);
      assert.equal(await channel.next(), 'c/3/0||', 'the leaver gave its reservation back');
      assert.equal(await p.extend('s', 'c/3/0:handoff'), 'extended');
      assert.equal(await p.leave('s', 'c/9/0'), 0, 'not queued');
    });

    test("a waiter's place is its claimed arrival, kept within 1 s of the node's clock", async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      const channel = await p.listen();
      const nowUs = BigInt(Date.now()) * 1_000n;
      const at = (deltaMs: number): string => (nowUs + BigInt(deltaMs) * 1_000n).toString();
      // Ahead: an hour late counts as 1 s late, so it stays ahead of one that came after it 10 s late.
      await p.acquire('ahead', 'c/1/0:1');
      await p.acquire('ahead', 'c/a/0:1', { stayMs: 60_000, score: at(3_600_000) });
      await s.elapse(5);
      await p.acquire('ahead', 'c/b/0:1', { stayMs: 60_000, score: at(10_000) });
      await p.release('ahead', 'c/1/0:1');
      assert.equal(await channel.next(), 'c/a/0|c/1/0:1|');
      // Behind: an hour early counts as 1 s early, so it does not jump one that came before it 5 s early.
      await p.acquire('behind', 'c/1/0:1');
      await p.acquire('behind', 'c/d/0:1', { stayMs: 60_000, score: at(-5_000) });
      await s.elapse(5);
      await p.acquire('behind', 'c/e/0:1', { stayMs: 60_000, score: at(-3_600_000) });
      await p.release('behind', 'c/1/0:1');
      assert.equal(await channel.next(), 'c/d/0|c/1/0:1|');
      // Within the slack, the claimed arrival decides: f came later but claims to be 500 ms earlier.
      await p.acquire('within', 'c/1/0:1');
      await p.acquire('within', 'c/g/0:1', { stayMs: 60_000, score: at(0) });
      await p.acquire('within', 'c/f/0:1', { stayMs: 60_000, score: at(-500) });
      await p.release('within', 'c/1/0:1');
      assert.equal(await channel.next(), 'c/f/0|c/1/0:1|');
    });

    test('every subscriber of a channel hears its wake-ups', async () => {
      const s = await kind.subject();
      const p = port(s);
      await p.ready();
      const one = await p.listen('k');
      const two = await p.listen('k');
      await p.acquire('r', 'k/1/0:1');
      await p.acquire('r', 'k/2/0:1', { stayMs: 60_000 });
      await p.release('r', 'k/1/0:1');
      assert.equal(await one.next(), 'k/2/0|k/1/0:1|');
      assert.equal(await two.next(), 'k/2/0|k/1/0:1|');
    });

    test('data loss: a wiped node refuses (NOTREADY) until counters are raised and it is marked again under a claim', async () => {
      const s = await kind.subject();
      const p = port(s);
      const ready = p.keysOf('x').ready;
      const claim = `${s.prefix}__repairing`;
      await p.ready();
      assert.deepEqual(await p.acquire('r', 'c/1/0:1', { floor: '500' }), locked('500'));
      await s.wipe();
      await assert.rejects(p.acquire('r', 'c/2/0:1'), /NOTREADY/);
      assert.equal((await p.counters()).size, 0, 'the counters went with it');
      assert.equal(await s.node.claimRepair(claim, 'rep', 60_000), true);
      assert.equal(await s.node.raiseCounters(ready, [[p.counterKey('r'), '500']]), 1);
      assert.equal(await s.node.raiseCounters(ready, [[p.counterKey('r'), '400']]), 0, 'set-if-greater');
      assert.equal(await s.node.marker(ready, 'cluster 60000 inc2 1', { key: claim, id: 'rep' }), 'cluster 60000 inc2 1');
      assert.deepEqual(await p.acquire('r', 'c/2/0:1', { floor: '100' }), locked('501'), 'the token goes on from the copied counter');
    });
  });
}
