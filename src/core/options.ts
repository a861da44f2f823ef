import { InvalidOptionsError } from '../errors.js';

/**
 * Option checking shared by every module: field checks with messages that say what to change,
 * and one resolver that layers defaults, constructor options and per-call overrides.
 */

/** A value as error messages show it: `` `'text'` (string) ``, `` `3` (number) ``, an array's length, an object's class. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object' && value !== null) return `an instance of \`${(value).constructor?.name ?? 'Object'}\``;
  if (typeof value === 'function') return 'a function';
  const shown = typeof value === 'bigint' ? `${value}n` : typeof value === 'string' ? `'${value}'` : String(value);
  return `\`${shown}\` (${value === null ? 'null' : typeof value})`;
}

function fail(name: string, expected: string, value: unknown): never {
  throw new InvalidOptionsError(`Expected \`${name}\` to be ${expected}, got ${describeValue(value)}`);
}

/** A whole number ≥ 1 (milliseconds, counts). */
export function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) fail(name, 'a positive integer', value);
  return value;
}

/** A whole number ≥ 0. */
export function nonNegativeInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(name, 'a non-negative integer', value);
  }
  return value;
}

/** A finite number in [min, max]. */
export function numberInRange(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    fail(name, `a number from ${min} to ${max}`, value);
  }
  return value;
}

export function boolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(name, 'a boolean', value);
  return value;
}

export function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) fail(name, 'a non-empty string', value);
  return value;
}

export function abortSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) fail(name, 'an AbortSignal', value);
  return value;
}

/** A list of distinct non-empty strings (lock resources); a single string is a list of one. */
export function resourceList(name: string, value: unknown): readonly string[] {
  if (typeof value === 'string' && value.length > 0) return [value];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) fail(name, 'a non-empty string or array of strings', value);
  for (let i = 0; i < list.length; i += 1) {
    const item: unknown = list[i];
    if (typeof item !== 'string' || item.length === 0) fail(`${name}[${i}]`, 'a non-empty string', item);
    if (list.indexOf(item) !== i) {
      throw new InvalidOptionsError(`Expected \`${name}\` to hold distinct resources, got \`${item}\` twice`);
    }
  }
  return Object.freeze([...(list as string[])]);
}

/** Per-field checks, keyed by option name; each returns the checked value. */
export type Checks<T> = { readonly [K in keyof T]-?: (name: string, value: unknown) => T[K] };

/**
 * Resolves options: `defaults`, then each layer in order (later wins; `undefined` fields are
 * ignored), every field checked; unknown fields are rejected so typos do not pass silently.
 */
export function resolveOptions<T extends object>(
  what: string,
  defaults: Readonly<T>,
  checks: Checks<T>,
  ...layers: readonly (Partial<T> | undefined)[]
): T {
  const out = { ...defaults } as Record<string, unknown>;
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (typeof layer !== 'object' || layer === null) fail(what, 'an options object', layer);
    for (const [key, value] of Object.entries(layer)) {
      if (!(key in checks)) {
        throw new InvalidOptionsError(
          `Unknown option \`${key}\` for ${what}; known options: ${Object.keys(checks).join(', ')}`,
        );
      }
      if (value !== undefined) out[key] = value;
    }
  }
  for (const [key, check] of Object.entries<(n: string, v: unknown) => unknown>(checks)) {
    out[key] = check(key, out[key]);
  }
  return out as T;
}
