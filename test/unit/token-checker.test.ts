import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkTokens, type Grant } from '../chaos/checkers/tokens.js';

const g = (resource: string, token: number, invoked: number, completed: number, client = 'c'): Grant => ({
  resource,
  token: BigInt(token),
  invokedNs: BigInt(invoked),
  completedNs: BigInt(completed),
  client,
});

test('accepts increasing tokens, and concurrent grants in any order', () => {
  assert.deepEqual(checkTokens([g('r', 1, 0, 10), g('r', 2, 11, 20), g('r', 5, 12, 30), g('r', 4, 13, 31)]), []);
  assert.deepEqual(checkTokens([g('a', 9, 0, 10), g('b', 1, 11, 20)]), [], 'resources are independent');
});

test('reports a token that did not increase after a completed grant (negative control)', () => {
  const v = checkTokens([g('r', 7, 0, 10), g('r', 4, 11, 20)]);
  assert.equal(v.length, 1);
  assert.equal(v[0]?.kind, 'not-increasing');
  assert.equal(v[0]?.earlier.token, 7n);
});

test('reports duplicates, even between concurrent grants', () => {
  const v = checkTokens([g('r', 3, 0, 10), g('r', 3, 5, 12)]);
  assert.ok(v.some((x) => x.kind === 'duplicate'));
});
