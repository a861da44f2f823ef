/**
 * The fleet of one chaos scenario: N redis-server nodes (startLocalCluster), each optionally with
 * its own LD_PRELOAD clock, and one fault proxy per (client process, node), so that a partition is
 * any client × node matrix. Every fault is verified (a probe through the proxy, /proc state of a
 * paused pid, TIME on a skewed node) and written to the nemesis log with what the check saw.
 * Network faults are driven only through `toxiproxy-node-client`.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Proxy, Toxic } from 'toxiproxy-node-client';
import { type LocalCluster, startLocalCluster } from '../../src/index.js';
import { CLOCK_SETTLE_MS, type ClockShim, type ClockState, type NodeClock } from './clock.js';
import { probeLink, type ProbeOutcome, type ToxicSpecIn, verifyToxics } from './link-probe.js';
import { processExists, waitForProcState } from './proc-state.js';

export type { ToxicSpecIn } from './link-probe.js';
import type { NemesisLog } from './nemesis-log.js';
import { listenAddress, proxyEndpoint, toxiproxyClient, type ToxiproxyHandle, upstreamAddress } from './toxiproxy.js';

export interface FleetOptions {
  /** @defaultValue 5 */
  readonly nodes?: number;
  readonly appendOnly?: boolean;
  /** Extra redis-server arguments (e.g. `['--appendfsync', 'always']`). */
  readonly args?: readonly string[];
  /** Client process names; each gets its own proxy to every node. */
  readonly procs: readonly string[];
  /** Give every node a run-time adjustable clock (needs the compiled shim). */
  readonly shim?: ClockShim;
  /** The redfence key prefix the clients use (for ready markers, counters and stray-lock scans). */
  readonly prefix: string;
  readonly nemesis: NemesisLog;
  /** Folder for the clock config files. */
  readonly workDir: string;
}

/** How a link is cut: black hole (data dropped both ways), reset (RST on first data), down (refused). */
export type CutMode = 'blackhole' | 'reset' | 'down';

export interface Link {
  readonly proc: string;
  readonly node: number;
}

interface ProxyState {
  proxy: Proxy;
  readonly endpoint: { host: string; port: number };
  readonly toxics: Map<number, Toxic<unknown>[]>;
  readonly disabledBy: Set<number>;
}

const PROBE_MS = 150;

export class Fleet implements AsyncDisposable {
  readonly cluster: LocalCluster;
  readonly size: number;
  #procs: string[];
  readonly prefix: string;
  readonly #nemesis: NemesisLog;
  readonly #toxiproxy: ToxiproxyHandle;
  readonly #proxies: Map<string, ProxyState>;
  readonly #clocks: readonly (NodeClock | undefined)[];
  readonly #admins = new Map<number, Redis>();
  readonly #pausedNodes = new Map<number, number>();
  readonly #crashedNodes = new Map<number, number>();
  #stopped = false;
  readonly #tag: string;

  private constructor(
    cluster: LocalCluster,
    toxiproxy: ToxiproxyHandle,
    proxies: Map<string, ProxyState>,
    clocks: readonly (NodeClock | undefined)[],
    tag: string,
    options: FleetOptions,
  ) {
    this.#tag = tag;
    this.cluster = cluster;
    this.size = cluster.nodes.length;
    this.#procs = [...options.procs];
    this.prefix = options.prefix;
    this.#nemesis = options.nemesis;
    this.#toxiproxy = toxiproxy;
    this.#proxies = proxies;
    this.#clocks = clocks;
  }

  /** Starts the nodes and the proxies; everything is stopped again if a step fails. */
  static async start(options: FleetOptions): Promise<Fleet> {
    const count = options.nodes ?? 5;
    const clocks = Array.from({ length: count }, (_, i) => options.shim?.createNodeClock(join(options.workDir, `clock-n${i}`)));
    const cluster = await startLocalCluster({
      nodes: count,
      appendOnly: options.appendOnly ?? false,
      args: options.args ?? [],
      env: (i) => clocks[i]?.env ?? {},
    });
    let toxiproxy: ToxiproxyHandle | undefined;
    try {
      toxiproxy = await toxiproxyClient();
      const tag = Math.random().toString(36).slice(2, 7);
      const proxies = new Map<string, ProxyState>();
      await createProxies(toxiproxy, cluster, tag, options.procs, proxies);
      return new Fleet(cluster, toxiproxy, proxies, clocks, tag, options);
    } catch (error) {
      await toxiproxy?.close();
      await cluster.stop();
      throw error;
    }
  }

  /** The client process names that have proxies. */
  get procs(): readonly string[] {
    return this.#procs;
  }

  /** Proxies to every node for more client processes (started mid-run: a restarted candidate, S17). */
  async addProcs(names: readonly string[]): Promise<void> {
    const fresh = names.filter((n) => !this.#procs.includes(n));
    await createProxies(this.#toxiproxy, this.cluster, this.#tag, fresh, this.#proxies);
    this.#procs.push(...fresh);
  }

  /** The proxy endpoints of `proc`, by node index: what that client process connects to. */
  endpoints(proc: string): { host: string; port: number }[] {
    return this.cluster.nodes.map((_, node) => this.#state({ proc, node }).endpoint);
  }

  /** Every link of the given processes to the given nodes. */
  links(procs: readonly string[], nodes: readonly number[]): Link[] {
    return procs.flatMap((proc) => nodes.map((node) => ({ proc, node })));
  }

  /** A direct admin connection to node `i` (not through any proxy). */
  admin(i: number): Redis {
    let redis = this.#admins.get(i);
    if (redis === undefined) {
      const node = this.cluster.nodes[i];
      if (node === undefined) throw new Error(`no node ${i}`);
      redis = new Redis({ host: node.host, port: node.port, maxRetriesPerRequest: 1, commandTimeout: 1_000, retryStrategy: () => 100 });
      redis.on('error', () => undefined);
      this.#admins.set(i, redis);
    }
    return redis;
  }

  // ---- network -------------------------------------------------------------------------------

  /** Cuts `links` and verifies the cut with a probe per link; returns the fault window id. */
  async cut(links: readonly Link[], mode: CutMode): Promise<number> {
    const id = this.#nemesis.start('partition', `${describe(links)} ${mode}`);
    for (const link of links) {
      const state = this.#state(link);
      if (mode === 'down') {
        state.disabledBy.add(id);
        if (state.disabledBy.size === 1) await this.#setEnabled(state, false);
      } else if (mode === 'blackhole') {
        const up = await this.#addToxic(state, id, { type: 'timeout', stream: 'upstream', attributes: { timeout: 0 } });
        const down = await this.#addToxic(state, id, { type: 'timeout', stream: 'downstream', attributes: { timeout: 0 } });
        state.toxics.set(id, [up, down]);
      } else {
        state.toxics.set(id, [await this.#addToxic(state, id, { type: 'reset_peer', stream: 'upstream', attributes: { timeout: 0 } })]);
      }
    }
    this.#nemesis.applied(id);
    const expected: readonly ProbeOutcome[] = mode === 'blackhole' ? ['timeout'] : mode === 'down' ? ['refused'] : ['reset', 'closed'];
    // A black hole must stay silent for PROBE_MS; a refusal or reset must come, even on a busy machine.
    const wait = mode === 'blackhole' ? PROBE_MS : 2_000;
    const probes = await Promise.all(links.map((l) => probeLink(this.#state(l).endpoint.host, this.#state(l).endpoint.port, wait)));
    const bad = probes.filter((p) => !expected.includes(p.outcome));
    this.#nemesis.verify(id, bad.length === 0, `${probes.length - bad.length}/${probes.length} probes ${expected.join('|')}${bad.length ? `; got ${bad.map((b) => b.outcome).join(',')}` : ''}`);
    return id;
  }

  /**
   * Adds toxics to `links` and verifies them on the first link: a reset_peer toxic must reset one of
   * a few probes, a latency must show in probes (≥ 80 %, or a mean ≥ 60 % with jitter), a slicer
   * must still deliver a reply.
   */
  async toxic(links: readonly Link[], toxics: readonly ToxicSpecIn[], label: string): Promise<number> {
    const id = this.#nemesis.start('toxic', `${describe(links)} ${label}`);
    for (const link of links) {
      const state = this.#state(link);
      const added: Toxic<unknown>[] = [];
      for (const spec of toxics) added.push(await this.#addToxic(state, id, spec));
      state.toxics.set(id, added);
    }
    this.#nemesis.applied(id);
    const first = links[0];
    if (first !== undefined) {
      const verdict = await verifyToxics(this.#state(first).endpoint, toxics);
      if (verdict !== undefined) this.#nemesis.verify(id, verdict.ok, verdict.detail);
    }
    return id;
  }

  /** Undoes one network fault window (its end is logged first: links heal from then on). */
  async restore(id: number): Promise<void> {
    this.#nemesis.stop(id);
    for (const state of this.#proxies.values()) {
      for (const toxic of state.toxics.get(id) ?? []) await toxic.remove().catch(() => undefined);
      state.toxics.delete(id);
      if (state.disabledBy.delete(id) && state.disabledBy.size === 0) await this.#setEnabled(state, true);
    }
  }

  /** Removes every network fault and resumes every paused node (crashed nodes stay down). */
  async heal(): Promise<void> {
    const ids = new Set<number>();
    for (const state of this.#proxies.values()) {
      for (const id of state.toxics.keys()) ids.add(id);
      for (const id of state.disabledBy) ids.add(id);
    }
    for (const id of ids) await this.restore(id);
    for (const node of [...this.#pausedNodes.keys()]) this.resumeNode(node);
  }

  // ---- nodes ---------------------------------------------------------------------------------

  /** SIGSTOPs node `i` and checks in /proc that the pid is really stopped. */
  async pauseNode(i: number): Promise<number> {
    const pid = this.cluster.nodes[i]?.pid;
    this.cluster.pause(i);
    const id = this.#nemesis.start('pause-node', `n${i} pid ${pid}`);
    this.#pausedNodes.set(i, id);
    const state = pid === undefined ? undefined : await waitForProcState(pid, 'T', 200);
    this.#nemesis.verify(id, state === 'T', `/proc state ${state ?? 'unknown'}`);
    return id;
  }

  resumeNode(i: number): void {
    const id = this.#pausedNodes.get(i);
    if (id === undefined) return;
    this.#pausedNodes.delete(i);
    this.cluster.resume(i);
    this.#nemesis.stop(id);
  }

  /** SIGKILLs node `i`; the window stays open until {@link restartNode}. */
  async crashNode(i: number): Promise<number> {
    const pid = this.cluster.nodes[i]?.pid;
    this.resumeNode(i);
    const id = this.#nemesis.start('crash-node', `n${i} pid ${pid}`);
    await this.cluster.crash(i);
    this.#crashedNodes.set(i, id);
    this.#nemesis.verify(id, this.cluster.nodes[i]?.pid === undefined && !processExists(pid), 'pid gone');
    return id;
  }

  /**
   * Restarts node `i` (same port; data dir emptied when `empty`), closing its crash window, and
   * reports whether it answers and whether its ready marker survived.
   */
  async restartNode(i: number, options: { readonly empty?: boolean } = {}): Promise<{ ready: boolean }> {
    const crashed = this.#crashedNodes.get(i);
    const id = crashed ?? this.#nemesis.start('crash-node', `n${i} restart`);
    this.#crashedNodes.delete(i);
    await this.cluster.restart(i, { empty: options.empty ?? false });
    const marker = await this.readyMarker(i).catch(() => undefined);
    const ready = typeof marker === 'string';
    this.#nemesis.stop(id, `restarted${options.empty ? ' empty' : ''}; ready marker ${ready ? 'present' : 'absent'}`);
    return { ready };
  }

  /**
   * Empties node `i` without a restart (FLUSHALL or FLUSHDB: what an operator, a full resync or a
   * wrong script does; issue 9 item 2): its uptime keeps counting. Verified: the ready marker is gone.
   */
  async flushNode(i: number, how: 'FLUSHALL' | 'FLUSHDB' = 'FLUSHALL'): Promise<number> {
    const id = this.#nemesis.start('flush-node', `n${i} ${how}`);
    if (how === 'FLUSHALL') await this.admin(i).flushall();
    else await this.admin(i).flushdb();
    const [marker, keys] = await Promise.all([this.readyMarker(i).catch(() => undefined), this.admin(i).dbsize().catch(() => -1)]);
    this.#nemesis.verify(id, marker === null, `ready marker ${marker === null ? 'gone' : String(marker)}; ${keys} keys left`);
    return id;
  }

  /** Node `i`'s `uptime_in_seconds` (INFO server). */
  async uptime(i: number): Promise<number> {
    const info = await this.admin(i).info('server');
    return Number(/uptime_in_seconds:(\d+)/.exec(info)?.[1] ?? 0);
  }

  /** The node's ready marker: the cluster id, or null when it lost it. */
  async readyMarker(i: number): Promise<string | null> {
    return this.admin(i).get(`${this.prefix}__ready`);
  }

  /** Bypasses the ready gate: copies the cluster id from a ready node onto node `i`. */
  async markReadyByHand(i: number): Promise<void> {
    for (let j = 0; j < this.size; j += 1) {
      if (j === i) continue;
      const id = await this.readyMarker(j).catch(() => null);
      if (typeof id === 'string') {
        await this.admin(i).set(`${this.prefix}__ready`, id);
        this.#nemesis.note('gate-bypass', `n${i} marked ready by hand`, id);
        return;
      }
    }
    throw new Error('no ready node to copy the cluster id from');
  }

  /** Fencing counters of `keys` on node `i` (null where absent). */
  async counters(i: number, keys: readonly string[]): Promise<(bigint | null)[]> {
    const values = await Promise.all(keys.map((k) => this.admin(i).get(`${this.prefix}{${k}}:fc`)));
    return values.map((v) => (v === null ? null : BigInt(v)));
  }

  /** Lock keys still present on each running node. */
  async strayLocks(): Promise<{ node: number; keys: string[] }[]> {
    const out: { node: number; keys: string[] }[] = [];
    for (let i = 0; i < this.size; i += 1) {
      if (this.cluster.nodes[i]?.pid === undefined || this.#pausedNodes.has(i)) continue;
      const keys = await this.admin(i).keys(`${this.prefix}{*}:lk`).catch(() => [] as string[]);
      if (keys.length > 0) out.push({ node: i, keys });
    }
    return out;
  }

  // ---- clocks --------------------------------------------------------------------------------

  hasClocks(): boolean {
    return this.#clocks.every((c) => c !== undefined);
  }

  /**
   * Changes node `i`'s clock and verifies it with TIME: a jump must move the node's skew by the
   * jump (± 100 ms), a rate must show in two samples 300 ms apart (± 15 %).
   */
  async setClock(i: number, change: Partial<ClockState>): Promise<number> {
    const clock = this.#clocks[i];
    if (clock === undefined) throw new Error(`node ${i} has no clock shim (start the fleet with a shim)`);
    const before = clock.state;
    const skew0 = await this.#skew(i);
    clock.set(change);
    const after = clock.state;
    const id = this.#nemesis.start('clock', `n${i} offset ${after.offsetMs} ms rate ${after.rate}`);
    await delay(CLOCK_SETTLE_MS);
    const skew1 = await this.#skew(i);
    const checks: string[] = [];
    let ok = true;
    const jump = after.offsetMs - before.offsetMs;
    if (jump !== 0) {
      const seen = skew1 - skew0;
      ok &&= Math.abs(seen - jump) < 100 + Math.abs(after.rate - 1) * (CLOCK_SETTLE_MS + 100);
      checks.push(`jump ${jump} ms, TIME moved ${seen.toFixed(0)} ms`);
    }
    if (after.rate !== before.rate || after.rate !== 1) {
      await delay(300);
      const t0 = performance.now();
      const a = await this.#skew(i);
      await delay(300);
      const b = await this.#skew(i);
      const rate = 1 + (b - a) / (performance.now() - t0);
      ok &&= Math.abs(rate - after.rate) <= 0.15 * Math.max(1, after.rate);
      checks.push(`rate ${after.rate}, TIME shows ${rate.toFixed(2)}`);
    }
    this.#nemesis.verify(id, ok, checks.join('; '));
    return id;
  }

  /** Node `i`'s wall clock (TIME) minus ours, ms, taken at the middle of the round trip. */
  async #skew(i: number): Promise<number> {
    const before = Date.now();
    const [s, us] = await this.admin(i).time();
    const mid = (before + Date.now()) / 2;
    return Number(s) * 1000 + Number(us) / 1000 - mid;
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Stops proxies, admin connections and nodes. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const node of [...this.#pausedNodes.keys()]) {
      try {
        this.resumeNode(node);
      } catch {
        // crashed meanwhile
      }
    }
    for (const redis of this.#admins.values()) redis.disconnect();
    if (this.#toxiproxy.external) {
      for (const state of this.#proxies.values()) await state.proxy.remove().catch(() => undefined);
    }
    await this.#toxiproxy.close();
    await this.cluster.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #state(link: Link): ProxyState {
    const state = this.#proxies.get(linkName(link));
    if (state === undefined) throw new Error(`no proxy for ${linkName(link)}`);
    return state;
  }

  async #addToxic(state: ProxyState, id: number, spec: ToxicSpecIn): Promise<Toxic<unknown>> {
    return state.proxy.addToxic<unknown>({
      name: `f${id}-${spec.type}-${spec.stream}`,
      type: spec.type,
      stream: spec.stream,
      toxicity: spec.toxicity ?? 1,
      attributes: spec.attributes,
    });
  }

  async #setEnabled(state: ProxyState, enabled: boolean): Promise<void> {
    state.proxy = await state.proxy.update({ enabled, listen: state.proxy.listen, upstream: state.proxy.upstream });
  }
}

const linkName = (link: Link): string => `${link.proc}:n${link.node}`;

/** One proxy per (process, node), added to `into`. */
async function createProxies(toxiproxy: ToxiproxyHandle, cluster: LocalCluster, tag: string, procs: readonly string[], into: Map<string, ProxyState>): Promise<void> {
  for (const proc of procs) {
    for (const [i, node] of cluster.nodes.entries()) {
      const proxy = await toxiproxy.client.createProxy({
        name: `chaos-${tag}-${proc}-n${i}`,
        listen: listenAddress(0),
        upstream: upstreamAddress(node.port),
        enabled: true,
      });
      into.set(linkName({ proc, node: i }), { proxy, endpoint: proxyEndpoint(proxy), toxics: new Map(), disabledBy: new Set() });
    }
  }
}

/** `p0→n3,n4; p1→n3,n4` */
function describe(links: readonly Link[]): string {
  const byProc = new Map<string, number[]>();
  for (const l of links) byProc.set(l.proc, [...(byProc.get(l.proc) ?? []), l.node]);
  return [...byProc].map(([proc, nodes]) => `${proc}→${nodes.map((n) => `n${n}`).join(',')}`).join('; ');
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
