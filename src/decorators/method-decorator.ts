import { InvalidOptionsError } from '../errors.js';

/** Any method, as the decorators see it. */
export type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;

/**
 * A method decorator usable in both decorator modes: legacy (`experimentalDecorators`, what NestJS
 * compiles with) and standard (TC39). `A` is what the method's arguments must fit (a `key`
 * function's parameters).
 */
export interface LockDecorator<A extends unknown[] = unknown[]> {
  /** Legacy decorators (`experimentalDecorators`). */
  <P extends A, R>(target: object, propertyKey: string | symbol, descriptor: TypedPropertyDescriptor<(...args: P) => R>): void;
  /** Standard (TC39) decorators. */
  <This, P extends A, R>(
    value: (this: This, ...args: P) => R,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: P) => R>,
  ): (this: This, ...args: P) => R;
}

interface StandardContext {
  readonly kind: string;
  readonly name: string | symbol;
}

function isStandardContext(value: unknown): value is StandardContext {
  return typeof value === 'object' && value !== null && 'kind' in value && 'name' in value;
}

/**
 * Makes a {@link LockDecorator} that replaces a method with `wrap(original, name)`. The wrapper
 * carries the original's name, length, own properties and reflect-metadata (when `reflect-metadata`
 * is loaded), so decorators that put metadata on the function (NestJS's `@Cron`, `@Interval`,
 * `SetMetadata`) find it whether they ran before or after this one.
 * @throws {InvalidOptionsError} at decoration time, on anything but a method.
 */
export function methodDecorator<A extends unknown[]>(what: string, wrap: (original: AnyMethod, name: string) => AnyMethod): LockDecorator<A> {
  function decorate(target: unknown, key: unknown, descriptor?: PropertyDescriptor): unknown {
    if (isStandardContext(key)) {
      if (key.kind !== 'method' || typeof target !== 'function') {
        throw new InvalidOptionsError(`${what} decorates methods, not a ${key.kind} (\`${String(key.name)}\`)`);
      }
      return wrapped(target as AnyMethod, String(key.name), wrap);
    }
    if (descriptor === undefined || typeof descriptor.value !== 'function') {
      throw new InvalidOptionsError(`${what} decorates methods; \`${String(key)}\` is not one (a field, getter or setter)`);
    }
    descriptor.value = wrapped(descriptor.value as AnyMethod, String(key), wrap);
    return descriptor;
  }
  return decorate as LockDecorator<A>;
}

/** Properties every function has, which are not copied onto the wrapper (name and length are set apart). */
const OWN = new Set<string | symbol>(['length', 'name', 'prototype', 'arguments', 'caller']);

interface ReflectMetadata {
  getOwnMetadataKeys(target: object): unknown[];
  getOwnMetadata(key: unknown, target: object): unknown;
  defineMetadata(key: unknown, value: unknown, target: object): void;
}

function wrapped(original: AnyMethod, name: string, wrap: (original: AnyMethod, name: string) => AnyMethod): AnyMethod {
  const wrapper = wrap(original, name);
  Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true });
  for (const key of Reflect.ownKeys(original)) {
    if (OWN.has(key)) continue;
    Object.defineProperty(wrapper, key, Object.getOwnPropertyDescriptor(original, key) as PropertyDescriptor);
  }
  const reflect = Reflect as unknown as Partial<ReflectMetadata>;
  if (typeof reflect.getOwnMetadataKeys === 'function' && typeof reflect.getOwnMetadata === 'function' && typeof reflect.defineMetadata === 'function') {
    for (const key of reflect.getOwnMetadataKeys(original)) reflect.defineMetadata(key, reflect.getOwnMetadata(key, original), wrapper);
  }
  return wrapper;
}

/** `Class.` of a method's owner, for events and warnings. */
export function ownerName(instance: unknown): string {
  if (typeof instance === 'function') return `${instance.name}.`;
  if (typeof instance === 'object' && instance !== null) return `${(instance.constructor as { name?: string } | undefined)?.name ?? 'Object'}.`;
  return '';
}
