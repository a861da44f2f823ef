/**
 * Conformance of the Toxiproxy server the chaos suite uses: the in-process one by default, a real
 * Toxiproxy when TOXIPROXY_URL is set. The server is driven through `toxiproxy-node-client`; raw
 * fetch is used only where the client has no method or hides the status code and error body.
 * Faults are checked end to end against a real redis-server, through ioredis and raw sockets.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import {
  type Bandwidth,
  type Latency,
  type Slicer,
  type Slowclose,
  type Timeout,
  type Proxy as ToxiproxyProxy,
  ToxiproxyError,
} from 'toxiproxy-node-client';
import { type LocalCluster, startLocalCluster } from '../../src/index.js';
import {
  listenAddress,
  proxyEndpoint,
  toxiproxyClient,
  type ToxiproxyHandle,
  upstreamAddress,
} from './toxiproxy.js';

/** Timers may fire up to a millisecond early against performance.now(). */
const MARGIN_MS = 2;
const options = { timeout: 30_000 };

let cluster: LocalCluster | undefined;
let toxiproxy: ToxiproxyHandle | undefined;

before(async () => {
  cluster = await startLocalCluster({ nodes: 1 });
  toxiproxy = await toxiproxyClient();
});

after(async () => {
  await toxiproxy?.close();
  await cluster?.stop();
});

function env() {
  const node = cluster?.nodes[0];
  if (node === undefined || toxiproxy === undefined) throw new Error('setup did not finish');
  return { client: toxiproxy.client, url: toxiproxy.url, external: toxiproxy.external, upstream: upstreamAddress(node.port) };
}

const uniqueName = (): string => `conformance-${randomUUID().slice(0, 8)}`;

/** A proxy to the redis-server under a fresh name, removed when the test ends. */
async function newProxy(t: TestContext): Promise<ToxiproxyProxy> {
  const proxy = await env().client.createProxy({ name: uniqueName(), listen: listenAddress(), upstream: env().upstream });
  t.after(() => proxy.remove().catch(() => undefined));
  return proxy;
}

interface Observed {
  readonly redis: Redis;
  readonly errors: NodeJS.ErrnoException[];
  /** Resolves when the connection closes. */
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

/** An ioredis client through `proxy` that never reconnects, disconnected when the test ends. */
async function redisVia(t: TestContext, proxy: { readonly listen: string }, extra: RedisOptions = {}): Promise<Observed> {
  const redis = new Redis({
    ...proxyEndpoint(proxy),
    lazyConnect: true,
    enableReadyCheck: false, // no INFO on connect
    disableClientInfo: true, // no CLIENT SETINFO on connect: a connection is open before any data flows
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5_000,
    ...extra,
  });
  t.after(() => redis.disconnect());
  const errors: NodeJS.ErrnoException[] = [];
  redis.on('error', (error: NodeJS.ErrnoException) => errors.push(error));
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    redis.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  await redis.connect();
  return { redis, errors, closed, isClosed: () => isClosed };
}

interface RawConnection {
  readonly socket: Socket;
  readonly reads: { readonly data: Buffer; readonly at: number }[];
  readonly errors: NodeJS.ErrnoException[];
  /** performance.now() when the peer ended the stream. */
  readonly ended: Promise<number>;
  readonly closed: Promise<void>;
  text(): string;
  /** Resolves once at least `bytes` bytes were read. */
  untilBytes(bytes: number): Promise<void>;
}

/** A plain TCP connection through `proxy`, destroyed when the test ends. */
async function rawVia(t: TestContext, proxy: { readonly listen: string }): Promise<RawConnection> {
  const socket = connect(proxyEndpoint(proxy));
  t.after(() => socket.destroy());
  const reads: { data: Buffer; at: number }[] = [];
  const errors: NodeJS.ErrnoException[] = [];
  const text = (): string => Buffer.concat(reads.map((r) => r.data)).toString();
  socket.on('data', (data: Buffer) => reads.push({ data, at: performance.now() }));
  socket.on('error', (error: NodeJS.ErrnoException) => errors.push(error));
  const ended = new Promise<number>((resolve) => socket.once('end', () => resolve(performance.now())));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const untilBytes = (bytes: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (Buffer.byteLength(text()) < bytes) return;
        socket.off('data', check);
        resolve();
      };
      socket.on('data', check);
      check();
    });
  return { socket, reads, errors, ended, closed, text, untilBytes };
}

/** `'connected'`, or the error code of a connection attempt to `endpoint`. */
function tryConnect(endpoint: { host: string; port: number }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(endpoint);
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(error.code ?? error.message);
    });
  });
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Never rejects, so a command may stay pending or fail without an unhandled rejection. */
function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Milliseconds `run` took. */
async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

interface ApiResponse {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  readonly json: unknown;
}

/** A raw API request, for status codes, error bodies and the endpoints the client lacks. */
async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const init: RequestInit = { method, headers };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json', ...headers };
  }
  const response = await fetch(`${env().url}${path}`, init);
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', text, json };
}

/** `{status, json}` of a raw request, to compare with an expected error. */
async function statusAndBody(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const { status, json } = await api(method, path, body);
  return { status, json };
}

const errorBody = (status: number, error: string) => ({ status, json: { error, status } });

test('GET /version gives the 2.x version document as raw text', options, async () => {
  const text = await env().client.getVersion();
  assert.match(String((JSON.parse(text) as { version?: unknown }).version), /^2\.\d+\.\d+$/);
  if (!env().external) assert.equal(text, '{"version": "2.12.0"}\n');
  const response = await api('GET', '/version');
  assert.equal(response.status, 200);
  assert.match(response.contentType, /^application\/json/);
});

test('proxy endpoints: status codes, defaults, real port, and the documented errors', options, async (t) => {
  const { client, upstream } = env();
  const proxy = await newProxy(t);
  assert.equal(proxy.enabled, true, 'enabled defaults to true');
  assert.equal(proxy.upstream, upstream);
  assert.notEqual(proxyEndpoint(proxy).port, 0, 'the response carries the real port');
  assert.deepEqual((await client.get(proxy.name)).toJson(), proxy.toJson());
  assert.deepEqual((await client.getAll())[proxy.name]?.toJson(), proxy.toJson());

  const shown = await api('GET', `/proxies/${proxy.name}`);
  assert.equal(shown.status, 200);
  assert.deepEqual({ ...(shown.json as object), Logger: undefined }, { ...proxy.toJson(), toxics: [], Logger: undefined });

  const name = uniqueName();
  t.after(() => api('DELETE', `/proxies/${name}`).catch(() => undefined));
  const created = await api('POST', '/proxies', { name, listen: listenAddress(), upstream });
  assert.equal(created.status, 201);
  assert.deepEqual(await statusAndBody('POST', '/proxies', { name, listen: listenAddress(), upstream }), errorBody(409, 'proxy already exists'));
  assert.deepEqual(await statusAndBody('POST', '/proxies', { listen: listenAddress(), upstream }), errorBody(400, 'missing required field: name'));
  assert.deepEqual(
    await statusAndBody('POST', '/proxies', { name: uniqueName(), listen: listenAddress() }),
    errorBody(400, 'missing required field: upstream'),
  );

  const missing = uniqueName();
  assert.deepEqual(await statusAndBody('GET', `/proxies/${missing}`), errorBody(404, 'proxy not found'));
  await assert.rejects(client.get(missing), (error: unknown) => error instanceof ToxiproxyError && /404/.test(error.message));

  assert.equal((await api('DELETE', `/proxies/${name}`)).status, 204);
  assert.deepEqual(await statusAndBody('GET', `/proxies/${name}`), errorBody(404, 'proxy not found'));
});

test('toxic endpoints: 200 on create, defaults filled in, merge on update, and the documented errors', options, async (t) => {
  const proxy = await newProxy(t);
  const toxics = `/proxies/${proxy.name}/toxics`;
  const defaults: Record<string, Record<string, number>> = {
    latency: { latency: 0, jitter: 0 },
    bandwidth: { rate: 0 },
    slow_close: { delay: 0 },
    timeout: { timeout: 0 },
    reset_peer: { timeout: 0 },
    slicer: { average_size: 0, size_variation: 0, delay: 0 },
    limit_data: { bytes: 0 },
  };
  for (const [type, attributes] of Object.entries(defaults)) {
    const created = await api('POST', toxics, { type });
    assert.equal(created.status, 200, `${type}: status`);
    assert.deepEqual(created.json, { attributes, name: `${type}_downstream`, type, stream: 'downstream', toxicity: 1 }, type);
  }
  const upstreamOne = await api('POST', toxics, { type: 'latency', stream: 'upstream' });
  assert.deepEqual(upstreamOne.json, {
    attributes: defaults['latency'],
    name: 'latency_upstream',
    type: 'latency',
    stream: 'upstream',
    toxicity: 1,
  });
  const listed = await api('GET', toxics);
  assert.equal(listed.status, 200);
  assert.deepEqual(
    (listed.json as { name: string }[]).map((x) => x.name).sort(),
    [...Object.keys(defaults).map((type) => `${type}_downstream`), 'latency_upstream'].sort(),
  );

  assert.deepEqual(await statusAndBody('POST', toxics, { type: 'latency' }), errorBody(409, 'toxic already exists'));
  assert.deepEqual(await statusAndBody('POST', toxics, { type: 'no_such_toxic' }), errorBody(400, 'invalid toxic type'));
  assert.deepEqual(
    await statusAndBody('POST', toxics, { type: 'latency', name: 'x', stream: 'sideways' }),
    errorBody(400, 'stream was invalid, can be either upstream or downstream'),
  );
  assert.deepEqual(await statusAndBody('GET', `${toxics}/nope`), errorBody(404, 'toxic not found'));
  assert.deepEqual(await statusAndBody('POST', `/proxies/${uniqueName()}/toxics`, { type: 'latency' }), errorBody(404, 'proxy not found'));

  // Through the client: create, read back, update, remove.
  const body = { name: 'lat', type: 'latency', stream: 'upstream', toxicity: 0.5, attributes: { latency: 100, jitter: 0 } } as const;
  const toxic = await proxy.addToxic<Latency>(body);
  assert.deepEqual(toxic.toJson(), body);
  assert.deepEqual((await proxy.getToxic<Latency>('lat')).toJson(), body);
  const merged = await api('POST', `${toxics}/lat`, { attributes: { jitter: 7 } });
  assert.equal(merged.status, 200);
  assert.deepEqual(merged.json, { ...body, attributes: { latency: 100, jitter: 7 } }, 'attributes are merged');
  const retoxed = await api('POST', `${toxics}/lat`, { toxicity: 0.25 });
  assert.deepEqual(retoxed.json, { ...body, toxicity: 0.25, attributes: { latency: 100, jitter: 7 } }, 'toxicity alone changes');
  const updated = await toxic.update({ ...toxic.toJson(), attributes: { latency: 50, jitter: 0 } });
  assert.deepEqual(updated.toJson(), { ...body, attributes: { latency: 50, jitter: 0 } });
  const inProxy = await api('GET', `/proxies/${proxy.name}`);
  assert.equal((inProxy.json as { toxics: unknown[] }).toxics.length, Object.keys(defaults).length + 2);

  await updated.remove();
  assert.deepEqual(await statusAndBody('GET', `${toxics}/lat`), errorBody(404, 'toxic not found'));
  assert.equal((await api('DELETE', `${toxics}/latency_upstream`)).status, 204);
});

test('a user agent starting with Mozilla/ is refused with 403', options, async () => {
  assert.equal((await api('GET', '/proxies')).status, 200);
  const browser = await api('GET', '/proxies', undefined, { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64)' });
  assert.equal(browser.status, 403);
});

test('populate answers 201, keeps unchanged proxies and replaces changed ones', options, async (t) => {
  const { client, upstream } = env();
  const [a, b] = [uniqueName(), uniqueName()];
  t.after(() => Promise.all([a, b].map((name) => api('DELETE', `/proxies/${name}`).catch(() => undefined))));
  const first = await client.populate([
    { name: a, listen: listenAddress(), upstream },
    { name: b, listen: listenAddress(), upstream },
  ]);
  const [proxyA, proxyB] = [first[a], first[b]];
  assert.ok(proxyA !== undefined && proxyB !== undefined, 'both proxies are returned');
  const viaA = await redisVia(t, proxyA);
  const viaB = await redisVia(t, proxyB);
  assert.equal(await viaA.redis.ping(), 'PONG');
  assert.equal(await viaB.redis.ping(), 'PONG');

  const changedUpstream = upstreamAddress(1); // nothing listens on port 1
  const second = await api('POST', '/populate', [
    { name: a, listen: proxyA.listen, upstream },
    { name: b, listen: proxyB.listen, upstream: changedUpstream },
  ]);
  assert.equal(second.status, 201);
  const proxies = (second.json as { proxies: { name: string; listen: string; upstream: string }[] }).proxies;
  assert.deepEqual(
    proxies.map((p) => [p.name, p.listen, p.upstream]),
    [
      [a, proxyA.listen, upstream],
      [b, proxyB.listen, changedUpstream],
    ],
  );
  await within(viaB.closed, 5_000, 'the connection of the replaced proxy closing');
  assert.equal(await viaA.redis.ping(), 'PONG', 'the kept proxy was not restarted');
  assert.equal(viaA.isClosed(), false);
});

test('latency delays replies by at least the latency, on open and new connections, until removed', options, async (t) => {
  const proxy = await newProxy(t);
  const first = await redisVia(t, proxy);
  const down = await proxy.addToxic<Latency>({ name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 300, jitter: 0 } });
  const second = await redisVia(t, proxy);
  for (const { redis } of [first, second, first]) {
    const ms = await timed(() => redis.ping());
    assert.ok(ms >= 300 - MARGIN_MS, `PING took ${ms.toFixed(1)} ms with 300 ms downstream latency`);
    assert.ok(ms < 300 + 5_000, `PING took ${ms.toFixed(1)} ms`);
  }
  await down.remove();
  const clean = await timed(() => first.redis.ping());
  assert.ok(clean < 250, `PING took ${clean.toFixed(1)} ms after the latency toxic was removed`);

  const up = await proxy.addToxic<Latency>({ name: 'lat-up', type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: 200, jitter: 0 } });
  const upMs = await timed(() => first.redis.ping());
  assert.ok(upMs >= 200 - MARGIN_MS, `PING took ${upMs.toFixed(1)} ms with 200 ms upstream latency`);
  await up.update({ ...up.toJson(), attributes: { latency: 200, jitter: 100 } });
  for (let i = 0; i < 5; i += 1) {
    const ms = await timed(() => first.redis.ping());
    assert.ok(ms >= 100 - MARGIN_MS, `PING took ${ms.toFixed(1)} ms with 200 ± 100 ms latency`);
  }
});

test('toxicity is rolled once per connection: a connection is delayed on every PING or on none', options, async (t) => {
  const never = await newProxy(t);
  await never.addToxic<Latency>({ name: 'never', type: 'latency', stream: 'downstream', toxicity: 0, attributes: { latency: 400, jitter: 0 } });
  const spared = await redisVia(t, never);
  for (let i = 0; i < 3; i += 1) {
    const ms = await timed(() => spared.redis.ping());
    assert.ok(ms < 200, `PING took ${ms.toFixed(1)} ms through a toxic with toxicity 0`);
  }

  const maybe = await newProxy(t);
  await maybe.addToxic<Latency>({ name: 'maybe', type: 'latency', stream: 'downstream', toxicity: 0.5, attributes: { latency: 400, jitter: 0 } });
  const clients = await Promise.all(Array.from({ length: 8 }, () => redisVia(t, maybe)));
  const delays = await Promise.all(
    clients.map(async ({ redis }) => {
      const delayed: boolean[] = [];
      for (let i = 0; i < 3; i += 1) delayed.push((await timed(() => redis.ping())) >= 200);
      return delayed;
    }),
  );
  for (const delayed of delays) assert.ok(delayed.every((d) => d === delayed[0]), `per-PING delays of one connection: ${delayed.join(', ')}`);
});

test('a change to a chain restarts the toxic just before it: a timeout starts again; one further back does not', options, async (t) => {
  const T = 1_500;
  const timeoutToxic = { name: 'T', type: 'timeout', stream: 'upstream', toxicity: 1, attributes: { timeout: T } } as const;
  const noLatency = (name: string) => ({ name, type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: 0, jitter: 0 } }) as const;
  const [added, removed, further] = [await newProxy(t), await newProxy(t), await newProxy(t)];
  await added.addToxic<Timeout>(timeoutToxic);
  await removed.addToxic<Timeout>(timeoutToxic);
  await removed.addToxic<Latency>(noLatency('L1'));
  await further.addToxic<Timeout>(timeoutToxic);
  await further.addToxic<Latency>(noLatency('L1'));
  // Idle connections (no data): each timeout toxic runs from the accept; nothing else restarts it.
  const conns = await Promise.all([added, removed, further].map((p) => rawVia(t, p)));
  const closedAt = conns.map((c) => c.closed.then(() => performance.now()));
  await delay(600);
  const changes = [
    () => added.addToxic<Latency>(noLatency('L')), // right after T: T restarts
    async () => (await removed.getToxic<Latency>('L1')).remove(), // right after T: T restarts
    () => further.addToxic<Latency>(noLatency('L2')), // after L1: only L1 restarts
  ];
  const changedAt: number[] = [];
  for (const change of changes) {
    changedAt.push(performance.now());
    await change();
  }
  const closed = await within(Promise.all(closedAt), 5_000, 'the three connections closing');
  const after = closed.map((at, i) => at - (changedAt[i] ?? Number.NaN));
  assert.ok((after[0] ?? 0) >= T - MARGIN_MS, `closed ${after[0]?.toFixed(1)} ms after a toxic was added behind the timeout ${T}`);
  assert.ok((after[1] ?? 0) >= T - MARGIN_MS, `closed ${after[1]?.toFixed(1)} ms after the toxic behind the timeout ${T} was removed`);
  assert.ok((after[2] ?? T) < T - 100, `closed ${after[2]?.toFixed(1)} ms after a toxic was added further down the chain (timeout ${T}, started 600 ms earlier)`);
});

test('a change to a chain rolls the toxicity of the toxic just before it again', options, async (t) => {
  const proxy = await newProxy(t);
  await proxy.addToxic<Latency>({ name: 'maybe', type: 'latency', stream: 'downstream', toxicity: 0.5, attributes: { latency: 300, jitter: 0 } });
  const clients = await Promise.all(Array.from({ length: 20 }, () => redisVia(t, proxy)));
  const rolls = (): Promise<boolean[]> => Promise.all(clients.map(async ({ redis }) => (await timed(() => redis.ping())) >= 150));
  const changed = (a: boolean[], b: boolean[]): number => a.filter((x, i) => x !== b[i]).length;
  const first = await rolls();
  const next = await proxy.addToxic<Latency>({ name: 'next', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 0, jitter: 0 } });
  const second = await rolls();
  await next.remove();
  const third = await rolls();
  // Each roll applies the toxic with probability 0.5: all 20 the same by chance has odds 2^-20.
  assert.ok(changed(first, second) > 0, `adding a toxic after it: delayed before ${first.join(',')}; after ${second.join(',')}`);
  assert.ok(changed(second, third) > 0, `removing the toxic after it: delayed before ${second.join(',')}; after ${third.join(',')}`);
});

test('timeout 0 swallows data while it exists; removing it closes every connection of the proxy', options, async (t) => {
  const proxy = await newProxy(t);
  const busy = await redisVia(t, proxy);
  const idle = await redisVia(t, proxy);
  assert.equal(await busy.redis.ping(), 'PONG');
  const toxic = await proxy.addToxic<Timeout>({ name: 'swallow', type: 'timeout', stream: 'downstream', toxicity: 1, attributes: { timeout: 0 } });
  const ping = settle(busy.redis.ping());
  assert.equal(await settlesWithin(ping, 1_000), false, 'PING is answered while the timeout toxic exists');
  assert.equal(busy.isClosed(), false, 'timeout 0 does not close the connection');

  await toxic.remove();
  await within(Promise.all([busy.closed, idle.closed]), 5_000, 'both connections closing after the timeout toxic was removed');
  const outcome = await within(ping, 5_000, 'the swallowed PING failing');
  assert.equal(outcome.ok, false, 'the swallowed PING fails');
  const fresh = await redisVia(t, proxy);
  assert.equal(await fresh.redis.ping(), 'PONG', 'the proxy itself still works');
});

test('timeout > 0 closes the connection after the timeout', options, async (t) => {
  const proxy = await newProxy(t);
  const client = await redisVia(t, proxy);
  const start = performance.now();
  await proxy.addToxic<Timeout>({ name: 'cut', type: 'timeout', stream: 'downstream', toxicity: 1, attributes: { timeout: 400 } });
  const ping = settle(client.redis.ping());
  await within(client.closed, 5_000, 'the connection closing');
  const ms = performance.now() - start;
  assert.ok(ms >= 400 - MARGIN_MS, `closed after ${ms.toFixed(1)} ms with timeout 400`);
  assert.equal((await ping).ok, false, 'the PING got no answer');
});

test('timeout > 0 restarts on every chunk it drops: the connection closes only after that long without data', options, async (t) => {
  const proxy = await newProxy(t);
  const raw = await rawVia(t, proxy);
  const closedAt = raw.closed.then(() => performance.now());
  await proxy.addToxic<Timeout>({ name: 'idle', type: 'timeout', stream: 'upstream', toxicity: 1, attributes: { timeout: 1_000 } });
  const start = performance.now();
  let lastWrite = start;
  // 10 PINGs 150 ms apart: 1.5 s of steady data, each swallowed, each restarting the 1 s timer.
  for (let i = 0; i < 10 && !raw.socket.destroyed; i += 1) {
    raw.socket.write('PING\r\n');
    lastWrite = performance.now();
    await delay(150);
  }
  const openFor = performance.now() - start;
  assert.equal(raw.socket.destroyed, false, `closed ${openFor.toFixed(0)} ms after the toxic was added, while data still flowed`);
  const idle = (await within(closedAt, 5_000, 'the connection closing')) - lastWrite;
  assert.ok(idle >= 1_000 - MARGIN_MS, `closed ${idle.toFixed(1)} ms after the last data with timeout 1000`);
  assert.equal(raw.text(), '', 'every PING was swallowed');
});

const codes = (errors: readonly NodeJS.ErrnoException[]): string => errors.map((e) => e.code ?? e.message).join(', ') || 'none';

test('reset_peer resets a connection accepted while it exists (ECONNRESET); one already open gets FIN', options, async (t) => {
  const proxy = await newProxy(t);
  const open = await rawVia(t, proxy);
  open.socket.write('PING\r\n');
  await within(open.untilBytes(7), 5_000, 'PONG');
  await proxy.addToxic<{ timeout: number }>({ name: 'rst', type: 'reset_peer', stream: 'upstream', toxicity: 1, attributes: { timeout: 200 } });
  const fresh = await redisVia(t, proxy);

  const start = performance.now();
  open.socket.write('PING\r\n');
  const ping = settle(fresh.redis.ping());
  await within(Promise.all([open.closed, fresh.closed]), 5_000, 'both connections closing');
  const ms = performance.now() - start;
  assert.ok(ms >= 200 - MARGIN_MS, `closed after ${ms.toFixed(1)} ms with timeout 200`);
  assert.ok(fresh.errors.some((e) => e.code === 'ECONNRESET'), `new connection: errors seen: ${codes(fresh.errors)}`);
  assert.equal((await ping).ok, false);
  // A real Toxiproxy sets SO_LINGER 0 only when it accepts a connection, so it closes an open one.
  assert.equal(await settlesWithin(open.ended, 0), true, 'the open connection got FIN');
  assert.deepEqual(open.errors.map((e) => e.code), [], 'the open connection was not reset');
  assert.equal(open.text(), '+PONG\r\n', 'the second PING got no answer');
});

test('a reset_peer toxic that got data closes the connection even if it is removed while it waits', options, async (t) => {
  const proxy = await newProxy(t);
  const raw = await rawVia(t, proxy);
  const toxic = await proxy.addToxic<{ timeout: number }>({ name: 'rst', type: 'reset_peer', stream: 'upstream', toxicity: 1, attributes: { timeout: 1_000 } });
  await new Promise<void>((resolve) => raw.socket.write('PING\r\n', () => resolve()));
  await delay(100); // the PING is held by the toxic, which closes the connection 1 s after it came
  await toxic.remove(); // a real Toxiproxy answers only once the toxic has fired
  await within(raw.closed, 5_000, 'the connection closing');
  assert.equal(raw.text(), '', 'the held PING was dropped, not passed on');
});

test('a connection accepted while any reset_peer existed is reset when closed later, even at toxicity 0 and after removal', options, async (t) => {
  const proxy = await newProxy(t);
  const toxic = await proxy.addToxic<{ timeout: number }>({ name: 'mark', type: 'reset_peer', stream: 'downstream', toxicity: 0, attributes: { timeout: 0 } });
  const marked = await redisVia(t, proxy);
  assert.equal(await marked.redis.ping(), 'PONG', 'toxicity 0: the toxic does nothing');
  await toxic.remove();
  const plain = await redisVia(t, proxy);
  assert.equal(await plain.redis.ping(), 'PONG');
  assert.equal(await marked.redis.ping(), 'PONG');

  await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
  await within(Promise.all([marked.closed, plain.closed]), 5_000, 'both connections closing');
  assert.ok(marked.errors.some((e) => e.code === 'ECONNRESET'), `accepted with the toxic: errors seen: ${codes(marked.errors)}`);
  assert.deepEqual(plain.errors.map((e) => e.code), [], 'accepted after the toxic was removed: closed with FIN');
});

/**
 * A listener in a child process whose event loop is blocked from the start, so it never accepts:
 * with backlog 1 the kernel queues two connections and drops later SYNs (the connect retries).
 * `stop()` kills the process: the port is closed, and every pending connect is refused at its
 * next SYN retry.
 */
async function stalledListener(t: TestContext): Promise<{ port: number; stop(): Promise<void> }> {
  const script = `const s = require('node:net').createServer();
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(s.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    child.kill('SIGKILL');
    await exited;
  };
  t.after(stop);
  const port = await within(
    new Promise<number>((resolve) => child.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim())))),
    10_000,
    'the stalled listener starting',
  );
  return { port, stop };
}

/** A client that writes `data` at once (queued until the connect completes); `written` resolves once the kernel has it. */
function writeAtOnce(t: TestContext, endpoint: { host: string; port: number }, data: string) {
  const socket = connect(endpoint);
  t.after(() => socket.destroy());
  const written = new Promise<void>((resolve) => socket.write(data, () => resolve()));
  const codes: string[] = [];
  let ended = false;
  let read = '';
  socket.on('data', (chunk: Buffer) => (read += chunk.toString('latin1')));
  socket.on('end', () => (ended = true));
  socket.on('error', (error: NodeJS.ErrnoException) => codes.push(error.code ?? error.message));
  const closed = new Promise<{ codes: string[]; ended: boolean; read: string }>((resolve) =>
    socket.once('close', () => resolve({ codes, ended, read })),
  );
  return { written, closed };
}

test('an unreachable upstream: the client is closed unread: FIN when it sent nothing, RST when it had sent data', options, async (t) => {
  const { client } = env();
  const refused = await client.createProxy({ name: uniqueName(), listen: listenAddress(), upstream: upstreamAddress(1) }); // nothing listens on port 1
  t.after(() => refused.remove().catch(() => undefined));
  const silent = await rawVia(t, refused);
  await within(silent.closed, 5_000, 'the silent connection closing');
  assert.equal(await settlesWithin(silent.ended, 0), true, 'the silent client got FIN');
  assert.deepEqual(silent.errors.map((e) => e.code), [], 'the silent client was not reset');

  // Whether data sent at once arrives before a refused connect is a race, so the upstream here
  // hangs (its queue is full) until the test has written, and is refused after that.
  const stalled = await stalledListener(t);
  const fillers = Array.from({ length: 3 }, () => connect({ host: '127.0.0.1', port: stalled.port }).on('error', () => undefined));
  t.after(() => fillers.forEach((f) => f.destroy()));
  let connected = 0;
  const queueFull = new Promise<void>((resolve) => {
    for (const filler of fillers) filler.once('connect', () => (connected += 1) === 2 && resolve());
  });
  await within(queueFull, 5_000, 'two connections filling the stalled queue');
  const proxy = await client.createProxy({ name: uniqueName(), listen: listenAddress(), upstream: upstreamAddress(stalled.port) });
  t.after(() => proxy.remove().catch(() => undefined));
  const talkers = Array.from({ length: 5 }, () => writeAtOnce(t, proxyEndpoint(proxy), 'PING\r\n'));
  await within(Promise.all(talkers.map((c) => c.written)), 5_000, 'the clients writing');
  await stalled.stop();
  const seen = await within(Promise.all(talkers.map((c) => c.closed)), 15_000, 'the clients being closed');
  assert.deepEqual(seen.map((c) => c.read).filter((read) => read !== ''), [], 'no client got an answer');
  assert.deepEqual(
    seen.map((c) => `${c.ended ? 'FIN ' : ''}${c.codes.join('+')}`),
    seen.map(() => 'ECONNRESET'),
    'every client that had sent data was reset',
  );
});

test('down (enabled:false) closes open connections and refuses new ones; enabling restores the same port', options, async (t) => {
  const proxy = await newProxy(t);
  const endpoint = proxyEndpoint(proxy);
  const open = await redisVia(t, proxy);
  assert.equal(await open.redis.ping(), 'PONG');
  const down = await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
  assert.equal(down.enabled, false);
  await within(open.closed, 5_000, 'the open connection closing');
  assert.equal(await within(tryConnect(endpoint), 5_000, 'a connection attempt'), 'ECONNREFUSED');
  assert.equal((await env().client.get(proxy.name)).enabled, false);

  const up = await proxy.update({ enabled: true, listen: proxy.listen, upstream: proxy.upstream });
  assert.equal(up.enabled, true);
  assert.equal(up.listen, proxy.listen, 'the proxy listens on the same port again');
  const again = await redisVia(t, up);
  assert.equal(await again.redis.ping(), 'PONG');
});

test('limit_data closes the connection after N bytes', options, async (t) => {
  const proxy = await newProxy(t);
  await proxy.addToxic<{ bytes: number }>({ name: 'limit', type: 'limit_data', stream: 'downstream', toxicity: 1, attributes: { bytes: 10 } });
  const raw = await rawVia(t, proxy);
  raw.socket.write('PING\r\nPING\r\n');
  await within(raw.closed, 5_000, 'the connection closing');
  assert.equal(raw.text(), '+PONG\r\n+PO', 'exactly the first 10 bytes of the two replies');
});

test('limit_data counts the bytes of a connection across updates and restarts, and its close waits for what later toxics hold', options, async (t) => {
  const proxy = await newProxy(t);
  const limit = await proxy.addToxic<{ bytes: number }>({ name: 'limit', type: 'limit_data', stream: 'downstream', toxicity: 1, attributes: { bytes: 10 } });
  const raw = await rawVia(t, proxy);
  raw.socket.write('PING\r\n');
  await within(raw.untilBytes(7), 5_000, 'the first PONG');
  await limit.update({ ...limit.toJson(), attributes: { bytes: 10 } }); // restarts the toxic
  await proxy.addToxic<Latency>({ name: 'after', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 200, jitter: 0 } }); // restarts it too
  raw.socket.write('PING\r\n');
  await within(raw.closed, 5_000, 'the connection closing');
  assert.equal(raw.text(), '+PONG\r\n+PO', '10 bytes in all, the last 3 delivered by the latency toxic before the close');
});

test('slicer splits a reply into small delayed writes', options, async (t) => {
  const proxy = await newProxy(t);
  await proxy.addToxic<Slicer>({ name: 'slices', type: 'slicer', stream: 'downstream', toxicity: 1, attributes: { average_size: 1, size_variation: 0, delay: 20_000 } });
  const raw = await rawVia(t, proxy);
  const start = performance.now();
  raw.socket.write('PING\r\n');
  await within(raw.untilBytes(7), 5_000, 'the whole reply');
  const ms = performance.now() - start;
  assert.equal(raw.text(), '+PONG\r\n');
  assert.ok(raw.reads.length >= 4, `the 7-byte reply came in ${raw.reads.length} reads`);
  assert.ok(ms >= 6 * 20 - MARGIN_MS, `7 one-byte slices 20 ms apart took ${ms.toFixed(1)} ms`);
});

test('bandwidth throttles a large reply to the rate', options, async (t) => {
  const proxy = await newProxy(t);
  const { redis } = await redisVia(t, proxy);
  const key = `conformance:${randomUUID()}`;
  const value = Buffer.alloc(25_000, 'x');
  await redis.set(key, value, 'PX', 60_000);
  const fast = await timed(() => redis.getBuffer(key));
  await proxy.addToxic<Bandwidth>({ name: 'slow', type: 'bandwidth', stream: 'downstream', toxicity: 1, attributes: { rate: 50 } });
  let got: Buffer | null = null;
  const ms = await timed(async () => {
    got = await redis.getBuffer(key);
  });
  assert.ok(value.equals(got ?? Buffer.alloc(0)), 'the value arrives intact');
  assert.ok(ms >= 400, `25 000 bytes at 50 KB/s took ${ms.toFixed(1)} ms (unthrottled: ${fast.toFixed(1)} ms)`);
  await redis.del(key);
});

test('slow_close delays the close after the last data', options, async (t) => {
  const proxy = await newProxy(t);
  await proxy.addToxic<Slowclose>({ name: 'linger', type: 'slow_close', stream: 'downstream', toxicity: 1, attributes: { delay: 400 } });
  const raw = await rawVia(t, proxy);
  raw.socket.write('QUIT\r\n');
  const endedAt = await within(raw.ended, 5_000, 'the end of the stream');
  assert.equal(raw.text(), '+OK\r\n');
  const lastData = raw.reads.at(-1)?.at ?? Number.NaN;
  assert.ok(endedAt - lastData >= 350, `FIN came ${(endedAt - lastData).toFixed(1)} ms after the reply with slow_close 400`);
});

test('POST /reset answers 204, removes every toxic and re-enables every proxy', options, async (t) => {
  const { client } = env();
  const slow = await newProxy(t);
  const disabled = await newProxy(t);
  await slow.addToxic<Latency>({ name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 300, jitter: 0 } });
  await slow.addToxic<Timeout>({ name: 'hold', type: 'timeout', stream: 'upstream', toxicity: 1, attributes: { timeout: 0 } });
  const held = await redisVia(t, slow);
  const heldPing = settle(held.redis.ping());
  await disabled.update({ enabled: false, listen: disabled.listen, upstream: disabled.upstream });

  await client.reset();
  const toxics = await api('GET', `/proxies/${slow.name}/toxics`);
  assert.deepEqual(toxics.json, [], 'no toxics left');
  const reenabled = await client.get(disabled.name);
  assert.equal(reenabled.enabled, true);
  assert.equal(reenabled.listen, disabled.listen);
  await within(held.closed, 5_000, 'the connection held by the removed timeout toxic closing');
  assert.equal((await within(heldPing, 5_000, 'the held PING failing')).ok, false);

  const fresh = await redisVia(t, slow);
  const ms = await timed(() => fresh.redis.ping());
  assert.ok(ms < 250, `PING took ${ms.toFixed(1)} ms after reset`);
  assert.equal(await (await redisVia(t, reenabled)).redis.ping(), 'PONG');
  assert.equal((await api('POST', '/reset')).status, 204);
});
