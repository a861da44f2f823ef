/* eslint-disable @typescript-eslint/no-explicit-any -- event arguments and job data are untyped here, as for a Bull user */
import { randomUUID } from 'node:crypto';
import { afterEach } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { Queue, type QueueOptions, QueueEvents, Worker, type WorkerOptions, type Processor } from '../../src/index.js';

interface Emitter {
  on(event: string, fn: (...args: any[]) => void): unknown;
  off(event: string, fn: (...args: any[]) => void): unknown;
}

/**
 * Resolves with the arguments of the next `event` on `emitter` that `filter` accepts; rejects after
 * `ms` (a bound on the wait, never what decides a test).
 */
export function next<A extends unknown[] = any[]>(emitter: Emitter, event: string, filter: (...args: A) => boolean = () => true, ms = 10_000): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    const listener = (...args: A): void => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args);
    };
    emitter.on(event, listener);
  });
}

/** Collects `count` events (their arguments) and resolves with them. */
export function collect<A extends unknown[] = any[]>(emitter: Emitter, event: string, count: number, ms = 15_000): Promise<A[]> {
  return new Promise((resolve, reject) => {
    const seen: A[] = [];
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`only ${seen.length} of ${count} '${event}' within ${ms} ms`));
    }, ms);
    const listener = (...args: A): void => {
      seen.push(args);
      if (seen.length < count) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(seen);
    };
    emitter.on(event, listener);
  });
}

/**
 * Queues, workers and event readers for one test, each on a fresh queue name, all closed after
 * the test (also when it fails).
 */
export function useQueues() {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  });
  return {
    /** A fresh queue name. */
    name: (): string => `q-${randomUUID().slice(0, 8)}`,
    queue<D = any, R = any>(name: string, options: QueueOptions): Queue<D, R> {
      const queue = new Queue<D, R>(name, options);
      closers.push(() => queue.close({ timeout: 0 }));
      return queue;
    },
    worker<D = any, R = any>(name: string, processor: Processor<D, R> | null, options: WorkerOptions): Worker<D, R> {
      const worker = new Worker<D, R>(name, processor, options);
      closers.push(() => worker.close({ timeout: 0 }));
      return worker;
    },
    async events(name: string, connection: QueueOptions['connection'], prefix?: string): Promise<QueueEvents> {
      const events = new QueueEvents(name, { connection, ...(prefix === undefined ? {} : { prefix }) });
      closers.push(() => events.close());
      await events.waitUntilReady();
      return events;
    },
    /** Closes `close` after the test. */
    defer(close: () => Promise<unknown>): void {
      closers.push(close);
    },
  };
}

/** Every key of a queue (SCAN on one server). */
export async function queueKeys(redis: Redis | Cluster, name: string, prefix = 'redfence'): Promise<string[]> {
  return (redis as Redis).keys(`{${prefix}:${name}}:*`);
}
