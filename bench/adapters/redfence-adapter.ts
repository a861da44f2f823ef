import type { RedisNode, Redlock as RedlockClass, RedlockOptions } from '../../src/index.js';
import type { Redis } from 'ioredis';
import { countRequests, type ImplId, type Implementation, type LockClient, TUNED_RETRY } from './adapter.js';

/** All bench clients share one prefix, so the ready gate bootstraps once per cluster (warm-up). */
export const REDFENCE_PREFIX = 'bench:';

let Redlock: typeof RedlockClass | undefined;
/** Another build of redfence (`--base`), measured beside this one in the same run. */
let BaseRedlock: typeof RedlockClass | undefined;

/** Which redfence build the adapter uses (bench/redfence-build.ts); call before create(). */
export function useRedfence(module: { readonly Redlock: typeof RedlockClass }): void {
  Redlock = module.Redlock;
}

/** The build `redfence-base` measures (`npm run bench -- --base <dist of another tree>`). */
export function useRedfenceBase(module: { readonly Redlock: typeof RedlockClass }): void {
  BaseRedlock = module.Redlock;
}

/** redfence, fenced acquire, connections opened from URLs as README shows; `extra` on top of the tuning. */
function redfenceWith(id: ImplId, label: string, extra: RedlockOptions, base = false): Implementation {
  const extraText = Object.entries(extra).map(([k, v]) => `, ${k} ${String(v)}`).join('');
  return {
    id,
    label,
    settings: (tuning) =>
      (tuning === 'tuned'
        ? `retryDelay ${TUNED_RETRY.retryDelay}, retryJitter ${TUNED_RETRY.retryJitter}, retryCount ${TUNED_RETRY.retryCount}`
        : 'defaults (retryDelay 200, retryJitter 100, retryCount 10, waitForRelease)') + extraText,
    // One prefix per node set: Redlocks over different node sets must not share one (the nodes refuse).
    create: (urls, tuning) =>
      create(urls, { prefix: `${REDFENCE_PREFIX}${base ? 'base:' : ''}n${urls.length}:`, ...(tuning === 'tuned' ? TUNED_RETRY : {}), ...extra }, base),
  };
}

export const redfence = redfenceWith('redfence', 'redfence', {});

/** The same, from the build given with `--base` (an A/B of two builds in one run). */
export const redfenceBase = redfenceWith('redfence-base', 'redfence (base build)', {}, true);
/** S5 only: a 1 s liveness lease kept alive by the holder. */
export const redfenceKeepAlive = redfenceWith('redfence-keepalive', 'redfence (keepAlive 1 s)', { keepAlive: 1_000 });

function create(urls: readonly string[], options: RedlockOptions, base = false): LockClient {
  const Class = base ? BaseRedlock : Redlock;
  if (Class === undefined) throw new Error(`redfence adapter: call ${base ? 'useRedfenceBase' : 'useRedfence'}() first`);
  const redlock = new Class(urls, options);
  const nodes = redlock.nodes as readonly RedisNode[];
  for (const node of nodes) {
    countRequests(node.client as Redis);
    countRequests(node.subscriber() as Redis);
  }
  // 'acquired' is emitted just before acquire() resolves; keyed by resource for concurrent loops.
  const attempts = new Map<string, number>();
  redlock.on('acquired', (e) => {
    const resource = e.resources[0];
    if (resource !== undefined) attempts.set(resource, e.attempts);
  });
  return {
    async ready() {
      await Promise.all(nodes.map((node) => (node.client as { ping(): Promise<unknown> }).ping()));
    },
    async acquire(key, ttl, signal) {
      const lock = await redlock.acquire(key, ttl, signal === undefined ? undefined : { signal });
      const tries = attempts.get(key);
      attempts.delete(key);
      return { attempts: tries, release: () => lock.release() };
    },
    close: () => redlock.quit(),
  };
}
