/**
 * Every scenario and negative control, in run order, and the smoke set (reference §5.2, "per PR").
 */
import type { Scenario } from '../scenario.js';
import { s1 } from './baseline.js';

export const scenarios: readonly Scenario[] = [s1];

/** The smoke set: S1, S2, S3, S7, S10, S13, S14 (both variants), NC1, NC3. */
export const smokeIds: readonly string[] = ['S1', 'S2', 'S3', 'S7', 'S10a', 'S13', 'S14a', 'S14b', 'NC1', 'NC3'];

/** Resolves ids (case-insensitive; `S10` selects every S10 variant, `S14` both S14 variants). */
export function selectScenarios(ids: readonly string[]): Scenario[] {
  const out: Scenario[] = [];
  for (const raw of ids) {
    const id = raw.trim().toUpperCase();
    if (id === '') continue;
    const exact = scenarios.filter((s) => s.id.toUpperCase() === id);
    const variants = exact.length > 0 ? exact : scenarios.filter((s) => new RegExp(`^${id}[A-Z]$`).test(s.id.toUpperCase()));
    if (variants.length === 0) throw new Error(`unknown scenario ${raw}; known: ${scenarios.map((s) => s.id).join(', ')}`);
    for (const s of variants) if (!out.includes(s)) out.push(s);
  }
  return out;
}
