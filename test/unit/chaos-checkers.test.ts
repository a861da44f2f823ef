/**
 * The chaos checkers on hand-made histories: each must pass clean histories and fire on the
 * violation it exists for (a checker that cannot fire checks nothing).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkHistory } from '../chaos/checkers/check-history.js';
import { checkDiscipline } from '../chaos/checkers/discipline.js';
import { checkFence, type GrantFacts } from '../chaos/checkers/fence.js';
import { checkLeader, type LeaderInput } from '../chaos/checkers/leader.js';
import { checkQueue, type QueueInput } from '../chaos/checkers/queue.js';
import { checkMutualExclusion, type Claim } from '../chaos/checkers/mutual-exclusion.js';
import { checkRmw } from '../chaos/checkers/rmw.js';
import { checkVacuity } from '../chaos/checkers/vacuity.js';
import { FencedStore, type StoreEntry, type StoreRequest } from '../chaos/fenced-store.js';
import { buildGrantClaims } from '../chaos/grant-claims.js';
import type { HistoryEvent, Op, Phase } from '../chaos/history.js';

const MS = 1_000_000n;

/** A history event at `t` ms. */
function ev(client: string, op: Op, phase: Phase, t: number, extra: Partial<HistoryEvent> = {}): HistoryEvent {
  return { proc: client.split('/')[0] ?? client, client, op, phase, key: 'k', t: BigInt(t) * MS, ...extra };
}

/** A grant: acquire invoke at `inv`, ok at `ok` with validity until `valid`, release invoked at `rel`. */
function grant(client: string, id: string, token: number, inv: number, ok: number, valid: number, rel?: number, key = 'k'): HistoryEvent[] {
  const out = [
    ev(client, 'acquire', 'invoke', inv, { grantId: id, key }),
    ev(client, 'acquire', 'ok', ok, { grantId: id, key, token: BigInt(token), validityEnd: BigInt(valid) * MS }),
  ];
  if (rel !== undefined) out.push(ev(client, 'release', 'invoke', rel, { grantId: id, key }), ev(client, 'release', 'ok', rel + 1, { grantId: id, key }));
  return out;
}

const claim = (grantId: string, okTime: number, end: number, key = 'k', token = 1): Claim => ({
  grantId, client: grantId, key, token: BigInt(token), okTime: BigInt(okTime) * MS, end: BigInt(end) * MS,
});

let seq = 0;
function entry(op: 'read' | 'write', token: number, grantId: string, accepted: boolean, maxBefore: number, value: number, extra: Partial<StoreEntry> = {}): StoreEntry {
  seq += 1;
  return {
    seq, t: BigInt(seq) * MS, op, resource: 'k', token: BigInt(token), grantId, opId: `${grantId}/${op}${seq}`, proc: 'p', client: 'p/0',
    accepted, maxBefore: BigInt(maxBefore), value, ...extra,
  };
}

describe('claims', () => {
  test('a claim ends at the earliest of validity end, release invoke, observed loss and death', () => {
    const events = [
      ...grant('a/0', 'g1', 1, 0, 2, 100, 50),
      ...grant('a/1', 'g2', 2, 60, 61, 160),
      ev('a/1', 'lost', 'info', 90, { grantId: 'g2' }),
      ...grant('b/0', 'g3', 3, 200, 201, 300),
    ];
    const claims = buildGrantClaims(events, new Map([['b', 250n * MS]]));
    const end = (id: string): [bigint | undefined, string | undefined] => {
      const c = claims.find((x) => x.grantId === id);
      return [c?.end, c?.endReason];
    };
    assert.deepEqual(end('g1'), [50n * MS, 'release']);
    assert.deepEqual(end('g2'), [90n * MS, 'lost']);
    assert.deepEqual(end('g3'), [250n * MS, 'death']);
  });

  test('indeterminate and failed acquires are not claims; extends and op-time beliefs move the validity end', () => {
    const events = [
      ev('a/0', 'acquire', 'invoke', 0, { grantId: 'x' }),
      ev('a/0', 'acquire', 'info', 5, { grantId: 'x', err: 'DEADLINE' }),
      ev('a/0', 'acquire', 'invoke', 6, { grantId: 'y' }),
      ev('a/0', 'acquire', 'fail', 7, { grantId: 'y', err: 'LOCK_HELD' }),
      ...grant('a/0', 'z', 1, 10, 11, 100),
      ev('a/0', 'extend', 'ok', 60, { grantId: 'z', validityEnd: 150n * MS }),
      ev('a/0', 'read', 'invoke', 120, { grantId: 'z', opId: 'z/r', validityEnd: 3_600_000n * MS }),
      ev('a/0', 'release', 'invoke', 400, { grantId: 'z' }),
    ];
    const claims = buildGrantClaims(events);
    assert.deepEqual(claims.map((c) => c.grantId), ['z']);
    assert.equal(claims[0]?.validityEnd, 3_600_000n * MS);
    assert.equal(claims[0]?.end, 400n * MS, 'a client that believes it holds longer claims longer (NC4)');
  });
});

describe('ME: lease-interval overlap', () => {
  test('passes back-to-back and disjoint claims, and other keys', () => {
    assert.deepEqual(checkMutualExclusion([claim('a', 0, 10), claim('b', 10, 20), claim('c', 25, 30), claim('d', 5, 8, 'other')]), []);
  });

  test('fires on a claim that starts inside another (negative control)', () => {
    const v = checkMutualExclusion([claim('a', 0, 100), claim('b', 40, 60), claim('c', 70, 120)]);
    assert.deepEqual(v.map((x) => [x.a.grantId, x.b.grantId, x.ns]), [
      ['a', 'b', 20n * MS],
      ['a', 'c', 30n * MS],
    ]);
    assert.equal(v[0]?.remainingNs, 60n * MS, 'a still had 60 ms when b started');
  });

  test('compares against the furthest-reaching earlier claim, and honours eps', () => {
    const v = checkMutualExclusion([claim('a', 0, 100), claim('b', 10, 20), claim('c', 99, 130)]);
    assert.equal(v.length, 2);
    assert.equal(v[1]?.a.grantId, 'a', 'c overlaps a, not b which ended earlier');
    assert.equal(checkMutualExclusion([claim('a', 0, 100), claim('c', 99, 130)], 2n * MS).length, 0);
  });
});

describe('discipline', () => {
  const withOps = (c: Claim, ...ts: number[]) => ({ ...c, ops: ts.map((t, i) => ({ op: 'write' as const, opId: `${c.grantId}/${i}`, t: BigInt(t) * MS })) });

  test('passes ops invoked before the claim ended', () => {
    assert.deepEqual(checkDiscipline([withOps(claim('a', 0, 100), 10, 99, 100)]), { late: [], pauseOverlaps: [] });
  });

  test('fires on an op invoked after the claim ended, and on the overlap with the next holder (S7)', () => {
    const { late, pauseOverlaps } = checkDiscipline([withOps(claim('v', 0, 100), 50, 400), withOps(claim('n', 150, 200), 160)]);
    assert.equal(late.length, 1);
    assert.equal(late[0]?.lateNs, 300n * MS);
    assert.equal(pauseOverlaps.length, 1);
    assert.equal(pauseOverlaps[0]?.other.grantId, 'n');
  });

  test('a late op with nobody else holding is a discipline violation but no overlap', () => {
    const { late, pauseOverlaps } = checkDiscipline([withOps(claim('v', 0, 100), 400), withOps(claim('n', 500, 600))]);
    assert.equal(late.length, 1);
    assert.equal(pauseOverlaps.length, 0);
  });
});

describe('TOK through checkHistory', () => {
  test('fires on a token below one that completed before the acquire began (S11/S12)', () => {
    const events = [...grant('a/0', 'g1', 10, 0, 2, 100, 50), ...grant('b/0', 'g2', 7, 60, 62, 160, 100)];
    const r = checkHistory({ events, storeLog: [], finalValues: new Map() });
    assert.equal(r.counts.TOK, 1);
    assert.equal(r.counts.ME, 0);
  });
});

describe('FENCE over the store log', () => {
  const grants = new Map<string, GrantFacts>([
    ['g1', { token: 1n, key: 'k' }],
    ['g2', { token: 2n, key: 'k' }],
  ]);

  test('passes a log that follows the fence rule', () => {
    seq = 0;
    const log = [entry('read', 1, 'g1', true, 0, 0), entry('read', 2, 'g2', true, 1, 0), entry('write', 1, 'g1', false, 2, 1), entry('write', 2, 'g2', true, 2, 1)];
    assert.deepEqual(checkFence(log, grants), []);
  });

  test('fires on a stale op accepted (NC1), a spurious reject, and ops of no grant or another token', () => {
    seq = 0;
    const log = [
      entry('read', 2, 'g2', true, 0, 0),
      entry('write', 1, 'g1', true, 2, 1),
      entry('read', 2, 'g2', false, 2, 1),
      entry('read', 3, 'ghost', true, 2, 1),
      entry('read', 5, 'g1', true, 3, 1),
    ];
    assert.deepEqual(checkFence(log, grants).map((v) => v.kind), ['stale-accepted', 'spurious-reject', 'phantom-grant', 'token-mismatch']);
  });
});

describe('RMW counter', () => {
  test('passes serial increments', () => {
    seq = 0;
    const r1 = entry('read', 1, 'g1', true, 0, 0);
    const w1 = entry('write', 1, 'g1', true, 1, 1, { readOpId: r1.opId });
    const r2 = entry('read', 2, 'g2', true, 1, 1);
    const w2 = entry('write', 2, 'g2', true, 2, 2, { readOpId: r2.opId });
    assert.deepEqual(checkRmw([r1, w1, r2, w2], new Map([['k', 2]]), [{ opId: w1.opId, resource: 'k' }, { opId: w2.opId, resource: 'k' }]), []);
  });

  test('fires on a lost update: two increments from the same read value (NC1)', () => {
    seq = 0;
    const r1 = entry('read', 1, 'g1', true, 0, 5);
    const r2 = entry('read', 2, 'g2', true, 1, 5);
    const w2 = entry('write', 2, 'g2', true, 2, 6, { readOpId: r2.opId });
    const w1 = entry('write', 1, 'g1', true, 2, 6, { readOpId: r1.opId });
    const kinds = checkRmw([r1, r2, w2, w1], new Map([['k', 6]]), []).map((v) => v.kind);
    assert.deepEqual(kinds, ['lost-update', 'final-mismatch']);
  });

  test('fires on an acknowledged increment the store never accepted, and on a bad increment', () => {
    seq = 0;
    const r1 = entry('read', 1, 'g1', true, 0, 0);
    const w1 = entry('write', 1, 'g1', true, 1, 3, { readOpId: r1.opId });
    const kinds = checkRmw([r1, w1], new Map([['k', 3]]), [{ opId: 'nowhere', resource: 'k' }]).map((v) => v.kind);
    assert.deepEqual(kinds, ['bad-increment', 'final-mismatch', 'ack-missing']);
  });
});

describe('vacuity', () => {
  test('fires on too few grants, no effective fault, no stale op', () => {
    const v = checkVacuity({ grants: 3, minGrants: 10, effectiveFaults: 0, faultRequired: true, staleOps: 0, staleRequired: true });
    assert.equal(v.length, 3);
    assert.deepEqual(checkVacuity({ grants: 10, minGrants: 10, effectiveFaults: 1, faultRequired: true, staleOps: 1, staleRequired: true }), []);
  });
});

describe('the fenced store', () => {
  const req = (op: 'read' | 'write', token: number, grantId: string, value?: number): StoreRequest => ({
    op, resource: 'k', token: String(token), grantId, opId: `${grantId}/${op}/${token}/${value ?? ''}`, proc: 'p', client: 'p/0',
    ...(value === undefined ? {} : { value }),
  });

  test('fences on first touch, reads included: a read with a newer token locks out an older writer', async () => {
    await using store = await FencedStore.start();
    assert.equal(store.apply(req('read', 33, 'a')).value, 0);
    assert.equal(store.apply(req('read', 34, 'b')).accepted, true);
    assert.equal(store.apply(req('write', 33, 'a', 1)).accepted, false, 'the older holder is rejected');
    assert.equal(store.apply(req('write', 34, 'b', 1)).accepted, true, 'an equal token is the same grant acting again');
    assert.equal(store.values.get('k'), 1);
    assert.deepEqual(store.log.map((e) => e.accepted), [true, true, false, true]);
    assert.equal(store.staleCount(), 1);
  });

  test('with fencing off (NC1) it accepts stale ops and the checkers catch the lost update', async () => {
    await using store = await FencedStore.start({ fencing: false });
    store.apply(req('read', 33, 'a'));
    store.apply(req('read', 34, 'b'));
    store.apply({ ...req('write', 34, 'b', 1), readOpId: 'b/read/34/' });
    store.apply({ ...req('write', 33, 'a', 1), readOpId: 'a/read/33/' });
    const events = [...grant('a/0', 'a', 33, 0, 1, 100), ...grant('b/0', 'b', 34, 0, 2, 100)];
    const r = checkHistory({ events, storeLog: store.log, finalValues: store.values });
    assert.ok(r.counts.FENCE >= 1, 'stale write accepted');
    assert.ok(r.counts.RMW >= 1, 'lost update');
  });
});

describe('LEADER (leader election, S17)', () => {
  /** A candidate elected for `term` at `t` ms. */
  const elected = (proc: string, term: number, t: number, candidate = `${proc}-id`): HistoryEvent =>
    ({ proc, client: `${proc}/0`, op: 'elected', phase: 'ok', key: 'L', t: BigInt(t) * MS, token: BigInt(term), grantId: `${proc}/t${term}`, candidate });
  /** An action (a read) of `term` invoked at `t` ms, with what isLeader said. */
  const act = (proc: string, term: number, t: number, leader = true): HistoryEvent =>
    ({ proc, client: `${proc}/0`, op: 'read', phase: 'invoke', key: 'L', t: BigInt(t) * MS, token: BigInt(term), grantId: `${proc}/t${term}`, opId: `${proc}/${t}`, leader });
  const follower = (proc: string, term: number, t: number): HistoryEvent =>
    ({ proc, client: `${proc}/0`, op: 'follower', phase: 'info', key: 'L', t: BigInt(t) * MS, token: BigInt(term), err: 'renewDeadline' });
  const observed = (proc: string, term: number, t: number, candidate: string): HistoryEvent =>
    ({ proc, client: `${proc}/0`, op: 'observed', phase: 'info', key: 'L', t: BigInt(t) * MS, token: BigInt(term), candidate });
  /** A store entry of the election's resource handled at `t` ms. */
  let n = 0;
  const done = (proc: string, term: number, t: number, accepted: boolean): StoreEntry => {
    n += 1;
    return {
      seq: n, t: BigInt(t) * MS, op: 'read', resource: 'L', token: BigInt(term), grantId: `${proc}/t${term}`, opId: `${proc}/${n}`, proc, client: `${proc}/0`,
      accepted, maxBefore: 0n, value: 0,
    };
  };
  const kinds = (input: Partial<LeaderInput>): string[] =>
    checkLeader({ events: [], storeLog: [], resource: 'L', ttl: 1_000, ...input }).violations.map((v) => v.kind);

  // A clean run: a leads term 10, is paused 100–2600 ms (does not act after SIGCONT), b takes over
  // with term 20, and the paused a's one late action is rejected; c, cut at 3000 ms, stops in time.
  const events = [
    elected('a', 10, 0), act('a', 10, 50), act('a', 10, 90),
    elected('b', 20, 1_200), act('b', 20, 1_250), observed('c', 20, 1_260, 'b-id'),
    follower('a', 10, 2_601), elected('c', 30, 2_800), act('c', 30, 2_850), act('c', 30, 3_600),
  ];
  const pauses = [{ proc: 'a', from: 100n * MS, to: 2_600n * MS }];
  const isolations = [{ proc: 'c', from: 3_000n * MS, to: 6_000n * MS }];
  const clean = (): StoreEntry[] => {
    n = 0;
    return [done('a', 10, 51, true), done('a', 10, 91, true), done('b', 20, 1_251, true), done('a', 10, 2_602, false), done('c', 30, 2_851, true), done('c', 30, 3_601, true)];
  };

  test('passes a clean election history, and counts accepted and rejected actions', () => {
    const report = checkLeader({ events, storeLog: clean(), resource: 'L', pauses, isolations, ttl: 1_000 });
    assert.deepEqual(report.violations, []);
    assert.deepEqual([report.accepted, report.rejected, report.terms], [5, 1, 3]);
  });

  test('fires when an older term is accepted after a newer term acted (store fencing off)', () => {
    n = 0;
    const log = [done('a', 10, 51, true), done('b', 20, 1_251, true), done('a', 10, 1_300, true)];
    assert.deepEqual(kinds({ events, storeLog: log }), ['stale-term-accepted']);
  });

  test('fires when one term has two candidates (elected twice, or acted by another process)', () => {
    assert.deepEqual(kinds({ events: [elected('a', 10, 0), elected('b', 10, 5)] }), ['two-candidates']);
    assert.deepEqual(kinds({ events: [elected('a', 10, 0), elected('a', 10, 5, 'another-id')] }), ['two-candidates']);
    n = 0;
    assert.deepEqual(kinds({ events: [elected('a', 10, 0)], storeLog: [done('a', 10, 1, true), done('b', 10, 2, true)] }), ['two-candidates']);
  });

  test('fires when the paused leader acts after SIGCONT and is accepted', () => {
    n = 0;
    const log = [done('a', 10, 51, true), done('a', 10, 2_610, true)];
    assert.deepEqual(kinds({ events: [elected('a', 10, 0)], storeLog: log, pauses }), ['paused-leader-accepted']);
    // The same late action rejected by the store is fine (that is what fencing is for).
    n = 0;
    assert.deepEqual(kinds({ events: [elected('a', 10, 0)], storeLog: [done('b', 20, 1_300, true), done('a', 10, 2_610, false)], pauses }), []);
  });

  test('fires on an action invoked while isLeader was false, or after the follower event', () => {
    assert.deepEqual(kinds({ events: [elected('a', 10, 0), act('a', 10, 50, false)] }), ['acted-not-leader']);
    assert.deepEqual(kinds({ events: [elected('a', 10, 0), follower('a', 10, 40), act('a', 10, 50)] }), ['acted-not-leader']);
  });

  test('fires when a leader cut from a majority still acts more than a lease after the cut', () => {
    const history = [elected('c', 30, 2_800), act('c', 30, 3_900), act('c', 30, 4_001)];
    assert.deepEqual(kinds({ events: history, isolations }), ['acted-past-lease']);
    assert.deepEqual(kinds({ events: history, isolations, ttl: 1_500 }), []);
  });

  test('fires when leader() names another candidate than the one elected for that term', () => {
    assert.deepEqual(kinds({ events: [elected('b', 20, 0), observed('c', 20, 10, 'a-id')] }), ['observed-wrong-leader']);
    assert.deepEqual(kinds({ events: [elected('b', 20, 0), observed('c', 20, 10, 'b-id')] }), []);
  });

  test('checkHistory counts a term as a grant of the seat: its actions are no phantom grants', () => {
    n = 0;
    const log = [done('a', 10, 51, true)];
    assert.equal(checkHistory({ events: [elected('a', 10, 0)], storeLog: log, finalValues: new Map() }).counts.FENCE, 0);
    assert.equal(checkHistory({ events: [], storeLog: log, finalValues: new Map() }).counts.FENCE, 1);
  });
});

describe('QUEUE (job queue, S18/S19)', () => {
  const qev = (proc: string, op: Op, phase: Phase, t: number, job: string, extra: Partial<HistoryEvent> = {}): HistoryEvent =>
    ({ proc, client: `${proc}/0`, op, phase, key: `job:${job}`, jobId: job, t: BigInt(t) * MS, ...extra });
  const enqueue = (job: string, t = 0): HistoryEvent => qev('prod', 'enqueue', 'ok', t, job);
  const deliver = (proc: string, job: string, token: number, t: number): HistoryEvent =>
    qev(proc, 'deliver', 'ok', t, job, { token: BigInt(token), grantId: `${proc}/${job}/t${token}` });
  const complete = (proc: string, job: string, token: number, t: number, phase: Phase = 'ok'): HistoryEvent =>
    qev(proc, 'complete', phase, t, job, { token: BigInt(token), grantId: `${proc}/${job}/t${token}`, ...(phase === 'fail' ? { err: 'StaleTokenError' } : {}) });
  const final = (job: string, state: string, token?: number): HistoryEvent =>
    qev('prod', 'final', 'info', 10_000, job, { state, ...(token === undefined ? {} : { token: BigInt(token) }) });
  let n = 0;
  /** A store op of the job's effect resource. */
  const op = (proc: string, job: string, kind: 'read' | 'write', token: number, accepted: boolean, maxBefore = 0): StoreEntry => {
    n += 1;
    return {
      seq: n, t: BigInt(n) * MS, op: kind, resource: `job:${job}`, token: BigInt(token), grantId: `${proc}/${job}/t${token}`, opId: `${proc}/${job}/${n}`,
      proc, client: `${proc}/0`, accepted, maxBefore: BigInt(maxBefore), value: 0,
    };
  };
  const kinds = (input: Partial<QueueInput>): string[] => checkQueue({ events: [], storeLog: [], ...input }).violations.map((v) => v.kind).sort();

  // A clean run: j1 runs once on a; j2's worker b is paused (zombie), c gets it again with a larger
  // token, touches the store, completes; b's late effect and completion are refused. j3 fails.
  const history = (): { events: HistoryEvent[]; storeLog: StoreEntry[] } => {
    n = 0;
    return {
      events: [
        enqueue('j1'), enqueue('j2'), enqueue('j3'),
        deliver('a', 'j1', 1, 10), complete('a', 'j1', 1, 50),
        deliver('b', 'j2', 2, 20), deliver('c', 'j2', 5, 2_000), complete('c', 'j2', 5, 2_100), complete('b', 'j2', 2, 2_600, 'fail'),
        deliver('a', 'j3', 3, 30), qev('a', 'failattempt', 'ok', 60, 'j3', { token: 3n, state: 'failed' }),
        final('j1', 'completed', 1), final('j2', 'completed', 5), final('j3', 'failed'),
      ],
      storeLog: [
        op('a', 'j1', 'read', 1, true), op('b', 'j2', 'read', 2, true), op('a', 'j1', 'write', 1, true, 1),
        op('c', 'j2', 'read', 5, true, 2), op('c', 'j2', 'write', 5, true, 5), op('b', 'j2', 'write', 2, false, 5),
      ],
    };
  };

  test('passes a clean history with a zombie refused, and counts', () => {
    const report = checkQueue({ ...history(), maxDeliveries: 2 });
    assert.deepEqual(report.violations, []);
    assert.deepEqual(
      [report.enqueued, report.deliveries, report.redelivered, report.completed, report.failed, report.refused, report.effectsRejected, report.supersededEffects],
      [3, 4, 1, 2, 1, 1, 1, 0],
    );
  });

  test('an earlier delivery\'s effect accepted before the newer one touched is at-least-once execution, not a violation', () => {
    const h = history();
    n = 100;
    // b's write lands before c's first touch: accepted, then c's increments supersede it.
    const storeLog = [op('b', 'j2', 'read', 2, true), op('b', 'j2', 'write', 2, true, 2), op('c', 'j2', 'read', 5, true, 2), op('c', 'j2', 'write', 5, true, 5), op('a', 'j1', 'write', 1, true)];
    const report = checkQueue({ events: h.events, storeLog });
    assert.deepEqual(report.violations, []);
    assert.equal(report.supersededEffects, 1);
  });

  test('fires on a job lost, stuck active, or not terminal after the drain', () => {
    const { events, storeLog } = history();
    const without = events.filter((e) => !(e.op === 'final' && e.jobId === 'j3'));
    assert.deepEqual(kinds({ events: without, storeLog }), ['lost']);
    assert.deepEqual(kinds({ events: [...without, final('j3', 'missing')], storeLog }), ['lost']);
    assert.deepEqual(kinds({ events: [...without, final('j3', 'active')], storeLog }), ['stuck-active']);
    assert.deepEqual(kinds({ events: [...without, final('j3', 'waiting')], storeLog }), ['not-terminal']);
  });

  test('fires on a double completion and a stale completion (NC13: the token check bypassed)', () => {
    const { events, storeLog } = history();
    const forced = events.map((e) => (e.op === 'complete' && e.proc === 'b' ? complete('b', 'j2', 2, 2_600) : e));
    assert.deepEqual(kinds({ events: forced, storeLog }), ['double-completion', 'stale-completion']);
    // The stored result names the zombie's token, though c's completion was accepted.
    const result = events.map((e) => (e.op === 'final' && e.jobId === 'j2' ? { ...e, token: 2n } : e));
    assert.deepEqual(kinds({ events: result, storeLog }), ['stale-completion']);
  });

  test('fires on a completed job that also failed for good, or completed without an accepted completion', () => {
    const { events, storeLog } = history();
    assert.deepEqual(kinds({ events: [...events, complete('a', 'j3', 3, 70)], storeLog: [...storeLog, op('a', 'j3', 'write', 3, true)] }), ['completed-and-failed']);
    const noCompletion = events.filter((e) => !(e.op === 'complete' && e.jobId === 'j1'));
    assert.deepEqual(kinds({ events: noCompletion, storeLog }), ['completed-and-failed']);
  });

  test('fires when tokens of a job\'s deliveries do not strictly increase, and past the delivery bound', () => {
    const { events, storeLog } = history();
    assert.deepEqual(kinds({ events: [...events, deliver('d', 'j2', 4, 2_050)], storeLog }), ['token-order']);
    assert.deepEqual(kinds({ events: [...events, deliver('d', 'j2', 5, 2_050)], storeLog }), ['token-order']);
    assert.deepEqual(kinds({ events, storeLog, maxDeliveries: 1 }), ['attempt-bound']);
  });

  test('fires when a zombie\'s effect is accepted after the completing delivery\'s (NC14: the store does not check tokens)', () => {
    const { events } = history();
    n = 200;
    const storeLog = [
      op('a', 'j1', 'write', 1, true), op('b', 'j2', 'read', 2, true), op('c', 'j2', 'read', 5, true, 2), op('c', 'j2', 'write', 5, true, 5), op('b', 'j2', 'write', 2, true, 5),
    ];
    assert.deepEqual(kinds({ events, storeLog }), ['effect']);
    assert.equal(checkHistory({ events, storeLog, finalValues: new Map() }).counts.FENCE, 1, 'FENCE sees the stale write accepted too');
    // No accepted effect of the completing delivery at all.
    assert.deepEqual(kinds({ events, storeLog: [op('a', 'j1', 'write', 1, true)] }), ['effect']);
  });

  test('checkHistory counts a delivery as a grant of the job\'s resource: its effects are no phantom grants', () => {
    const { events, storeLog } = history();
    assert.equal(checkHistory({ events, storeLog, finalValues: new Map() }).counts.FENCE, 0);
    assert.ok(checkHistory({ events: [], storeLog, finalValues: new Map() }).counts.FENCE > 0);
  });
});
