import type { Clock } from '../clock.js';
import type { LockNode } from '../core/lock-node.js';
import { InvalidOptionsError } from '../errors.js';
import { type NodeInput, RedisNode } from '../nodes/redis/redis-node.js';

/**
 * The nodes of a Redlock: LockNode objects (a MemoryNode) as given, anything else (an ioredis
 * client or Cluster, a URL, ioredis options) as a RedisNode this Redlock opens. One object given
 * twice, or two URLs or option objects naming one `host:port`, are refused at once; the same
 * server under two names is found when the nodes connect ({@link duplicateNodes}).
 * @returns the nodes, and the RedisNodes opened here (the Redlock closes them).
 * @throws {InvalidOptionsError}
 */
export function buildNodes(inputs: readonly unknown[], clock: Clock): { nodes: LockNode[]; opened: RedisNode[] } {
  const nodes: LockNode[] = [];
  const opened: RedisNode[] = [];
  try {
    for (const [i, input] of (inputs as readonly (NodeInput | LockNode)[]).entries()) {
      if (typeof input === 'object' && input !== null && inputs.indexOf(input) !== i) {
        throw new InvalidOptionsError(`Expected distinct nodes, got the same object as \`nodes[${inputs.indexOf(input)}]\` and \`nodes[${i}]\``);
      }
      if (isLockNode(input)) nodes.push(input);
      else {
        const node = new RedisNode(input, i, clock);
        opened.push(node);
        nodes.push(node);
      }
    }
    const names = new Set<string>();
    for (const node of opened) {
      if (!node.owned) continue;
      if (names.has(node.name)) throw new InvalidOptionsError(`Expected distinct nodes, got \`${node.name}\` twice`);
      names.add(node.name);
    }
  } catch (error) {
    void Promise.all(opened.map((n) => n.close()));
    throw error;
  }
  return { nodes, opened };
}

/**
 * Two nodes whose connections reached the same server (same identity, e.g. a Redis `run_id`), if
 * any. Each node learns its identity before its first reply arrives, so two votes of one server
 * are caught in the round where both are cast, before they count.
 */
export function duplicateNodes(nodes: readonly LockNode[]): [LockNode, LockNode] | undefined {
  for (let i = 0; i < nodes.length; i += 1) {
    const a = nodes[i] as LockNode;
    if (a.identity === undefined) continue;
    for (let j = i + 1; j < nodes.length; j += 1) {
      const b = nodes[j] as LockNode;
      if (b.identity === a.identity) return [a, b];
    }
  }
  return undefined;
}

/** A node object given in place of a Redis client (a MemoryNode, or any LockNode). */
function isLockNode(input: unknown): input is LockNode {
  const node = input as Partial<LockNode> | null;
  return typeof node === 'object' && node !== null && typeof node.acquire === 'function' && typeof node.raiseFence === 'function';
}

