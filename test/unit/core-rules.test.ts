/**
 * The core's rules as tables (client-go style: an array of named cases, one loop), on MemoryNodes
 * and a fake clock, so every case is deterministic: the quorum round's decisions, the token commit,
 * failure classification, wake-up counting in a ReleaseWatch, and clock-step reports (issue 11,
 * "Time fully injected"). No real waits: time passes only when a case moves the fake clock, and
 * `turn()` only lets pending microtasks and immediates run.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import {
  type AcquireReply,
  type Done,
  type FenceRequest,
  InvalidOptionsError,
  LockHeldError,
  type LockNode,
  MemoryNode,
  type NodeOutcome,
  type NodeReport,
  QuorumError,
  Redlock,
} from '../../src/index.js';
import { counterPattern, type ResourceKeys, resourceKeys } from '../../src/core/keys.js';
import { quorumRound, type Reply, reportsOf } from '../../src/core/quorum-round.js';
import { commitToken } from '../../src/fencing/fencing-counter.js';
import { ReleaseNotifier } from '../../src/redlock/release-notifier.js';
import { classifyAcquire, classifyExtend, failureOf, refusalOf, ttlLimitOf } from '../../src/redlock/replies.js';
import { FakeClock } from '../support/fake-clock.js';

/** The fake clock with the optional Clock members too: a wall clock that can be stepped, fixed jitter. */
class SteppingClock extends FakeClock {
  /** Where the wall clock was when `now()` read 0 (ms since the epoch). */
  wallAtZero = Date.UTC(2030, 0, 1);

  wallNow(): number {
    return this.wallAtZero + this.now();
  }

  random(): number {
    return 0.5;
  }
}

/** The per-node timeout every round below uses (ms of the fake clock). */
const TIMEOUT_MS = 100;
const MAX_TTL = 60_000;

const ok = (value?: string): Reply<string> => (value === undefined ? { outcome: 'ok' } : { outcome: 'ok', value });
const held = (counter: string): Reply<string> => ({ outcome: 'held', value: counter });
const failed = (error = 'ERR connection lost'): Reply<string> => ({ outcome: 'error', error });

/** Lets every pending reply (microtask) and promise chain run; no time passes. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await turn();
}

/** What `promise` settles to once pending work has run; fails (instead of hanging) when it does not. */
async function settled<T>(promise: Promise<T>, what: string): Promise<T> {
  const pending = Symbol('pending');
  const result = await Promise.race([promise, settle().then(() => pending)]);
  if (result === pending) assert.fail(`${what}: still pending after every reply and timer ran`);
  return result as T;
}

/** Calls a callback-style node operation. */
function call<T>(operation: (done: Done<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => operation((error, reply) => (error === undefined ? resolve(reply as T) : reject(error))));
}

// ---- (1) quorum decisions --------------------------------------------------------------------------

/** A node's answer in a scripted round: ok/held are replies, error/notReady come as errors. */
type Answer = 'ok' | 'held' | 'error' | 'notReady' | 'errNotReady';
/** One step of a case: node `i` answers, or the clock moves past the round's timeout. */
type Step = readonly [node: number, answer: Answer] | 'timeout';

interface RoundCase {
  readonly name: string;
  readonly nodes: number;
  readonly needed: number;
  /** Nodes whose send throws synchronously (a closed connection). */
  readonly throws?: readonly number[];
  readonly steps: readonly Step[];
  readonly want: {
    readonly decided: boolean | undefined;
    /** How many steps had been taken when `decided` settled (0: before the first). */
    readonly decidedAt: number | undefined;
    /** How many steps had been taken when `done` settled; undefined: not done after the last step. */
    readonly doneAt: number | undefined;
    /** Every node's outcome after the last step (`-` not answered). */
    readonly outcomes: readonly (NodeOutcome | '-')[];
    /** Nodes told they timed out. */
    readonly timedOut: readonly number[];
  };
}

const roundCases: readonly RoundCase[] = [
  {
    name: 'N=3: ok, ok decides true at the second answer; the third is still recorded',
    nodes: 3,
    needed: 2,
    steps: [[0, 'ok'], [1, 'ok'], [2, 'held']],
    want: { decided: true, decidedAt: 2, doneAt: 3, outcomes: ['ok', 'ok', 'held'], timedOut: [] },
  },
  {
    name: 'N=3: ok, held, ok decides true at the third answer',
    nodes: 3,
    needed: 2,
    steps: [[2, 'ok'], [0, 'held'], [1, 'ok']],
    want: { decided: true, decidedAt: 3, doneAt: 3, outcomes: ['held', 'ok', 'ok'], timedOut: [] },
  },
  {
    name: 'N=3: held, error decides false as soon as a quorum is impossible',
    nodes: 3,
    needed: 2,
    steps: [[1, 'held'], [0, 'error']],
    want: { decided: false, decidedAt: 2, doneAt: undefined, outcomes: ['error', 'held', '-'], timedOut: [] },
  },
  {
    name: 'N=3: ok, held, error decides false at the third answer',
    nodes: 3,
    needed: 2,
    steps: [[0, 'ok'], [1, 'held'], [2, 'error']],
    want: { decided: false, decidedAt: 3, doneAt: 3, outcomes: ['ok', 'held', 'error'], timedOut: [] },
  },
  {
    name: 'N=3: NOTREADY errors are notReady (with or without ERR), and fail like errors',
    nodes: 3,
    needed: 2,
    steps: [[0, 'notReady'], [1, 'errNotReady']],
    want: { decided: false, decidedAt: 2, doneAt: undefined, outcomes: ['notReady', 'notReady', '-'], timedOut: [] },
  },
  {
    name: 'N=3: one silent node; ok, ok decides true, the silent one times out later',
    nodes: 3,
    needed: 2,
    steps: [[0, 'ok'], [1, 'ok'], 'timeout'],
    want: { decided: true, decidedAt: 2, doneAt: 3, outcomes: ['ok', 'ok', 'timeout'], timedOut: [2] },
  },
  {
    name: 'N=3: ok then two silent nodes: undecided until the timeout, then false',
    nodes: 3,
    needed: 2,
    steps: [[1, 'ok'], 'timeout'],
    want: { decided: false, decidedAt: 2, doneAt: 2, outcomes: ['timeout', 'ok', 'timeout'], timedOut: [0, 2] },
  },
  {
    name: 'N=3: a reply after the timeout changes nothing',
    nodes: 3,
    needed: 2,
    steps: [[0, 'ok'], 'timeout', [1, 'ok'], [2, 'ok']],
    want: { decided: false, decidedAt: 2, doneAt: 2, outcomes: ['ok', 'timeout', 'timeout'], timedOut: [1, 2] },
  },
  {
    name: 'N=3: a node that answers twice counts once',
    nodes: 3,
    needed: 2,
    steps: [[0, 'ok'], [0, 'ok'], [1, 'held']],
    want: { decided: undefined, decidedAt: undefined, doneAt: undefined, outcomes: ['ok', 'held', '-'], timedOut: [] },
  },
  {
    name: 'N=3: a send that throws is an error answer before any step',
    nodes: 3,
    needed: 2,
    throws: [0, 2],
    steps: [[1, 'ok']],
    want: { decided: false, decidedAt: 0, doneAt: 1, outcomes: ['error', 'ok', 'error'], timedOut: [] },
  },
  {
    name: 'N=3, all needed (a release): the first failure decides false',
    nodes: 3,
    needed: 3,
    steps: [[0, 'ok'], [1, 'held'], [2, 'ok']],
    want: { decided: false, decidedAt: 2, doneAt: 3, outcomes: ['ok', 'held', 'ok'], timedOut: [] },
  },
  {
    name: 'N=5: held, error, notReady decides false at the third failure',
    nodes: 5,
    needed: 3,
    steps: [[4, 'held'], [0, 'error'], [2, 'notReady'], [1, 'ok'], [3, 'ok']],
    want: { decided: false, decidedAt: 3, doneAt: 5, outcomes: ['error', 'ok', 'notReady', 'ok', 'held'], timedOut: [] },
  },
  {
    name: 'N=5: two failures leave a quorum possible; the third ok decides true',
    nodes: 5,
    needed: 3,
    steps: [[0, 'ok'], [1, 'held'], [2, 'error'], [3, 'ok'], [4, 'ok']],
    want: { decided: true, decidedAt: 5, doneAt: 5, outcomes: ['ok', 'held', 'error', 'ok', 'ok'], timedOut: [] },
  },
  {
    name: 'N=5: ok, ok, held, held and a silent node: false only at the timeout',
    nodes: 5,
    needed: 3,
    steps: [[0, 'ok'], [1, 'ok'], [2, 'held'], [3, 'held'], 'timeout'],
    want: { decided: false, decidedAt: 5, doneAt: 5, outcomes: ['ok', 'ok', 'held', 'held', 'timeout'], timedOut: [4] },
  },
  {
    name: 'N=5: three ok decide true; the two silent ones time out',
    nodes: 5,
    needed: 3,
    steps: [[4, 'ok'], [2, 'ok'], [0, 'ok'], 'timeout'],
    want: { decided: true, decidedAt: 3, doneAt: 4, outcomes: ['ok', 'timeout', 'ok', 'timeout', 'ok'], timedOut: [1, 3] },
  },
  {
    name: 'N=1: ok decides true',
    nodes: 1,
    needed: 1,
    steps: [[0, 'ok']],
    want: { decided: true, decidedAt: 1, doneAt: 1, outcomes: ['ok'], timedOut: [] },
  },
  {
    name: 'more needed than there are targets (a commit short of nodes): false at once, not pending for ever',
    nodes: 0,
    needed: 1,
    steps: [],
    want: { decided: false, decidedAt: 0, doneAt: 0, outcomes: [], timedOut: [] },
  },
  {
    name: 'N=2, 3 needed: false at once; the answers are still recorded',
    nodes: 2,
    needed: 3,
    steps: [[0, 'ok'], [1, 'ok']],
    want: { decided: false, decidedAt: 0, doneAt: 2, outcomes: ['ok', 'ok'], timedOut: [] },
  },
  {
    name: 'no targets, nothing needed: true and done at once',
    nodes: 0,
    needed: 0,
    steps: [],
    want: { decided: true, decidedAt: 0, doneAt: 0, outcomes: [], timedOut: [] },
  },
];

/** The few members of a LockNode that quorumRound uses: its name and `timedOut`. */
function stubNode(name: string, onTimedOut: (sentAt: number) => void): LockNode {
  const stub: Pick<LockNode, 'name' | 'timedOut'> = { name, timedOut: onTimedOut };
  return stub as LockNode;
}

describe('rule 1: quorum decisions (quorumRound)', () => {
  for (const c of roundCases) {
    test(c.name, async () => {
      const clock = new FakeClock();
      const timedOut: number[] = [];
      const sentAt = clock.now();
      const targets = Array.from({ length: c.nodes }, (_, i) =>
        stubNode(`n${i}`, (at) => {
          assert.equal(at, sentAt, 'timedOut gets the time the request was sent');
          timedOut.push(i);
        }),
      );
      const pending = new Map<number, Done<'ok' | 'held'>>();
      const round = quorumRound<string, 'ok' | 'held'>(
        targets,
        c.needed,
        TIMEOUT_MS,
        clock,
        (_node, index, done) => {
          if (c.throws?.includes(index) === true) throw new Error('ERR connection is closed');
          pending.set(index, done);
        },
        (answer) => ({ outcome: answer }),
      );
      let steps = 0;
      let decided: boolean | undefined;
      let decidedAt: number | undefined;
      let doneAt: number | undefined;
      void round.decided.then((value) => {
        decided = value;
        decidedAt = steps;
      });
      void round.done.then(() => (doneAt = steps));
      await settle();
      for (const step of c.steps) {
        steps += 1;
        if (step === 'timeout') clock.advance(TIMEOUT_MS);
        else {
          const [node, answer] = step;
          const done = pending.get(node);
          assert.ok(done !== undefined, `node ${node} was sent a request`);
          if (answer === 'ok' || answer === 'held') done(undefined, answer);
          else if (answer === 'error') done(new Error('ERR something broke'));
          else done(new Error(answer === 'notReady' ? 'NOTREADY no ready marker' : 'ERR NOTREADY no ready marker'));
        }
        await settle();
      }
      assert.deepEqual(
        { decided, decidedAt, doneAt, outcomes: round.replies.map((r) => r?.outcome ?? '-'), timedOut },
        { ...c.want, timedOut: [...c.want.timedOut] },
      );
      // The report names every node, and a node that never answered reads as timeout.
      const reports = reportsOf(targets, round.replies);
      assert.deepEqual(
        reports.map((r) => [r.node, r.outcome]),
        c.want.outcomes.map((o, i) => [`n${i}`, o === '-' ? 'timeout' : o]),
      );
      if (doneAt !== undefined) assert.equal(clock.pending, 0, 'the round cleared its timer once done');
    });
  }
});

// ---- (2) token commit ------------------------------------------------------------------------------

const OWNER = 'me/1/0:1';
const OTHER = 'them/1/0:1';

/** A MemoryNode that never answers a fence raise (a node that went silent after round 1). */
class SilentFenceNode extends MemoryNode {
  timeouts = 0;

  override raiseFence(_request: FenceRequest, _done: Done<boolean>): void {}

  override timedOut(): void {
    this.timeouts += 1;
  }
}

interface NodeSetup {
  /** The node's counter for the resource. */
  readonly counter: string;
  /** Who holds the lease there: the grant's owner, another owner, or nobody. */
  readonly lease: 'owner' | 'other' | 'none';
  /** The node answers round 1 but never round 2. */
  readonly silent?: boolean;
}

interface CommitCase {
  readonly name: string;
  readonly nodes: readonly NodeSetup[];
  /** What round 1 reported per node (an acquire's classified replies). */
  readonly replies: readonly (Reply<string> | undefined)[];
  readonly want: {
    readonly token: string;
    readonly slowPath: boolean;
    readonly committed: boolean;
    /** Every node's counter afterwards ('0': none). */
    readonly counters: readonly string[];
    /** Nodes told that round 2 timed out. */
    readonly timedOut?: readonly number[];
  };
}

const mine = (counter: string, silent = false): NodeSetup => ({ counter, lease: 'owner', silent });
const theirs = (counter: string): NodeSetup => ({ counter, lease: 'other' });
const free = (counter: string): NodeSetup => ({ counter, lease: 'none' });

const commitCases: readonly CommitCase[] = [
  {
    name: 'fast path: every node returned the same T',
    nodes: [mine('11'), mine('11'), mine('11')],
    replies: [ok('11'), ok('11'), ok('11')],
    want: { token: '11', slowPath: false, committed: true, counters: ['11', '11', '11'] },
  },
  {
    name: 'fast path: a quorum returned T; the lower third node is left as it is',
    nodes: [mine('11'), mine('6'), mine('11')],
    replies: [ok('11'), ok('6'), ok('11')],
    want: { token: '11', slowPath: false, committed: true, counters: ['11', '6', '11'] },
  },
  {
    name: 'fast path: a quorum at T, a held node with a higher counter does not set T',
    nodes: [mine('11'), mine('11'), theirs('50')],
    replies: [ok('11'), ok('11'), held('50')],
    want: { token: '11', slowPath: false, committed: true, counters: ['11', '11', '50'] },
  },
  {
    name: 'slow path: one node at T, the laggard is raised to T',
    nodes: [mine('11'), mine('6'), theirs('20')],
    replies: [ok('11'), ok('6'), held('20')],
    want: { token: '11', slowPath: true, committed: true, counters: ['11', '11', '20'] },
  },
  {
    name: 'slow path: T is the highest; every laggard is raised',
    nodes: [mine('7'), mine('9'), mine('11')],
    replies: [ok('7'), ok('9'), ok('11')],
    want: { token: '11', slowPath: true, committed: true, counters: ['11', '11', '11'] },
  },
  {
    name: 'decimal order: 100 is above 99 (not string order)',
    nodes: [mine('99'), mine('100'), mine('99')],
    replies: [ok('99'), ok('100'), ok('99')],
    want: { token: '100', slowPath: true, committed: true, counters: ['100', '100', '100'] },
  },
  {
    name: 'exact past 2^53: ...993 is above ...992',
    nodes: [mine('9007199254740992'), mine('9007199254740993'), free('0')],
    replies: [ok('9007199254740992'), ok('9007199254740993'), failed()],
    want: { token: '9007199254740993', slowPath: true, committed: true, counters: ['9007199254740993', '9007199254740993', '0'] },
  },
  {
    name: 'not committed: the laggard lost its lease to another owner',
    nodes: [mine('11'), theirs('6'), free('0')],
    replies: [ok('11'), ok('6'), failed()],
    want: { token: '11', slowPath: true, committed: false, counters: ['11', '6', '0'] },
  },
  {
    name: 'not committed: the laggard’s counter moved above T, so it cannot move to exactly T',
    nodes: [mine('11'), mine('15'), free('0')],
    replies: [ok('11'), ok('6'), failed()],
    want: { token: '11', slowPath: true, committed: false, counters: ['11', '15', '0'] },
  },
  {
    name: 'not committed: the laggard never answers round 2 (timed out)',
    nodes: [mine('11'), mine('6', true), free('0')],
    replies: [ok('11'), ok('6'), undefined],
    want: { token: '11', slowPath: true, committed: false, counters: ['11', '6', '0'], timedOut: [1] },
  },
  {
    name: 'committed without the silent laggard when another one is raised',
    nodes: [mine('11'), mine('6', true), mine('8')],
    replies: [ok('11'), ok('6'), ok('8')],
    want: { token: '11', slowPath: true, committed: true, counters: ['11', '6', '11'], timedOut: [1] },
  },
  {
    name: 'N=5: two at T, one laggard raised makes three',
    nodes: [mine('11'), mine('11'), mine('8'), theirs('30'), free('0')],
    replies: [ok('11'), ok('11'), ok('8'), held('30'), failed()],
    want: { token: '11', slowPath: true, committed: true, counters: ['11', '11', '11', '30', '0'] },
  },
  {
    name: 'N=5: one at T, two laggards needed, one of them lost its lease',
    nodes: [mine('11'), mine('8'), theirs('8'), theirs('30'), free('0')],
    replies: [ok('11'), ok('8'), ok('8'), held('30'), failed()],
    want: { token: '11', slowPath: true, committed: false, counters: ['11', '11', '8', '30', '0'] },
  },
  {
    name: 'N=5: one at T and four laggards; all raised',
    nodes: [mine('3'), mine('4'), mine('12'), mine('5'), mine('6')],
    replies: [ok('3'), ok('4'), ok('12'), ok('5'), ok('6')],
    want: { token: '12', slowPath: true, committed: true, counters: ['12', '12', '12', '12', '12'] },
  },
];

/** A fresh MemoryNode holding `setup`'s counter and lease for `keys`, set up through the node port. */
async function nodeHolding(setup: NodeSetup, clock: SteppingClock, keys: ResourceKeys, size: number): Promise<MemoryNode> {
  const node = setup.silent === true ? new SilentFenceNode({ clock }) : new MemoryNode({ clock });
  const counterKey = keys.counters[0] as string;
  if (setup.lease === 'none' && setup.counter !== '0') {
    assert.equal(await node.raiseCounters(keys.ready, [[counterKey, setup.counter]]), 1, 'setup: counter raised');
  }
  await node.marker(keys.ready, `cluster ${MAX_TTL} inc ${size}`);
  if (setup.lease !== 'none') {
    // On an empty counter an acquire moves it to the floor: exactly the counter wanted.
    const reply = await call<AcquireReply>((done) =>
      node.acquire(
        { keys, owner: setup.lease === 'owner' ? OWNER : OTHER, ttl: 5_000, floor: setup.counter, score: '1', stayMs: 0, clusterSize: size },
        done,
      ),
    );
    assert.deepEqual(reply, { locked: true, token: setup.counter }, 'setup: lease and counter');
  }
  return node;
}

async function counterOn(node: MemoryNode, prefix: string, key: string): Promise<string> {
  const found = new Map(await node.counters(counterPattern(prefix), { requestTimeoutMs: 1_000 }));
  return found.get(key) ?? '0';
}

describe('rule 2: token commit (commitToken)', () => {
  for (const [n, c] of commitCases.entries()) {
    test(c.name, async () => {
      assert.equal(c.replies.length, c.nodes.length, 'the case gives a reply per node');
      const clock = new SteppingClock();
      const prefix = `commit${n}:`;
      const keys = resourceKeys(prefix, ['r']);
      const nodes: MemoryNode[] = [];
      for (const setup of c.nodes) nodes.push(await nodeHolding(setup, clock, keys, c.nodes.length));
      const quorum = Math.floor(nodes.length / 2) + 1;
      const committing = commitToken(nodes, c.replies, OWNER, keys, quorum, TIMEOUT_MS, clock);
      await settle();
      clock.advance(TIMEOUT_MS); // a silent node's round-2 request times out
      const result = await settled(committing, 'commitToken');
      const counters: string[] = [];
      for (const node of nodes) counters.push(await counterOn(node, prefix, keys.counters[0] as string));
      const timedOut = nodes.flatMap((node, i) => (node instanceof SilentFenceNode && node.timeouts > 0 ? [i] : []));
      assert.deepEqual(
        { ...result, counters, timedOut },
        { token: c.want.token, slowPath: c.want.slowPath, committed: c.want.committed, counters: [...c.want.counters], timedOut: [...(c.want.timedOut ?? [])] },
      );
    });
  }
});

// ---- (3) failure classification --------------------------------------------------------------------

const report = (outcome: NodeOutcome, i: number): NodeReport =>
  outcome === 'ok' || outcome === 'held' ? { node: `n${i}`, outcome } : { node: `n${i}`, outcome, error: `${outcome} on n${i}` };

interface FailureCase {
  readonly name: string;
  readonly outcomes: readonly NodeOutcome[];
  readonly failure: 'quorum' | 'fence';
  readonly want: { readonly name: 'LockHeldError' | 'QuorumError'; readonly code: 'LOCK_HELD' | 'QUORUM' | 'FENCE_CONFLICT'; readonly message?: RegExp };
}

const failureCases: readonly FailureCase[] = [
  {
    name: 'N=3: every node held: the lock is held',
    outcomes: ['held', 'held', 'held'],
    failure: 'quorum',
    want: { name: 'LockHeldError', code: 'LOCK_HELD', message: /held by another owner/ },
  },
  {
    name: 'N=3: ok, held and a timeout: a quorum answered, someone holds it',
    outcomes: ['ok', 'held', 'timeout'],
    failure: 'quorum',
    want: { name: 'LockHeldError', code: 'LOCK_HELD' },
  },
  {
    name: 'N=3: one held, two timeouts: too few answered, a quorum error',
    outcomes: ['held', 'timeout', 'timeout'],
    failure: 'quorum',
    want: { name: 'QuorumError', code: 'QUORUM', message: /1 held, 2 timeout/ },
  },
  {
    name: 'N=3: ok, error, timeout: nobody holds it, a quorum error',
    outcomes: ['ok', 'error', 'timeout'],
    failure: 'quorum',
    want: { name: 'QuorumError', code: 'QUORUM' },
  },
  {
    name: 'N=3: answers from a quorum but none held: not LockHeldError',
    outcomes: ['ok', 'ok', 'error'],
    failure: 'quorum',
    want: { name: 'QuorumError', code: 'QUORUM', message: /2 ok, 1 error/ },
  },
  {
    name: 'N=3: held and two notReady: a quorum error that says how to repair',
    outcomes: ['held', 'notReady', 'notReady'],
    failure: 'quorum',
    want: { name: 'QuorumError', code: 'QUORUM', message: /2 of 3 nodes are not ready, a majority/ },
  },
  {
    name: 'N=3: no node ready: the hint says the cluster was never initialised',
    outcomes: ['notReady', 'notReady', 'timeout'],
    failure: 'quorum',
    want: { name: 'QuorumError', code: 'QUORUM', message: /No node is marked ready/ },
  },
  {
    name: 'N=3: a fence failure is a FENCE_CONFLICT, even with held nodes',
    outcomes: ['ok', 'ok', 'held'],
    failure: 'fence',
    want: { name: 'QuorumError', code: 'FENCE_CONFLICT', message: /Could not fence/ },
  },
  {
    name: 'N=5: held, held, ok and two timeouts: a quorum answered, held',
    outcomes: ['held', 'held', 'ok', 'timeout', 'timeout'],
    failure: 'quorum',
    want: { name: 'LockHeldError', code: 'LOCK_HELD' },
  },
  {
    name: 'N=5: held, held and three timeouts: a quorum error',
    outcomes: ['held', 'held', 'timeout', 'timeout', 'timeout'],
    failure: 'quorum',
    want: { name: 'QuorumError', code: 'QUORUM', message: /\(3 of 5 nodes needed\)/ },
  },
  {
    name: 'N=1: held: the lock is held',
    outcomes: ['held'],
    failure: 'quorum',
    want: { name: 'LockHeldError', code: 'LOCK_HELD' },
  },
];

describe('rule 3: failure classification (failureOf)', () => {
  for (const c of failureCases) {
    test(c.name, () => {
      const reports = c.outcomes.map(report);
      const quorum = Math.floor(c.outcomes.length / 2) + 1;
      const error = failureOf(['r1', 'r2'], quorum, reports, c.failure);
      assert.ok(error instanceof QuorumError);
      assert.equal(error instanceof LockHeldError, c.want.name === 'LockHeldError');
      assert.deepEqual(
        { name: error.name, code: error.code, quorum: error.quorum, nodes: error.nodes, resources: error.resources },
        { name: c.want.name, code: c.want.code, quorum, nodes: reports, resources: ['r1', 'r2'] },
      );
      if (c.want.message !== undefined) assert.match(error.message, c.want.message);
    });
  }
});

interface DecodeCase {
  readonly name: string;
  readonly decode: () => Reply<string>;
  readonly want: Reply<string>;
}

const decodeCases: readonly DecodeCase[] = [
  { name: 'acquire locked: ok with the token', decode: () => classifyAcquire({ locked: true, token: '42' }), want: ok('42') },
  { name: 'acquire blocked: held with the node’s counter', decode: () => classifyAcquire({ locked: false, counter: '41' }), want: held('41') },
  { name: 'extend extended: ok', decode: () => classifyExtend('extended'), want: ok() },
  { name: 'extend otherOwner: held', decode: () => classifyExtend('otherOwner'), want: { outcome: 'held', error: 'another owner holds the lease' } },
  { name: 'extend gone: an error (the lease expired)', decode: () => classifyExtend('gone'), want: failed('the lease is gone (expired)') },
];

describe('rule 3: reply decoding (classifyAcquire, classifyExtend)', () => {
  for (const c of decodeCases) test(c.name, () => assert.deepEqual(c.decode(), c.want));
});

interface RefusalCase {
  readonly name: string;
  readonly replies: readonly (Reply<string> | undefined)[];
  readonly want: { readonly ttlLimit: number | undefined; readonly refusal: RegExp | undefined };
}

const refusalCases: readonly RefusalCase[] = [
  { name: 'no refusals', replies: [ok('1'), held('1'), failed(), undefined], want: { ttlLimit: undefined, refusal: undefined } },
  {
    name: 'TTLTOOLONG gives the cluster’s max TTL',
    replies: [ok('1'), failed('TTLTOOLONG 30000'), undefined],
    want: { ttlLimit: 30_000, refusal: undefined },
  },
  {
    name: 'ERR-prefixed TTLTOOLONG too; the first one counts',
    replies: [failed('ERR TTLTOOLONG 500'), failed('TTLTOOLONG 900')],
    want: { ttlLimit: 500, refusal: undefined },
  },
  {
    name: 'CLUSTERSIZE names the other size',
    replies: [failed('CLUSTERSIZE 5'), ok('1'), ok('1')],
    want: { ttlLimit: undefined, refusal: /\b5\b/ },
  },
  {
    name: 'CLUSTERSIZE from two other sizes names both',
    replies: [failed('CLUSTERSIZE 5'), failed('CLUSTERSIZE 7'), ok('1')],
    want: { ttlLimit: undefined, refusal: /5[\s\S]*7/ },
  },
];

describe('rule 3: refusals (ttlLimitOf, refusalOf)', () => {
  for (const c of refusalCases) {
    test(c.name, () => {
      assert.equal(ttlLimitOf(c.replies), c.want.ttlLimit);
      const refusal = refusalOf(c.replies, 'rf:', 3);
      if (c.want.refusal === undefined) assert.equal(refusal, undefined);
      else {
        assert.ok(refusal instanceof InvalidOptionsError, 'a refusal is an InvalidOptionsError');
        assert.match(refusal.message, c.want.refusal);
      }
    });
  }
});

// ---- (4) wake-up counting (ReleaseWatch) -----------------------------------------------------------

/** A step: the failed attempt's replies, a hand-over grant (node, token), a plain wake-up, or a new attempt. */
type WatchStep =
  | { readonly attempted: readonly (Reply<string> | undefined)[] }
  | { readonly grant: readonly [node: number, token: string] }
  | { readonly wake: string }
  | 'attempting';

interface WatchCase {
  readonly name: string;
  readonly nodes: number;
  readonly steps: readonly WatchStep[];
  /** The grants that count (node → token), or undefined when fewer than a quorum. */
  readonly want: Readonly<Record<number, string>> | undefined;
}

const attempted = (...replies: (Reply<string> | undefined)[]): WatchStep => ({ attempted: replies });
const grant = (node: number, token: string): WatchStep => ({ grant: [node, token] });

const watchCases: readonly WatchCase[] = [
  {
    name: 'before any attempt answered, grants do not count (every node unknown)',
    nodes: 3,
    steps: [grant(0, '12'), grant(1, '12'), grant(2, '12')],
    want: undefined,
  },
  {
    name: 'held at 10 on two nodes, grants of 11 from both: a quorum counts',
    nodes: 3,
    steps: [attempted(held('10'), held('10'), failed()), grant(0, '11'), grant(1, '11')],
    want: { 0: '11', 1: '11' },
  },
  {
    name: 'a grant at the counter the node reported held is older: it does not count',
    nodes: 3,
    steps: [attempted(held('10'), held('10'), held('10')), grant(0, '10'), grant(1, '11'), grant(2, '11')],
    want: { 1: '11', 2: '11' },
  },
  {
    name: 'a grant below the reported counter does not count either',
    nodes: 3,
    steps: [attempted(held('10'), held('10'), held('10')), grant(0, '9'), grant(1, '11')],
    want: undefined,
  },
  {
    name: 'locked at 10 (the undo removed it): a grant of 11 counts, one of 10 does not',
    nodes: 3,
    steps: [attempted(ok('10'), held('10'), ok('10')), grant(0, '11'), grant(2, '10'), grant(1, '11')],
    want: { 0: '11', 1: '11' },
  },
  {
    name: 'locked at 10 on one node, held at 10 on another: grants of 11 count on both',
    nodes: 3,
    steps: [attempted(ok('10'), held('10'), failed()), grant(0, '11'), grant(1, '11')],
    want: { 0: '11', 1: '11' },
  },
  {
    name: 'nodes that errored or did not answer are unknown: their grants do not count',
    nodes: 3,
    steps: [attempted(held('10'), failed(), undefined), grant(0, '11'), grant(1, '11'), grant(2, '11')],
    want: undefined,
  },
  {
    name: 'a notReady answer (no counter) is unknown too',
    nodes: 3,
    steps: [attempted(held('10'), { outcome: 'notReady', error: 'NOTREADY' }, held('10')), grant(1, '11'), grant(2, '11')],
    want: undefined,
  },
  {
    name: 'grants heard before attempted() are judged by its answer: counted',
    nodes: 3,
    steps: [grant(0, '11'), grant(1, '11'), attempted(held('10'), held('10'), held('10'))],
    want: { 0: '11', 1: '11' },
  },
  {
    name: 'grants heard before attempted() are judged by its answer: not above it, not counted',
    nodes: 3,
    steps: [grant(0, '11'), grant(1, '11'), attempted(held('11'), held('11'), held('11'))],
    want: undefined,
  },
  {
    name: 'attempting() drops every grant heard so far',
    nodes: 3,
    steps: [attempted(held('10'), held('10'), held('10')), grant(0, '11'), grant(1, '11'), 'attempting'],
    want: undefined,
  },
  {
    name: 'after attempting(), only later grants count',
    nodes: 3,
    steps: [attempted(held('10'), held('10'), held('10')), grant(0, '11'), grant(1, '11'), 'attempting', grant(2, '12'), grant(0, '12')],
    want: { 0: '12', 2: '12' },
  },
  {
    name: 'a node’s higher grant replaces its earlier one; a lower one does not',
    nodes: 3,
    steps: [attempted(held('10'), held('10'), held('10')), grant(0, '11'), grant(0, '13'), grant(0, '12'), grant(1, '11')],
    want: { 0: '13', 1: '11' },
  },
  {
    name: 'a plain wake-up (no token) is not a grant',
    nodes: 3,
    steps: [attempted(held('10'), held('10'), held('10')), { wake: 'them/1/0:1' }, grant(0, '11')],
    want: undefined,
  },
  {
    name: 'decimal order: a grant of 100 is above a held counter of 99',
    nodes: 3,
    steps: [attempted(held('99'), held('99'), held('99')), grant(0, '100'), grant(2, '100')],
    want: { 0: '100', 2: '100' },
  },
  {
    name: 'N=5: two counted grants are not a quorum',
    nodes: 5,
    steps: [attempted(held('10'), held('10'), held('10'), held('10'), held('10')), grant(0, '11'), grant(1, '11'), grant(2, '10')],
    want: undefined,
  },
  {
    name: 'N=5: three counted grants are, the unknown node’s is left out',
    nodes: 5,
    steps: [attempted(held('10'), held('10'), held('10'), undefined, held('10')), grant(0, '11'), grant(3, '11'), grant(1, '11'), grant(4, '11')],
    want: { 0: '11', 1: '11', 4: '11' },
  },
];

describe('rule 4: wake-up counting (ReleaseWatch)', () => {
  for (const c of watchCases) {
    test(c.name, async () => {
      const clock = new SteppingClock();
      const nodes = Array.from({ length: c.nodes }, () => new MemoryNode({ clock }));
      const notifier = new ReleaseNotifier(nodes, clock, Math.floor(c.nodes / 2) + 1, 'rf:wake:me', 1_000);
      using watch = notifier.watch('me/1/5000');
      await watch.ready;
      for (const step of c.steps) {
        if (step === 'attempting') watch.attempting();
        else if ('attempted' in step) watch.attempted(step.attempted);
        else if ('grant' in step) watch.notify({ node: step.grant[0], from: 'them/1/0:1', token: step.grant[1] });
        else watch.notify({ node: 0, from: step.wake, token: '' });
      }
      const grants = watch.grants();
      assert.deepEqual(grants === undefined ? undefined : Object.fromEntries([...grants].sort(([a], [b]) => a - b)), c.want);
    });
  }
});

// ---- (5) clock-step reports ------------------------------------------------------------------------

interface StepCase {
  readonly name: string;
  /** How far the wall clock steps (ms), on top of the monotonic time that passes. */
  readonly wallStepMs: number;
  /** Monotonic time that passes between the two grants (the wall clock moves with it). */
  readonly elapsedMs: number;
  /** The `clockDrift` events' stepMs. */
  readonly want: readonly number[];
}

const stepCases: readonly StepCase[] = [
  { name: 'no step: nothing reported', wallStepMs: 0, elapsedMs: 0, want: [] },
  { name: 'both clocks move 5 s together: nothing reported', wallStepMs: 0, elapsedMs: 5_000, want: [] },
  { name: 'a 0.5 s step forward: below the threshold', wallStepMs: 500, elapsedMs: 0, want: [] },
  { name: 'a 0.5 s step back: below the threshold', wallStepMs: -500, elapsedMs: 250, want: [] },
  { name: 'exactly 1 s: not reported (more than 1 s is)', wallStepMs: 1_000, elapsedMs: 0, want: [] },
  { name: '1.001 s: reported', wallStepMs: 1_001, elapsedMs: 0, want: [1_001] },
  { name: 'a 2 s step forward: reported as +2000', wallStepMs: 2_000, elapsedMs: 0, want: [2_000] },
  { name: 'a 2 s step forward while 3 s pass: still +2000', wallStepMs: 2_000, elapsedMs: 3_000, want: [2_000] },
  { name: 'a 3 s step back: reported as −3000', wallStepMs: -3_000, elapsedMs: 0, want: [-3_000] },
  { name: 'the wall clock stands still for 5 s of monotonic time: −5000', wallStepMs: -5_000, elapsedMs: 5_000, want: [-5_000] },
];

describe('rule 5: clock-step reports (clockDrift)', () => {
  for (const c of stepCases) {
    test(c.name, async () => {
      const clock = new SteppingClock();
      const nodes = [new MemoryNode({ clock }), new MemoryNode({ clock }), new MemoryNode({ clock })];
      const redlock = new Redlock(nodes, { clock, retryCount: 0 });
      const steps: number[] = [];
      redlock.on('clockDrift', (event) => steps.push(event.stepMs));
      try {
        const first = await settled(redlock.acquire('a', 1_000), 'the first acquire');
        await settled(first.release(), 'the first release');
        assert.deepEqual(steps, [], 'nothing reported before the step');

        clock.advance(c.elapsedMs);
        clock.wallAtZero += c.wallStepMs;
        const second = await settled(redlock.acquire('b', 1_000), 'the acquire after the step');
        await settled(second.release(), 'the release after the step');
        assert.deepEqual(steps, c.want);
        // The token floor follows the injected wall clock (µs): a fresh resource gets the floor itself.
        assert.equal(second.fencingToken, BigInt(clock.wallNow()) * 1_000n);
      } finally {
        await redlock.quit();
      }
    });
  }
});
