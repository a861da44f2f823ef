import { type DynamicModule, Module } from '@nestjs/common';
import type { LockNode } from '../core/lock-node.js';
import { describeValue } from '../core/options.js';
import type { LeaderElectionOptions } from '../election/election-options.js';
import { LeaderElection } from '../election/leader-election.js';
import { InvalidOptionsError } from '../errors.js';
import type { NodeInput } from '../nodes/redis/redis-node.js';
import { Redlock, type RedlockOptions } from '../redlock/redlock.js';
import { configuredRedlock, DistributedLock } from './distributed-lock.js';

/** Options of `RedfenceModule.forRoot()`: the Redlock's nodes and options, and optionally an election. */
export interface RedfenceModuleOptions extends RedlockOptions {
  /** The Redlock's nodes: `redis://` URLs, ioredis clients or options, MemoryNodes (3 or 5 independent Redis servers in production). */
  readonly nodes: readonly (NodeInput | LockNode)[];
  /**
   * Also provide a {@link LeaderElection} on that Redlock (inject it with the `LeaderElection`
   * class as token, for `@LeaderOnly`), started when the application has bootstrapped and stopped
   * (resigning) when it shuts down.
   */
  readonly election?: LeaderElectionOptions & { readonly name: string };
  /** Make this Redlock the default of every `@DistributedLock` (`DistributedLock.configure`). @defaultValue true */
  readonly configureDecorators?: boolean;
}

/** Starts and stops what the module made, with the application. */
class RedfenceLifecycle {
  constructor(
    readonly redlock: Redlock,
    readonly election: LeaderElection | undefined,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.election?.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.election?.stop();
    // The decorators' default goes with the application, so a later call says "not configured"
    // rather than "closed"; a default someone else set since stays.
    if (configuredRedlock() === this.redlock) DistributedLock.configure({ redlock: undefined });
    await this.redlock.quit();
  }
}

const LIFECYCLE = Symbol('redfence:lifecycle');

/**
 * The NestJS module of redfence (`import { RedfenceModule } from 'redfence/nestjs'`): provides a
 * {@link Redlock} (inject it with the `Redlock` class as token), makes it the default of every
 * `@DistributedLock`, optionally provides a started {@link LeaderElection}, and closes both when
 * the application shuts down (call `app.enableShutdownHooks()` for signals). Global.
 *
 * @example
 * \@Module({
 *   imports: [ScheduleModule.forRoot(), RedfenceModule.forRoot({ nodes: ['redis://a:6379', 'redis://b:6379', 'redis://c:6379'] })],
 *   providers: [Tasks],
 * })
 * export class AppModule {}
 */
export class RedfenceModule {
  /**
   * @throws {InvalidOptionsError} synchronously, for bad options (the Redlock checks its own when the module starts).
   */
  static forRoot(options: RedfenceModuleOptions): DynamicModule {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionsError(`Expected RedfenceModule.forRoot options to be \`{ nodes, … }\`, got ${describeValue(options)}`);
    }
    const { nodes, election, configureDecorators = true, ...redlockOptions } = options;
    if (typeof configureDecorators !== 'boolean') {
      throw new InvalidOptionsError(`Expected \`configureDecorators\` to be a boolean, got ${describeValue(configureDecorators)}`);
    }
    const providers: NonNullable<DynamicModule['providers']> = [
      {
        provide: Redlock,
        useFactory: (): Redlock => {
          const redlock = new Redlock(nodes, redlockOptions);
          if (configureDecorators) DistributedLock.configure({ redlock });
          return redlock;
        },
      },
    ];
    const exported: (typeof Redlock | typeof LeaderElection)[] = [Redlock];
    if (election !== undefined) {
      const { name, ...electionOptions } = election;
      providers.push({ provide: LeaderElection, useFactory: (redlock: Redlock) => new LeaderElection(redlock, name, electionOptions), inject: [Redlock] });
      exported.push(LeaderElection);
    }
    providers.push({
      provide: LIFECYCLE,
      useFactory: (redlock: Redlock, leaderElection?: LeaderElection) => new RedfenceLifecycle(redlock, leaderElection),
      inject: election === undefined ? [Redlock] : [Redlock, LeaderElection],
    });
    return { module: RedfenceModule, global: true, providers, exports: exported };
  }
}

// The decorator's call, written out: this file compiles in both decorator modes.
Module({})(RedfenceModule);
