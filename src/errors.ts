/** Every `code` a {@link RedfenceError} can have: one union, to branch on exhaustively. */
export type ErrorCode =
  // options and inputs
  | 'INVALID_OPTIONS'
  // acquire, extend
  | 'QUORUM'
  | 'LOCK_HELD'
  | 'FENCE_CONFLICT'
  | 'LOCK_LOST'
  | 'LOCK_EXPIRED'
  // a node's operation failed (NodeError)
  | 'NODE'
  // the downstream fence
  | 'STALE_TOKEN'
  | 'STORE_ERROR'
  // the ready gate: initialise, repair
  | 'TIMEOUT'
  | 'INIT_QUORUM'
  | 'INIT_NOT_NEW'
  | 'CLUSTER_MISMATCH'
  | 'REPAIR_QUORUM'
  | 'REPAIR_UNREACHABLE'
  | 'REPAIR_IN_PROGRESS'
  | 'REPAIR_SOURCES_CHANGED'
  | 'REPAIR_RESTARTED'
  | 'REPAIR_FAILED'
  // the queue
  | 'JOB_NOT_FOUND'
  | 'JOB_STATE'
  | 'JOB_LOCKED'
  | 'JOB_TIMEOUT'
  | 'JOB_ABANDONED'
  | 'JOB_FAILED'
  | 'UNRECOVERABLE'
  | 'EVICTION_POLICY'
  // startLocalCluster
  | 'REDIS_SERVER_MISSING'
  | 'REDIS_SERVER_START'
  | 'NODE_DOWN';

/**
 * Every error redfence throws extends {@link RedfenceError}: a literal `name`, a `code` to branch
 * on ({@link ErrorCode}), and the underlying error as `cause` where there is one.
 */
export class RedfenceError extends Error {
  override readonly name: string = 'RedfenceError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Thrown synchronously for a bad option or argument; the message says what to change. */
export class InvalidOptionsError extends RedfenceError {
  override readonly name = 'InvalidOptionsError';

  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_OPTIONS', message, options);
  }
}

/** What one node answered in a round, as plain data. */
export type NodeOutcome = 'ok' | 'held' | 'error' | 'timeout' | 'notReady';

export interface NodeReport {
  /** The node's name, `host:port` (or the name given to a {@link RedisNode}). */
  readonly node: string;
  readonly outcome: NodeOutcome;
  /** The node's error message, for `error`, `timeout` and `notReady`. */
  readonly error?: string;
}

function summarize(nodes: readonly NodeReport[]): string {
  const counts = new Map<NodeOutcome, number>();
  for (const { outcome } of nodes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  return [...counts].map(([outcome, count]) => `${count} ${outcome}`).join(', ');
}

function notReadyHint(nodes: readonly NodeReport[]): string {
  const notReady = nodes.filter((n) => n.outcome === 'notReady').length;
  if (notReady === 0) return '';
  const ready = nodes.filter((n) => n.outcome === 'ok' || n.outcome === 'held').length;
  if (ready === 0 && nodes.every((n) => n.outcome !== 'ok' && n.outcome !== 'held')) {
    const down = nodes.filter((n) => n.outcome === 'timeout' || n.outcome === 'error').length;
    return (
      ' No node is marked ready: the cluster was never initialised under this prefix (or all of it lost its data). ' +
      `A new cluster is initialised on the first grant that reaches all ${nodes.length} nodes` +
      (down > 0 ? `; ${down} did not answer: wait for them, or initialise without them with \`redlock.init()\` / \`redfence init\`` : '') +
      ' (docs/operations.md).'
    );
  }
  if (notReady >= Math.floor(nodes.length / 2) + 1) {
    return (
      ` ${notReady} of ${nodes.length} nodes are not ready, a majority, so they cannot be repaired from the others: ` +
      'either a majority lost its data, or these nodes were never one cluster under this prefix (docs/operations.md).'
    );
  }
  return (
    ' Nodes answering notReady lost their data (or were down when the cluster was initialised): they are repaired ' +
    'automatically (`autoRepair`), or run `redlock.repair(node)` / `redfence repair` (docs/operations.md).'
  );
}

/**
 * Thrown when too few nodes answered "ok" for a quorum. `nodes` lists every node's outcome.
 * A {@link LockHeldError} (a subclass) means a quorum is reachable but someone else holds the lock.
 */
export class QuorumError extends RedfenceError {
  override readonly name: string = 'QuorumError';
  readonly resources: readonly string[];
  readonly quorum: number;
  readonly nodes: readonly NodeReport[];

  constructor(
    what: string,
    resources: readonly string[],
    quorum: number,
    nodes: readonly NodeReport[],
    options?: ErrorOptions & { code?: ErrorCode },
  ) {
    super(
      options?.code ?? 'QUORUM',
      `Could not ${what} ${resources.map((r) => `\`${r}\``).join(', ')} on a quorum ` +
        `(${quorum} of ${nodes.length} nodes needed): ${summarize(nodes)}.` +
        notReadyHint(nodes),
      options,
    );
    this.resources = resources;
    this.quorum = quorum;
    this.nodes = nodes;
  }
}

/** Thrown when a quorum answered but the lock is held by another owner (after all retries). */
export class LockHeldError extends QuorumError {
  override readonly name = 'LockHeldError';

  constructor(resources: readonly string[], quorum: number, nodes: readonly NodeReport[], options?: ErrorOptions) {
    super('lock', resources, quorum, nodes, { ...options, code: 'LOCK_HELD' });
    this.message = `${this.message} The lock is held by another owner.`;
  }
}

/** Why a lock stopped being trustworthy. */
export type LockLostReason = 'extendFailed' | 'expired' | 'released';

/**
 * The reason of an aborted `lock.signal`, and what `extend()` throws when the lock is gone:
 * the lock can no longer be trusted (extension failed, or its validity ran out).
 */
export class LockLostError extends RedfenceError {
  override readonly name = 'LockLostError';
  readonly resources: readonly string[];
  readonly reason: LockLostReason;

  constructor(resources: readonly string[], reason: LockLostReason, message: string, options?: ErrorOptions) {
    super('LOCK_LOST', `Lock on ${resources.map((r) => `\`${r}\``).join(', ')} lost: ${message}`, options);
    this.resources = resources;
    this.reason = reason;
  }
}

/**
 * Thrown when a grant's validity would be zero or less by the time a quorum answered (slow nodes,
 * or a TTL too short for the network), and by `extend()` on a lock whose validity already ran out.
 */
export class LockExpiredError extends RedfenceError {
  override readonly name = 'LockExpiredError';
  readonly resources: readonly string[];

  constructor(resources: readonly string[], message: string, options?: ErrorOptions) {
    super('LOCK_EXPIRED', message, options);
    this.resources = resources;
  }
}

/** Thrown by a downstream fence when a token is lower than the highest one it has seen. */
export class StaleTokenError extends RedfenceError {
  override readonly name = 'StaleTokenError';
  readonly resource: string;
  readonly token: bigint;
  readonly highest: bigint;

  constructor(resource: string, token: bigint, highest: bigint) {
    super(
      'STALE_TOKEN',
      `Token ${token} for \`${resource}\` is stale: a holder with token ${highest} has already acted.`,
    );
    this.resource = resource;
    this.token = token;
    this.highest = highest;
  }
}

/**
 * A node's operation failed: `node` names it, `cause` is what its client or server said (a refused
 * connection, a timeout, a script error). What `nodeError` events carry.
 */
export class NodeError extends RedfenceError {
  override readonly name = 'NodeError';
  readonly node: string;
  readonly operation: string;

  constructor(node: string, operation: string, cause: unknown) {
    super('NODE', `${node} ${operation}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.node = node;
    this.operation = operation;
  }
}

/** What a {@link JobError} says about a job. */
export type JobErrorCode = 'JOB_NOT_FOUND' | 'JOB_STATE' | 'JOB_LOCKED' | 'JOB_TIMEOUT' | 'JOB_ABANDONED' | 'JOB_FAILED';

/**
 * A queue operation on one job could not be done: the job does not exist (`JOB_NOT_FOUND`), is
 * not in the state the operation needs (`JOB_STATE`), is locked by a worker (`JOB_LOCKED`); or an
 * attempt ended without a result: its `timeout` ran out (`JOB_TIMEOUT`), the worker closed and put
 * it back (`JOB_ABANDONED`); or `waitUntilFinished` saw the job fail (`JOB_FAILED`).
 */
export class JobError extends RedfenceError {
  override readonly name = 'JobError';
  override readonly code: JobErrorCode;
  readonly jobId: string;

  constructor(code: JobErrorCode, jobId: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.code = code;
    this.jobId = jobId;
  }
}

/**
 * Thrown by a job's handler to fail the job at once: no further attempts, whatever `attempts`
 * says (BullMQ's `UnrecoverableError`).
 */
export class UnrecoverableError extends RedfenceError {
  override readonly name = 'UnrecoverableError';

  constructor(message: string, options?: ErrorOptions) {
    super('UNRECOVERABLE', message, options);
  }
}
