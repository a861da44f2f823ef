export { type Clock, systemClock } from './clock.js';
export type {
  AcquireReply,
  AcquireRequest,
  Done,
  ExtendReply,
  ExtendRequest,
  FenceRequest,
  HolderNote,
  HolderWrite,
  LeaveRequest,
  LockKeys,
  LockNode,
  ReleaseRequest,
} from './core/lock-node.js';
export {
  type ErrorCode,
  InvalidOptionsError,
  JobError,
  type JobErrorCode,
  LockExpiredError,
  LockHeldError,
  LockLostError,
  type LockLostReason,
  NodeError,
  type NodeOutcome,
  type NodeReport,
  QuorumError,
  RedfenceError,
  StaleTokenError,
  UnrecoverableError,
} from './errors.js';
export { type FenceCallOptions, RedisFence, type RedisFenceOptions } from './fencing/redis-fence.js';
export type { InitReport, NodeState, RepairReport } from './fencing/ready-gate.js';
export { MemoryNode, type MemoryNodeOptions } from './nodes/memory/memory-node.js';
export { type IORedisClient, type NodeInput, RedisNode } from './nodes/redis/redis-node.js';
export { currentLock, type LockContext } from './decorators/current-lock.js';
export type { DecoratorEvents, SkipReason } from './decorators/decorator-events.js';
export { DistributedLock } from './decorators/distributed-lock.js';
export type { DistributedLockOptions, OnLocked, OnUnavailable, RedlockSource } from './decorators/distributed-lock-options.js';
export { type ElectionSource, LeaderOnly } from './decorators/leader-only.js';
export type { LockDecorator } from './decorators/method-decorator.js';
export type { LeaderElectionOptions } from './election/election-options.js';
export {
  type FollowerReason,
  LeaderElection,
  type LeaderElectionEvents,
  type LeaderInfo,
  type Leadership,
} from './election/leader-election.js';
export { Lock } from './redlock/lock.js';
export {
  type AcquireOptions,
  type HolderInfo,
  type LockEvent,
  Redlock,
  type RedlockEvents,
  type RedlockOptions,
} from './redlock/redlock.js';
export { type AcquireSettings, redlockDefaults, type RedlockSettings } from './redlock/redlock-options.js';
export {
  findRedisServer,
  type LocalCluster,
  type LocalClusterOptions,
  type LocalNode,
  startLocalCluster,
} from './nodes/start-local-cluster.js';
export type { BackoffOptions } from './queue/backoff.js';
export { Job } from './queue/job.js';
export type { JobLock } from './queue/job-lock.js';
export type { JobOptions, KeepJobs, StoredJobOptions } from './queue/job-options.js';
export { type BulkJob, type Handler, type JobType, Queue, type QueueEventMap } from './queue/queue.js';
export { QueueEvents, type QueueEventsEvents, type QueueEventsOptions } from './queue/queue-events.js';
export type {
  BackoffStrategies,
  ConnectionInput,
  LockSettings,
  QueueOptions,
  RateLimiter,
  WorkerOptions,
} from './queue/queue-options.js';
export type { JobCounts, JobState } from './queue/queue-store.js';
export { type Processor, Worker, type WorkerEvents } from './queue/worker.js';
