/**
 * Server time per script call (docs/performance.md): each variant runs in blocks of 5,000
 * pipelined calls on fresh keys of one local node; INFO commandstats gives the EVALSHA time per
 * call (the commands inside included). Prints the fastest block and the median per variant.
 * Usage: node --import tsx bench/script-cost.ts [blocks, default 10]
 */
import { Redis } from 'ioredis';
import { luaScripts } from '../src/generated/lua-scripts.js';
import { readyKey, wakePrefix } from '../src/core/keys.js';
import { acquireArgs, releaseArgs } from '../src/nodes/redis/script-args.js';
import { startLocalCluster } from '../src/index.js';
import { percentile, sorted } from './stats.js';

const BLOCK = 5_000;
const blocks = Number(process.argv[2] ?? 10);
if (!Number.isInteger(blocks) || blocks < 1 || blocks > 100) throw new Error(`blocks must be 1–100, got ${process.argv[2]}`);

const PREFIX = 'cost:';
const OWNER = 'c/1/10000:1';
const FLOOR = '1795417424054000';

interface Variant {
  readonly lua: string;
  /** KEYS for call i. */
  readonly keys: (i: number) => string[];
  readonly args: readonly string[];
  /** Set the lease to OWNER first (a release that finds its own lock). */
  readonly held?: boolean;
}

const lk = (tag: string, i: number) => `${PREFIX}{${tag}${i}}:lk`;
const variants: Record<string, Variant> = {
  'empty EVALSHA': { lua: 'return 1', keys: (i) => [lk('e', i)], args: [] },
  'raw floor release (GET + DEL)': {
    lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    keys: (i) => [lk('r', i)],
    args: [OWNER],
    held: true,
  },
  'minimal fenced acquire (SET NX PX + INCR)': {
    lua: "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[2]) end return 0",
    keys: (i) => [lk('m', i), `${PREFIX}{m${i}}:fc`],
    args: [OWNER, '10000'],
  },
  'the same with EXISTS ready q in front': {
    lua: "if redis.call('EXISTS', KEYS[2], KEYS[3]) ~= 1 then return 0 end if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[4]) end return 0",
    keys: (i) => [lk('x', i), readyKey(PREFIX), `${PREFIX}{x${i}}:q`, `${PREFIX}{x${i}}:fc`],
    args: [OWNER, '10000'],
  },
  'redfence acquire.lua (free, nobody queued)': {
    lua: luaScripts.acquire.lua,
    keys: (i) => [lk('a', i), readyKey(PREFIX)],
    args: [acquireArgs(OWNER, 10_000, FLOOR, FLOOR, 300, 1)],
  },
  'redfence release.lua (held, nobody queued)': {
    lua: luaScripts.release.lua,
    keys: (i) => [lk('l', i)],
    args: [releaseArgs(OWNER, false, FLOOR, wakePrefix(PREFIX))],
    held: true,
  },
};

await using cluster = await startLocalCluster({ nodes: 1 });
const redis = new Redis(cluster.urls[0] ?? '');
try {
  await redis.set(readyKey(PREFIX), 'cost 60000 probe'); // cluster id, max TTL, incarnation
  const shas = new Map<string, string>();
  for (const [name, v] of Object.entries(variants)) shas.set(name, String(await redis.script('LOAD', v.lua)));
  const perCall = new Map<string, number[]>();
  let next = 0;
  for (let block = 0; block < blocks; block += 1) {
    for (const [name, v] of Object.entries(variants)) {
      const first = next;
      next += BLOCK;
      if (v.held) {
        const setup = redis.pipeline();
        for (let i = first; i < first + BLOCK; i += 1) setup.set(v.keys(i)[0] ?? '', OWNER, 'PX', 60_000);
        await setup.exec();
      }
      await redis.config('RESETSTAT');
      const calls = redis.pipeline();
      for (let i = first; i < first + BLOCK; i += 1) {
        const keys = v.keys(i);
        calls.evalsha(shas.get(name) ?? '', keys.length, ...keys, ...v.args);
      }
      await calls.exec();
      const stats = String(await redis.info('commandstats'));
      const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(stats);
      if (m === null) throw new Error('no evalsha in INFO commandstats');
      perCall.set(name, [...(perCall.get(name) ?? []), Number(m[2]) / Number(m[1])]);
    }
  }
  console.log(`| script call (${blocks} blocks of ${BLOCK}) | fastest µs | median µs |\n|---|---|---|`);
  for (const [name, values] of perCall) {
    console.log(`| ${name} | ${Math.min(...values).toFixed(2)} | ${percentile(sorted(values), 50).toFixed(2)} |`);
  }
} finally {
  await redis.quit();
}
