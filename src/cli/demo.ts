import { Redis } from 'ioredis';
import { LockExpiredError, QuorumError, StaleTokenError } from '../errors.js';
import { RedisFence } from '../fencing/redis-fence.js';
import { type LocalCluster, startLocalCluster } from '../nodes/start-local-cluster.js';
import { Redlock } from '../redlock/redlock.js';
import { createView, type DemoView, type WorkerView } from './demo-view.js';

export interface DemoOptions {
  readonly durationS: number;
  /** Lock nodes; the store is one more redis-server. */
  readonly nodes: number;
  /** At least 2: one stalls, another takes over. */
  readonly workers: number;
  /** Where the output goes. @defaultValue process.stdout */
  readonly write?: (text: string) => void;
  /** Redraw in place. @defaultValue whether stdout is a terminal */
  readonly tty?: boolean;
}

export interface DemoSummary {
  readonly grants: number;
  readonly firstToken: bigint | undefined;
  readonly lastToken: bigint | undefined;
  /** Increments the store accepted, and its counter at the end: equal unless an update was lost. */
  readonly accepted: number;
  readonly balance: number;
  readonly staleRejected: number;
  /** Acquires whose retries ran out (tried again). */
  readonly gaveUp: number;
  /** Grants whose token was not above the previous grant's, plus lost updates: must be 0. */
  readonly violations: number;
  /** Every redis-server the demo started is gone. */
  readonly stopped: boolean;
}

/** The lock every worker takes, and the store key it guards. */
const RESOURCE = 'account:1';
const BALANCE = 'account:1:balance';
/** Short, so that a stall outlives the lock quickly. */
const TTL_MS = 300;
/** When, as fractions of the duration: the first grant after STALL_AT stalls; a node pauses between the other two. */
const STALL_AT = 0.2;
const NODE_PAUSE_AT = 0.5;
const NODE_RESUME_AT = 0.75;
/** At most this many lines about other stale writes (a holder slowed past its lock by load); the summary has the count. */
const STALE_LINES = 3;

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Fencing at work: `workers` clients increment one balance, each under a lock on `account:1` from
 * a cluster of `nodes` local redis-servers, writing through a {@link RedisFence} on one more
 * redis-server, the store. Midway the first holder after 20 % of the run stalls inside its
 * read-modify-write for longer than its lock lives (a timer, standing in for a GC pause); another
 * worker takes the lock and writes; the stalled one wakes and writes a balance computed from what
 * it read — and the store refuses it (StaleTokenError), so no update is lost. Later one lock node
 * is frozen (SIGSTOP) and thawed while grants go on. Every process is stopped at the end.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const tty = options.tty ?? (options.write === undefined && process.stdout.isTTY === true);
  let pids: number[];
  let result: Omit<DemoSummary, 'stopped'>;
  let view: DemoView;
  {
    // The store is the last server, apart from the lock nodes. `await using`: stopped on the way out,
    // whatever happens; if this process is killed, startLocalCluster's watchdog stops them.
    await using cluster = await startLocalCluster({ nodes: options.nodes + 1 });
    pids = cluster.nodes.flatMap((n) => (n.pid === undefined ? [] : [n.pid]));
    ({ result, view } = await play(cluster, options, write, tty));
  }
  const stopped = pids.every((pid) => !alive(pid));
  const { grants, firstToken, lastToken, accepted, balance, staleRejected, gaveUp, violations } = result;
  view.line(`summary after ${options.durationS} s: ${options.workers} workers, ${plural(options.nodes, 'lock node')}, 1 store`);
  view.line(`  grants                 ${grants}${gaveUp > 0 ? ` (and ${gaveUp} acquires whose retries ran out, tried again)` : ''}`);
  view.line(`  fencing tokens         ${firstToken ?? '-'}..${lastToken ?? '-'}, each above the one before`);
  view.line(`  stale writes rejected  ${staleRejected}`);
  view.line(`  store balance          ${balance}, increments accepted ${accepted}: lost updates ${accepted - balance}`);
  view.line(`  violations             ${violations}`);
  view.line(stopped ? `  every process stopped  (${pids.length} redis-servers)` : '  WARNING: a redis-server is still running');
  return { ...result, stopped };
}

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function play(cluster: LocalCluster, options: DemoOptions, write: (text: string) => void, tty: boolean) {
  const { durationS, workers: k } = options;
  const lockNodes = cluster.nodes.slice(0, options.nodes);
  const store = cluster.nodes[options.nodes];
  if (store === undefined) throw new Error('the store did not start');
  const redlocks = Array.from({ length: k }, () => new Redlock(lockNodes.map((n) => n.url)));
  const storeClients = Array.from({ length: k }, () => new Redis(store.url, { maxRetriesPerRequest: 1 }));
  const quorum = Math.floor(lockNodes.length / 2) + 1;

  const started = performance.now();
  const at = (): string => `${((performance.now() - started) / 1_000).toFixed(2)}s`.padStart(6);
  const stop = new AbortController();
  const deadline = setTimeout(() => stop.abort(), durationS * 1_000);

  const workers: WorkerView[] = Array.from({ length: k }, () => ({ grants: 0, state: 'waiting', token: undefined }));
  let grants = 0;
  let firstToken: bigint | undefined;
  let lastToken: bigint | undefined;
  let regressions = 0;
  let accepted = 0;
  let gaveUp = 0;
  let staleRejected = 0;
  let pausedNode: number | undefined;
  let grantsWhilePaused = 0;
  // The stall: armed at STALL_AT and taken by the next grant; `tookOver` is called when another worker writes.
  let stall: 'later' | 'armed' | 'running' | 'done' = 'later';
  let tookOver: (() => void) | undefined;

  const view = createView({
    write,
    tty,
    workers,
    status: () =>
      `${at()}  ${grants} grants  last token ${lastToken ?? '-'}  writes accepted ${accepted}  stale rejected ${staleRejected}  ` +
      `lock nodes up ${lockNodes.length - (pausedNode === undefined ? 0 : 1)}/${lockNodes.length}`,
  });

  const secs = (fraction: number): string => `${Number((fraction * durationS).toFixed(2))}s`;
  view.line(`redfence demo: ${k} workers add 1 to a balance for ${durationS} s, each under a lock on \`${RESOURCE}\`,`);
  view.line('  writing through a fenced store (RedisFence) that refuses a token older than one it has seen');
  view.line(
    `  lock nodes: ${plural(lockNodes.length, 'redis-server')} on ${lockNodes.length === 1 ? 'port' : 'ports'} ${lockNodes.map((n) => n.port).join(', ')} (a grant needs ${quorum}); ` +
      `store: one more on port ${store.port}`,
  );
  const canPause = lockNodes.length - quorum >= 1;
  view.line(
    `  at ${secs(STALL_AT)} a holder stalls past its lock's validity (a simulated GC pause); ` +
      (canPause
        ? `lock node ${lockNodes.length - 1} is paused (SIGSTOP) from ${secs(NODE_PAUSE_AT)} to ${secs(NODE_RESUME_AT)}`
        : `no node is paused (with ${lockNodes.length}, a grant needs every one)`),
  );

  const timers = [
    setTimeout(() => (stall = 'armed'), STALL_AT * durationS * 1_000),
    ...(canPause
      ? [
          setTimeout(() => {
            pausedNode = lockNodes.length - 1;
            cluster.pause(pausedNode);
            grantsWhilePaused = 0;
            view.line(`${at()}  lock node ${pausedNode} (port ${lockNodes[pausedNode]?.port}) paused with SIGSTOP: ${lockNodes.length - 1} of ${lockNodes.length} answer, a grant needs ${quorum}`);
          }, NODE_PAUSE_AT * durationS * 1_000),
          setTimeout(() => resumeNode(), NODE_RESUME_AT * durationS * 1_000),
        ]
      : []),
  ];
  const resumeNode = (): void => {
    if (pausedNode === undefined) return;
    cluster.resume(pausedNode);
    view.line(`${at()}  lock node ${pausedNode} resumed (SIGCONT); ${grantsWhilePaused} grants while it was paused`);
    pausedNode = undefined;
  };

  const work = async (id: number, redlock: Redlock, fence: RedisFence): Promise<void> => {
    const me = workers[id] as WorkerView;
    while (!stop.signal.aborted) {
      me.state = 'waiting';
      let lock;
      try {
        lock = await redlock.acquire(RESOURCE, TTL_MS, { signal: stop.signal });
      } catch (error) {
        if (stop.signal.aborted) break;
        if (!(error instanceof QuorumError || error instanceof LockExpiredError)) throw error;
        gaveUp += 1; // retries ran out (held, or too few nodes in time): try again
        continue;
      }
      const token = lock.fencingToken;
      me.state = 'holding';
      me.token = token;
      me.grants += 1;
      grants += 1;
      if (pausedNode !== undefined) grantsWhilePaused += 1;
      if (lastToken !== undefined && token <= lastToken) {
        regressions += 1;
        view.line(`${at()}  VIOLATION: worker ${id} got token ${token}, not above the previous grant's ${lastToken}`);
      }
      firstToken ??= token;
      lastToken = token;
      const stalls = stall === 'armed';
      if (stalls) stall = 'running';
      let next = '';
      try {
        // A read-modify-write through the fence, fenced by the lock's resource: the read registers
        // the token, the write is refused if a newer token acted on the resource in between.
        await fence.update(BALANCE, token, async (current) => {
          next = String(Number(current ?? 0) + 1);
          if (stalls) {
            me.state = 'stalled';
            view.line(`${at()}  worker ${id} holds token ${token}, reads balance ${current ?? 0}, then stalls (a simulated GC pause)`);
            lock.signal.addEventListener('abort', () => {
              if (stall === 'running') view.line(`${at()}  worker ${id}'s lock expired during the stall (lock.signal aborted)`);
            });
            // Past the lock's validity, and until another worker has written (or the run ends).
            const takeover = new Promise<void>((resolve) => {
              tookOver = resolve;
              stop.signal.addEventListener('abort', () => resolve(), { once: true });
            });
            await sleep(lock.remainingMs() + 20, stop.signal);
            await takeover;
          }
          return next;
        }, { resource: RESOURCE });
        accepted += 1;
        if (stalls) view.line(`${at()}  worker ${id} wakes and writes balance ${next} with token ${token}: accepted, no newer holder wrote meanwhile`);
        else if (tookOver !== undefined) {
          view.line(`${at()}  worker ${id} takes the lock with token ${token} and writes balance ${next}`);
          tookOver();
          tookOver = undefined;
        }
      } catch (error) {
        if (!(error instanceof StaleTokenError)) throw error;
        staleRejected += 1;
        if (stalls || staleRejected <= STALE_LINES) {
          const why = stalls ? 'from its stale read' : 'after its lock ran out under load';
          view.line(`${at()}  worker ${id} ${stalls ? 'wakes, writes' : 'writes'} balance ${next} with token ${token} (${why})`);
          view.line(`${at()}    -> REJECTED by the store: StaleTokenError, it has seen token ${error.highest}; no update lost`);
        }
      } finally {
        if (stalls) stall = 'done';
        me.state = 'waiting';
        await lock.release();
      }
    }
    me.state = 'done';
  };

  view.start();
  let balance: number;
  try {
    await Promise.all(redlocks.map((redlock, id) => work(id, redlock, new RedisFence(storeClients[id] as Redis))));
    balance = Number((await storeClients[0]?.get(BALANCE)) ?? 0);
  } finally {
    stop.abort();
    clearTimeout(deadline);
    for (const timer of timers) clearTimeout(timer);
    resumeNode();
    view.stop();
    await Promise.all([...redlocks.map((r) => r.quit()), ...storeClients.map((c) => c.quit())]);
  }
  const lost = accepted - balance;
  const result = { grants, firstToken, lastToken, accepted, balance, staleRejected, gaveUp, violations: regressions + Math.abs(lost) };
  return { result, view };
}
