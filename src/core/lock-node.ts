import type { ResourceKeys } from './keys.js';

/**
 * The node port: what one independent node offers the lock, in typed operations. RedisNode
 * (src/nodes/redis) implements it with Lua scripts over ioredis, MemoryNode (src/nodes/memory)
 * in-process. Everything above (the quorum round, the token commit, the ready gate, the Redlock)
 * talks to nodes only through it.
 *
 * The lock operations are on the hot path: one call per node per attempt, so they take a
 * callback (a promise per node request costs measurably) and a request object that the caller
 * builds once per attempt and shares between the nodes. Each is atomic on its node.
 */

/** Called once with the node's decoded answer, or with the failure (then `reply` is undefined). */
export type Done<T> = (error: Error | undefined, reply?: T) => void;

/** The keys of one lock, derived once per acquire call (core/keys.ts). */
export type LockKeys = ResourceKeys;

/** One attempt of an acquire (round 1 of a grant): lock every resource or none, move the counters. */
export interface AcquireRequest {
  readonly keys: LockKeys;
  /** `<ticket>:<attempt>`; the ticket is `<client id>/<seq>/<hand-over ttl>`. */
  readonly owner: string;
  /** The lease, ms. */
  readonly ttl: number;
  /** Wall clock µs: the floor under the new token. */
  readonly floor: string;
  /** The ticket's arrival (wall clock µs): its place in the waiter queues. */
  readonly score: string;
  /** How long to stay queued when blocked (0: do not queue). */
  readonly stayMs: number;
  /** How many nodes the client's Redlock has (a node of a cluster of another size refuses). */
  readonly clusterSize: number;
}

export type AcquireReply =
  /** Locked; `token` is the value this node's counters moved to. */
  | { readonly locked: true; readonly token: string }
  /** Blocked (held, or another waiter is ahead); `counter` is the first resource's counter now. */
  | { readonly locked: false; readonly counter: string };

export interface ExtendRequest {
  readonly keys: LockKeys;
  readonly owner: string;
  readonly ttl: number;
}

/** `extended`; `gone`: some lease expired; `otherOwner`: another owner holds some resource. */
export type ExtendReply = 'extended' | 'gone' | 'otherOwner';

export interface ReleaseRequest {
  readonly keys: LockKeys;
  readonly owner: string;
  /** Undoing a failed attempt: only this exact owner's leases go, and nobody is woken. */
  readonly quiet: boolean;
  /** Wall clock µs: the floor of a hand-over grant's token. */
  readonly floor: string;
  /** Wake-up channels are `<wake><client id>`. */
  readonly wake: string;
}

export interface LeaveRequest {
  readonly keys: LockKeys;
  readonly ticket: string;
  readonly floor: string;
  readonly wake: string;
}

/** Round 2 of a grant: raise the counters to `token` if this owner still holds every lease. */
export interface FenceRequest {
  readonly keys: LockKeys;
  readonly owner: string;
  readonly token: string;
}

/** A holder note to write beside every resource an owner holds (see {@link LockNode.writeHolder}). */
export interface HolderWrite {
  /** The lock's keys: a note goes beside each lease the owner holds. */
  readonly keys: LockKeys;
  /** The notes' keys, in the order of `keys.locks`. */
  readonly notes: readonly string[];
  readonly owner: string;
  /** The grant's fencing token (decimal). */
  readonly token: string;
  /** Who holds the lock, as the holder says (an election's candidate id). */
  readonly label: string;
  /** How long a note lives, ms (the holder writes it again before then). */
  readonly ttl: number;
}

/** A holder note whose owner still holds the lease on the node. */
export interface HolderNote {
  readonly token: string;
  readonly label: string;
  /** The lease's time left on the node, ms. */
  readonly leaseMs: number;
}

/** The operations a node offers. Errors are `Error`s whose message names the node and the cause. */
export interface LockNode {
  /** How reports and errors name the node (`host:port`, or a name given to it). */
  readonly name: string;
  /**
   * The server behind the node, once known (before any of its replies is delivered): two nodes
   * with the same identity are one server and must not both vote. `undefined` while unknown.
   */
  readonly identity: string | undefined;
  /** The node checks the ready marker in every lock operation (false: a Redis Cluster). */
  readonly gated: boolean;
  /** Every key of one lock must map to one hash slot on this node (a Redis Cluster). */
  readonly slotted: boolean;

  acquire(request: AcquireRequest, done: Done<AcquireReply>): void;
  extend(request: ExtendRequest, done: Done<ExtendReply>): void;
  /** Answers how many resources the owner still held. Hands each freed resource to its queue's head. */
  release(request: ReleaseRequest, done: Done<number>): void;
  /** A waiter that gave up leaves the queues; answers how many it left. */
  leaveQueue(request: LeaveRequest, done: Done<number>): void;
  /** Answers whether every counter moved to the token for this owner. */
  raiseFence(request: FenceRequest, done: Done<boolean>): void;
  /**
   * A request sent at `sentAt` (the caller's monotonic ms) got no answer in time: the node may
   * recycle a connection that stays silent, so later requests are not stuck behind it.
   */
  timedOut(sentAt: number): void;

  /**
   * Delivers the wake-ups published on `channel` (see ReleaseNotifier) to `onMessage`, also after
   * reconnects; resolves when subscribed.
   */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;

  // ---- holder notes (who holds a lock; informational, off the hot path) ------------------------

  /** Writes a note beside each resource the owner still holds; answers how many it wrote. */
  writeHolder(request: HolderWrite): Promise<number>;
  /** The note of the resource with lease `lease`, if the owner that wrote it still holds that lease. */
  readHolder(lease: string, note: string): Promise<HolderNote | null>;

  // ---- the ready gate's admin operations (rare; each bounded by the caller) ----------------------

  /**
   * Reads the ready marker at `key`; with `value`, sets it first when absent. With `claim`, sets it
   * only while the repair claim at `claim.key` still holds `claim.id`, and drops the claim.
   * Answers the marker now (`null`: absent).
   */
  marker(key: string, value?: string, claim?: { readonly key: string; readonly id: string }): Promise<string | null>;
  /** Claims the node for a repair (`key` = `id` for `ms`), unless another claim is live. */
  claimRepair(key: string, id: string, ms: number): Promise<boolean>;
  /** Drops a repair's claim if it is still `id`'s. */
  unclaimRepair(key: string, id: string): Promise<void>;
  /**
   * The fencing counters matching `pattern` (a SCAN-style glob), as [key, value]; stops once it has
   * `limit`. Each request it makes is bounded by `requestTimeoutMs` (a scan of a large node makes
   * many): a request that gets no answer in time rejects the whole call.
   */
  counters(pattern: string, options: { readonly limit?: number | undefined; readonly requestTimeoutMs: number }): Promise<[string, string][]>;
  /** Raises counters (set-if-greater) while the node is not ready; answers how many rose. */
  raiseCounters(readyKey: string, entries: readonly (readonly [string, string])[]): Promise<number>;
  /** The server's uptime in seconds (only the unsafe switch `repairWaitByUptime` uses it). */
  uptimeSeconds(): Promise<number>;

  /**
   * Where the node reports failed operations (`nodeError` events), once per outage; the Redlocks
   * that use the node add themselves. Returns the function that removes the listener.
   */
  onError(listener: (operation: string, error: Error) => void): () => void;
  /** Reports a failed operation to the listeners, once per outage. */
  reportError(operation: string, error: Error): void;
  /** Closes what the node opened (not the clients the user passed in). */
  close(): Promise<void>;
}
