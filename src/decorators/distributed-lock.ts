import { describeValue, resourceList } from '../core/options.js';
import { InvalidOptionsError, LockExpiredError, LockHeldError, QuorumError } from '../errors.js';
import { MemoryNode } from '../nodes/memory/memory-node.js';
import type { Lock } from '../redlock/lock.js';
import { type AcquireOptions, Redlock } from '../redlock/redlock.js';
import { runWithLock } from './current-lock.js';
import { decoratorEvents } from './decorator-events.js';
import {
  type DistributedLockOptions,
  type DistributedLockSettings,
  type RedlockSource,
  redlockSource,
  resolveDistributedLockSettings,
} from './distributed-lock-options.js';
import { type LockDecorator, methodDecorator, ownerName } from './method-decorator.js';

/** How many attempts one acquire call of `onLocked: 'wait'` makes before the next call starts (it never gives up). */
const WAIT_RETRIES = 1_000;

let configured: RedlockSource | undefined;
let memory: Redlock | undefined;

/**
 * Runs the decorated method under a distributed lock (`redlock.using()`: the lock is extended
 * while the method runs and released when it settles), so that of all the instances whose cron
 * fires at once, one runs the task. The method gets the lock through {@link currentLock}: its
 * `signal` aborts when the lock is lost — stop then — and its `fencingToken` fences its writes.
 * A skipped call returns `undefined` (the decorated method always returns a promise).
 *
 * Options are the NestJS guide's: **`ttl` in SECONDS** (default 60), `retries` (default 0),
 * `retryDelay` in ms (default 100). "Held by another" (`onLocked`) and "Redis unavailable"
 * (`onUnavailable`) are told apart; both default to `'skip'`, and the method never runs without a
 * lock. Works with legacy (`experimentalDecorators`, NestJS) and standard decorators, above or
 * below `@Cron`.
 *
 * Not guaranteed: that two instances never run the method at once (a paused holder may run on after
 * its lock expired; its `signal` says so), nor that a late instance does not run the same tick again
 * after the first one released the lock. Fence the task's writes with `fencingToken` (docs/decorator.md).
 *
 * @throws {InvalidOptionsError} at decoration time, for a bad option or a non-method.
 * @example
 * DistributedLock.configure({ redlock })
 * class Tasks {
 *   \@Cron(CronExpression.EVERY_HOUR)
 *   \@DistributedLock({ key: 'hourly-report', ttl: 300 })
 *   async hourlyReport() {
 *     const { signal, fencingToken } = currentLock()!
 *     await reports.write(await build(signal), { fence: fencingToken })
 *   }
 * }
 */
export function DistributedLock<A extends unknown[] = unknown[]>(options: DistributedLockOptions<A>): LockDecorator<A> {
  const settings = resolveDistributedLockSettings(options);
  return methodDecorator<A>('@DistributedLock', (original, name) => {
    let warned = false;
    return async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const method = `${ownerName(this)}${name}`;
      const redlock = redlockOf(settings.redlock ?? configured, this);
      const key = settings.key;
      const resources = resourceList('key', typeof key === 'function' ? key.apply(this, args) : key);
      const run = (): unknown => original.apply(this, args);

      const first = await attempt(redlock, resources, settings, false, run);
      if (first.ran) {
        warned = false;
        return first.value;
      }
      if (isHeld(first.error)) return locked(settings, method, resources, first.error);
      const unavailable = first.error;
      if (settings.onUnavailable === 'throw') throw unavailable;
      if (settings.onUnavailable === 'skip') {
        decoratorEvents.emit('skipped', { method, resources, reason: 'unavailable', error: unavailable });
        return undefined;
      }
      decoratorEvents.emit('memoryFallback', { method, resources, error: unavailable });
      if (!warned) {
        warned = true;
        process.emitWarning(
          `${method}: Redis is unavailable (${unavailable.message}); running under an in-process lock that does not exclude other processes (onUnavailable: 'memory')`,
          { code: 'REDFENCE_MEMORY_FALLBACK' },
        );
      }
      memory ??= new Redlock([new MemoryNode({ name: 'decorator-fallback' })]);
      const second = await attempt(memory, resources, settings, true, run);
      if (second.ran) return second.value;
      if (isHeld(second.error)) return locked(settings, method, resources, second.error);
      throw second.error;
    };
  });
}

/**
 * Sets the Redlock that every `@DistributedLock` without its own `redlock` option uses (a Redlock,
 * or a function called with the decorated object). `RedfenceModule` (redfence/nestjs) calls it.
 * `{ redlock: undefined }` clears it.
 * @throws {InvalidOptionsError} anything but a Redlock or a function.
 */
DistributedLock.configure = function configure(options: { readonly redlock: RedlockSource | undefined }): void {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionsError(`Expected DistributedLock.configure options to be \`{ redlock }\`, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'redlock') throw new InvalidOptionsError(`Unknown option \`${key}\` for DistributedLock.configure; known options: redlock`);
  }
  configured = redlockSource('redlock', options.redlock);
};

/** @internal The Redlock `configure()` set, if any. */
export function configuredRedlock(): RedlockSource | undefined {
  return configured;
}

/** The events of `@DistributedLock` and `@LeaderOnly`: `skipped`, and the `memoryFallback` warning. */
DistributedLock.events = decoratorEvents;

type Attempt = { readonly ran: true; readonly value: unknown } | { readonly ran: false; readonly error: QuorumError | LockExpiredError };

/**
 * Runs `run` under `redlock.using()` if the lock can be had; otherwise says why not ("held" or
 * "unavailable"). Errors of the method itself, and anything else, are thrown.
 */
async function attempt(redlock: Redlock, resources: readonly string[], settings: DistributedLockSettings, inMemory: boolean, run: () => unknown): Promise<Attempt> {
  const ttl = Math.min(settings.ttlMs, redlock.settings.maxTtl);
  const wait = settings.onLocked === 'wait';
  const options: AcquireOptions = {
    retryCount: wait ? WAIT_RETRIES : settings.retries,
    retryDelay: settings.retryDelay,
    retryJitter: Math.min(redlock.settings.retryJitter, settings.retryDelay),
  };
  let ran = false;
  const routine = async (signal: AbortSignal, lock: Lock): Promise<unknown> => {
    ran = true;
    return await runWithLock({ lock, signal, fencingToken: lock.fencingToken, resources: lock.resources, inMemory }, run);
  };
  for (;;) {
    try {
      return { ran: true, value: await redlock.using(resources, ttl, options, routine) };
    } catch (error) {
      if (ran) throw error;
      if (wait && isHeld(error)) continue;
      if (error instanceof QuorumError || error instanceof LockExpiredError) return { ran: false, error };
      throw error;
    }
  }
}

/** "Held by another owner": a quorum answered no, or a contender's grant got between our rounds. */
function isHeld(error: unknown): error is QuorumError {
  return error instanceof LockHeldError || (error instanceof QuorumError && error.code === 'FENCE_CONFLICT');
}

function locked(settings: DistributedLockSettings, method: string, resources: readonly string[], error: QuorumError): undefined {
  if (settings.onLocked === 'throw') throw error;
  decoratorEvents.emit('skipped', { method, resources, reason: 'locked', error });
  return undefined;
}

function redlockOf(source: RedlockSource | undefined, instance: unknown): Redlock {
  if (source === undefined) {
    throw new InvalidOptionsError(
      '@DistributedLock has no Redlock: call `DistributedLock.configure({ redlock })` at startup (RedfenceModule from redfence/nestjs does), ' +
        'or pass `redlock` in the decorator options',
    );
  }
  if (source instanceof Redlock) return source;
  const redlock: unknown = (source as (this: unknown, instance: unknown) => unknown).call(instance, instance);
  if (!(redlock instanceof Redlock)) throw new InvalidOptionsError(`Expected the \`redlock\` function to return a Redlock, got ${describeValue(redlock)}`);
  return redlock;
}
