import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { delay, useCluster } from '../support/cluster.js';

// Issue 10, "Safety and lifecycle": what a user's process sees around the library.
const env = useCluster(3);
const child = (name: string) => fileURLToPath(new URL(`../support/${name}`, import.meta.url));

describe('exit', () => {
  for (const [what, options] of [
    ['', undefined],
    [', also with the lock thread (which never keeps the process alive)', { useDedicatedLockThread: true, keepAlive: 600 }],
  ] as const) {
    test(`a script that acquires, releases and quits exits at once (no connection left half-open)${what}`, async () => {
      const proc = spawn(process.execPath, ['--import', 'tsx', child('quit-child.ts'), JSON.stringify({ urls: env.cluster.urls, prefix: env.prefix(), options })], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      let quitAt = Number.NaN;
      proc.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('"quit"')) quitAt = performance.now();
      });
      const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
      clearTimeout(killer);
      const lingered = performance.now() - quitAt;
      assert.equal(code, 0);
      assert.ok(lingered < 1_000, `the process lived ${Math.round(lingered)} ms after quit() resolved`);
    });
  }
});

describe('nodes that are not ioredis', () => {
  test('a node-redis client (any class instance that is not ioredis) is refused, not taken for options', async () => {
    // The shape of a node-redis v4/v5 client: a class instance with connect/sendCommand/isOpen.
    class RedisClient {
      readonly isOpen = false;
      readonly options = { url: env.cluster.urls[0] };
      async connect(): Promise<void> {}
      async sendCommand(): Promise<unknown> {
        return null;
      }
    }
    const { Redlock, InvalidOptionsError } = await import('../../src/index.js');
    assert.throws(
      () => new Redlock([new RedisClient() as never, env.cluster.urls[1] ?? '', env.cluster.urls[2] ?? '']),
      (e: unknown) => e instanceof InvalidOptionsError && /nodes\[0\].*instance of `RedisClient` \(a node-redis client\?\)/.test(e.message),
    );
  });
});

describe('startLocalCluster', () => {
  /** Gone, or a zombie waiting to be reaped (it no longer runs). */
  const gone = (pid: number): boolean => {
    try {
      return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return true;
    }
  };

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGKILL'] as const) {
    test(`its servers and data folder go with the process that started them (${signal})`, async () => {
      const owner = spawn(process.execPath, ['--import', 'tsx', child('cluster-owner.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
      const killer = setTimeout(() => owner.kill('SIGKILL'), 20_000);
      try {
        const started = await new Promise<{ pids: number[]; dir: string }>((resolve, reject) => {
          owner.stdout.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { pids: number[]; dir: string }));
          owner.once('exit', (code) => reject(new Error(`owner exited early (${code})`)));
        });
        assert.equal(started.pids.length, 2);
        assert.ok(started.pids.every((pid) => !gone(pid)) && existsSync(started.dir), 'servers running, folder there');
        const exited = new Promise((resolve) => owner.once('exit', resolve));
        owner.kill(signal);
        await exited;
        const deadline = performance.now() + 5_000;
        while (!(started.pids.every(gone) && !existsSync(started.dir)) && performance.now() < deadline) await delay(20);
        assert.deepEqual(started.pids.filter((pid) => !gone(pid)), [], 'no redis-server left running');
        assert.equal(existsSync(started.dir), false, 'data folder removed');
      } finally {
        clearTimeout(killer);
        owner.kill('SIGKILL');
      }
    });
  }
});

describe('errors that name the cause', () => {
  test('nodes that are down are reported as refused connections, once per outage, not once per request', async () => {
    const { Redlock, QuorumError } = await import('../../src/index.js');
    const redlock = new Redlock(env.cluster.urls, { prefix: env.prefix(), retryCount: 0, nodeTimeout: 100 });
    const events: { node: string; operation: string; error: string }[] = [];
    redlock.on('nodeError', (e) => events.push({ node: e.node, operation: e.operation, error: e.error.message }));
    try {
      // The first call opens the connections: retries for a cold start on a loaded machine.
      await redlock.acquire('warm', 500, { retryCount: 5 }).then((l) => l.release());
      await env.cluster.crash(1);
      await env.cluster.crash(2);
      let last: unknown;
      const started = performance.now();
      // Requests for 1 s: the first ones meet connections just lost, the later ones reconnect
      // attempts that were refused.
      for (let i = 0; i < 100 && performance.now() - started < 1_000; i += 1) {
        last = await redlock.acquire(`r${i % 3}`, 500).then((l) => l.release(), (e: unknown) => e);
        await delay(10);
      }
      assert.ok(last instanceof QuorumError, String(last));
      const down = last.nodes.filter((n) => n.outcome !== 'ok');
      assert.equal(down.length, 2);
      for (const n of down) assert.match(n.error ?? '', /ECONNREFUSED/, `${n.node}: ${n.error}`);
      assert.doesNotMatch(last.message + JSON.stringify(last.nodes), /max retries/i);
      const perKind = new Map<string, number>();
      for (const e of events) perKind.set(`${e.node} ${e.operation}`, (perKind.get(`${e.node} ${e.operation}`) ?? 0) + 1);
      assert.ok(events.length > 0, 'the outage was reported');
      for (const [kind, count] of perKind) assert.equal(count, 1, `${kind} reported ${count} times during one outage`);
    } finally {
      await redlock.quit();
      await env.cluster.restart(1);
      await env.cluster.restart(2);
    }
  });
});
