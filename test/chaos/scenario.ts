/**
 * What a chaos scenario is (reference §5.3): its processes, its nemesis script, and what its
 * checkers must report. A scenario's `expected` classes must each be reported at least once and
 * every other class not at all; its VAC and LIVE checks must hold.
 */
import type { UnsafeSwitch } from '../../src/unsafe.js';
import type { CheckResult, Finding, ViolationClass } from './checkers/check-history.js';
import type { GrantClaim } from './grant-claims.js';
import type { ClientOverrides } from './client-config.js';
import type { ClientProcesses } from './client-processes.js';
import type { NodeClock } from './clock.js';
import type { FencedStore, StoreEntry } from './fenced-store.js';
import type { Fleet } from './fleet.js';
import type { HistoryEvent } from './history.js';
import type { FaultWindow, NemesisLog } from './nemesis-log.js';

/** One client process of a scenario. */
export interface ProcSpec {
  readonly name: string;
  readonly overrides?: ClientOverrides;
  /** Run this process under the LD_PRELOAD clock shim (its wall clock can be stepped: S16, NC4). */
  readonly shimClock?: boolean;
}

export interface ScenarioContext {
  readonly id: string;
  readonly seed: number;
  /** Seeded; use it for every random choice of the schedule. */
  readonly random: () => number;
  readonly fleet: Fleet;
  readonly store: FencedStore;
  readonly clients: ClientProcesses;
  readonly nemesis: NemesisLog;
  readonly ttl: number;
  readonly signal: AbortSignal;
  /** Measurements for the LIVE checks and the report. */
  readonly metrics: Record<string, number | string>;
  /** Problems the nemesis found while running (they fail the scenario). */
  readonly problems: string[];
  /** Sleeps; rejects when the scenario is aborted (deadline, SIGINT). */
  sleep(ms: number): Promise<void>;
  /** The wall clock of a process started with `shimClock`. */
  procClock(name: string): NodeClock;
  /** The wall clock a client process reports, minus ours, ms (waits for its next `stats` line). */
  clientWallSkew(name: string): Promise<number>;
  /**
   * Starts one more client process while the scenario runs (a fresh process replacing a killed
   * one, S17): its own proxies to every node, the scenario's common overrides, then its own.
   */
  spawn(spec: ProcSpec): Promise<void>;
}

/** What a scenario's own checkers get (before the expected classes are compared). */
export interface FindingsInput {
  readonly events: readonly HistoryEvent[];
  readonly claims: readonly GrantClaim[];
  readonly windows: readonly FaultWindow[];
  readonly metrics: Record<string, number | string>;
  readonly ttl: number;
  readonly healT: bigint;
  /** The fenced store's serial log. */
  readonly storeLog: readonly StoreEntry[];
}

/** What LIVE checks get after the run. */
export interface ScenarioRun {
  readonly events: readonly HistoryEvent[];
  readonly check: CheckResult;
  readonly windows: readonly FaultWindow[];
  readonly metrics: Record<string, number | string>;
  readonly ttl: number;
  /** When the nemesis finished and everything was healed (ns). */
  readonly healT: bigint;
  readonly t0: bigint;
  /** The fenced store's serial log. */
  readonly storeLog: readonly StoreEntry[];
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  /** `limit`: demonstrates a documented limit; `control`: a negative control whose checker must fire. */
  readonly kind: 'safety' | 'limit' | 'control';
  /** Violation classes that must be reported (every other class must not, unless tolerated). */
  readonly expected: readonly ViolationClass[];
  /** Classes a negative control may also report as a side effect (counted, not failed). */
  readonly tolerated?: readonly ViolationClass[];
  /** What the table says, for the report. */
  readonly expectation: string;
  /** Nominal length of the nemesis phase, ms (the hard deadline adds a margin). */
  readonly durationMs: number;
  readonly nodes?: number;
  readonly appendOnly?: boolean;
  readonly redisArgs?: readonly string[];
  /** Every node gets a run-time adjustable clock (clock scenarios). */
  readonly nodeClocks?: boolean;
  /** Store fencing (false: NC1). @defaultValue true */
  readonly fencing?: boolean;
  readonly procs: readonly ProcSpec[];
  /** Overrides for every process (before the per-process ones). */
  readonly common?: ClientOverrides;
  /** @defaultValue 2000 */
  readonly warmupMs?: number;
  /** Time after healing with the clients still running. @defaultValue ttl + 1000 */
  readonly recoveryMs?: number;
  readonly nemesis: (ctx: ScenarioContext) => Promise<void>;
  readonly minGrants: number;
  readonly faultRequired: boolean;
  /** A stale op must reach the store (fencing scenarios). */
  readonly staleRequired?: boolean;
  /** Lock keys left on nodes after the end are expected (S15b). */
  readonly allowStrayLocks?: boolean;
  /**
   * ioredis `keyPrefix` of every client process and of the runner's own bootstrap (issue 9 item 5);
   * the fleet's admin reads (ready markers, counters, stray locks) add it too.
   */
  readonly keyPrefix?: string;
  /** Switches of src/unsafe.ts the runner turns on for its own Redlock (the bootstrap), then off again. */
  readonly unsafe?: readonly UnsafeSwitch[];
  /** The scenario's own checkers (e.g. WAIT); their findings count like the common checkers'. */
  readonly findings?: (input: FindingsInput) => Finding[];
  /** Liveness checks; each returned string is a failure. */
  readonly live?: (run: ScenarioRun) => string[];
}

/** The default client processes (reference §5.2): `n` processes × 3 logical clients. */
export function workerProcs(n = 3, overrides: ClientOverrides = {}): ProcSpec[] {
  return Array.from({ length: n }, (_, i) => ({ name: `p${i}`, overrides }));
}

/** `k` distinct node indices, chosen with the scenario's seeded random. */
export function pickNodes(ctx: Pick<ScenarioContext, 'random' | 'fleet'>, k: number): number[] {
  const all = Array.from({ length: ctx.fleet.size }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i -= 1) {
    const j = Math.floor(ctx.random() * (i + 1));
    [all[i], all[j]] = [all[j] ?? 0, all[i] ?? 0];
  }
  return all.slice(0, k).sort();
}
