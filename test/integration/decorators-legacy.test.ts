/**
 * decorators.test.ts once more, compiled with `experimentalDecorators` (tsconfig.legacy.json, as
 * NestJS projects are): tsx reads the tsconfig named by TSX_TSCONFIG_PATH, so the file runs in a
 * child `node --test` of its own. The child checks that it really ran in legacy mode.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const FILE = fileURLToPath(new URL('./decorators.test.ts', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../../tsconfig.legacy.json', import.meta.url));

let child: ChildProcess | undefined;
after(() => {
  child?.kill('SIGKILL');
});

test('the decorator tests pass with legacy decorators (experimentalDecorators, as NestJS compiles)', { timeout: 120_000 }, async () => {
  // A child of a test runner would report to it in its own protocol: this child is a runner of its own.
  const { NODE_TEST_CONTEXT: _context, ...parentEnv } = process.env;
  child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', FILE], {
    env: { ...parentEnv, TSX_TSCONFIG_PATH: TSCONFIG, REDFENCE_DECORATOR_MODE: 'legacy' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child?.on('close', resolve));
  assert.equal(code, 0, output);
  assert.match(output, /^ok \d+ - compiled in the expected decorator mode$/m, output);
  const tests = readFileSync(FILE, 'utf8').match(/^test\(/gm)?.length ?? 0;
  assert.ok(tests > 10);
  assert.equal(Number(/^# pass (\d+)$/m.exec(output)?.[1]), tests, `expected all ${tests} tests of the file to pass in legacy mode, got:\n${output}`);
  assert.match(output, /^# fail 0$/m);
});
