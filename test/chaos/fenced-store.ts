/**
 * The protected resource of the chaos suite (reference §4.4): an in-process store of integer
 * counters behind HTTP on 127.0.0.1:0, with **fence-on-first-touch** for reads and writes:
 *
 *   op(resource, token): if token < max[resource] → reject; max[resource] ← token; apply.
 *
 * Every accept and reject is appended to a serial log (the ground truth for the FENCE and RMW
 * checkers), with the grant id and token the client sent. `fencing: false` (negative control NC1)
 * accepts everything but still logs whether the op was stale.
 *
 * Protocol: `POST /op` with a {@link StoreRequest} JSON body → {@link StoreReply}.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hrNow, toJsonLine } from './history.js';

export interface StoreRequest {
  readonly op: 'read' | 'write';
  readonly resource: string;
  /** Decimal string. */
  readonly token: string;
  readonly grantId: string;
  readonly opId: string;
  readonly proc: string;
  readonly client: string;
  /** For `write`: the new value. */
  readonly value?: number;
  /** For `write`: the `read` op this increment is based on. */
  readonly readOpId?: string;
}

export interface StoreReply {
  readonly accepted: boolean;
  /** For an accepted `read`: the current value. */
  readonly value?: number;
  /** The highest token seen for the resource before this op (decimal string). */
  readonly max: string;
}

/** One line of the store log. */
export interface StoreEntry {
  readonly seq: number;
  /** When the store handled it (CLOCK_MONOTONIC ns). */
  readonly t: bigint;
  readonly op: 'read' | 'write';
  readonly resource: string;
  readonly token: bigint;
  readonly grantId: string;
  readonly opId: string;
  readonly proc: string;
  readonly client: string;
  readonly accepted: boolean;
  /** The highest token seen before this op (0 when none). */
  readonly maxBefore: bigint;
  /** Read: the value returned (or current, when rejected); write: the value written (or proposed). */
  readonly value: number;
  readonly readOpId?: string;
}

export interface FencedStoreOptions {
  /** @defaultValue true */
  readonly fencing?: boolean;
}

export class FencedStore implements AsyncDisposable {
  readonly log: StoreEntry[] = [];
  readonly values = new Map<string, number>();
  readonly #max = new Map<string, bigint>();
  #fencing: boolean;
  #url = '';
  readonly #server = createServer((req, res) => this.#serve(req, res));

  private constructor(options: FencedStoreOptions) {
    this.#fencing = options.fencing ?? true;
    this.#server.keepAliveTimeout = 30_000;
  }

  /** Starts the store on 127.0.0.1 on an ephemeral port. */
  static async start(options: FencedStoreOptions = {}): Promise<FencedStore> {
    const store = new FencedStore(options);
    await new Promise<void>((resolve, reject) => {
      store.#server.once('error', reject);
      store.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = store.#server.address() as AddressInfo;
    store.#url = `http://127.0.0.1:${port}`;
    return store;
  }

  get url(): string {
    return this.#url;
  }

  get fencing(): boolean {
    return this.#fencing;
  }

  /** Turns the token check on or off (off: negative control NC1). */
  setFencing(on: boolean): void {
    this.#fencing = on;
  }

  /** Applies one op (the HTTP handler calls this; exposed for unit tests). */
  apply(req: StoreRequest): StoreReply {
    const token = BigInt(req.token);
    const maxBefore = this.#max.get(req.resource) ?? 0n;
    const stale = token < maxBefore;
    const accepted = !(this.#fencing && stale);
    if (accepted && !stale) this.#max.set(req.resource, token);
    const current = this.values.get(req.resource) ?? 0;
    let value = current;
    if (req.op === 'write') {
      value = req.value ?? Number.NaN;
      if (accepted) this.values.set(req.resource, value);
    }
    const entry: StoreEntry = {
      seq: this.log.length,
      t: hrNow(),
      op: req.op,
      resource: req.resource,
      token,
      grantId: req.grantId,
      opId: req.opId,
      proc: req.proc,
      client: req.client,
      accepted,
      maxBefore,
      value,
      ...(req.readOpId === undefined ? {} : { readOpId: req.readOpId }),
    };
    this.log.push(entry);
    const reply: StoreReply = { accepted, max: maxBefore.toString() };
    return req.op === 'read' && accepted ? { ...reply, value: current } : reply;
  }

  /** Entries whose token was below the highest seen: stale ops that reached the store. */
  staleCount(): number {
    return this.log.filter((e) => e.token < e.maxBefore).length;
  }

  /** Writes the log as JSONL. */
  writeLog(file: string): void {
    writeFileSync(file, this.log.map((e) => toJsonLine(e)).join('\n') + (this.log.length ? '\n' : ''));
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #serve(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST' || req.url !== '/op') {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > 64 * 1024) req.destroy();
    });
    req.on('end', () => {
      let reply: StoreReply;
      try {
        reply = this.apply(parseRequest(body));
      } catch (error) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(error) }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    });
  }
}

function parseRequest(body: string): StoreRequest {
  const r = JSON.parse(body) as Partial<StoreRequest>;
  const strings = ['resource', 'token', 'grantId', 'opId', 'proc', 'client'] as const;
  for (const field of strings) {
    if (typeof r[field] !== 'string') throw new Error(`missing ${field}`);
  }
  if (r.op !== 'read' && r.op !== 'write') throw new Error('op must be read or write');
  if (!/^\d+$/.test(r.token ?? '')) throw new Error('token must be a decimal string');
  if (r.op === 'write' && typeof r.value !== 'number') throw new Error('write needs a value');
  return r as StoreRequest;
}
