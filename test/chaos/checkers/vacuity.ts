/**
 * Vacuity guards (reference §4.8): a run that checked nothing must not pass. Fails when too few
 * grants succeeded, when a fault scenario has no fault verified effective, or when a fencing
 * scenario never got a stale op to the store (fencing was never exercised).
 */
export interface VacuityInput {
  readonly grants: number;
  readonly minGrants: number;
  /** Faults verified effective (nemesis log). */
  readonly effectiveFaults: number;
  readonly faultRequired: boolean;
  /** Store ops whose token was below the highest seen. */
  readonly staleOps: number;
  readonly staleRequired: boolean;
}

/** One message per vacuity failure (empty: not vacuous). */
export function checkVacuity(input: VacuityInput): string[] {
  const out: string[] = [];
  if (input.grants < input.minGrants) out.push(`VAC: only ${input.grants} grants (need ≥ ${input.minGrants})`);
  if (input.faultRequired && input.effectiveFaults === 0) out.push('VAC: no fault was verified effective');
  if (input.staleRequired && input.staleOps === 0) out.push('VAC: no stale op reached the store (fencing never exercised)');
  return out;
}
