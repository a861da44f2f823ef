import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { findRedisServer, InvalidOptionsError, NodeError, RedfenceError, type RedisNode, Redlock } from '../../src/index.js';
import { luaScripts } from '../../src/generated/lua-scripts.js';
import { expandLua, stripComments } from '../../scripts/build-lua.mjs';

const offline = (n = 3) => Array.from({ length: n }, (_, i) => ({ port: 1 + i, lazyConnect: true }));
const made: Redlock[] = [];
const redlock = (options = {}, nodes: unknown[] = offline()) => {
  const r = new Redlock(nodes as never, options);
  made.push(r);
  return r;
};
after(() => Promise.all(made.map((r) => r.quit())));

const invalid = (pattern: RegExp) => (e: unknown) => e instanceof InvalidOptionsError && e.code === 'INVALID_OPTIONS' && pattern.test(e.message);

describe('bad constructor input', () => {
  test('too few or non-ioredis nodes', () => {
    assert.throws(() => new Redlock([]), invalid(/non-empty array/));
    assert.throws(() => new Redlock(undefined as never), invalid(/non-empty array/));
    assert.throws(() => new Redlock([42 as never]), invalid(/nodes\[0\].*42/));
    assert.throws(() => new Redlock([{ sendCommand() {}, then() {} } as never]), invalid(/node-redis/));
    assert.throws(() => new Redlock(['http://localhost:6379']), invalid(/redis:\/\/ URL/));
    assert.throws(() => redlock({}, [{ port: 7, lazyConnect: true }, { port: 7, lazyConnect: true }]), invalid(/distinct/));
  });

  test('options are checked by field, by name, and across fields', () => {
    assert.throws(() => redlock({ driftFactor: 2 }), invalid(/`driftFactor` to be a number from 0 to 0.5, got `2`/));
    assert.throws(() => redlock({ retryCount: -1 }), invalid(/`retryCount` to be a non-negative integer/));
    assert.throws(() => redlock({ retryDelay: 1.5 }), invalid(/`retryDelay`.*`1.5` \(number\)/));
    assert.throws(() => redlock({ nodeTimeout: 0 }), invalid(/`nodeTimeout` to be a positive integer/));
    assert.throws(() => redlock({ waitForRelease: 'yes' }), invalid(/`waitForRelease` to be a boolean/));
    assert.throws(() => redlock({ prefix: '' }), invalid(/`prefix`/));
    assert.throws(() => redlock({ retryDelya: 5 }), invalid(/Unknown option `retryDelya`/));
    assert.throws(() => redlock({ maxTtl: 400 }), invalid(/automaticExtensionThreshold.*maxTtl/));
    assert.throws(() => redlock({ clock: {} }), invalid(/clock/));
  });
});

describe('bad acquire input', () => {
  const r = redlock({ maxTtl: 30_000 });
  test('resources: empty, duplicate, not strings', async () => {
    await assert.rejects(r.acquire([], 1_000), invalid(/`resources`/));
    await assert.rejects(r.acquire('', 1_000), invalid(/`resources\[0\]`/));
    await assert.rejects(r.acquire(['a', 'a'], 1_000), invalid(/distinct.*`a` twice/));
    await assert.rejects(r.acquire([1] as never, 1_000), invalid(/`resources\[0\]`/));
    await assert.rejects(r.tryAcquire(null as never, 1_000), invalid(/`resources`/));
  });

  test('ttl: non-positive, fractional, not a number, above maxTtl', async () => {
    for (const ttl of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '100']) {
      await assert.rejects(r.acquire('a', ttl as never), invalid(/`ttl` to be a positive integer/));
    }
    await assert.rejects(r.acquire('a', 30_001), invalid(/at most `maxTtl` \(30000\)/));
  });

  test('per-call options', async () => {
    await assert.rejects(r.acquire('a', 1_000, { retryCount: 1.2 }), invalid(/retryCount/));
    await assert.rejects(r.acquire('a', 1_000, { prefix: 'x' } as never), invalid(/`prefix` is a Redlock option/));
    await assert.rejects(r.acquire('a', 1_000, { signal: 'no' } as never), invalid(/`signal` to be an AbortSignal/));
    await assert.rejects(r.using('a', 1_000, 'nope' as never), invalid(/routine/));
  });

  test('multi-key locks on a Cluster node must share a hash slot (a clear error, not CROSSSLOT)', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    const r2 = redlock({}, [cluster]);
    await assert.rejects(
      r2.acquire(['order:42', 'stock:7'], 1_000),
      invalid(/different Redis Cluster hash slots.*common hash tag/),
    );
    cluster.disconnect();
  });

  test('accepts ioredis clients, URLs and options, and names nodes host:port', () => {
    const client = new Redis({ port: 6390, lazyConnect: true });
    const r3 = redlock({}, [client, 'redis://127.0.0.1:6391', { port: 6392, lazyConnect: true }]);
    assert.deepEqual(
      r3.nodes.map((n) => n.name),
      ['localhost:6390', '127.0.0.1:6391', 'localhost:6392'],
    );
    assert.equal(r3.quorum, 2);
    assert.deepEqual(
      r3.nodes.map((n) => (n as RedisNode).owned),
      [false, true, true],
    );
    client.disconnect();
  });
});

describe('scripts', () => {
  // Pinned: a change to a script must be deliberate (and its SHA1 updated here).
  const pinned: Record<string, string> = {
    acquire: '4dafd242ab84510f4424c73f0279e5ffc7ee5f6f',
    extend: '53febc3021b1e075cbc0898030189c8dd8f5e97e',
    fence: 'eae8c3e8b259e12b1769cbf091fef16ba15906a7',
    holderRead: '5ebfd8c5b418524068b4771274f4cd0f72048553',
    holderWrite: '1dd8c59722cc7b2606de19c79a17be8f3c12d480',
    leaveQueue: '6452486eeb1f37ab9472f8fb950cfdf1ced086d9',
    raiseFence: '97649571114b1e48f030526fd5ef4f2ee727a83d',
    ready: '76ba1e8dcfed031f843ddb599295c2921d8f3faf',
    release: 'f8317d8e97b485d6c10b25a8a6c09c2382f5d9dd',
    repairCounters: '12e56f6d074b5feddfeabe04079175b7b5a0ebb6',
    unclaim: 'e5a212447e6ae33c5b92e0c862054e8ac229b69b',
    queueActivate: '83de78e23113fbc15391de8272898e23588d6f82',
    queueAdd: 'e6cc5088ef17e35d1af5b7403f1804c4a019b069',
    queueClean: 'd2b1aab8cf51b275c104dd1aa8956bb9ec84927f',
    queueCounts: '4bd75ab44d757a5e4f474dc163339a6035469091',
    queueDrain: 'ad503925cee48db42b71710740c75a8c91e4cf02',
    queueFetch: '88bf80b751b3ebf227b4592c689dd541de396bf8',
    queueFinish: 'edf4e03a510422de18eeeaa13feca0e42a23ccc1',
    queueLock: '87c332aff565032be6774482008af08917d1a9d5',
    queueMove: '3411d5edc5e3bf38f215df9ddde69a8dddb031f9',
    queueObliterate: 'd44cc6f2801e1fa9939331e54ab34144368596cb',
    queuePause: '7b9ecf533e8c62876ab727581bc98beecbaeb80b',
    queueRemove: '7c6babedf1c36f733fe40e8300a05edc2935add7',
    queueRequeue: '1255c3ac26ab41aeffd2dbc9431e46dcf872146b',
    queueStalled: '56c6ba8bc03c8c3b947ab0acaff143181c72fc08',
    queueState: '0fc40ec6e4a0b8fbdc08be40c2578cf4d0879ca9',
    queueUpdate: '2057d3693828ab663393c2621886d4925d50cda3',
  };
  test('every script is pinned by SHA1 and generated from its .lua file', () => {
    assert.deepEqual(Object.keys(luaScripts).sort(), Object.keys(pinned).sort());
    for (const [name, script] of Object.entries(luaScripts)) {
      const file = readFileSync(new URL(`../../${script.file}`, import.meta.url), 'utf8');
      const body = stripComments(expandLua(file, script.file));
      assert.equal(body, script.lua, `${name} is up to date with ${script.file}`);
      assert.doesNotMatch(body, /^\s*--/m, 'includes expanded, comment lines left out');
      const sha1 = createHash('sha1').update(body).digest('hex');
      assert.equal(script.sha1, sha1);
      assert.equal(sha1, pinned[name], `${name} SHA1`);
      assert.match(file, /^-- KEYS/m);
      assert.match(file, /^-- ARGV/m);
      assert.match(file, /^-- Returns/m);
    }
  });
});

describe('local cluster launcher', () => {
  test('says how to install redis-server when it is missing', () => {
    const saved = { path: process.env['PATH'], bin: process.env['REDIS_SERVER_BIN'] };
    process.env['PATH'] = '/nonexistent';
    delete process.env['REDIS_SERVER_BIN'];
    try {
      assert.throws(
        () => findRedisServer(),
        (e: unknown) => e instanceof RedfenceError && e.code === 'REDIS_SERVER_MISSING' && /apt-get install -y redis-server/.test(e.message),
      );
    } finally {
      process.env['PATH'] = saved.path;
      if (saved.bin !== undefined) process.env['REDIS_SERVER_BIN'] = saved.bin;
    }
  });
});

describe('errors', () => {
  test('a NodeError names the node and the operation, keeps the cause, and is a RedfenceError with code NODE', () => {
    const cause = new Error('connect ECONNREFUSED 127.0.0.1:6390');
    const error = new NodeError('127.0.0.1:6390', 'release', cause);
    assert.ok(error instanceof RedfenceError);
    assert.equal(error.name, 'NodeError');
    assert.equal(error.code, 'NODE');
    assert.equal(error.node, '127.0.0.1:6390');
    assert.equal(error.operation, 'release');
    assert.equal(error.cause, cause);
    assert.match(error.message, /127\.0\.0\.1:6390 release: connect ECONNREFUSED/);
  });
});
