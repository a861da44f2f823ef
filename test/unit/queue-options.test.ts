import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionsError, MemoryNode, Redlock } from '../../src/index.js';
import { builtInDelay, checkBackoff } from '../../src/queue/backoff.js';
import { keepArgs, resolveJobOptions, serialize } from '../../src/queue/job-options.js';
import { resolveQueueSettings } from '../../src/queue/queue-options.js';

const known = (type: string): boolean => type === 'mine';
const bad = (fn: () => unknown, pattern: RegExp): void => assert.throws(fn, (error: unknown) => error instanceof InvalidOptionsError && pattern.test(error.message));

describe('job options', () => {
  test('defaults, and the queue defaults under each job', () => {
    const opts = resolveJobOptions({ attempts: 3, removeOnComplete: true }, { delay: 5, priority: 2 }, known);
    assert.deepEqual(opts, { attempts: 3, delay: 5, priority: 2, lifo: false, removeOnComplete: true, stackTraceLimit: 10, keepLogs: 0 });
    assert.equal(resolveJobOptions(undefined, { jobId: 7 }, known).jobId, '7');
  });

  test('bad values say what to change', () => {
    bad(() => resolveJobOptions(undefined, { attempts: 0 }, known), /`attempts` to be a positive integer, got `0`/);
    bad(() => resolveJobOptions(undefined, { delay: -1 }, known), /`delay` to be a non-negative integer/);
    bad(() => resolveJobOptions(undefined, { priority: 1.5 }, known), /`priority`/);
    bad(() => resolveJobOptions(undefined, { priority: 2 ** 22 }, known), /at most 2097152/);
    bad(() => resolveJobOptions(undefined, { backoff: { type: 'linear', delay: 10 } }, known), /`backoff.type` to be 'fixed', 'exponential'/);
    bad(() => resolveJobOptions(undefined, { backoff: { type: 'fixed', delay: 10, jitter: 2 } }, known), /`backoff.jitter`/);
    bad(() => resolveJobOptions(undefined, { removeOnComplete: { age: -1 } }, known), /removeOnComplete.age/);
    bad(() => resolveJobOptions(undefined, { timeout: 0 }, known), /`timeout`/);
    bad(() => resolveJobOptions(undefined, { jobId: '' }, known), /`jobId`/);
    bad(() => resolveJobOptions(undefined, { atempts: 2 }, known), /Unknown job option `atempts`/);
    bad(() => resolveJobOptions(undefined, { ignoreLock: true }, known), /no lock bypass/);
    bad(() => resolveJobOptions(undefined, { repeat: { every: 1000 } }, known), /repeatable jobs/);
    bad(() => resolveJobOptions(undefined, 'fast', known), /job options to be an object/);
    assert.equal(resolveJobOptions(undefined, { backoff: { type: 'mine' } }, known).backoff?.type, 'mine');
  });

  test('removeOnComplete / removeOnFail as the finish script takes them', () => {
    assert.deepEqual(keepArgs(undefined), [-1, -1]);
    assert.deepEqual(keepArgs(false), [-1, -1]);
    assert.deepEqual(keepArgs(true), [0, -1]);
    assert.deepEqual(keepArgs(5), [5, -1]);
    assert.deepEqual(keepArgs({ age: 60 }), [-1, 60]);
    assert.deepEqual(keepArgs({ age: 60, count: 2 }), [2, 60]);
  });

  test('payloads JSON would change or drop are refused', () => {
    assert.equal(serialize('data', { a: [1, 'x', null], d: new Date(0) }), '{"a":[1,"x",null],"d":"1970-01-01T00:00:00.000Z"}');
    assert.equal(serialize('data', undefined), 'null');
    bad(() => serialize('data', { f: () => 1 }), /`data.f` to be JSON-serialisable, got a function/);
    bad(() => serialize('data', { n: 1n }), /`data.n`/);
    bad(() => serialize('data', new Map([[1, 2]])), /JSON would store it as \{\}/);
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    bad(() => serialize('data', cycle), /`data` to be JSON-serialisable/);
  });
});

describe('backoff', () => {
  test('fixed, exponential, jitter; a custom type is left to the worker', () => {
    const fixed = checkBackoff(100, known);
    assert.deepEqual(fixed, { type: 'fixed', delay: 100, jitter: 0 });
    assert.equal(builtInDelay({ type: 'fixed', delay: 100, jitter: 0 }, 3, 0.5), 100);
    const exp = { type: 'exponential', delay: 100, jitter: 0 };
    assert.deepEqual([1, 2, 3, 4].map((n) => builtInDelay(exp, n, 0.9)), [100, 200, 400, 800]);
    assert.equal(builtInDelay({ type: 'exponential', delay: 100, jitter: 0.5 }, 2, 0), 200, 'random 0 takes nothing away');
    assert.equal(builtInDelay({ type: 'exponential', delay: 100, jitter: 0.5 }, 2, 0.999), 100, 'at most jitter × delay taken away');
    assert.equal(builtInDelay({ type: 'mine', delay: 100, jitter: 0 }, 1, 0), undefined);
  });
});

describe('queue settings', () => {
  const connection = 'redis://127.0.0.1:1';
  test('defaults, Bull settings and bun-queue aliases', () => {
    const s = resolveQueueSettings('Queue', { connection, settings: { lockDuration: 10_000 }, stalledJobCheckInterval: 5_000 });
    assert.equal(s.lockDuration, 10_000);
    assert.equal(s.lockRenewTime, 5_000);
    assert.equal(s.stalledInterval, 5_000);
    assert.equal(s.maxStalledCount, 1);
    assert.equal(s.prefix, 'redfence');
    assert.equal(s.distributedLock, false);
    assert.equal(s.evictionPolicy, 'refuse');
  });

  test('cross-field rules', () => {
    bad(() => resolveQueueSettings('Queue', {}), /Expected `connection`/);
    bad(() => resolveQueueSettings('Queue', { connection, lockDuration: 1_000, lockRenewTime: 1_000 }), /`lockRenewTime` \(1000\) to be less than `lockDuration`/);
    bad(() => resolveQueueSettings('Queue', { connection, distributedLock: true }), /needs `redlock`/);
    bad(() => resolveQueueSettings('Queue', { connection, stalledInterval: 1_000, stalledJobCheckInterval: 2_000 }), /alias/);
    bad(() => resolveQueueSettings('Queue', { connection, redis: {} }), /`redis` option is called `connection`/);
    bad(() => resolveQueueSettings('Worker', { connection, concurency: 2 }), /Unknown option `concurency`/);
    bad(() => resolveQueueSettings('Queue', { connection, limiter: { max: 0, duration: 1_000 } }), /limiter.max/);
    bad(() => resolveQueueSettings('Queue', { connection, evictionPolicy: 'ignore' }), /evictionPolicy/);
    const redlock = new Redlock([new MemoryNode()], { maxTtl: 10_000 });
    bad(() => resolveQueueSettings('Queue', { connection, redlock, distributedLock: true }), /at most the Redlock's `maxTtl` \(10000\)/);
    assert.equal(resolveQueueSettings('Queue', { connection, redlock, distributedLock: true, lockDuration: 5_000 }).distributedLock, true);
  });
});
