/**
 * LeaderElection's rules on MemoryNodes and a fake clock: option checks, step-down at the renew
 * deadline (read at every access of `isLeader`), renewals that come too late, hand-over on resign,
 * and terms. Real redis-servers and processes: test/integration/election.test.ts.
 */
import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, test } from 'node:test';
import {
  type Done,
  type ExtendReply,
  type ExtendRequest,
  type FollowerReason,
  InvalidOptionsError,
  LeaderElection,
  type LeaderElectionOptions,
  MemoryNode,
  Redlock,
} from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';

/** Longer than any campaign back-off (30 s). */
const MAX_WAIT = 30_000;

/** Lets promise chains and immediates run until `ready()` (at most `turns` event-loop turns). */
async function until(ready: () => boolean, what: string, turns = 500): Promise<void> {
  for (let i = 0; i < turns; i += 1) {
    if (ready()) return;
    await turn();
  }
  assert.fail(`not reached after ${turns} event-loop turns: ${what}`);
}

/** A MemoryNode whose extend replies can be held back (a slow network). */
class SlowNode extends MemoryNode {
  hold = false;
  readonly held: (() => void)[] = [];

  override extend(request: ExtendRequest, done: Done<ExtendReply>): void {
    if (!this.hold) {
      super.extend(request, done);
      return;
    }
    // The node acts now; its reply arrives when the test lets it.
    super.extend(request, (error, reply) => this.held.push(() => done(error, reply)));
  }

  deliver(): void {
    for (const send of this.held.splice(0)) send();
  }
}

function setup(options: LeaderElectionOptions = {}) {
  const clock = new FakeClock();
  const node = new SlowNode({ clock });
  const redlocks: Redlock[] = [];
  const counts = { extended: 0 };
  const candidate = (id: string, extra: LeaderElectionOptions = {}): LeaderElection => {
    const redlock = new Redlock([node], { clock });
    redlock.on('extended', () => (counts.extended += 1));
    redlocks.push(redlock);
    return new LeaderElection(redlock, 'scheduler', { ttl: 3_000, renewDeadline: 2_000, renewInterval: 500, id, ...options, ...extra });
  };
  return { clock, node, candidate, counts, redlocks, close: () => Promise.all(redlocks.map((r) => r.quit())) };
}

/** Records every event of an election, with what `isLeader` and the term's signal said at the time. */
function record(election: LeaderElection) {
  const events: { ev: string; reason?: FollowerReason; isLeader: boolean; aborted?: boolean }[] = [];
  let signal: AbortSignal | undefined;
  election.on('leader', (leadership) => {
    signal = leadership.signal;
    events.push({ ev: 'leader', isLeader: election.isLeader });
  });
  election.on('follower', (reason) => events.push({ ev: 'follower', reason, isLeader: election.isLeader, aborted: signal?.aborted === true }));
  return events;
}

describe('LeaderElection options (checked synchronously, as client-go)', () => {
  const redlock = new Redlock([new MemoryNode()], { maxTtl: 60_000 });
  const rejects = (options: LeaderElectionOptions, message: RegExp, name = 'scheduler'): void => {
    assert.throws(() => new LeaderElection(redlock, name, options), (e: unknown) => e instanceof InvalidOptionsError && message.test(e.message));
  };

  test('ttl > renewDeadline > 1.2 × renewInterval > 0, integers', () => {
    rejects({ ttl: 0 }, /`ttl` to be a positive integer/);
    rejects({ ttl: 1_500.5 }, /`ttl` to be a positive integer/);
    rejects({ ttl: 1_000, renewDeadline: 1_000 }, /`ttl` \(1000\) to be greater than `renewDeadline` \(1000\)/);
    rejects({ ttl: 1_000, renewDeadline: 600, renewInterval: 500 }, /`renewDeadline` \(600\) to be greater than 1\.2 × `renewInterval` \(500\)/);
    rejects({ renewInterval: -1 }, /`renewInterval` to be a positive integer/);
    const ok = new LeaderElection(redlock, 'scheduler', { ttl: 1_000, renewDeadline: 601, renewInterval: 500 });
    assert.equal(ok.isLeader, false);
    assert.equal(ok.term, undefined);
  });

  test("bun-queue's names are aliases: leaderTimeout = ttl, heartbeatInterval = renewInterval", () => {
    rejects({ leaderTimeout: 900, renewDeadline: 1_000 }, /`ttl` \(900\) to be greater than `renewDeadline`/);
    rejects({ ttl: 3_000, renewDeadline: 1_000, heartbeatInterval: 900 }, /1\.2 × `renewInterval` \(900\)/);
    rejects({ ttl: 3_000, leaderTimeout: 4_000 }, /`leaderTimeout` is another name for `ttl`/);
    assert.doesNotThrow(() => new LeaderElection(redlock, 'scheduler', { leaderTimeout: 3_000, ttl: 3_000, heartbeatInterval: 400 }));
  });

  test('the rest: unknown options, the Redlock, name, maxTtl, keepAlive, the lock thread', () => {
    rejects({ tll: 3_000 } as LeaderElectionOptions, /Unknown option `tll`/);
    rejects({}, /`name` to be a non-empty string/, '');
    rejects({ ttl: 90_000 }, /`ttl` to be at most `maxTtl` \(60000\)/);
    rejects({ keepAlive: 100 }, /`keepAlive` to be 0 \(off\) or from 4 × `nodeTimeout`/);
    rejects({ useDedicatedLockThread: 'yes' } as unknown as LeaderElectionOptions, /`useDedicatedLockThread` to be a boolean/);
    rejects({ ttl: 1_000, renewDeadline: 60, renewInterval: 48 }, /less the drift allowance of the ttl \(12 ms\) to be longer than `renewInterval` \(48\)/);
    rejects({ id: '' }, /`id` to be a non-empty string/);
    assert.throws(() => new LeaderElection({} as Redlock, 'x'), InvalidOptionsError);
    const a = new LeaderElection(redlock, 'x');
    const b = new LeaderElection(redlock, 'x');
    assert.notEqual(a.id, b.id, 'a fresh id per candidate');
    assert.match(a.id, new RegExp(`/${process.pid}/`));
  });
});

describe('LeaderElection on a fake clock', () => {
  test('a pause past the renew deadline: isLeader is false at once, before any timer ran; then the signal aborts before "follower"', async () => {
    const { clock, candidate, counts, close } = setup();
    const a = candidate('A');
    const events = record(a);
    const leadership = await a.campaign();
    assert.equal(a.isLeader, true);
    assert.equal(a.term, leadership.term);
    assert.deepEqual(await a.leader(), { id: 'A', term: leadership.term });

    // Renewals keep it: ten intervals later it is the same term.
    for (let i = 0; i < 10; i += 1) {
      clock.advance(500);
      await until(() => counts.extended === i + 1, 'renewed');
    }
    assert.equal(a.term, leadership.term);

    clock.jump(2_000); // the process was stopped; none of its timers has run yet
    assert.equal(a.isLeader, false, 'isLeader reads the deadline itself');
    assert.equal(a.term, undefined);
    assert.deepEqual(events.map((e) => e.ev), ['leader'], 'no timer ran yet');
    clock.advance(0);
    await until(() => events.length === 2, 'follower');
    assert.deepEqual(events[1], { ev: 'follower', reason: 'renewDeadline', isLeader: false, aborted: true });
    assert.equal(leadership.signal.aborted, true);
    await close();
  });

  test('a renewal whose reply comes after the deadline (before the deadline timer ran) does not bring the term back', async () => {
    const { clock, node, candidate, close } = setup();
    const a = candidate('A');
    const events = record(a);
    await a.campaign();
    node.hold = true;
    clock.advance(500); // the renewal is sent; its reply is held back
    await until(() => node.held.length === 1, 'renewal sent');
    clock.jump(1_600); // past the deadline; timers not run yet
    node.deliver(); // the extension succeeded on the node, and its reply is handled first
    await until(() => events.length === 2, 'stepped down');
    assert.deepEqual(events[1], { ev: 'follower', reason: 'renewDeadline', isLeader: false, aborted: true });
    clock.advance(0);
    clock.advance(5_000);
    await until(() => true, 'settled');
    assert.equal(a.isLeader, false);
    assert.deepEqual(events.map((e) => e.ev), ['leader', 'follower'], 'never leader again in that term');
    await close();
  });

  test('a grant whose deadline passed before the elector ran again (a pause) begins no term: it campaigns on', async () => {
    const { clock, candidate, redlocks, close } = setup();
    const a = candidate('A');
    const events = record(a);
    let granted: bigint | undefined;
    redlocks[0]?.once('acquired', (e) => {
      granted = e.fencingToken;
      clock.jump(2_500); // blocked between the grant and the elector's next step
    });
    const leadership = await a.campaign();
    assert.ok(granted !== undefined && leadership.term > granted, 'a later grant');
    assert.equal(a.isLeader, true);
    assert.equal(leadership.signal.aborted, false);
    assert.deepEqual(events.map((e) => e.ev), ['leader'], "no 'leader' for the dead grant");
    await leadership.resign();
    await close();
  });

  test('resign: a waiting candidate is woken by the release and elected with no time passing; terms increase', async () => {
    const { candidate, close } = setup();
    const a = candidate('A');
    const b = candidate('B');
    const first = await a.campaign();
    const waiting = b.campaign();
    await until(() => false === b.isLeader, 'B waits');
    await first.resign();
    const second = await waiting; // no clock.advance: only the release's wake-up can do this
    assert.equal(b.isLeader, true);
    assert.ok(second.term > first.term, `${second.term} > ${first.term}`);
    assert.deepEqual(await a.leader(), { id: 'B', term: second.term }, 'read by a follower');
    await second[Symbol.asyncDispose]();
    assert.equal(await a.leader(), null, 'vacant');

    // A new candidate (a restarted process: a fresh id) gets a larger term again.
    const c = candidate('C');
    const third = await c.campaign();
    assert.ok(third.term > second.term);
    await third.resign();
    await close();
  });

  test('start(): "follower" (not-elected) once when another leads; campaigns again after its term ends; stop() resigns; one campaign at a time', async () => {
    const { clock, candidate, close } = setup();
    const a = candidate('A');
    const b = candidate('B');
    const aEvents = record(a);
    const bEvents = record(b);
    await a.start();
    await until(() => a.isLeader, 'A leads');
    await assert.rejects(a.campaign(), /already campaigning or leading/);
    await b.start();
    await until(() => bEvents.length > 0, 'B is told it follows');
    assert.deepEqual(bEvents, [{ ev: 'follower', reason: 'not-elected', isLeader: false, aborted: false }], 'once, at start');
    const term = a.term;
    clock.jump(2_500); // A paused past its deadline
    clock.advance(0);
    await until(() => aEvents.length >= 2, 'A stepped down');
    assert.equal(aEvents[1]?.reason, 'renewDeadline');
    await until(() => a.isLeader || b.isLeader, 'a new leader');
    const next = a.isLeader ? a.term : b.term;
    assert.ok(next !== undefined && term !== undefined && next > term);
    const leader = a.isLeader ? a : b;
    const follower = leader === a ? b : a;
    const followerEvents = leader === a ? bEvents : aEvents;
    const before = followerEvents.filter((e) => e.ev === 'leader').length;
    await leader.stop();
    await until(() => follower.isLeader, 'the other one took over');
    assert.equal(followerEvents.filter((e) => e.ev === 'leader').length, before + 1);
    assert.equal(leader.isLeader, false);
    await follower.stop();
    assert.equal(await follower.leader(), null);
    await close();
  });

  test('releaseOnStop: false leaves the seat to expire; the election signal stops it', async () => {
    const { clock, candidate, close } = setup();
    const controller = new AbortController();
    const a = candidate('A', { releaseOnStop: false, signal: controller.signal });
    const b = candidate('B');
    await a.start();
    await until(() => a.isLeader, 'A leads');
    const term = a.term;
    controller.abort();
    await until(() => !a.isLeader, 'A stopped');
    assert.deepEqual(await b.leader(), { id: 'A', term }, 'the seat is still A’s until its lease ends');
    clock.advance(3_100);
    assert.equal(await b.leader(), null);
    await assert.rejects(a.start(), /aborted/);
    await close();
  });
});

describe('LeaderElection, from an adversarial review', () => {
  test('start() keeps campaigning after an error that is not an outage (the nodes refuse the ttl), and reports it', async () => {
    const clock = new FakeClock();
    const node = new MemoryNode({ clock });
    // Another client initialised the node with a smaller maxTtl: every acquire of a 15 s ttl is refused.
    await (await new Redlock([node], { clock, maxTtl: 5_000 }).acquire('init', 1_000)).release();
    const election = new LeaderElection(new Redlock([node], { clock }), 'refused', { ttl: 15_000 });
    const errors: Error[] = [];
    election.on('campaignError', (error) => errors.push(error));
    await election.start();
    await until(() => errors.length === 1, 'first error');
    assert.match(errors[0]?.message ?? '', /maxTtl|at most/);
    for (let i = 0; i < 3; i += 1) {
      clock.advance(MAX_WAIT);
      await until(() => errors.length === i + 2, `error ${i + 2}`);
    }
    assert.equal(election.isLeader, false);
    await election.stop();
  });

  test('stop() also ends a campaign() under way; two stops both wait for the release', async () => {
    const { candidate, close } = setup();
    const a = candidate('A');
    const b = candidate('B');
    const first = await a.campaign();
    const waiting = b.campaign();
    await turn();
    await b.stop();
    await assert.rejects(waiting, /stopped/);
    await first.resign();
    await until(() => true, 'settle');
    assert.equal(b.isLeader, false, 'B does not take the seat after stop()');
    await a.start();
    await until(() => a.isLeader, 'A leads');
    const stops = [a.stop(), a.stop()];
    await stops[1];
    assert.equal(await b.leader(), null, 'the second stop() resolved after the seat was released');
    await stops[0];
    await close();
  });

  test('a term handed over after a long wait, with less validity left than renewInterval, is refreshed in time', async () => {
    const { clock, candidate, close } = setup({ ttl: 10_000, renewDeadline: 5_500, renewInterval: 1_000 });
    const a = candidate('A');
    const b = candidate('B');
    const bEvents = record(b);
    const first = await a.campaign();
    const waiting = b.campaign();
    // Steps of nodeTimeout: a request sent at the end of a step is answered before the next one.
    for (let t = 0; t < 4_800; t += 50) {
      clock.advance(50);
      await turn();
    }
    assert.equal(a.isLeader, true);
    await first.resign();
    const second = await waiting;
    for (let t = 0; t < 3_000; t += 50) {
      clock.advance(50);
      await turn();
    }
    assert.equal(b.isLeader, true, 'still leader: refreshed before its short first validity ran out');
    assert.equal(b.term, second.term);
    assert.deepEqual(bEvents.map((e) => e.ev), ['leader']);
    await second.resign();
    await close();
  });

  test('leader() counts a note only when a majority of nodes shows it (a lease left on one node is not a leader)', async () => {
    const clock = new FakeClock();
    const nodes = [new MemoryNode({ clock }), new MemoryNode({ clock }), new MemoryNode({ clock })];
    const prefix = 'one-node:';
    // A lease and note on one node only: what a holder whose release missed that node leaves behind.
    const single = new Redlock([nodes[0] as MemoryNode], { clock, prefix });
    const stray = await single.acquire('election:e', 5_000);
    assert.equal(await single.setHolder(stray, 'gone'), 1);
    const reader = new LeaderElection(new Redlock(nodes, { clock, prefix }), 'e');
    assert.equal(await reader.leader(), null);
    assert.deepEqual((await single.holder('election:e'))?.label, 'gone', 'a majority of that one node does show it');
  });
});
