import type { Cluster, Redis } from 'ioredis';
import { type FollowerReason, LeaderElection, type Leadership } from '../election/leader-election.js';
import { Redlock } from '../redlock/redlock.js';
import type { QueueSettings } from './queue-options.js';

/**
 * `horizontalScaling: true` (bun-queue's `horizontalScaling.leaderElection`): the Queue instances
 * of one queue (same name and prefix) elect one leader with a {@link LeaderElection} — on the
 * queue's `redlock` when it has one (a quorum seat), else on a Redlock over the queue's own
 * connection. The seat is the Redlock resource `election:<prefix>:<name>` (its keys, such as
 * `<prefix>:{election:<prefix>:<name>}:lk`, share one hash tag of their own, so a Cluster works).
 * The term is the seat's fencing token.
 *
 * Nothing of the queue's own needs a leader: delayed jobs are promoted by the fetch script of
 * every worker, atomically, and adding, finishing and cleaning are atomic scripts. The leader is
 * for the application's once-per-queue work (a scheduled `clean`, repeatable-job producers,
 * reports), fenced with the term.
 */
export class QueueLeader {
  readonly election: LeaderElection;
  /** The Redlock opened here over the queue's connection (closed with the election); undefined when the queue's `redlock` is used. */
  readonly #own: Redlock | undefined;
  #stopping: Promise<void> | undefined;

  constructor(name: string, settings: QueueSettings, client: Redis | Cluster, onLeader: (leadership: Leadership) => void, onFollower: (reason: FollowerReason) => void) {
    this.#own = settings.redlock === undefined ? new Redlock([client], { prefix: `${settings.prefix}:` }) : undefined;
    this.election = new LeaderElection(settings.redlock ?? (this.#own as Redlock), `${settings.prefix}:${name}`);
    this.election.on('leader', onLeader);
    this.election.on('follower', onFollower);
  }

  /** Campaigns in the background until {@link QueueLeader.stop}. */
  start(): void {
    void this.election.start().catch(() => undefined);
  }

  /** Stops campaigning and resigns (a follower takes the seat at once), then closes what was opened here. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.election.stop().catch(() => undefined);
      await this.#own?.quit().catch(() => undefined);
    })();
    return this.#stopping;
  }
}
