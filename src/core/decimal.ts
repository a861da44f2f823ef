/**
 * Fencing tokens travel as decimal strings without leading zeros (exact at any size: a double
 * loses digits past 2^53, and bigint does not cross the wire).
 */

/** `a > b` for decimal strings without leading zeros (exact at any size). */
export function greater(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b;
}
