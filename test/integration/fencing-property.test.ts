import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkTokens, type Grant } from '../chaos/checkers/tokens.js';
import { delay, useCluster } from '../support/cluster.js';
import type { WorkerConfig } from '../support/grant-worker.js';
import { seededRandom } from '../support/random.js';

const env = useCluster(5);
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

const WORKER = fileURLToPath(new URL('../support/grant-worker.ts', import.meta.url));
const SEED = Number(process.env['REDFENCE_SEED'] ?? Date.now() % 100_000);

test(`tokens stay unique and real-time monotonic while nodes are paused, killed and restarted empty (seed ${SEED})`, async () => {
  const random = seededRandom(SEED);
  const durationMs = 12_000;
  const prefix = env.prefix();
  const config = (name: string): WorkerConfig => ({
    urls: env.cluster.urls,
    prefix,
    resources: ['r0', 'r1', 'r2', 'r3'],
    durationMs,
    clients: 3,
    ttl: 400,
    maxTtl: 500,
    holdMs: 2,
    name,
  });

  // Initialise the cluster once, while every node is up.
  const warm = env.redlock({ prefix, maxTtl: 500, automaticExtensionThreshold: 100 });
  await warm.acquire('r0', 400).then((l) => l.release());

  const grants: Grant[] = [];
  let failures = 0;
  let repaired = 0;
  const finished = ['p0', 'p1', 'p2'].map((name) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(config(name))], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(child);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const event = JSON.parse(line) as {
        grant?: { resource: string; token: string; invokedNs: string; completedNs: string; client: string };
        failure?: string;
        repaired?: string;
      };
      if (event.grant) {
        const { resource, token, invokedNs, completedNs, client } = event.grant;
        grants.push({ resource, client, token: BigInt(token), invokedNs: BigInt(invokedNs), completedNs: BigInt(completedNs) });
      } else if (event.failure) failures += 1;
      else if (event.repaired) repaired += 1;
    });
    return new Promise<number | null>((resolve) => child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }));
  });

  // The nemesis: at most one node paused and one node wiped at a time, so grants keep flowing.
  const faults = { pauses: 0, wipes: 0 };
  const deadline = performance.now() + durationMs - 1_500;
  let wiping: Promise<void> | undefined;
  let lastWipe = performance.now();
  while (performance.now() < deadline) {
    await delay(200 + random() * 400);
    const node = Math.floor(random() * 5);
    // A wipe at least every 3 s (when none is running), so every seed gets its share.
    const wipeDue = wiping === undefined && performance.now() - lastWipe > 3_000;
    if (random() < 0.6 && !wipeDue) {
      env.cluster.pause(node);
      faults.pauses += 1;
      await delay(100 + random() * 400);
      env.cluster.resume(node);
    } else if (wiping === undefined) {
      faults.wipes += 1;
      lastWipe = performance.now();
      wiping = env.cluster.restart(node, { empty: true }).then(() => delay(2_500)).then(() => {
        wiping = undefined;
      });
    }
  }
  await wiping;
  const codes = await Promise.all(finished);
  assert.deepEqual(codes, [0, 0, 0], 'every client process finished cleanly');

  const violations = checkTokens(grants);
  const summary = { seed: SEED, grants: grants.length, failures, faults, repaired, violations: violations.length };
  console.log(`fencing property: ${JSON.stringify(summary)}`);
  assert.deepEqual(violations.slice(0, 3), [], 'no duplicate or non-increasing token');
  // Not vacuous: many grants, faults injected, and emptied nodes came back through repair.
  assert.ok(grants.length >= 1_000, `only ${grants.length} grants`);
  assert.ok(faults.pauses >= 5 && faults.wipes >= 2, JSON.stringify(faults));
  assert.ok(repaired >= 1, 'an emptied node was repaired');
});
