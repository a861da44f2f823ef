/**
 * The Redis keys of one queue. Every key carries the hash tag `{<prefix>:<name>}`, so a queue's
 * keys share one Redis Cluster slot and one script can move a job between any of them. The
 * scripts derive the same names from the meta key (lua/include/queue-keys.lua).
 *
 * | key | type | holds |
 * |---|---|---|
 * | `meta` | hash | `paused` |
 * | `id`, `fence`, `pc` | counters | auto job ids, single-node fencing tokens, priority order |
 * | `wait`, `active` | lists | job ids (the next to run at the right end of `wait`) |
 * | `prioritized`, `delayed`, `completed`, `failed` | sorted sets | by priority, due time, finish time |
 * | `events` | stream | what QueueEvents reads |
 * | `marker` | sorted set | wakes workers blocked on BZPOPMIN |
 * | `limiter` | counter | jobs started in the limiter's current window |
 * | `stalled`, `stalled-check` | set, string | jobs the last stalled sweep marked; the sweep's guard (one per interval) |
 * | `j:<id>`, `l:<id>`, `log:<id>` | hash, string, list | a job, its lock (the holder's token), its logs |
 */
export class QueueKeys {
  /** `{<prefix>:<name>}:` */
  readonly base: string;
  readonly meta: string;
  readonly wait: string;
  readonly active: string;
  readonly prioritized: string;
  readonly delayed: string;
  readonly completed: string;
  readonly failed: string;
  readonly events: string;
  readonly marker: string;
  /** The first key of every queue script (the others are derived from it). */
  readonly scriptKeys: readonly [string];

  constructor(prefix: string, name: string) {
    this.base = `{${prefix}:${name}}:`;
    this.meta = `${this.base}meta`;
    this.wait = `${this.base}wait`;
    this.active = `${this.base}active`;
    this.prioritized = `${this.base}prioritized`;
    this.delayed = `${this.base}delayed`;
    this.completed = `${this.base}completed`;
    this.failed = `${this.base}failed`;
    this.events = `${this.base}events`;
    this.marker = `${this.base}marker`;
    this.scriptKeys = [this.meta];
  }

  job(id: string): string {
    return `${this.base}j:${id}`;
  }

  lock(id: string): string {
    return `${this.base}l:${id}`;
  }

  logs(id: string): string {
    return `${this.base}log:${id}`;
  }
}
