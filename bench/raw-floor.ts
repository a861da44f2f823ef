import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

type WithRelease = Redis & { rawRelease(key: string, owner: string): Promise<number> };

/**
 * The hand-written floor every lock is measured against (BENCH.md): `SET key owner NX PX ttl` on
 * all N nodes in parallel, resolved as soon as a quorum said OK; release is a compare-and-delete
 * script on all N. A failed attempt deletes its partial holds before it reports failure (so split
 * votes cannot stall it). No fencing, no drift check, no retries here: the least a quorum lock can do.
 */
export class RawFloor {
  readonly clients: Redis[];
  readonly quorum: number;

  constructor(urls: readonly string[]) {
    this.clients = urls.map((url) => {
      const client = new Redis(url);
      client.on('error', () => undefined);
      client.defineCommand('rawRelease', { numberOfKeys: 1, lua: RELEASE });
      return client;
    });
    this.quorum = Math.floor(urls.length / 2) + 1;
  }

  /** Resolves with the owner value when a quorum locked `key`, or null (partial holds removed). */
  async acquire(key: string, ttl: number): Promise<string | null> {
    const owner = randomUUID();
    const granted = await new Promise<boolean>((resolve) => {
      let ok = 0;
      let failed = 0;
      for (const client of this.clients) {
        client.set(key, owner, 'PX', ttl, 'NX').then(
          (reply) => {
            if (reply === 'OK') ok += 1;
            else failed += 1;
            if (ok === this.quorum) resolve(true);
            else if (failed === this.clients.length - this.quorum + 1) resolve(false);
          },
          () => {
            failed += 1;
            if (failed === this.clients.length - this.quorum + 1) resolve(false);
          },
        );
      }
    });
    if (granted) return owner;
    // Same connection, so each delete runs after that node's SET, also one still in flight.
    await this.release(key, owner);
    return null;
  }

  async release(key: string, owner: string): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => (c as WithRelease).rawRelease(key, owner)));
  }

  async ping(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.ping()));
  }

  async quit(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.quit().catch(() => c.disconnect())));
  }
}
