/**
 * The client side of the fenced store (fenced-store.ts), used by the chaos client processes.
 * Every request is bounded in time; an answer that never came is `unknown` (an `info` event in
 * the history: the op may or may not have been applied).
 */
import type { StoreReply, StoreRequest } from './fenced-store.js';

export type StoreResult =
  | { readonly kind: 'accepted'; readonly value?: number }
  | { readonly kind: 'rejected'; readonly max: string }
  | { readonly kind: 'unknown'; readonly error: string };

export class StoreClient {
  readonly #url: string;
  readonly #timeoutMs: number;

  constructor(url: string, timeoutMs = 5_000) {
    this.#url = `${url}/op`;
    this.#timeoutMs = timeoutMs;
  }

  async send(request: StoreRequest): Promise<StoreResult> {
    try {
      const res = await fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      if (!res.ok) return { kind: 'unknown', error: `HTTP ${res.status}: ${await res.text()}` };
      const reply = (await res.json()) as StoreReply;
      if (!reply.accepted) return { kind: 'rejected', max: reply.max };
      return reply.value === undefined ? { kind: 'accepted' } : { kind: 'accepted', value: reply.value };
    } catch (error) {
      return { kind: 'unknown', error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
  }
}

/**
 * The history fields of a store op's outcome: `ok` with the value read (or written), `fail` when
 * the store refused a stale token, `info` when the answer never came.
 */
export function outcomeOf(
  result: StoreResult,
  op: 'read' | 'write',
  written: number | undefined,
): { readonly phase: 'ok'; readonly value?: number } | { readonly phase: 'fail' | 'info'; readonly err: string } {
  if (result.kind === 'rejected') return { phase: 'fail', err: `stale (max ${result.max})` };
  if (result.kind === 'unknown') return { phase: 'info', err: result.error };
  const value = op === 'read' ? result.value ?? 0 : written;
  return value === undefined ? { phase: 'ok' } : { phase: 'ok', value };
}
