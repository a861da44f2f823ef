/**
 * One leader-election candidate process (S17): `node --import tsx test/chaos/election-client.ts <config.json>`.
 *
 * One redfence Redlock through this process's own fault proxies, one `LeaderElection` started at
 * once. While it leads, the candidate performs an action every `actEveryMs`: a fenced increment
 * (read, then write + 1) of the store resource with the term as the token. Before each store op it
 * reads `election.isLeader` (after taking the invoke time, so an op that passes was invoked while
 * this process led) and records what it saw; the negative control (`naive`) acts from the
 * `'leader'` event until the `'follower'` event without that check.
 *
 * History (history.ts, sync writes): `elected` / `follower` / `observed` and the actions. stdout
 * (JSON lines for the runner): `ready` (with the candidate id), `leader` {term, id}, `follower`
 * {term, reason}, `stats` (every second; with `term` and `ledMs` while it leads), `error`, `done`. stdin: `stop` — stop() (resigns) and exit.
 */
import { openSync, readFileSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { LeaderElection, type Leadership, Redlock } from '../../src/index.js';
import { type ClientConfig, type ElectionClientConfig, redlockSetup } from './client-config.js';
import { type HistoryEvent, hrNow, toJsonLine } from './history.js';
import { outcomeOf, StoreClient } from './store-client.js';

const configPath = process.argv[2];
if (configPath === undefined) throw new Error('usage: election-client.ts <config.json>');
const config = JSON.parse(readFileSync(configPath, 'utf8')) as ClientConfig;
const e: ElectionClientConfig | undefined = config.election;
if (e === undefined) throw new Error('election-client.ts needs an `election` config');
const settings: ElectionClientConfig = e;

const CLIENT = `${config.proc}/0`;
const historyFd = openSync(config.historyFile, 'a');
type Draft = Omit<HistoryEvent, 'proc' | 't' | 'client' | 'key'> & { readonly t?: bigint };
function record(event: Draft): void {
  writeSync(historyFd, `${toJsonLine({ proc: config.proc, client: CLIENT, key: settings.resource, ...event, t: event.t ?? hrNow() })}\n`);
}
function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${toJsonLine(event)}\n`);
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

const store = new StoreClient(config.storeUrl);
const stats = { grants: 0, fails: 0, rejected: 0, actions: 0 };
let stopping = false;

const setup = redlockSetup(config);
const redlock = new Redlock(setup.nodes, setup.options);
const election = new LeaderElection(redlock, settings.name, {
  ttl: settings.ttl,
  renewInterval: settings.renewInterval,
  ...(settings.renewDeadline === undefined ? {} : { renewDeadline: settings.renewDeadline }),
  ...(settings.keepAlive === undefined ? {} : { keepAlive: settings.keepAlive }),
});
const id = election.id;

/** Terms whose `'follower'` event came (the naive control acts until then). */
const ended = new Set<bigint>();
let current: Leadership | undefined;
let ops = 0;

/** May this candidate act for `term` now? Reads isLeader (the naive control only looks at the events). */
function mayAct(term: bigint): { ok: boolean; leader: boolean } {
  const leader = election.isLeader && election.term === term;
  return { ok: !stopping && (settings.naive ? !ended.has(term) : leader), leader };
}

/** One fenced store op with the term as the token; undefined when this candidate may not act. */
async function storeOp(term: bigint, grantId: string, op: 'read' | 'write', extra: { value?: number; readOpId?: string }) {
  const opId = `${grantId}/${op[0]}${(ops += 1)}`;
  const t = hrNow();
  const { ok, leader } = mayAct(term);
  if (!ok) {
    record({ op: 'abandon', phase: 'info', t, grantId, token: term, leader });
    return undefined;
  }
  record({
    op, phase: 'invoke', t, grantId, opId, token: term, leader,
    ...(extra.value === undefined ? {} : { value: extra.value }),
    ...(extra.readOpId === undefined ? {} : { readOpId: extra.readOpId }),
  });
  const result = await store.send({
    op, resource: settings.resource, token: term.toString(), grantId, opId, proc: config.proc, client: CLIENT,
    ...(extra.value === undefined ? {} : { value: extra.value }),
    ...(extra.readOpId === undefined ? {} : { readOpId: extra.readOpId }),
  });
  const outcome = outcomeOf(result, op, extra.value);
  if (outcome.phase === 'fail') stats.rejected += 1;
  record({ op, grantId, opId, token: term, ...outcome });
  return { opId, result };
}

/** The leader's work for one term: an increment every `actEveryMs` while it may act (bounded). */
async function lead(term: bigint, grantId: string): Promise<void> {
  const maxActions = Math.ceil(config.maxRunMs / settings.actEveryMs) + 10;
  let next = performance.now();
  for (let n = 0; n < maxActions && mayAct(term).ok; n += 1) {
    const read = await storeOp(term, grantId, 'read', {});
    if (read?.result.kind !== 'accepted') {
      if (read === undefined) return;
    } else {
      const write = await storeOp(term, grantId, 'write', { value: (read.result.value ?? 0) + 1, readOpId: read.opId });
      if (write === undefined) return;
      if (write.result.kind === 'accepted') stats.actions += 1;
    }
    next = Math.max(next + settings.actEveryMs, performance.now());
    await sleep(next - performance.now());
  }
}

election.on('leader', (leadership) => {
  const term = leadership.term;
  const grantId = `${config.proc}/t${term}`;
  current = leadership;
  stats.grants += 1;
  record({ op: 'elected', phase: 'ok', grantId, token: term, candidate: id, leader: election.isLeader });
  emit({ ev: 'leader', term, id });
  lead(term, grantId).catch((error: unknown) => emit({ ev: 'error', message: String(error) }));
});
election.on('follower', (reason, error) => {
  const term = current?.term;
  if (term !== undefined) ended.add(term);
  record({ op: 'follower', phase: 'info', err: reason, candidate: id, ...(term === undefined ? {} : { token: term, grantId: `${config.proc}/t${term}` }) });
  emit({ ev: 'follower', term, reason, ...(error === undefined ? {} : { error: error.message }) });
  current = undefined;
});
election.on('leaderChanged', (info) => {
  record({ op: 'observed', phase: 'info', ...(info === null ? {} : { candidate: info.id, token: info.term }) });
});

let stopped: () => void = () => undefined;
const untilStopped = new Promise<void>((resolve) => (stopped = resolve));
const input = createInterface({ input: process.stdin });
input.on('line', (raw) => {
  if (raw.trim() === 'stop') {
    stopping = true;
    stopped();
  }
});
setTimeout(() => {
  stopping = true;
  stopped();
}, config.maxRunMs).unref();
setTimeout(() => process.exit(3), config.maxRunMs + 15_000).unref();
/** What this candidate reports every second: also whether it leads (a runner that missed the `leader` line learns it here). */
function statsLine(): Record<string, unknown> {
  const term = election.term;
  const since = current?.since;
  return { ev: 'stats', ...stats, wall: Date.now(), hr: hrNow(), ...(term === undefined ? {} : { term, ledMs: since === undefined ? 0 : Date.now() - since }) };
}
const statsTimer = setInterval(() => emit(statsLine()), 1_000);

emit({ ev: 'ready', pid: process.pid, id });
try {
  await election.start();
  await untilStopped;
} catch (error) {
  emit({ ev: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 2;
} finally {
  clearInterval(statsTimer);
  await election.stop().catch((error: unknown) => emit({ ev: 'error', message: `stop: ${String(error)}` }));
  await redlock.quit();
  emit(statsLine());
  emit({ ev: 'done' });
  input.close();
  process.stdin.destroy();
  process.exit(process.exitCode ?? 0);
}
