import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LockHeldError, type Lock } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';

// Issue 17: two clients whose first acquires meet a brand-new cluster (a fresh prefix: no ready
// marker, no counter) at the same moment. The outcome must be the real one — granted, held, or
// unavailable — never the loser's "notReady" from before the winner's initialisation.
const env = useCluster(5);
const FRESH_CLUSTERS = 50;

test(`first acquires racing on ${FRESH_CLUSTERS} new clusters: only grants and "held"`, { timeout: 120_000 }, async () => {
  const outcomes = { granted: 0, held: 0, nulls: 0 };
  for (let i = 0; i < FRESH_CLUSTERS; i += 1) {
    // New connections each time: nodeTimeout leaves room for connecting on a loaded machine (the
    // race is about initialisation, not timeouts).
    const a = env.redlock({ retryCount: 0, nodeTimeout: 1_000 });
    const b = env.redlock({ prefix: a.settings.prefix, retryCount: 0, nodeTimeout: 1_000 });
    const c = env.redlock({ prefix: a.settings.prefix, retryCount: 0, nodeTimeout: 1_000 });
    // a and b want the same resource with acquire, c with tryAcquire; b also wants another one.
    const results = await Promise.allSettled([
      a.acquire('same', 2_000),
      b.acquire('same', 2_000),
      c.tryAcquire('same', 2_000),
      b.acquire(`other-${i}`, 2_000),
    ]);
    const locks: Lock[] = [];
    for (const [j, result] of results.entries()) {
      if (result.status === 'fulfilled') {
        if (result.value === null) outcomes.nulls += 1;
        else {
          outcomes.granted += 1;
          locks.push(result.value);
        }
      } else {
        assert.ok(result.reason instanceof LockHeldError, `cluster ${i}, call ${j}: ${String(result.reason)}`);
        outcomes.held += 1;
      }
    }
    assert.ok(results[3]?.status === 'fulfilled' && results[3].value !== null, `cluster ${i}: the uncontended resource is granted`);
    const sameGranted = locks.filter((l) => l.resources[0] === 'same').length;
    assert.equal(sameGranted, 1, `cluster ${i}: exactly one holder of the contended resource`);
    await Promise.all(locks.map((l) => l.release()));
    await Promise.all([a.quit(), b.quit(), c.quit()]);
  }
  assert.equal(outcomes.granted, 2 * FRESH_CLUSTERS);
  assert.equal(outcomes.held + outcomes.nulls, 2 * FRESH_CLUSTERS);
});
