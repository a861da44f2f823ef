/**
 * LeaderElection against real redis-servers, with candidates in child processes that are killed
 * and paused (SIGKILL, SIGSTOP/SIGCONT). The rules on a fake clock: test/unit/election.test.ts.
 * Timings here are generous bounds on behaviour (woken vs polled, keep-alive vs TTL); the
 * measured failover times are bench S5's.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, test } from 'node:test';
import { type FollowerReason, LeaderElection, type LeaderElectionOptions, type LeaderInfo } from '../../src/index.js';
import { since, until, useCluster } from '../support/cluster.js';

const env = useCluster(3);
const CANDIDATE = fileURLToPath(new URL('../support/election-candidate.ts', import.meta.url));

interface Line {
  readonly ev: 'started' | 'leader' | 'follower' | 'tick';
  readonly id?: string;
  readonly term?: string;
  readonly reason?: FollowerReason;
  readonly isLeader?: boolean;
  /** When this process read the line (performance.now()). */
  readonly at: number;
}

/** A candidate process and every line it printed. */
interface Candidate {
  readonly child: ChildProcess;
  readonly lines: Line[];
  id: string | undefined;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

function candidate(prefix: string, name: string, options: LeaderElectionOptions, tickMs?: number): Candidate {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CANDIDATE, JSON.stringify({ urls: env.cluster.urls, prefix, name, options, tickMs, maxLifeMs: 60_000 })],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  children.add(child);
  const c: Candidate = { child, lines: [], id: undefined };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    const line = { ...(JSON.parse(text) as Omit<Line, 'at'>), at: performance.now() };
    if (line.ev === 'started') c.id = line.id;
    c.lines.push(line);
  });
  return c;
}

const leads = (c: Candidate): Line | undefined => c.lines.filter((l) => l.ev === 'leader' || l.ev === 'follower').at(-1);
const leaderOf = (cs: readonly Candidate[]): Candidate | undefined => cs.find((c) => leads(c)?.ev === 'leader');

test('SIGKILL of the leader: with keepAlive the next candidate (or a restarted process) leads within seconds of a 30 s ttl, with a larger term', async () => {
  const observerLock = env.redlock();
  const prefix = observerLock.settings.prefix;
  const name = `kill-${randomUUID().slice(0, 6)}`;
  const options = { ttl: 30_000, keepAlive: 1_000, renewInterval: 2_000 };
  const cs = [candidate(prefix, name, options), candidate(prefix, name, options)];
  const first = await until('a leader', () => leaderOf(cs), 15_000);
  const firstTerm = BigInt(leads(first)?.term ?? '0');
  // Anyone can read who leads, also a process that never campaigns.
  const observer = new LeaderElection(observerLock, name);
  const seen = await until('the note', async () => (await observer.leader()) ?? undefined);
  assert.deepEqual(seen, { id: first.id, term: firstTerm });

  first.child.kill('SIGKILL');
  const killed = performance.now();
  const second = await until('the next leader', () => leaderOf(cs.filter((c) => c !== first)), 10_000);
  const failover = since(killed);
  const secondTerm = BigInt(leads(second)?.term ?? '0');
  assert.ok(secondTerm > firstTerm, `${secondTerm} > ${firstTerm}`);
  assert.ok(failover < 10_000, `failover took ${Math.round(failover)} ms with keepAlive 1 s (ttl 30 s)`);

  const restarted = candidate(prefix, name, options); // the killed process, started again: a fresh id
  await until('the restarted process follows', () => restarted.lines.find((l) => l.ev === 'follower'), 10_000);
  second.child.kill('SIGKILL');
  const third = await until('the restarted process leads', () => leaderOf([restarted]), 10_000);
  assert.notEqual(third.id, first.id, 'a restarted process has a fresh id');
  assert.ok(BigInt(leads(third)?.term ?? '0') > secondTerm);
  assert.deepEqual(await until('the note', async () => {
    const info = await observer.leader();
    return info?.id === third.id ? info : undefined;
  }), { id: third.id, term: BigInt(leads(third)?.term ?? '0') });
});

test('SIGSTOP of the leader past its lease: another is elected with a larger term; resumed, it never believes it leads, steps down, and campaigns on', async () => {
  const prefix = env.prefix();
  const name = `pause-${randomUUID().slice(0, 6)}`;
  const options = { ttl: 1_000, renewDeadline: 600, renewInterval: 200 };
  const cs = [candidate(prefix, name, options, 10), candidate(prefix, name, options, 10)];
  const paused = await until('a leader', () => leaderOf(cs), 15_000);
  const other = cs.find((c) => c !== paused) as Candidate;
  const pausedTerm = BigInt(leads(paused)?.term ?? '0');
  paused.child.kill('SIGSTOP');
  try {
    const next = await until('the other is elected', () => leaderOf([other]), 10_000);
    assert.ok(BigInt(leads(next)?.term ?? '0') > pausedTerm);
  } finally {
    paused.child.kill('SIGCONT');
  }
  const resumed = performance.now();
  await until('the paused one steps down', () => paused.lines.find((l) => l.at >= resumed && l.ev === 'follower'), 5_000);
  await until('it ticks on', () => paused.lines.filter((l) => l.at >= resumed && l.ev === 'tick').length >= 5, 5_000);
  const believed = paused.lines.filter((l) => l.at >= resumed && l.ev === 'tick' && l.isLeader === true);
  assert.deepEqual(believed, [], 'after SIGCONT it never reports itself leader in its old term');
  const stepDown = paused.lines.find((l) => l.at >= resumed && l.ev === 'follower');
  assert.ok(stepDown?.reason === 'renewDeadline' || stepDown?.reason === 'lost', String(stepDown?.reason));
  // It campaigns again: when the leader goes, it is elected (with a term above both).
  other.child.kill('SIGKILL');
  const again = await until('elected again', () => paused.lines.find((l) => l.at >= resumed && l.ev === 'leader'), 10_000);
  assert.ok(BigInt(again.term ?? '0') > BigInt(leads(other)?.term ?? '0'));
});

test('resign (stop) hands the seat over on release, not by polling; observe() yields each leader and the vacancy', async () => {
  const shared = env.prefix();
  const a = new LeaderElection(env.redlock({ prefix: shared }), 'resign', { ttl: 20_000, renewInterval: 4_000, id: 'A' });
  const b = new LeaderElection(env.redlock({ prefix: shared }), 'resign', { ttl: 20_000, renewInterval: 4_000, id: 'B' });
  const watcher = new LeaderElection(env.redlock({ prefix: shared }), 'resign', { ttl: 1_000, renewInterval: 100 });
  const controller = new AbortController();
  const observed: (LeaderInfo | null)[] = [];
  const watching = (async () => {
    for await (const info of watcher.observe({ signal: controller.signal })) observed.push(info);
  })();
  const changed: (LeaderInfo | null)[] = [];
  b.on('leaderChanged', (info) => changed.push(info));
  await a.start();
  await until('A leads', () => a.isLeader);
  await b.start();
  await until('B sees A', () => changed.some((i) => i?.id === 'A'));
  const stopped = performance.now();
  await a.stop();
  await until('B leads', () => b.isLeader, 3_000);
  const handOver = since(stopped);
  // A follower that polled would wait renewInterval (4 s ± 1 s); only the release's wake-up is this fast.
  assert.ok(handOver < 2_000, `hand-over took ${Math.round(handOver)} ms`);
  assert.ok((b.term ?? 0n) > 0n);
  await until('watcher sees B', () => observed.some((i) => i?.id === 'B'));
  await b.stop();
  await until('watcher sees the vacancy', () => observed.at(-1) === null);
  controller.abort();
  await watching;
  const ids = observed.map((i) => i?.id ?? null);
  assert.deepEqual(ids.filter((id, i) => id !== ids[i - 1]), ids, 'each change once');
  assert.ok(ids.indexOf('A') < ids.indexOf('B') && ids.lastIndexOf(null) > ids.indexOf('B'), JSON.stringify(ids));
  const terms = observed.filter((i): i is LeaderInfo => i !== null).map((i) => i.term);
  assert.deepEqual([...terms].sort((x, y) => (x < y ? -1 : 1)), terms, 'terms only grow');
});

test('a Redis outage: the leader steps down, the candidates keep campaigning, and a leader is elected once a majority is back', async () => {
  const prefix = env.prefix();
  const options = { ttl: 1_500, renewInterval: 200 };
  const a = new LeaderElection(env.redlock({ prefix, nodeTimeout: 50 }), 'outage', options);
  const b = new LeaderElection(env.redlock({ prefix, nodeTimeout: 50 }), 'outage', options);
  const reasons: FollowerReason[] = [];
  a.on('follower', (reason) => reasons.push(reason));
  b.on('follower', (reason) => reasons.push(reason));
  await a.start();
  await b.start();
  const leader = await until('a leader', () => (a.isLeader ? a : b.isLeader ? b : undefined));
  const term = leader.term ?? 0n;
  env.cluster.pause(1);
  env.cluster.pause(2);
  try {
    await until('the leader stepped down', () => reasons.length > 0 && !a.isLeader && !b.isLeader, 5_000);
  } finally {
    env.cluster.resume(1);
    env.cluster.resume(2);
  }
  const next = await until('a leader again', () => (a.isLeader ? a : b.isLeader ? b : undefined), 10_000);
  assert.ok((next.term ?? 0n) > term);
  assert.ok(reasons[0] === 'lost' || reasons[0] === 'renewDeadline', String(reasons[0]));
  await a.stop();
  await b.stop();
});

test('runWhileLeader: the routine runs as leader with its term, and the seat is free when it ends', async () => {
  const redlock = env.redlock();
  const election = new LeaderElection(redlock, 'once', { ttl: 2_000, id: 'solo' });
  const result = await election.runWhileLeader(async (leadership) => {
    assert.equal(election.isLeader, true);
    assert.equal(leadership.signal.aborted, false);
    assert.deepEqual(await election.leader(), { id: 'solo', term: leadership.term });
    const other = new LeaderElection(redlock, 'once');
    assert.deepEqual(await other.leader(), { id: 'solo', term: leadership.term }, 'read from the nodes');
    return leadership.term;
  });
  assert.equal(typeof result, 'bigint');
  assert.equal(election.isLeader, false);
  assert.equal(await new LeaderElection(redlock, 'once').leader(), null);
});
