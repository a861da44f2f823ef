/**
 * Checker WAIT (issue 9 item 6): a resource must not sit free while a live client waits for it.
 * For every acquire of a watched key that was in flight inside [from, to], the longest stretch of
 * that acquire during which no claim of the key (other than its own) was running is measured; a
 * stretch longer than `boundMs` is a violation. A lease handed to a dead waiter shows as such a
 * stretch: nobody alive holds the key, yet the waiter cannot get it until that lease expires.
 *
 * Only meaningful where the scenario knows that nothing else legitimately blocks the key (no
 * partition, no crashed holder inside the window): the scenario picks `from` after its crashed
 * waiters' queue places expired.
 */
import type { GrantClaim } from '../grant-claims.js';
import type { HistoryEvent } from '../history.js';
import { acquireOutcomes } from '../scenarios/measure.js';

export interface StallInput {
  readonly events: readonly HistoryEvent[];
  readonly claims: readonly GrantClaim[];
  readonly keys: readonly string[];
  /** Only waits inside [from, to] (CLOCK_MONOTONIC ns) count. */
  readonly from: bigint;
  readonly to: bigint;
  readonly boundMs: number;
  /** Processes whose acquires count as live waiters (default: all). */
  readonly procs?: readonly string[];
}

export interface Stall {
  readonly kind: 'stall';
  readonly key: string;
  readonly client: string;
  readonly grantId: string;
  /** The free stretch, ns. */
  readonly from: bigint;
  readonly to: bigint;
  /** How the acquire ended. */
  readonly outcome: 'ok' | 'fail' | 'info';
}

export interface StallReport {
  readonly stalls: Stall[];
  /** Acquires examined (in the window, of a watched key and process). */
  readonly examined: number;
  /** The longest free stretch seen while someone waited, ms. */
  readonly longestMs: number;
}

export function checkStalls(input: StallInput): StallReport {
  const bound = BigInt(Math.round(input.boundMs * 1e6));
  const byKey = new Map<string, GrantClaim[]>();
  for (const c of input.claims) {
    if (!input.keys.includes(c.key)) continue;
    const list = byKey.get(c.key) ?? [];
    list.push(c);
    byKey.set(c.key, list);
  }
  for (const list of byKey.values()) list.sort((a, b) => (a.okTime < b.okTime ? -1 : a.okTime > b.okTime ? 1 : 0));

  const stalls: Stall[] = [];
  let examined = 0;
  let longest = 0n;
  for (const o of acquireOutcomes(input.events)) {
    if (!input.keys.includes(o.key)) continue;
    if (input.procs !== undefined && !input.procs.includes(o.proc)) continue;
    const a = o.invoke > input.from ? o.invoke : input.from;
    const b = o.done < input.to ? o.done : input.to;
    if (b <= a) continue;
    examined += 1;
    // Sweep the other claims of the key over [a, b]; `covered` is how far they reach so far.
    let covered = a;
    let gapFrom = a;
    let gapTo = a;
    for (const c of byKey.get(o.key) ?? []) {
      if (c.grantId === o.grantId || c.end <= covered) continue;
      if (c.okTime >= b) break;
      if (c.okTime > covered && c.okTime - covered > gapTo - gapFrom) [gapFrom, gapTo] = [covered, c.okTime];
      covered = c.end;
    }
    if (b > covered && b - covered > gapTo - gapFrom) [gapFrom, gapTo] = [covered, b];
    const gap = gapTo - gapFrom;
    if (gap > longest) longest = gap;
    if (gap > bound) stalls.push({ kind: 'stall', key: o.key, client: o.client, grantId: o.grantId, from: gapFrom, to: gapTo, outcome: o.phase });
  }
  return { stalls, examined, longestMs: Number(longest) / 1e6 };
}
