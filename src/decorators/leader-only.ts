import { describeValue } from '../core/options.js';
import { InvalidOptionsError } from '../errors.js';
import { LeaderElection, seatLock } from '../election/leader-election.js';
import { runWithLock } from './current-lock.js';
import { decoratorEvents } from './decorator-events.js';
import { type LockDecorator, methodDecorator, ownerName } from './method-decorator.js';

/** Where `@LeaderOnly` finds its election: an instance, or a function called with the decorated object as `this` and argument. */
export type ElectionSource = LeaderElection | ((this: never, instance: never) => LeaderElection);

/**
 * Runs the decorated method only while this process is the election's leader; elsewhere the call
 * returns `undefined` (a `skipped` event, reason `notLeader`). Inside, {@link currentLock} gives
 * the leadership: `fencingToken` is the term, and `signal` aborts when the term ends. The election
 * must be started (`election.start()`; RedfenceModule can do it). Works in both decorator modes,
 * above or below `@Cron`.
 *
 * Not guaranteed: that no other process believes it leads at the same moment (a paused leader
 * learns late). Fence the method's writes with the term (docs/election.md).
 *
 * @throws {InvalidOptionsError} at decoration time, for anything but an election or a function returning one.
 * @example
 * class Scheduler {
 *   constructor(readonly election: LeaderElection) {}
 *   \@Cron('0 * * * * *')
 *   \@LeaderOnly((self: Scheduler) => self.election)
 *   async sweep() { await store.sweep({ fence: currentLock()!.fencingToken }) }
 * }
 */
export function LeaderOnly(election: ElectionSource): LockDecorator {
  if (!(election instanceof LeaderElection) && typeof election !== 'function') {
    throw new InvalidOptionsError(`Expected @LeaderOnly's \`election\` to be a LeaderElection or a function returning one, got ${describeValue(election)}`);
  }
  return methodDecorator('@LeaderOnly', (original, name) =>
    async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const chosen: unknown = election instanceof LeaderElection ? election : (election as (this: unknown, instance: unknown) => unknown).call(this, this);
      if (!(chosen instanceof LeaderElection)) {
        throw new InvalidOptionsError(`Expected the @LeaderOnly \`election\` function to return a LeaderElection, got ${describeValue(chosen)}`);
      }
      const leadership = chosen.leadership;
      const lock = leadership === undefined ? undefined : seatLock(leadership);
      if (leadership === undefined || lock === undefined) {
        decoratorEvents.emit('skipped', { method: `${ownerName(this)}${name}`, resources: [`election:${chosen.name}`], reason: 'notLeader' });
        return undefined;
      }
      const context = { lock, signal: leadership.signal, fencingToken: leadership.term, resources: lock.resources, inMemory: false };
      return await runWithLock(context, () => original.apply(this, args));
    },
  );
}
