import type { Clock } from '../clock.js';
import type { ResourceKeys } from '../nodes/keys.js';
import type { RedisNode } from '../nodes/redis-node.js';
import { quorumRound, type Reply } from '../redlock/quorum-round.js';

/**
 * The two-phase fencing counter (docs/fencing.md, DESIGN §5). Round 1 is the acquire script: each
 * node that locked moved its counter to a value and returned it. T is the largest such value.
 * A node counts toward the grant only if its counter moved to exactly T for this grant.
 */

/** `a > b` for decimal strings without leading zeros (exact at any size). */
export function greater(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b;
}

/** T = the largest value returned by a node that locked, and how many locked nodes returned it. */
function highestToken(replies: readonly (Reply<string> | undefined)[]): { token: string; atToken: number } {
  let token = '0';
  let atToken = 0;
  for (const reply of replies) {
    if (reply?.outcome !== 'ok' || reply.value === undefined) continue;
    if (reply.value === token) atToken += 1;
    else if (greater(reply.value, token)) {
      token = reply.value;
      atToken = 1;
    }
  }
  return { token, atToken };
}

/**
 * Makes `quorum` nodes hold exactly `token` for this grant. The fast path (a quorum of locked nodes
 * already returned `token`) costs nothing; otherwise round 2 sends set-if-greater to the locked
 * nodes below `token`. Resolves with whether `quorum` nodes reached `token` for this grant.
 */
export async function commitToken(
  nodes: readonly RedisNode[],
  replies: readonly (Reply<string> | undefined)[],
  owner: string,
  keys: ResourceKeys,
  quorum: number,
  timeoutMs: number,
  clock: Clock,
): Promise<{ token: string; slowPath: boolean; committed: boolean }> {
  const { token, atToken } = highestToken(replies);
  if (atToken >= quorum) return { token, slowPath: false, committed: true };
  const laggards = nodes.filter((_, i) => {
    const reply = replies[i];
    return reply?.outcome === 'ok' && reply.value !== undefined && greater(token, reply.value);
  });
  const round = quorumRound(
    laggards,
    quorum - atToken,
    timeoutMs,
    clock,
    (node, _, done) => node.send('raiseFence', keys.fence, [owner, token], done),
    (reply) => ({ outcome: reply === 1 ? 'ok' : 'held' }),
  );
  return { token, slowPath: true, committed: await round.decided };
}
