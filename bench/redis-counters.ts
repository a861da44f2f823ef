import { Redis } from 'ioredis';

/**
 * The bench's own admin connection to every node: server-side counters (INFO cpu, INFO
 * commandstats) before and after a measured window, and SCRIPT FLUSH for S0.
 */

export interface CounterSnapshot {
  /** used_cpu_sys + used_cpu_user summed over the nodes, seconds. */
  readonly cpuSeconds: number;
  /** calls per command (`cmdstat_<name>`), summed over the nodes. */
  readonly calls: ReadonlyMap<string, number>;
}

export interface CounterDelta {
  readonly cpuSeconds: number;
  /** Every command executed, including those run from inside Lua scripts (Redis counts both). */
  readonly totalCalls: number;
  readonly byCommand: Record<string, number>;
}

/** Connection housekeeping and the bench's own probes, not work done for a lock. */
const IGNORED = /^(info|ping|hello|select|client\|.*|command\|.*|config\|.*|script\|.*)$/;

function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

export class RedisCounters {
  readonly #admins: Redis[];

  constructor(urls: readonly string[]) {
    this.#admins = urls.map((url) => {
      const admin = new Redis(url, { connectionName: 'bench-admin' });
      admin.on('error', () => undefined);
      return admin;
    });
  }

  async snapshot(): Promise<CounterSnapshot> {
    const infos = await Promise.all(this.#admins.map((a) => a.info('cpu', 'commandstats')));
    let cpuSeconds = 0;
    const calls = new Map<string, number>();
    for (const info of infos) {
      const fields = parseInfo(info);
      cpuSeconds += Number(fields.get('used_cpu_sys') ?? 0) + Number(fields.get('used_cpu_user') ?? 0);
      for (const [key, value] of fields) {
        if (!key.startsWith('cmdstat_')) continue;
        const match = /calls=(\d+)/.exec(value);
        const name = key.slice('cmdstat_'.length);
        if (match?.[1] !== undefined) calls.set(name, (calls.get(name) ?? 0) + Number(match[1]));
      }
    }
    return { cpuSeconds, calls };
  }

  static delta(before: CounterSnapshot, after: CounterSnapshot): CounterDelta {
    const byCommand: Record<string, number> = {};
    let totalCalls = 0;
    for (const [name, calls] of after.calls) {
      if (IGNORED.test(name)) continue;
      const d = calls - (before.calls.get(name) ?? 0);
      if (d <= 0) continue;
      byCommand[name] = d;
      totalCalls += d;
    }
    return { cpuSeconds: after.cpuSeconds - before.cpuSeconds, totalCalls, byCommand };
  }

  /** SCRIPT FLUSH on every node: the next script call of every client misses (NOSCRIPT). */
  async flushScripts(): Promise<void> {
    await Promise.all(this.#admins.map((a) => a.script('FLUSH')));
  }

  /** `redis_version` of the first node. */
  async version(): Promise<string> {
    const first = this.#admins[0];
    if (first === undefined) return 'unknown';
    return parseInfo(await first.info('server')).get('redis_version') ?? 'unknown';
  }

  async close(): Promise<void> {
    await Promise.all(this.#admins.map((a) => a.quit().catch(() => a.disconnect())));
  }
}
