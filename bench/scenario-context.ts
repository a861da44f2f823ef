import type { Implementation } from './adapters/adapter.js';
import type { RedisCounters } from './redis-counters.js';

/** What every scenario gets from bench/run.ts. */
export interface ScenarioContext {
  /** The N = 5 nodes' URLs (N = 1 uses the first). */
  readonly urls: readonly string[];
  /** Admin connections to every node in `urls`. */
  readonly counters: RedisCounters;
  readonly impls: readonly Implementation[];
  readonly reps: number;
  /** Short durations for a smoke check. */
  readonly quick: boolean;
  /** Progress line (stderr). */
  log(message: string): void;
  /** Throws when the whole run is past its time budget. */
  checkBudget(): void;
}
