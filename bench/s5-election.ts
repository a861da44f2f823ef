import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LeaderElection as LeaderElectionClass, Redlock as RedlockClass } from '../src/index.js';
import { sleep } from './adapters/adapter.js';
import { REDFENCE_PREFIX } from './adapters/redfence-adapter.js';
import { killChild, spawnScript } from './child-processes.js';
import { loadRedfence, REDFENCE_MODULE_ENV } from './redfence-build.js';
import { newTable, record, type Table } from './result-table.js';
import type { ScenarioContext } from './scenario-context.js';
import { median } from './stats.js';

const LEADER = fileURLToPath(new URL('./s5-leader.ts', import.meta.url));
/** Every election of the bench over the 5 nodes: the adapter's prefix (one prefix per node set). */
const PREFIX = `${REDFENCE_PREFIX}n5:`;
/** Hand-overs measured per repetition of the resign figure (the repetition reports their median and max). */
const HANDOVERS = 5;

interface ElectionConfig {
  readonly id: 'redfence' | 'redfence-keepalive';
  readonly label: string;
  readonly ttl: number;
  readonly renewInterval: number;
  readonly keepAlive?: number;
}

/** Plain leases: the dead leader's seat is free when its lease runs out (≤ ttl), and a follower polls every renewInterval. */
const PLAIN: ElectionConfig = { id: 'redfence', label: 'redfence (ttl 3 s, renewInterval 500 ms; target ≤ 3.5 s)', ttl: 3_000, renewInterval: 500 };
/** keepAlive 1 s: a dead leader's liveness lease ends within 1 s, whatever its 30 s ttl. */
const KEEPALIVE: ElectionConfig = {
  id: 'redfence-keepalive', label: 'redfence (ttl 30 s, keepAlive 1 s, renewInterval 500 ms; target ≤ 2 s)', ttl: 30_000, renewInterval: 500, keepAlive: 1_000,
};

type Module = { readonly Redlock: typeof RedlockClass; readonly LeaderElection: typeof LeaderElectionClass };

/** Resolves with the time (performance.now()) and term of `election`'s next 'leader' event, or rejects after `timeoutMs`. */
function nextLeader(election: LeaderElectionClass, timeoutMs: number): Promise<{ at: number; term: bigint }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      election.off('leader', onLeader);
      reject(new Error(`no 'leader' event within ${timeoutMs} ms`));
    }, timeoutMs);
    const onLeader = (leadership: { readonly term: bigint }): void => {
      clearTimeout(timer);
      resolve({ at: performance.now(), term: leadership.term });
    };
    election.once('leader', onLeader);
  });
}

/** Starts the leader child and resolves with its term once it leads (it must win: nobody else campaigns yet). */
function startLeader(args: object, timeoutMs: number): { child: ChildProcess; elected: Promise<bigint> } {
  const child = spawnScript(LEADER, [JSON.stringify(args)]);
  const elected = new Promise<bigint>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`S5 leader not elected after ${timeoutMs} ms`)), timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    child.once('exit', (code, signal) => fail(new Error(`S5 leader exited early (${code ?? signal})`)));
    if (child.stdout === null) return fail(new Error('S5 leader has no stdout'));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { type: string; term?: string; message?: string };
      if (message.type === 'leader' && message.term !== undefined) {
        clearTimeout(timer);
        resolve(BigInt(message.term));
      } else if (message.type === 'error') fail(new Error(`S5 leader: ${message.message}`));
    });
  });
  elected.catch(() => undefined);
  return { child, elected };
}

/**
 * One failover: a child process leads; a follower in this process campaigns; the child is
 * SIGKILLed; figure = kill → the follower's 'leader' event.
 */
async function killFailover(ctx: ScenarioContext, mod: Module, cfg: ElectionConfig, name: string): Promise<{ failoverS: number; term: bigint; deadTerm: bigint }> {
  const { ttl, renewInterval, keepAlive } = cfg;
  const options = { ttl, renewInterval, ...(keepAlive === undefined ? {} : { keepAlive }) };
  const leader = startLeader({ urls: ctx.urls, prefix: PREFIX, name, ...options, maxLifeMs: ttl + 120_000 }, 60_000);
  const redlock = new mod.Redlock(ctx.urls, { prefix: PREFIX });
  const follower = new mod.LeaderElection(redlock, name, options);
  try {
    const deadTerm = await leader.elected;
    const elected = nextLeader(follower, ttl + 30_000);
    elected.catch(() => undefined);
    await follower.start();
    // The follower is campaigning and the leader has renewed at least once.
    await sleep(2 * renewInterval + 200);
    if (follower.isLeader) throw new Error('the follower leads before the leader was killed');
    const killAt = performance.now();
    await killChild(leader.child);
    const { at, term } = await elected;
    return { failoverS: (at - killAt) / 1_000, term, deadTerm };
  } finally {
    await killChild(leader.child);
    await follower.stop();
    await redlock.quit();
  }
}

/**
 * Resign hand-overs: two candidates in this process (each its own Redlock and connections); the
 * leader calls stop() (which resigns) and the other, campaigning, is woken by the release.
 * figure = stop() called → the follower's 'leader' event, ms; {@link HANDOVERS} per repetition.
 */
async function resignHandovers(ctx: ScenarioContext, mod: Module, name: string): Promise<number[]> {
  const options = { ttl: PLAIN.ttl, renewInterval: PLAIN.renewInterval };
  const redlocks = [new mod.Redlock(ctx.urls, { prefix: PREFIX }), new mod.Redlock(ctx.urls, { prefix: PREFIX })];
  const elections = redlocks.map((r) => new mod.LeaderElection(r, name, options));
  const [a, b] = elections as [LeaderElectionClass, LeaderElectionClass];
  const out: number[] = [];
  try {
    const first = nextLeader(a, 10_000);
    await a.start();
    await first;
    await b.start();
    for (let i = 0; i < HANDOVERS; i += 1) {
      const [leader, follower] = i % 2 === 0 ? [a, b] : [b, a];
      // The follower is campaigning (its acquire waits for the release) before the hand-over.
      await sleep(300);
      if (!leader.isLeader) throw new Error(`hand-over ${i + 1}: the expected leader does not lead`);
      const next = nextLeader(follower, 10_000);
      const t0 = performance.now();
      await leader.stop();
      out.push((await next).at - t0);
      await leader.start();
    }
  } finally {
    await Promise.all(elections.map((e) => e.stop()));
    await Promise.all(redlocks.map((r) => r.quit()));
  }
  return out;
}

/**
 * S5 (BENCH.md), leader half: failover after SIGKILL of the leader (a child process) to a
 * follower that campaigns in this process — plain leases (ttl 3 s, renewInterval 500 ms: target
 * ≤ ttl + renewInterval) and with keepAlive 1 s and a 30 s ttl (target ≤ 2 s) — and the resign
 * hand-over (stop() → the follower's 'leader' event; target ≤ 50 ms on loopback). redfence only:
 * the other libraries have no election.
 */
export async function runS5Election(ctx: ScenarioContext): Promise<Table[]> {
  if (!ctx.impls.some((i) => i.id === 'redfence')) return [];
  const mod = await loadRedfence(process.env[REDFENCE_MODULE_ENV]);
  const run = Date.now().toString(36);
  const kill = newTable('S5', 'election', 'S5 leader (child process) SIGKILLed, N=5: time until the follower’s `leader` event', [
    { key: 'failoverS', label: 'next leader after kill s', digits: 2, better: 'lower' },
  ]);
  for (let rep = 0; rep < ctx.reps; rep += 1) {
    for (const cfg of [PLAIN, KEEPALIVE]) {
      ctx.checkBudget();
      const { failoverS, term, deadTerm } = await killFailover(ctx, mod, cfg, `s5:${run}:${cfg.id}:${rep}`);
      if (term <= deadTerm) throw new Error(`S5 election: the new term ${term} is not above the dead leader's ${deadTerm}`);
      ctx.log(`S5 election ${cfg.label} rep ${rep + 1}: next leader ${failoverS.toFixed(2)} s after the kill`);
      record(kill, { id: cfg.id, label: cfg.label }, rep, { failoverS }, { term: String(term), deadTerm: String(deadTerm) });
    }
  }
  kill.notes.push(
    'A child process leads; a follower in the bench process campaigns (`start()`); the child is SIGKILLed (it never releases). ' +
      'Plain leases: the seat is free when the dead leader’s lease ends (≤ ttl after its last renewal), and the follower, polling every ' +
      '`renewInterval` (± ¼), takes it: bound ttl + renewInterval. With `keepAlive: 1000` the dead leader’s liveness lease ends within 1 s ' +
      'although its ttl is 30 s.',
  );

  const resign = newTable('S5', 'election-resign', 'S5 leader resigns (`stop()`), N=5: time until the follower’s `leader` event', [
    { key: 'handoverMs', label: `hand-over ms (median of ${HANDOVERS})`, digits: 1, better: 'lower' },
    { key: 'handoverMaxMs', label: `hand-over ms (max of ${HANDOVERS})`, digits: 1, better: 'lower', ratio: false },
  ]);
  for (let rep = 0; rep < ctx.reps; rep += 1) {
    ctx.checkBudget();
    const handovers = await resignHandovers(ctx, mod, `s5:${run}:resign:${rep}`);
    ctx.log(`S5 election resign rep ${rep + 1}: ${handovers.map((h) => h.toFixed(1)).join(', ')} ms`);
    record(resign, { id: 'redfence', label: 'redfence (ttl 3 s, renewInterval 500 ms; target ≤ 50 ms)' }, rep, { handoverMs: median(handovers), handoverMaxMs: Math.max(...handovers) }, { handovers });
  }
  resign.notes.push(
    `Two candidates in one process, each with its own Redlock and connections; ${HANDOVERS} hand-overs per repetition, back and forth. ` +
      'The follower is woken by the release (it would otherwise poll every 500 ms).',
  );
  return [kill, resign];
}
