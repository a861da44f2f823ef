/**
 * A lock holder for liveness tests: acquires one resource with the options given, prints
 * {"held": "<token>"} and then holds (its keep-alive, if any, running) until it is killed. It
 * exits by itself after `maxLifeMs` or when stdin closes, so it cannot outlive a failed test.
 * Argument: JSON { urls, prefix, resource, ttl, options, maxLifeMs }.
 */
import { Redlock, type RedlockOptions } from '../../src/index.js';

const args = JSON.parse(process.argv[2] ?? '{}') as {
  urls: string[];
  prefix: string;
  resource: string;
  ttl: number;
  options: RedlockOptions;
  maxLifeMs: number;
};
setTimeout(() => process.exit(3), args.maxLifeMs);
process.stdin.on('close', () => process.exit(4));
process.stdin.resume();

const redlock = new Redlock(args.urls, { ...args.options, prefix: args.prefix });
const lock = await redlock.acquire(args.resource, args.ttl);
process.stdout.write(`${JSON.stringify({ held: lock.fencingToken.toString() })}\n`);
