/**
 * @DistributedLock, @LeaderOnly and currentLock() against real redis-servers, and inside a NestJS
 * application context with @nestjs/schedule. This file is written once and runs in both decorator
 * modes: as it is, with standard (TC39) decorators, and again from decorators-legacy.test.ts
 * under tsconfig.legacy.json (`experimentalDecorators`, what NestJS compiles with), which sets
 * REDFENCE_DECORATOR_MODE=legacy so that the run checks it really was compiled that way.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { afterEach, test } from 'node:test';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Cron, ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import {
  currentLock,
  type DecoratorEvents,
  DistributedLock,
  InvalidOptionsError,
  LeaderElection,
  LeaderOnly,
  type LockContext,
  type LockDecorator,
  LockHeldError,
  LockLostError,
  QuorumError,
  Redlock,
  type RedlockOptions,
} from '../../src/index.js';
import { RedfenceModule } from '../../src/nestjs.js';
import { until, useCluster } from '../support/cluster.js';

const env = useCluster(3);

/**
 * A Redlock on the cluster (fresh prefix) that has locked once with its default retries: its
 * connections are open and the prefix initialised, so that a decorated call with `retries: 0` and
 * the 50 ms `nodeTimeout` is not judged "unavailable" for a cold start on a loaded machine.
 */
async function warmRedlock(options: RedlockOptions = {}): Promise<Redlock> {
  const redlock = env.redlock(options);
  await redlock.using('warm-up', 1_000, async () => undefined);
  return redlock;
}

/** `@Cron` is typed for legacy decorators only; at run time it works in both modes (it puts metadata on the function). */
const EverySecond = Cron('* * * * * *') as unknown as LockDecorator;

/** Which mode this file was compiled in: a legacy method decorator gets 3 arguments, a standard one 2. */
function decoratorMode(): 'legacy' | 'standard' {
  let mode: 'legacy' | 'standard' = 'standard';
  const probe = ((...args: unknown[]) => {
    if (args.length === 3) mode = 'legacy';
  }) as unknown as LockDecorator;
  class Probe {
    @probe
    async method(): Promise<void> {}
  }
  void Probe;
  return mode;
}

/** A promise to resolve from outside, to hold a method mid-run without sleeping. */
function gate(): { readonly promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Collects the decorators' events of one test. */
function recordEvents(): { readonly skipped: DecoratorEvents['skipped'][0][]; readonly fallbacks: DecoratorEvents['memoryFallback'][0][]; stop(): void } {
  const skipped: DecoratorEvents['skipped'][0][] = [];
  const fallbacks: DecoratorEvents['memoryFallback'][0][] = [];
  const onSkipped = (event: DecoratorEvents['skipped'][0]): void => void skipped.push(event);
  const onFallback = (event: DecoratorEvents['memoryFallback'][0]): void => void fallbacks.push(event);
  DistributedLock.events.on('skipped', onSkipped).on('memoryFallback', onFallback);
  return { skipped, fallbacks, stop: () => void DistributedLock.events.off('skipped', onSkipped).off('memoryFallback', onFallback) };
}

afterEach(async () => {
  DistributedLock.configure({ redlock: undefined });
  await env.heal();
});

test('compiled in the expected decorator mode', () => {
  const expected = process.env.REDFENCE_DECORATOR_MODE ?? 'standard';
  assert.equal(decoratorMode(), expected);
});

test('runs the method under a quorum lock: currentLock() gives the lock, its token, resources and signal; the value passes through', async () => {
  const redlock = await warmRedlock();
  DistributedLock.configure({ redlock });
  const seen: LockContext[] = [];
  class Tasks {
    calls = 0;
    @DistributedLock({ key: 'report' })
    async report(x: number): Promise<number> {
      this.calls += 1;
      const context = currentLock();
      assert.ok(context !== undefined);
      seen.push(context);
      assert.ok(context.lock.remainingMs() > 0);
      await Promise.resolve();
      assert.equal(currentLock(), context, 'the context survives awaits');
      return x * 2;
    }
  }
  const tasks = new Tasks();
  assert.equal(currentLock(), undefined);
  assert.equal(await tasks.report(21), 42);
  assert.equal(await tasks.report(1), 2);
  assert.equal(tasks.calls, 2);
  const [first, second] = seen as [LockContext, LockContext];
  assert.deepEqual(first.resources, ['report']);
  assert.equal(first.fencingToken, first.lock.fencingToken);
  assert.equal(first.inMemory, false);
  assert.equal(first.lock.ttl, 60_000, 'ttl defaults to 60 seconds');
  assert.ok(second.fencingToken > first.fencingToken, 'every run has a larger token');
  assert.ok(first.signal.aborted, 'the lock was released when the method returned');
  assert.equal(currentLock(), undefined);
});

test('ttl is in seconds, capped at the Redlock maxTtl; the method may outlive the ttl (auto-extension)', async () => {
  const redlock = await warmRedlock({ automaticExtensionThreshold: 300 });
  const ttls: number[] = [];
  let extended = 0;
  redlock.on('extended', () => void (extended += 1));
  class Tasks {
    @DistributedLock({ key: 'hourly', ttl: 300, redlock })
    async long(): Promise<void> {
      ttls.push(currentLock()?.lock.ttl ?? 0);
    }

    @DistributedLock({ key: 'short', ttl: 0.5, redlock })
    async outlives(): Promise<boolean> {
      const { signal } = currentLock() as LockContext;
      await until('an automatic extension', () => extended > 0, 5_000);
      return signal.aborted;
    }
  }
  const tasks = new Tasks();
  await tasks.long();
  assert.deepEqual(ttls, [60_000]);
  assert.equal(await tasks.outlives(), false, 'still locked after its ttl, extended');
});

test('held by another instance: skip (default) returns undefined, throw rejects with LockHeldError, wait runs once it is free', async () => {
  const prefix = env.prefix();
  const a = await warmRedlock({ prefix });
  const b = await warmRedlock({ prefix });
  const events = recordEvents();
  const held = gate();
  const entered = gate();
  const order: string[] = [];
  class Instance {
    constructor(readonly redlock: Redlock) {}

    @DistributedLock({ key: 'job', redlock: (self: Instance) => self.redlock })
    async hold(): Promise<string> {
      entered.open();
      await held.promise;
      order.push('holder done');
      return 'held';
    }

    @DistributedLock({ key: 'job', redlock: (self: Instance) => self.redlock })
    async skip(): Promise<string> {
      return 'ran';
    }

    @DistributedLock({ key: 'job', onLocked: 'throw', retries: 2, retryDelay: 20, redlock: (self: Instance) => self.redlock })
    async strict(): Promise<string> {
      return 'ran';
    }

    @DistributedLock({ key: 'job', onLocked: 'wait', retryDelay: 20, redlock: (self: Instance) => self.redlock })
    async wait(): Promise<bigint> {
      order.push('waiter runs');
      return (currentLock() as LockContext).fencingToken;
    }
  }
  const one = new Instance(a);
  const two = new Instance(b);
  const holding = one.hold();
  await entered.promise;
  assert.equal(await two.skip(), undefined);
  assert.deepEqual(
    events.skipped.map((e) => [e.method, e.reason, e.resources, e.error instanceof LockHeldError]),
    [['Instance.skip', 'locked', ['job'], true]],
  );
  await assert.rejects(two.strict(), LockHeldError);
  const waiting = two.wait();
  held.open();
  assert.equal(await holding, 'held');
  const token = await waiting;
  assert.deepEqual(order, ['holder done', 'waiter runs']);
  assert.equal(typeof token, 'bigint');
  assert.equal(events.skipped.length, 1);
  events.stop();
});

test('key from the arguments (and this); a bad key is refused when called', async () => {
  const redlock = await warmRedlock();
  const seen: (readonly string[])[] = [];
  class Orders {
    region = 'eu';

    @DistributedLock({
      key(this: Orders, id: string, stock: number) {
        return [`order:${this.region}:${id}`, `stock:${stock}`];
      },
      redlock,
    })
    async place(id: string, stock: number): Promise<string> {
      seen.push((currentLock() as LockContext).resources);
      return `${id}/${stock}`;
    }

    @DistributedLock({ key: (id: string) => id, redlock })
    async byId(id: string): Promise<void> {
      void id;
    }
  }
  const orders = new Orders();
  assert.equal(await orders.place('42', 7), '42/7');
  assert.deepEqual(seen, [['order:eu:42', 'stock:7']]);
  await assert.rejects(orders.byId(''), InvalidOptionsError);
});

test('types: a key function is checked against the method parameters', () => {
  class Typed {
    @DistributedLock({ key: (id: string, n: number) => `${id}:${n}` })
    async fits(id: string, n: number): Promise<void> {
      void id;
      void n;
    }

    // @ts-expect-error the key function takes a number, the method gives a string
    @DistributedLock({ key: (id: number) => String(id) })
    async mismatched(id: string): Promise<void> {
      void id;
    }

    @DistributedLock({ key: 'static' })
    async anything(a: Date, b: symbol): Promise<void> {
      void a;
      void b;
    }
  }
  assert.equal(typeof Typed.prototype.fits, 'function');
});

test('the wrapper keeps the name, length, own properties and reflect-metadata, with @Cron above or below', () => {
  const marker = Symbol('marker');
  const tag = ((value: unknown, _key?: unknown, descriptor?: PropertyDescriptor) => {
    const fn = (descriptor?.value ?? value) as Record<symbol, unknown>;
    fn[marker] = true;
  }) as unknown as LockDecorator;
  class Tasks {
    @EverySecond
    @DistributedLock({ key: 'above' })
    async cronAbove(_a: number, _b: number): Promise<void> {}

    @DistributedLock({ key: 'below' })
    @EverySecond
    @tag
    async cronBelow(_a: number): Promise<void> {}
  }
  for (const [name, length] of [
    ['cronAbove', 2],
    ['cronBelow', 1],
  ] as const) {
    const method = Object.getOwnPropertyDescriptor(Tasks.prototype, name)?.value as (...args: unknown[]) => unknown;
    assert.equal(method.name, name);
    assert.equal(method.length, length);
    assert.deepEqual(Reflect.getMetadata('SCHEDULE_CRON_OPTIONS', method), { cronTime: '* * * * * *' }, `${name}: @Cron's metadata`);
  }
  assert.equal((Tasks.prototype.cronBelow as unknown as Record<symbol, unknown>)[marker], true);
});

test('options are checked at decoration time (InvalidOptionsError)', () => {
  const bad: unknown[] = [
    undefined,
    {},
    { key: '' },
    { key: [] },
    { key: ['a', 'a'] },
    { key: 'k', ttl: 0 },
    { key: 'k', ttl: -1 },
    { key: 'k', ttl: '60' },
    { key: 'k', ttl: 0.0001 },
    { key: 'k', retries: 1.5 },
    { key: 'k', retryDelay: -1 },
    { key: 'k', onLocked: 'queue' },
    { key: 'k', onUnavailable: 'run' },
    { key: 'k', timeout: 5 },
    { key: 'k', redlock: {} },
  ];
  for (const options of bad) {
    assert.throws(() => DistributedLock(options as never), InvalidOptionsError, JSON.stringify(options) ?? 'undefined');
  }
  assert.throws(() => LeaderOnly({} as never), InvalidOptionsError);
  assert.throws(() => DistributedLock.configure({ redlok: undefined } as never), InvalidOptionsError);
  assert.throws(() => DistributedLock.configure({ redlock: 'redis://x' } as never), InvalidOptionsError);
  const decorate = DistributedLock({ key: 'k' }) as unknown as (...args: unknown[]) => unknown;
  assert.throws(() => decorate({}, 'value', { get: () => 1 }), InvalidOptionsError, 'a getter (legacy)');
  assert.throws(() => decorate(undefined, { kind: 'field', name: 'x' }), InvalidOptionsError, 'a field (standard)');
});

test('without a Redlock the call rejects with InvalidOptionsError, saying to configure one', async () => {
  class Tasks {
    @DistributedLock({ key: 'unconfigured' })
    async run(): Promise<void> {}
  }
  await assert.rejects(new Tasks().run(), (error: unknown) => error instanceof InvalidOptionsError && /DistributedLock\.configure/.test(error.message));
});

test('Redis unavailable: skip (default), throw rejects with QuorumError (not "held"), memory runs under an in-process lock and warns', async () => {
  const redlock = await warmRedlock();
  DistributedLock.configure({ redlock });
  const events = recordEvents();
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  process.on('warning', onWarning);
  const inFallback = gate();
  const entered = gate();
  const contexts: LockContext[] = [];
  let ran = 0;
  class Tasks {
    @DistributedLock({ key: 'down' })
    async skip(): Promise<string> {
      ran += 1;
      return 'ran';
    }

    @DistributedLock({ key: 'down', onUnavailable: 'throw' })
    async strict(): Promise<string> {
      ran += 1;
      return 'ran';
    }

    @DistributedLock({ key: 'down', onUnavailable: 'memory' })
    async fallback(hold: boolean): Promise<string> {
      contexts.push(currentLock() as LockContext);
      if (hold) {
        entered.open();
        await inFallback.promise;
      }
      return 'fallback';
    }
  }
  const tasks = new Tasks();
  assert.equal(await tasks.skip(), 'ran', 'runs while the nodes are up');
  ran = 0;
  env.cluster.pause(0);
  env.cluster.pause(1);

  assert.equal(await tasks.skip(), undefined);
  assert.equal(events.skipped.at(-1)?.reason, 'unavailable');
  assert.ok(events.skipped.at(-1)?.error instanceof QuorumError);
  await assert.rejects(tasks.strict(), (error: unknown) => error instanceof QuorumError && !(error instanceof LockHeldError));
  assert.equal(ran, 0, 'never ran without a lock');

  const first = tasks.fallback(true);
  await entered.promise;
  assert.equal(await tasks.fallback(false), undefined, 'the in-process lock excludes a second call in this process');
  inFallback.open();
  assert.equal(await first, 'fallback');
  assert.equal(contexts.length, 1);
  assert.equal(contexts[0]?.inMemory, true);
  assert.deepEqual(contexts[0]?.resources, ['down']);
  assert.equal(events.fallbacks.length, 2);
  assert.equal(events.fallbacks[0]?.method, 'Tasks.fallback');
  await until('the memory-fallback process warning', () => warnings.some((w) => (w as Error & { code?: string }).code === 'REDFENCE_MEMORY_FALLBACK'));
  process.off('warning', onWarning);
  events.stop();
});

test("the method's signal aborts with LockLostError when the lock is lost mid-run", async () => {
  const redlock = await warmRedlock({ automaticExtensionThreshold: 300 });
  const entered = gate();
  class Tasks {
    @DistributedLock({ key: 'lost', ttl: 1, redlock })
    async run(): Promise<unknown> {
      const { signal } = currentLock() as LockContext;
      entered.open();
      await once(signal, 'abort');
      return signal.reason;
    }
  }
  const running = new Tasks().run();
  await entered.promise;
  env.cluster.pause(0);
  env.cluster.pause(1);
  const reason = await running;
  assert.ok(reason instanceof LockLostError, String(reason));
});

test('@LeaderOnly: skipped until elected, then runs with fencingToken = the term and the term signal; skipped after stop', async () => {
  const redlock = await warmRedlock();
  const election = new LeaderElection(redlock, 'decorated', { ttl: 3_000 });
  const events = recordEvents();
  const seen: LockContext[] = [];
  class Scheduler {
    constructor(readonly election: LeaderElection) {}

    @LeaderOnly((self: Scheduler) => self.election)
    async sweep(): Promise<string> {
      seen.push(currentLock() as LockContext);
      return 'swept';
    }

    @EverySecond
    @LeaderOnly(election)
    async direct(): Promise<string> {
      return 'direct';
    }
  }
  const scheduler = new Scheduler(election);
  assert.equal(await scheduler.sweep(), undefined);
  assert.deepEqual(events.skipped.map((e) => [e.method, e.reason, e.resources]), [['Scheduler.sweep', 'notLeader', ['election:decorated']]]);
  const elected = new Promise((resolve) => election.once('leader', resolve));
  await election.start();
  await elected;
  assert.equal(await scheduler.sweep(), 'swept');
  assert.equal(await scheduler.direct(), 'direct');
  const [context] = seen as [LockContext];
  assert.equal(context.fencingToken, election.term);
  assert.deepEqual(context.resources, ['election:decorated']);
  assert.equal(context.signal.aborted, false);
  await election.stop();
  assert.ok(context.signal.aborted, 'the term signal aborts when the term ends');
  assert.equal(await scheduler.sweep(), undefined);
  assert.equal(seen.length, 1);
  events.stop();
});

test('inside a NestJS application: RedfenceModule provides the Redlock and configures the decorators; @Cron above and below both fire under the lock', async () => {
  const runs: { method: string; token: bigint }[] = [];
  @Injectable()
  class Tasks {
    @EverySecond
    @DistributedLock({ key: 'nest:above', ttl: 5 })
    async above(): Promise<void> {
      runs.push({ method: 'above', token: (currentLock() as LockContext).fencingToken });
    }

    @DistributedLock({ key: 'nest:below', ttl: 5 })
    @EverySecond
    async below(): Promise<void> {
      runs.push({ method: 'below', token: (currentLock() as LockContext).fencingToken });
    }
  }
  @Module({
    imports: [ScheduleModule.forRoot(), RedfenceModule.forRoot({ nodes: env.cluster.urls, prefix: env.prefix() })],
    providers: [Tasks],
  })
  class AppModule {}

  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  try {
    assert.ok(app.get(Redlock) instanceof Redlock);
    assert.equal(app.get(SchedulerRegistry).getCronJobs().size, 2, 'both crons are scheduled');
    await until('two runs of each cron', () => ['above', 'below'].every((m) => runs.filter((r) => r.method === m).length >= 2), 8_000);
  } finally {
    await app.close();
  }
  await assert.rejects(new Tasks().above(), (error: unknown) => error instanceof InvalidOptionsError && /DistributedLock\.configure/.test(error.message), 'closing the app cleared the default Redlock');
  for (const method of ['above', 'below']) {
    const tokens = runs.filter((r) => r.method === method).map((r) => r.token);
    assert.ok(tokens.every((t, i) => i === 0 || t > (tokens[i - 1] as bigint)), `${method}: tokens increase`);
  }
});

test('inside a NestJS application: RedfenceModule with an election starts it at bootstrap; a @LeaderOnly cron runs with the term; close resigns', async () => {
  const terms: bigint[] = [];
  class Leader {
    constructor(readonly election: LeaderElection) {}

    @EverySecond
    @LeaderOnly((self: Leader) => self.election)
    async sweep(): Promise<void> {
      terms.push((currentLock() as LockContext).fencingToken);
    }
  }
  @Module({
    imports: [
      ScheduleModule.forRoot(),
      RedfenceModule.forRoot({ nodes: env.cluster.urls, prefix: env.prefix(), configureDecorators: false, election: { name: 'nest', ttl: 3_000 } }),
    ],
    // A factory provider: constructor injection by type needs emitDecoratorMetadata, which neither mode has here.
    providers: [{ provide: Leader, useFactory: (election: LeaderElection) => new Leader(election), inject: [LeaderElection] }],
  })
  class AppModule {}

  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const election = app.get(LeaderElection);
  try {
    await until('two runs as leader', () => terms.length >= 2, 8_000);
    assert.equal(terms[0], election.term);
  } finally {
    await app.close();
  }
  assert.equal(election.isLeader, false, 'closing the application stopped the election');
  assert.ok(terms.every((term) => term === terms[0]), 'one term throughout');
});
