/**
 * Negative control of issue 9 item 6, in test code only: puts the old waiter-queue head back into
 * this process's copy of the generated scripts. The old `queueHead` dropped at most 16 expired
 * tickets and then returned the 17th without checking it, so a release handed the lease to a dead
 * waiter for its whole TTL. The function is replaced in the text of every script that includes it
 * (acquire, release, leaveQueue) and each script's sha1 is recomputed, so EVALSHA / EVAL load the
 * old version under its own hash (other processes keep theirs).
 */
import { createHash } from 'node:crypto';
import { luaScripts } from '../../src/generated/lua-scripts.js';

/** queueHead as it was before the fix (src/nodes/lua/include/queue.lua at 4a76c43). */
export const OLD_QUEUE_HEAD = `local function queueHead(q, qe)
  for _ = 1, 16 do
    local h = redis.call('ZRANGE', q, 0, 0)[1]
    if not h then return nil end
    local expiry = redis.call('ZSCORE', qe, h)
    if expiry and tonumber(expiry) > now() then return h end
    redis.call('ZREM', q, h)
    redis.call('ZREM', qe, h)
  end
  return redis.call('ZRANGE', q, 0, 0)[1]
end
`;

const START = 'local function queueHead(q, qe)\n';

/** Replaces the queueHead function in one script's text; undefined when the script has none. */
export function withOldQueueHead(lua: string): string | undefined {
  const from = lua.indexOf(START);
  if (from < 0) return undefined;
  // The function ends at the first `end` in column 0 after its header (inner blocks are indented).
  const close = lua.indexOf('\nend\n', from);
  if (close < 0) throw new Error('queueHead has no closing `end` in column 0');
  return lua.slice(0, from) + OLD_QUEUE_HEAD + lua.slice(close + '\nend\n'.length);
}

/**
 * Patches every generated script that includes queueHead; returns the names patched. Throws when
 * none of acquire, release and leaveQueue has it (the fix renamed it: this control must follow).
 */
export function installOldQueueHead(): string[] {
  const scripts = luaScripts as unknown as Record<string, { sha1: string; lua: string }>;
  const patched: string[] = [];
  for (const [name, script] of Object.entries(scripts)) {
    const lua = withOldQueueHead(script.lua);
    if (lua === undefined) continue;
    script.lua = lua;
    script.sha1 = createHash('sha1').update(lua).digest('hex');
    patched.push(name);
  }
  for (const needed of ['acquire', 'release', 'leaveQueue']) {
    if (!patched.includes(needed)) throw new Error(`old queue head: script ${needed} has no queueHead(q, qe) to replace`);
  }
  return patched;
}
