/**
 * One resource's waiter queue on a MemoryNode: tickets in arrival order (score, then ticket, the
 * order of a Redis sorted set), each with the time its place expires (node clock, ms). Queues are
 * short (one place per waiting acquire call), so a linear scan for the head is enough.
 */
export class WaitQueue {
  readonly #places = new Map<string, { readonly score: number; expiresAt: number }>();

  get size(): number {
    return this.#places.size;
  }

  /** Queues `ticket` at `score` unless it is queued already (it keeps its place), and sets its expiry. */
  enqueue(ticket: string, score: number, expiresAt: number): void {
    const place = this.#places.get(ticket);
    if (place === undefined) this.#places.set(ticket, { score, expiresAt });
    else place.expiresAt = expiresAt;
  }

  /** Removes `ticket`; answers whether it was queued. */
  remove(ticket: string): boolean {
    return this.#places.delete(ticket);
  }

  /** When `ticket`'s place expires, if it is queued. */
  expiryOf(ticket: string): number | undefined {
    return this.#places.get(ticket)?.expiresAt;
  }

  /** Moves `ticket`'s expiry to `at` if that is earlier (never later). */
  lowerExpiry(ticket: string, at: number): void {
    const place = this.#places.get(ticket);
    if (place !== undefined && at < place.expiresAt) place.expiresAt = at;
  }

  /**
   * The first live ticket at `now`, after dropping every place that expired (at or before `now`):
   * a waiter that left without saying so is never handed a lease.
   */
  head(now: number): string | undefined {
    let head: string | undefined;
    let headScore = 0;
    for (const [ticket, place] of this.#places) {
      if (place.expiresAt <= now) {
        this.#places.delete(ticket);
        continue;
      }
      if (head === undefined || place.score < headScore || (place.score === headScore && ticket < head)) {
        head = ticket;
        headScore = place.score;
      }
    }
    return head;
  }
}
