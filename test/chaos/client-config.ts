/**
 * Configuration of one chaos client process (chaos-client.ts), written by the runner as JSON.
 * Defaults follow reference §5.2 (ttl 1000 ms, τ 100 ms, retry 50 ± 25 ms, acquire deadline
 * 2·ttl, critical sections of 5–100 ms with 1–3 fenced read-modify-write increments).
 */

import type { RedisOptions } from 'ioredis';
import type { RedlockOptions } from '../../src/index.js';
import type { UnsafeSwitch } from '../../src/unsafe.js';

/**
 * A scripted client: for each `go` line from the runner, acquire, touch the store, tell the runner
 * (`victim-ready`), then act on what it believes.
 */
export interface VictimConfig {
  readonly key: string;
  readonly rounds: number;
  /** After telling the runner `victim-ready`, wait this long (the runner pauses or isolates us meanwhile). */
  readonly waitAfterReadyMs: number;
  /**
   * 0: then write the increment at once, based on the read made before (S7). Otherwise keep the
   * critical section going this long, an increment every `opEveryMs`, extending as needed (S8).
   */
  readonly holdAfterMs: number;
  readonly opEveryMs: number;
  /** Pause between rounds. */
  readonly gapMs: number;
  /** End the section (release) at the next `go` line from the runner, at the latest after `holdAfterMs`. */
  readonly releaseOnGo?: boolean;
}

/**
 * A leader-election candidate (S17): the process runs election-client.ts instead of the lock
 * workload — one LeaderElection (`start()`), and while it leads a fenced increment of `resource`
 * every `actEveryMs`, with the term as the token.
 */
export interface ElectionClientConfig {
  /** The election's name (every candidate the same). */
  readonly name: string;
  /** The store resource the leader acts on. */
  readonly resource: string;
  readonly ttl: number;
  readonly renewInterval: number;
  readonly renewDeadline?: number;
  readonly keepAlive?: number;
  readonly actEveryMs: number;
  /**
   * Negative control: act from the `'leader'` event until the `'follower'` event (a timer, the usual
   * unsafe pattern) without reading `isLeader` before each action.
   */
  readonly naive: boolean;
}

/**
 * A job-queue process (S18, S19): the process runs queue-client.ts — a producer that adds `jobs`
 * jobs, a Worker whose handler's effect is a fenced increment of the job's store resource with
 * `job.fencingToken`, or (negative controls) a rescuer that takes over active jobs whose lock ran
 * out with `job.takeLock()`.
 */
export interface QueueClientConfig {
  /** The queue's name (every process the same). */
  readonly name: string;
  readonly role: 'producer' | 'worker' | 'rescuer';
  /** Producer: jobs to add (ids `j0` … ), one every `addEveryMs`. */
  readonly jobs: number;
  readonly addEveryMs: number;
  /** Worker: concurrency. */
  readonly concurrency: number;
  /** A job's work between its touch of the store and its increment, ms. */
  readonly jobMs: readonly [number, number];
  /** Share of jobs whose handler blocks the event loop (busy loop) for `blockMs` (S19 b). */
  readonly blockProbability: number;
  readonly blockMs: number;
  /** Lock options of the Worker (and the rescuer's Queue): lockDuration, stalledInterval, keepAlive, …. */
  readonly lockOptions: Readonly<Record<string, number | boolean>>;
  /**
   * Negative control NC13: the handler returns success although its effect was refused, and a
   * completion the queue refused as stale is forced through on the client side (the job's hash
   * and the completed set written raw), as a queue without the token check would.
   */
  readonly forceStale: boolean;
}

export interface ClientConfig {
  readonly proc: string;
  /** Logical clients in this process (each with its own Redlock and connections). */
  readonly clients: number;
  /** Where this process reaches the nodes: its own fault proxies. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  readonly prefix: string;
  readonly keys: readonly string[];
  /** Relative weights of `keys`. */
  readonly keyWeights: readonly number[];
  readonly ttl: number;
  readonly driftFactor: number;
  readonly nodeTimeout: number;
  readonly retryCount: number;
  readonly retryDelay: number;
  readonly retryJitter: number;
  readonly maxTtl: number;
  readonly autoRepair: boolean;
  /** An acquire that has not returned after this long is abandoned (recorded as `info`). */
  readonly acquireDeadlineMs: number;
  /** Critical section length, ms. */
  readonly holdMs: readonly [number, number];
  /** Share of sections that last `longHoldTtl` × ttl (auto-extension at half validity). */
  readonly longHoldProbability: number;
  readonly longHoldTtl: readonly [number, number];
  /** Fenced increments per section. */
  readonly opsPerSection: readonly [number, number];
  /** Pause between sections, ms. */
  readonly thinkMs: readonly [number, number];
  /** Extend when less than half of the validity is left (long sections). */
  readonly extend: boolean;
  /** `wall`: validity on `Date.now()` (negative control NC4); `monotonic`: the hrtime clock. */
  readonly validityClock: 'monotonic' | 'wall';
  /** S7 hook: do not re-check validity before a fenced op. */
  readonly skipValidityCheck: boolean;
  /** Watch `lock.signal` (records `lost`; arms redfence's expiry timer). */
  readonly watchSignal: boolean;
  /**
   * Shift this process's `Date.now()` by this many ms (a lagging or leading wall clock; redfence
   * uses the wall clock only for the token floor). 0 = untouched.
   */
  readonly wallClockOffsetMs: number;
  readonly victim?: VictimConfig;
  /** Run as a leader-election candidate (election-client.ts) instead of the lock workload. */
  readonly election?: ElectionClientConfig;
  /** Run as a job-queue process (queue-client.ts) instead of the lock workload. */
  readonly queue?: QueueClientConfig;
  /**
   * Test-only switches of src/unsafe.ts this process turns on before it creates its Redlocks
   * (negative controls of issue 9: the old, unsafe behaviour back).
   */
  readonly unsafe: readonly UnsafeSwitch[];
  /**
   * Negative control of issue 9 item 6: run the scripts with the old waiter-queue head (prunes at
   * most 16 expired tickets and returns the 17th unchecked), patched into this process's copy of
   * the generated scripts (adversarial-support.ts).
   */
  readonly oldQueueHead: boolean;
  /** ioredis `keyPrefix` on every node connection ('' = none; issue 9 item 5). */
  readonly keyPrefix: string;
  /** Run no work loop: only serve runner commands (`repair <node>`) until `stop`. */
  readonly idle: boolean;
  /** Start the work loop only at the first `go` line from the runner (every logical client at once). */
  readonly startOnGo: boolean;
  readonly storeUrl: string;
  readonly historyFile: string;
  readonly seed: number;
  /** Hard bound: the process stops starting sections after this, and exits 15 s later at the latest. */
  readonly maxRunMs: number;
}

/** The scenario-independent defaults (everything but the wiring). */
export const clientDefaults = {
  clients: 3,
  keys: ['k0', 'k1', 'c0'],
  keyWeights: [0.4, 0.4, 0.2],
  ttl: 1_000,
  driftFactor: 0.01,
  nodeTimeout: 100,
  retryCount: 20,
  retryDelay: 50,
  retryJitter: 25,
  maxTtl: 3_000,
  autoRepair: true,
  acquireDeadlineMs: 2_000,
  holdMs: [5, 100],
  longHoldProbability: 0.01,
  longHoldTtl: [1.5, 3],
  opsPerSection: [1, 3],
  thinkMs: [0, 20],
  extend: true,
  validityClock: 'monotonic',
  skipValidityCheck: false,
  watchSignal: true,
  wallClockOffsetMs: 0,
  unsafe: [],
  oldQueueHead: false,
  keyPrefix: '',
  idle: false,
  startOnGo: false,
} as const satisfies Partial<ClientConfig>;

/** The wiring the runner fills in for every process. */
export type ClientWiring = Pick<ClientConfig, 'proc' | 'nodes' | 'prefix' | 'storeUrl' | 'historyFile' | 'seed' | 'maxRunMs'>;

/** What a scenario may change per process. */
export type ClientOverrides = Partial<Omit<ClientConfig, keyof ClientWiring>>;

/** A client process's Redlock nodes (its own fault proxies) and the lock options its config sets. */
export function redlockSetup(config: ClientConfig, keyPrefix?: string): { nodes: RedisOptions[]; options: RedlockOptions } {
  return {
    nodes: config.nodes.map((n) => ({ host: n.host, port: n.port, disableClientInfo: true, ...(keyPrefix ? { keyPrefix } : {}) })),
    options: {
      prefix: config.prefix,
      driftFactor: config.driftFactor,
      nodeTimeout: config.nodeTimeout,
      retryCount: config.retryCount,
      retryDelay: config.retryDelay,
      retryJitter: config.retryJitter,
      maxTtl: config.maxTtl,
      autoRepair: config.autoRepair,
    },
  };
}
