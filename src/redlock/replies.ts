import type { AcquireReply, ExtendReply } from '../core/lock-node.js';
import type { Reply } from '../core/quorum-round.js';
import { InvalidOptionsError, LockHeldError, type NodeReport, QuorumError } from '../errors.js';
import { clusterMismatch } from '../fencing/ready-gate.js';

/**
 * What the nodes' answers mean for an acquire or an extension: one decoder per operation, and the
 * errors a round's answers turn into.
 */

/** ok: the token the node moved to; held: the node's counter when it answered (see ReleaseWatch). */
export function classifyAcquire(reply: AcquireReply): Reply<string> {
  return reply.locked ? { outcome: 'ok', value: reply.token } : { outcome: 'held', value: reply.counter };
}

export function classifyExtend(reply: ExtendReply): Reply<string> {
  if (reply === 'extended') return { outcome: 'ok' };
  if (reply === 'otherOwner') return { outcome: 'held', error: 'another owner holds the lease' };
  return { outcome: 'error', error: 'the lease is gone (expired)' };
}

export const otherOwner = (reply: Reply<string> | undefined): boolean => reply?.outcome === 'held';

/** The cluster's max TTL, when a node refused a lease above it (`TTLTOOLONG <max>`). */
export function ttlLimitOf(replies: readonly (Reply<string> | undefined)[]): number | undefined {
  for (const reply of replies) {
    if (reply?.outcome !== 'error') continue;
    const match = /TTLTOOLONG (\d+)/.exec(reply.error ?? '');
    if (match !== null) return Number(match[1]);
  }
  return undefined;
}

/** A node that belongs to a cluster of another size (`CLUSTERSIZE <n>`): the prefix is shared by two node sets. */
export function refusalOf(replies: readonly (Reply<string> | undefined)[], prefix: string, nodes: number): InvalidOptionsError | undefined {
  // Runs on every granted attempt: nothing is allocated unless a node refused.
  let sizes: Set<number> | undefined;
  for (const reply of replies) {
    if (reply?.outcome !== 'error') continue;
    const match = /CLUSTERSIZE (\d+)/.exec(reply.error ?? '');
    if (match !== null) (sizes ??= new Set()).add(Number(match[1]));
  }
  return sizes === undefined ? undefined : new InvalidOptionsError(clusterMismatch(prefix, nodes, [...sizes]));
}

export function ttlTooLong(lease: number, max: number): InvalidOptionsError {
  return new InvalidOptionsError(
    `Expected a lease of at most the cluster's \`maxTtl\` (${max} ms), got \`${lease}\`: the nodes keep the \`maxTtl\` of ` +
      'the client that initialised them, and refuse longer leases (a repair waits only that long). ' +
      'Use the same `maxTtl` in every client, or a shorter TTL with auto-extension (`using`).',
  );
}

/** "Held" when a quorum answered but other owners blocked it; otherwise too few nodes answered. */
export function failureOf(resources: readonly string[], quorum: number, reports: NodeReport[], failure: 'quorum' | 'fence'): QuorumError {
  const held = reports.filter((r) => r.outcome === 'held').length;
  const answered = held + reports.filter((r) => r.outcome === 'ok').length;
  if (failure === 'quorum' && held > 0 && answered >= quorum) return new LockHeldError(resources, quorum, reports);
  return new QuorumError(failure === 'fence' ? 'fence' : 'lock', resources, quorum, reports, {
    code: failure === 'fence' ? 'FENCE_CONFLICT' : 'QUORUM',
  });
}
