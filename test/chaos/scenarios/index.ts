/**
 * Every scenario and negative control, in run order, and the smoke set (reference §5.2, "per PR").
 */
import type { Scenario } from '../scenario.js';
import { s1 } from './baseline.js';
import { s2, s3, s4 } from './partitions.js';
import { nc3, s10a, s10b, s11, s12, s13 } from './restarts.js';
import { nc2, nc4, s14a, s14b, s15a, s15b, s16 } from './clocks.js';
import { nc5 } from './eviction.js';
import { s5, s6 } from './slow-links.js';
import { nc1, s7, s8, s9 } from './pauses.js';
import { nc12, s17 } from './election.js';
import { nc13, nc14, s18, s19 } from './queue.js';
import { a1Safe, a2Safe, a3Safe, a4Safe, a5Safe, a6Safe, nc10, nc11, nc6, nc7, nc8, nc9 } from './adversarial.js';

export const scenarios: readonly Scenario[] = [
  s1, s2, s3, s4, s5, s6, s7, s8, s9, s10a, s10b, s11, s12, s13, s14a, s14b, s15a, s15b, s16, s17, s18, s19,
  nc1, nc2, nc3, nc4, nc5,
  // Issue 12: S17's negative control (full matrix only).
  nc12,
  // Issue 14: the job queue's negative controls for S18/S19 (full matrix only).
  nc13, nc14,
  // Issue 9: the adversarial review's bug classes and their negative controls (full matrix only).
  a1Safe, a2Safe, a3Safe, a4Safe, a5Safe, a6Safe, nc6, nc7, nc8, nc9, nc10, nc11,
];

/** The smoke set: S1, S2, S3, S7, S10, S13, S14 (both variants), S17, S18, S19, NC1, NC3. */
export const smokeIds: readonly string[] = ['S1', 'S2', 'S3', 'S7', 'S10a', 'S13', 'S14a', 'S14b', 'S17', 'S18', 'S19', 'NC1', 'NC3'];

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
