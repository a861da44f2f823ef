import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { type LockClient, sleep } from './adapters/adapter.js';
import { redfenceKeepAlive } from './adapters/redfence-adapter.js';
import { killChild, spawnScript } from './child-processes.js';
import { newTable, record, type Table } from './result-table.js';
import type { ScenarioContext } from './scenario-context.js';

const HOLDER = fileURLToPath(new URL('./s5-holder.ts', import.meta.url));
/** Waiters are already retrying when the holders die. */
const WAIT_BEFORE_KILL_MS = 500;

interface Holder {
  readonly child: ChildProcess;
  /** impl id → when the parent heard of the grant (performance.now()). */
  readonly heldAt: Map<string, number>;
  readonly ready: Promise<void>;
}

function startHolder(args: object, timeoutMs: number): Holder {
  const child = spawnScript(HOLDER, [JSON.stringify(args)]);
  const heldAt = new Map<string, number>();
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`S5 holder not ready after ${timeoutMs} ms`)), timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    child.once('exit', (code, signal) => fail(new Error(`S5 holder exited early (${code ?? signal})`)));
    if (child.stdout === null) return fail(new Error('S5 holder has no stdout'));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { type: string; impl?: string; message?: string };
      if (message.type === 'held' && message.impl !== undefined) heldAt.set(message.impl, performance.now());
      else if (message.type === 'ready') {
        clearTimeout(timer);
        resolve();
      } else if (message.type === 'error') fail(new Error(`S5 holder: ${message.message}`));
    });
  });
  ready.catch(() => undefined);
  return { child, heldAt, ready };
}

/**
 * S5 (BENCH.md), lock-holder half: a child process holds a lock of every implementation with a
 * 30 s lease (library defaults, no extension); waiters in this process retry with their
 * library's defaults (a waiter whose library gives up simply calls acquire again); the holder is
 * SIGKILLed and we measure how long until each next holder is granted. Repetitions run side by
 * side (one holder process per repetition, all killed at the same instant), so the 30 s are paid
 * once. The leader half of S5 (redfence's LeaderElection) is bench/s5-election.ts.
 */
export async function runS5(ctx: ScenarioContext): Promise<Table[]> {
  const ttl = ctx.quick ? 3_000 : 30_000;
  const table = newTable('S5', 'N=5', `S5 lock holder SIGKILLed while holding a ${ttl / 1000} s lease, N=5: time until the next holder is granted`, [
    { key: 'takeoverS', label: 'next holder after kill s', digits: 2, better: 'lower' },
    { key: 'leaseLeftS', label: 'lease left at kill s', digits: 2, better: 'lower' },
  ]);
  // redfence runs twice: plain leases (the default) and with a 1 s keep-alive lease.
  const impls = ctx.impls.some((i) => i.id === 'redfence') ? [...ctx.impls, redfenceKeepAlive] : ctx.impls;
  const run = Date.now().toString(36);
  const holders: Holder[] = [];
  const waiters: { rep: number; implIndex: number; client: LockClient }[] = [];
  try {
    for (let rep = 0; rep < ctx.reps; rep += 1) {
      const locks = impls.map((impl) => ({ impl: impl.id, key: `s5:${run}:${rep}:${impl.id}` }));
      holders.push(startHolder({ urls: ctx.urls, ttl, maxLifeMs: ttl + 120_000, locks }, 60_000));
    }
    await Promise.all(holders.map((h) => h.ready));
    for (let rep = 0; rep < ctx.reps; rep += 1) {
      for (const [implIndex, impl] of impls.entries()) waiters.push({ rep, implIndex, client: impl.create(ctx.urls, 'defaults') });
    }
    await Promise.all(waiters.map((w) => w.client.ready()));
    const deadline = performance.now() + ttl + 30_000;
    let killAt = Number.POSITIVE_INFINITY;
    const outcomes = waiters.map(async ({ rep, implIndex, client }) => {
      const impl = impls[implIndex];
      if (impl === undefined) throw new Error('no implementation');
      let calls = 0;
      const reasons: Record<string, number> = {};
      for (; calls < 100_000 && performance.now() < deadline; ) {
        calls += 1;
        try {
          const held = await client.acquire(`s5:${run}:${rep}:${impl.id}`, ttl);
          const grantedAt = performance.now();
          await held.release();
          return { rep, impl, grantedAt, calls, reasons };
        } catch (error) {
          const name = error instanceof Error ? error.name : String(error);
          reasons[name] = (reasons[name] ?? 0) + 1;
        }
      }
      return { rep, impl, grantedAt: Number.NaN, calls, reasons };
    });
    await sleep(WAIT_BEFORE_KILL_MS);
    killAt = performance.now();
    await Promise.all(holders.map((h) => killChild(h.child)));
    ctx.log(`S5 holders SIGKILLed; waiting up to ${(ttl + 30_000) / 1000} s for the next holders`);
    for (const { rep, impl, grantedAt, calls, reasons } of await Promise.all(outcomes)) {
      const heldAt = holders[rep]?.heldAt.get(impl.id) ?? Number.NaN;
      if (grantedAt < killAt) table.notes.push(`${impl.label} rep ${rep + 1}: granted before the holder was killed (holder's lock was not held).`);
      record(table, impl, rep, { takeoverS: (grantedAt - killAt) / 1_000, leaseLeftS: (heldAt + ttl - killAt) / 1_000 }, { waiterCalls: calls, giveUps: reasons });
    }
  } finally {
    await Promise.all(holders.map((h) => killChild(h.child)));
    await Promise.all(waiters.map((w) => w.client.close()));
  }
  table.notes.push(
    `Plain leases: a SIGKILLed holder's lock is free only when its lease expires, so the next holder waits for what was left of the ${ttl / 1000} s. ` +
      'redfence with `keepAlive: 1000` holds a 1 s lease on the nodes and renews it every 333 ms until the TTL ends, so a dead holder frees the lock within 1 s. ' +
      '"lease left at kill" is measured from when the parent heard of the grant.',
  );
  return [table];
}
