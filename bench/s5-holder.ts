/**
 * S5 lock holder, run as a child process by bench/s5-failover.ts (never by hand): acquires each
 * given lock with its library's defaults, reports each grant as a JSON line on stdout, then holds
 * until it is SIGKILLed. It exits by itself when its parent goes away (stdin closes) or after
 * `maxLifeMs`, so it can never outlive a failed run.
 * Argument: JSON { urls, ttl, maxLifeMs, locks: [{ impl, key }] }.
 */
import type { ImplId } from './adapters/adapter.js';
import { implementation } from './adapters/implementations.js';
import { useRedfence } from './adapters/redfence-adapter.js';
import { say, startChild } from './bench-child.js';
import { loadRedfence, REDFENCE_MODULE_ENV } from './redfence-build.js';

interface HolderArgs {
  readonly urls: string[];
  readonly ttl: number;
  readonly maxLifeMs: number;
  readonly locks: { readonly impl: ImplId; readonly key: string }[];
}

const args = startChild<HolderArgs>();

try {
  useRedfence(await loadRedfence(process.env[REDFENCE_MODULE_ENV])); // the same build as the parent
  for (const { impl, key } of args.locks) {
    const client = implementation(impl).create(args.urls, 'defaults');
    await client.ready();
    await client.acquire(key, args.ttl);
    say({ type: 'held', impl, key });
  }
  say({ type: 'ready' });
  setInterval(() => undefined, 60_000); // hold (the locks are never released, never extended)
} catch (error) {
  say({ type: 'error', message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  process.exit(2);
}
