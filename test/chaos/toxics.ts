/**
 * The toxics of the in-process Toxiproxy-compatible server: their attributes with defaults, and
 * what each one does to the data of one direction of one connection.
 *
 * Behaviour follows the upstream README ("Toxics") and docs of Toxiproxy 2.x as summarised in
 * /work/shared/CHAOS.md; nothing here is copied from its source.
 */

/** `upstream` is client → server, `downstream` is server → client. */
export type Stream = 'upstream' | 'downstream';

export type ToxicType = 'latency' | 'bandwidth' | 'slow_close' | 'timeout' | 'reset_peer' | 'slicer' | 'limit_data';

/** Every attribute of every toxic type, with its default. All are integers. */
export const toxicAttributeDefaults: Readonly<Record<ToxicType, Readonly<Record<string, number>>>> = {
  latency: { latency: 0, jitter: 0 }, // ms, ms
  bandwidth: { rate: 0 }, // KB/s; 0 lets everything through
  slow_close: { delay: 0 }, // ms
  timeout: { timeout: 0 }, // ms; 0 swallows data for as long as the toxic exists
  reset_peer: { timeout: 0 }, // ms after the first data
  slicer: { average_size: 0, size_variation: 0, delay: 0 }, // bytes, bytes, µs
  limit_data: { bytes: 0 },
};

export function isToxicType(value: unknown): value is ToxicType {
  return typeof value === 'string' && Object.hasOwn(toxicAttributeDefaults, value);
}

/** A toxic as the API shows it (toxicJson). */
export interface ToxicSpec {
  readonly attributes: Readonly<Record<string, number>>;
  readonly name: string;
  readonly type: ToxicType;
  readonly stream: Stream;
  /** Probability that the toxic applies to a connection, rolled once per connection. */
  readonly toxicity: number;
}

/** What flows through one direction of a connection: a chunk as read, or the end of the stream (FIN). */
export type Item =
  | { readonly kind: 'data'; readonly data: Buffer; /** performance.now() when it arrived */ readonly at: number }
  | {
      readonly kind: 'end';
      /**
       * Set when a toxic closed the connection: later toxics pass it on like the end of the stream
       * (slow_close delays it), and at the end of the chain it closes both sockets.
       */
      readonly close?: boolean;
    };

/** What a running toxic may do to its connection. */
export interface ToxicContext {
  /** Aborted when the toxic is removed or updated, or the connection closes. */
  readonly signal: AbortSignal;
  /** Hands an item to the next toxic of the direction, or to the socket at its end. */
  forward(item: Item): void;
  /**
   * Closes the connection after the data already forwarded, as Toxiproxy does: passes a closing end
   * of the stream down the rest of the chain and drops whatever comes in later. When it reaches
   * the socket, both sockets close: FIN after the data written, or RST when the connection was
   * accepted while a `reset_peer` toxic existed (SO_LINGER 0, see fault-link.ts).
   */
  close(): void;
}

/**
 * One toxic running on one direction of one connection. `handle` gets the items one at a time, in
 * order; the next one waits until the returned promise settles. When `ctx.signal` aborts while an
 * item is held, the item is forwarded at once (no data is dropped by removing a toxic), except by
 * `timeout`, which drops everything, and by `reset_peer`, which closes the connection all the same.
 */
export interface Behaviour {
  /** Runs once when the toxic starts on the connection. */
  start?(ctx: ToxicContext): void;
  handle(item: Item, ctx: ToxicContext): void | Promise<void>;
}

/** Resolves after `ms`, or at once when `signal` aborts. Never rejects. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** A uniformly random integer in [-spread, spread]. */
function randomSpread(spread: number): number {
  return spread > 0 ? Math.floor(Math.random() * (2 * spread + 1)) - spread : 0;
}

/**
 * What a toxic keeps on one connection across its restarts and updates (Toxiproxy keeps a stateful
 * toxic's state until the toxic is removed or the connection closes): limit_data's byte count.
 */
export interface ToxicState {
  bytesPassed: number;
}

export function newToxicState(): ToxicState {
  return { bytesPassed: 0 };
}

/**
 * Creates the behaviour of a toxic for one connection, each time the toxic (re)starts on it;
 * `state` is the one the toxic keeps on that connection (see ToxicState).
 */
export function createBehaviour(spec: ToxicSpec, state: ToxicState): Behaviour {
  const attr = (key: string): number => spec.attributes[key] ?? 0;
  switch (spec.type) {
    case 'latency':
      return latency(attr('latency'), attr('jitter'));
    case 'bandwidth':
      return bandwidth(attr('rate'));
    case 'slow_close':
      return slowClose(attr('delay'));
    case 'timeout':
      return timeout(attr('timeout'));
    case 'reset_peer':
      return resetPeer(attr('timeout'));
    case 'slicer':
      return slicer(attr('average_size'), attr('size_variation'), attr('delay'));
    case 'limit_data':
      return limitData(attr('bytes'), state);
  }
}

/** Delays each chunk by latency ± jitter, measured from the time the chunk arrived. */
function latency(latencyMs: number, jitterMs: number): Behaviour {
  return {
    async handle(item, ctx) {
      if (item.kind === 'end') return ctx.forward(item);
      await sleep(item.at + latencyMs + randomSpread(jitterMs) - performance.now(), ctx.signal);
      // A later latency toxic measures from the time the chunk left this one.
      ctx.forward({ kind: 'data', data: item.data, at: performance.now() });
    },
  };
}

/** Lets through at most `rate` KB (1000 bytes) per second, in pieces of at most 100 ms worth. */
function bandwidth(rate: number): Behaviour {
  let nextAt = 0;
  return {
    async handle(item, ctx) {
      if (item.kind === 'end' || rate <= 0) return ctx.forward(item);
      const pieceSize = rate * 100;
      for (let offset = 0; offset < item.data.length; offset += pieceSize) {
        const piece = item.data.subarray(offset, offset + pieceSize);
        nextAt = Math.max(nextAt, performance.now()) + piece.length / rate;
        await sleep(nextAt - performance.now(), ctx.signal);
        ctx.forward({ kind: 'data', data: piece, at: item.at });
      }
    },
  };
}

/** Passes data through and delays the end of the stream (FIN) by `delayMs`. */
function slowClose(delayMs: number): Behaviour {
  return {
    async handle(item, ctx) {
      if (item.kind === 'end') await sleep(delayMs, ctx.signal);
      ctx.forward(item);
    },
  };
}

/**
 * Drops all data; closes the connection once `timeoutMs` passed without data, counted from when
 * the toxic started on it and again from each chunk it dropped (as Toxiproxy does), or never when 0.
 * (Removing a timeout toxic closes every connection of its proxy; the proxy does that.)
 */
function timeout(timeoutMs: number): Behaviour {
  let timer: NodeJS.Timeout | undefined;
  return {
    start(ctx) {
      if (timeoutMs <= 0) return;
      const armed = setTimeout(() => ctx.close(), timeoutMs);
      timer = armed;
      ctx.signal.addEventListener('abort', () => clearTimeout(armed), { once: true });
    },
    handle(item, ctx) {
      if (item.kind === 'end') return ctx.forward(item);
      if (!ctx.signal.aborted) timer?.refresh(); // data is dropped, and restarts the timer
    },
  };
}

/**
 * On the first data, waits `timeoutMs`, drops that data and closes the connection. The close is a
 * reset (RST) only because the connection has SO_LINGER 0: a connection accepted while a
 * `reset_peer` toxic existed has it; one that was already open when the toxic was added gets FIN,
 * as with a real Toxiproxy, which sets SO_LINGER 0 only when a connection is accepted. Once the
 * wait has begun, removing, updating or restarting the toxic does not stop it (as in Toxiproxy).
 */
function resetPeer(timeoutMs: number): Behaviour {
  return {
    async handle(item, ctx) {
      if (item.kind === 'end') return ctx.forward(item);
      await sleep(timeoutMs, new AbortController().signal);
      ctx.close();
    },
  };
}

/** Splits each chunk into writes of average_size ± size_variation bytes, `delayUs` µs apart. */
function slicer(averageSize: number, sizeVariation: number, delayUs: number): Behaviour {
  return {
    async handle(item, ctx) {
      if (item.kind === 'end' || averageSize <= 0) return ctx.forward(item);
      const { data, at } = item;
      // Each pass forwards at least one byte, so this ends after at most data.length passes.
      for (let offset = 0; offset < data.length; ) {
        const size = ctx.signal.aborted ? data.length : Math.max(1, averageSize + randomSpread(sizeVariation));
        ctx.forward({ kind: 'data', data: data.subarray(offset, offset + size), at });
        offset += size;
        if (offset < data.length) await sleep(delayUs / 1000, ctx.signal);
      }
    },
  };
}

/** Passes the first `bytes` bytes (counted in `state`, across restarts), then closes the connection. */
function limitData(bytes: number, state: ToxicState): Behaviour {
  return {
    handle(item, ctx) {
      if (item.kind === 'end') return ctx.forward(item);
      const room = bytes - state.bytesPassed;
      if (room > 0) {
        const piece = item.data.subarray(0, room);
        state.bytesPassed += piece.length;
        ctx.forward({ kind: 'data', data: piece, at: item.at });
      }
      if (state.bytesPassed >= bytes) ctx.close();
    },
  };
}
