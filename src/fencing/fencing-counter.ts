import type { Clock } from '../clock.js';
import { greater } from '../core/decimal.js';
import type { ResourceKeys } from '../core/keys.js';
import type { LockNode } from '../core/lock-node.js';
import { quorumRound, type Reply } from '../core/quorum-round.js';

/**
 * The two-phase fencing counter (docs/fencing.md, DESIGN §5). Round 1 is the acquire script: each
 * node that locked moved its counter to a value and returned it. T is the largest such value.
 * A node counts toward the grant only if its counter moved to exactly T for this grant.
 */

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
  nodes: readonly LockNode[],
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
  const request = { keys, owner, token };
  const round = quorumRound<undefined, boolean>(
    laggards,
    quorum - atToken,
    timeoutMs,
    clock,
    (node, _, done) => node.raiseFence(request, done),
    (raised) => ({ outcome: raised ? 'ok' : 'held' }),
  );
  return { token, slowPath: true, committed: await round.decided };
}
