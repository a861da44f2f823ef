/**
 * Checker RMW (reference §4.4): the counters behave as if every increment ran alone.
 *
 * - Each accepted write is the value of an accepted read of the same grant + 1, with no other
 *   accepted write of that resource between the read and the write (else: a lost update).
 * - The final value of each resource equals its number of accepted writes.
 * - Every increment a client saw acknowledged appears accepted in the store log exactly once.
 */
import type { StoreEntry } from '../fenced-store.js';

export interface RmwViolation {
  readonly kind: 'lost-update' | 'bad-increment' | 'final-mismatch' | 'ack-missing' | 'ack-duplicate';
  readonly resource: string;
  readonly detail: string;
  readonly entry?: StoreEntry;
}

/** An increment the client saw accepted (a `write` `ok` in the history). */
export interface Ack {
  readonly opId: string;
  readonly resource: string;
}

export function checkRmw(log: readonly StoreEntry[], finalValues: ReadonlyMap<string, number>, acks: readonly Ack[]): RmwViolation[] {
  const out: RmwViolation[] = [];
  const sorted = [...log].sort((a, b) => a.seq - b.seq);
  const byOpId = new Map<string, StoreEntry[]>();
  for (const e of sorted) {
    const list = byOpId.get(e.opId);
    if (list === undefined) byOpId.set(e.opId, [e]);
    else list.push(e);
  }
  const lastWriteSeq = new Map<string, number>();
  const writes = new Map<string, number>();

  for (const e of sorted) {
    if (e.op !== 'write' || !e.accepted) continue;
    const read = e.readOpId === undefined ? undefined : byOpId.get(e.readOpId)?.find((r) => r.accepted && r.op === 'read');
    const previous = lastWriteSeq.get(e.resource);
    if (read === undefined || read.seq > e.seq || read.grantId !== e.grantId || read.resource !== e.resource) {
      out.push({ kind: 'bad-increment', resource: e.resource, detail: `write ${e.opId} has no accepted read ${e.readOpId ?? '?'} of its grant before it`, entry: e });
    } else if (previous !== undefined && previous > read.seq) {
      out.push({
        kind: 'lost-update',
        resource: e.resource,
        detail: `write ${e.opId} (token ${e.token}) based on read #${read.seq} = ${read.value}, but write #${previous} was accepted in between`,
        entry: e,
      });
    } else if (e.value !== read.value + 1) {
      out.push({ kind: 'bad-increment', resource: e.resource, detail: `write ${e.opId} wrote ${e.value} after reading ${read.value}`, entry: e });
    }
    lastWriteSeq.set(e.resource, e.seq);
    writes.set(e.resource, (writes.get(e.resource) ?? 0) + 1);
  }

  const resources = new Set([...writes.keys(), ...finalValues.keys()]);
  for (const r of resources) {
    const final = finalValues.get(r) ?? 0;
    const n = writes.get(r) ?? 0;
    if (final !== n) out.push({ kind: 'final-mismatch', resource: r, detail: `final value ${final}, but ${n} increments were accepted` });
  }

  for (const ack of acks) {
    const accepted = (byOpId.get(ack.opId) ?? []).filter((e) => e.accepted && e.op === 'write');
    if (accepted.length === 0) out.push({ kind: 'ack-missing', resource: ack.resource, detail: `acknowledged ${ack.opId} is not accepted in the store log` });
    else if (accepted.length > 1) out.push({ kind: 'ack-duplicate', resource: ack.resource, detail: `${ack.opId} accepted ${accepted.length} times` });
  }
  return out;
}
