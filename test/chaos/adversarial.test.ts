/**
 * The pieces the issue-9 scenarios (scenarios/adversarial.ts) add, on hand-made inputs: the WAIT
 * checker must pass a key handed on at once and fire on a key left free while a live client waits,
 * and the old-queue-head patch must replace exactly the queueHead function.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { luaScripts } from '../../src/generated/lua-scripts.js';
import { checkStalls } from './checkers/waits.js';
import { buildGrantClaims } from './grant-claims.js';
import type { HistoryEvent, Op, Phase } from './history.js';
import { OLD_QUEUE_HEAD, withOldQueueHead } from './old-queue-head.js';

const MS = 1_000_000n;

function ev(client: string, op: Op, phase: Phase, t: number, extra: Partial<HistoryEvent> = {}): HistoryEvent {
  return { proc: client.split('/')[0] ?? client, client, op, phase, key: 'q0', t: BigInt(t) * MS, ...extra };
}

/** Holder h holds q0 from 0 to `releaseAt`; waiter l asks at 100 and is granted at `grantedAt`. */
function history(releaseAt: number, grantedAt: number): HistoryEvent[] {
  return [
    ev('h/0', 'acquire', 'invoke', 0, { grantId: 'h1' }),
    ev('h/0', 'acquire', 'ok', 1, { grantId: 'h1', token: 1n, validityEnd: 10_000n * MS }),
    ev('l/0', 'acquire', 'invoke', 100, { grantId: 'l1' }),
    ev('h/0', 'release', 'invoke', releaseAt, { grantId: 'h1' }),
    ev('h/0', 'release', 'ok', releaseAt + 1, { grantId: 'h1' }),
    ev('l/0', 'acquire', 'ok', grantedAt, { grantId: 'l1', token: 2n, validityEnd: BigInt(grantedAt + 1_000) * MS }),
    ev('l/0', 'release', 'invoke', grantedAt + 20, { grantId: 'l1' }),
  ];
}

describe('WAIT checker', () => {
  test('a key handed on at once is no stall', () => {
    const events = history(1_000, 1_010);
    const r = checkStalls({ events, claims: buildGrantClaims(events), keys: ['q0'], from: 0n, to: 10_000n * MS, boundMs: 500 });
    assert.equal(r.stalls.length, 0);
    assert.equal(r.examined, 2); // h's own acquire and l's
    assert.ok(r.longestMs >= 9 && r.longestMs <= 11, `longest ${r.longestMs}`);
  });

  test('a key free for 3 s while a live client waits is a stall', () => {
    const events = history(1_000, 4_000);
    const r = checkStalls({ events, claims: buildGrantClaims(events), keys: ['q0'], from: 0n, to: 10_000n * MS, boundMs: 500 });
    assert.equal(r.stalls.length, 1);
    assert.equal(r.stalls[0]?.client, 'l/0');
    assert.equal(r.stalls[0]?.from, 1_000n * MS);
    assert.equal(r.stalls[0]?.to, 4_000n * MS);
  });

  test('only the window counts, and only the named processes', () => {
    const events = history(1_000, 4_000);
    const claims = buildGrantClaims(events);
    assert.equal(checkStalls({ events, claims, keys: ['q0'], from: 3_800n * MS, to: 10_000n * MS, boundMs: 500 }).stalls.length, 0);
    assert.equal(checkStalls({ events, claims, keys: ['q0'], from: 0n, to: 10_000n * MS, boundMs: 500, procs: ['h'] }).stalls.length, 0);
    assert.equal(checkStalls({ events, claims, keys: ['other'], from: 0n, to: 10_000n * MS, boundMs: 500 }).examined, 0);
  });

  test('a failed acquire that waited through a free key is a stall too', () => {
    const events = [...history(1_000, 1_010).slice(0, 5), ev('l/0', 'acquire', 'fail', 5_000, { grantId: 'l1', err: 'LOCK_HELD' })];
    const r = checkStalls({ events, claims: buildGrantClaims(events), keys: ['q0'], from: 0n, to: 10_000n * MS, boundMs: 500 });
    assert.equal(r.stalls.length, 1);
    assert.equal(r.stalls[0]?.outcome, 'fail');
  });
});

describe('old queue head (NC11)', () => {
  test('replaces queueHead in every script that has it, and nothing else', () => {
    for (const [name, script] of Object.entries(luaScripts)) {
      const patched = withOldQueueHead(script.lua);
      if (!script.lua.includes('local function queueHead(q, qe)\n')) {
        assert.equal(patched, undefined, name);
        continue;
      }
      assert.ok(patched !== undefined, name);
      assert.ok(patched.includes(OLD_QUEUE_HEAD), name);
      assert.equal(patched.split('local function queueHead(').length, 2, `${name}: one queueHead`);
      // Everything around the function is unchanged.
      const before = script.lua.slice(0, script.lua.indexOf('local function queueHead('));
      assert.ok(patched.startsWith(before), name);
      if (patched !== script.lua) assert.notEqual(createHash('sha1').update(patched).digest('hex'), script.sha1, name);
    }
    for (const name of ['acquire', 'release', 'leaveQueue'] as const) assert.ok(withOldQueueHead(luaScripts[name].lua) !== undefined, name);
  });
});
