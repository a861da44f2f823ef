/**
 * One proxied connection of the in-process Toxiproxy-compatible server: a client socket, an
 * upstream socket, and for each direction a chain of toxics the data passes through in the order
 * the toxics were added. Toxics can be added, updated and removed while data flows.
 */
import { connect, type Socket } from 'node:net';
import {
  type Behaviour,
  createBehaviour,
  type Item,
  newToxicState,
  type Stream,
  type ToxicContext,
  type ToxicSpec,
} from './toxics.js';

interface Receiver {
  push(item: Item): void;
}

const nowhere: Receiver = { push: () => undefined };

/** One toxic in one direction of one connection: a queue worked off one item at a time. */
class Stage implements Receiver {
  private readonly queue: Item[] = [];
  private busy = false;
  private removed = false;
  /** The toxic closed the connection: the closing end went down the chain; later items are dropped. */
  private closedByToxic = false;
  private controller = new AbortController();
  private behaviour: Behaviour | null = null;
  /** Kept across restarts and updates, until the toxic is removed or the connection closes. */
  private readonly state = newToxicState();
  private ctx: ToxicContext;

  constructor(
    readonly name: string,
    private readonly chain: Chain,
    private spec: ToxicSpec,
  ) {
    this.ctx = this.attach(spec);
  }

  get active(): boolean {
    return !this.removed;
  }

  /**
   * (Re)starts the toxic with `spec`; toxicity is rolled here: when the toxic starts on the
   * connection, when it is updated, and when it is restarted.
   */
  update(spec: ToxicSpec): void {
    this.spec = spec;
    this.ctx = this.attach(spec);
  }

  /** Starts the toxic afresh: a new toxicity roll, and its timers (a `timeout`'s) start again. */
  restart(): void {
    if (!this.removed) this.ctx = this.attach(this.spec);
  }

  /** Turns the stage into a pass-through that leaves the chain once its queue is empty. */
  remove(): void {
    this.removed = true;
    this.controller.abort();
    if (!this.busy) this.chain.unlink(this);
  }

  /** Drops everything (the connection closed). */
  stop(): void {
    this.queue.length = 0;
    this.controller.abort();
  }

  push(item: Item): void {
    this.queue.push(item);
    if (!this.busy) this.pump().catch(() => this.chain.connection.destroy());
  }

  private attach(spec: ToxicSpec): ToxicContext {
    this.controller.abort();
    this.controller = new AbortController();
    const ctx: ToxicContext = {
      signal: this.controller.signal,
      forward: (item) => this.chain.after(this).push(item),
      close: () => {
        if (this.closedByToxic) return;
        this.closedByToxic = true;
        this.chain.after(this).push({ kind: 'end', close: true });
      },
    };
    this.behaviour = Math.random() < spec.toxicity ? createBehaviour(spec, this.state) : null;
    this.behaviour?.start?.(ctx);
    return ctx;
  }

  private async pump(): Promise<void> {
    this.busy = true;
    try {
      // Each pass takes one item off the queue; the queue only grows by data read from a socket.
      for (let item = this.queue.shift(); item !== undefined; item = this.queue.shift()) {
        if (this.chain.connection.closed) return;
        if (this.closedByToxic) continue;
        const ctx = this.ctx;
        if (this.behaviour === null || this.removed) ctx.forward(item);
        else await this.behaviour.handle(item, ctx);
      }
    } finally {
      this.busy = false;
    }
    if (this.removed) this.chain.unlink(this);
  }
}

/** The toxics of one direction, ending in the socket that direction writes to. */
class Chain {
  private readonly stages: Stage[] = [];

  constructor(
    readonly connection: Connection,
    private readonly sink: Receiver,
  ) {}

  /** Where data read from the source socket goes. */
  head(): Receiver {
    return this.stages[0] ?? this.sink;
  }

  after(stage: Stage): Receiver {
    const i = this.stages.indexOf(stage);
    return i === -1 ? nowhere : (this.stages[i + 1] ?? this.sink);
  }

  /**
   * Appends a toxic. The toxic that was last restarts, as in Toxiproxy, which stops and starts the
   * toxic before the point where it changes a chain (a new toxicity roll, a `timeout` restarts).
   */
  add(spec: ToxicSpec, { restartLast = true } = {}): void {
    if (restartLast) this.lastActiveBefore(this.stages.length)?.restart();
    this.stages.push(new Stage(spec.name, this, spec));
  }

  find(name: string): Stage | undefined {
    return this.stages.find((s) => s.name === name && s.active);
  }

  /** Removes a toxic (see Stage.remove); the toxic before it restarts, as on add. */
  remove(name: string): void {
    const stage = this.find(name);
    if (stage === undefined) return;
    const before = this.lastActiveBefore(this.stages.indexOf(stage));
    stage.remove();
    before?.restart();
  }

  /** The last stage before index `end` that has not been removed. */
  private lastActiveBefore(end: number): Stage | undefined {
    for (let i = end - 1; i >= 0; i -= 1) if (this.stages[i]?.active === true) return this.stages[i];
    return undefined;
  }

  unlink(stage: Stage): void {
    const i = this.stages.indexOf(stage);
    if (i !== -1) this.stages.splice(i, 1);
  }

  stop(): void {
    for (const stage of this.stages) stage.stop();
  }
}

/**
 * Writes what reaches the end of a chain to `socket`. The end of the stream becomes socket.end();
 * a toxic's closing end closes the connection, and so does any end when the connection has
 * SO_LINGER 0 (a close can only be an RST then).
 */
function socketSink(socket: Socket, connection: Connection): Receiver {
  return {
    push(item) {
      if (connection.closed || socket.destroyed || socket.writableEnded) return;
      if (item.kind === 'data') socket.write(item.data);
      else if (item.close === true || connection.lingerZero) connection.close();
      else socket.end();
    },
  };
}

/** Ends `socket` after its pending writes, then destroys it (at the latest after one second). */
function endThenDestroy(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) {
    socket.destroy();
    return;
  }
  const timer = setTimeout(() => socket.destroy(), 1_000);
  socket.once('close', () => clearTimeout(timer));
  socket.end(() => socket.destroy());
}

/** Closes `socket` with RST (SO_LINGER 0); a socket still connecting is just destroyed. */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** A client connection proxied to the upstream, with the proxy's toxics on both directions. */
export class Connection {
  closed = false;
  /**
   * Whether both sockets behave as with SO_LINGER 0, so that every close of the connection is a
   * reset (RST). A real Toxiproxy sets it on both sockets when it accepts a connection while a
   * `reset_peer` toxic exists in either direction, whatever its toxicity, and never clears it.
   */
  readonly lingerZero: boolean;
  private readonly upstream: Socket;
  private readonly chains: Record<Stream, Chain>;
  private upstreamConnected = false;

  /**
   * `client` must be paused (the server's `pauseOnConnect`): it is read only once the upstream
   * connected. When the upstream cannot be reached, the client socket is closed unread, as a real
   * Toxiproxy does, so a client that already sent data gets RST (the kernel resets a socket closed
   * with unread data) and one that sent nothing gets FIN. `onGone` runs once, when both sockets
   * have closed.
   */
  constructor(
    private readonly client: Socket,
    upstream: HostPort,
    toxics: readonly ToxicSpec[],
    onGone: () => void,
  ) {
    this.lingerZero = toxics.some((t) => t.type === 'reset_peer');
    this.upstream = connect({ host: upstream.host, port: upstream.port, allowHalfOpen: true, noDelay: true });
    this.upstream.once('connect', () => {
      this.upstreamConnected = true;
      if (!this.closed) client.resume();
    });
    client.setNoDelay(true);
    this.chains = {
      upstream: new Chain(this, socketSink(this.upstream, this)),
      downstream: new Chain(this, socketSink(client, this)),
    };
    for (const spec of toxics) this.chains[spec.stream].add(spec, { restartLast: false });
    let open = 2;
    for (const [socket, chain] of [
      [client, this.chains.upstream],
      [this.upstream, this.chains.downstream],
    ] as const) {
      socket.on('data', (data: Buffer) => {
        if (!this.closed) chain.head().push({ kind: 'data', data, at: performance.now() });
      });
      socket.on('end', () => {
        if (!this.closed) chain.head().push({ kind: 'end' });
      });
      socket.on('error', () => this.destroy());
      socket.once('close', () => {
        open -= 1;
        if (open === 0) onGone();
      });
    }
  }

  addToxic(spec: ToxicSpec): void {
    if (!this.closed) this.chains[spec.stream].add(spec);
  }

  updateToxic(spec: ToxicSpec): void {
    if (!this.closed) this.chains[spec.stream].find(spec.name)?.update(spec);
  }

  removeToxic(spec: ToxicSpec): void {
    this.chains[spec.stream].remove(spec.name);
  }

  /**
   * Closes both sockets, dropping whatever the toxics still hold: gracefully (FIN after the data
   * already written), or with RST when the connection has SO_LINGER 0.
   */
  close(): void {
    if (!this.stop()) return;
    if (this.resets) {
      resetSocket(this.client);
      resetSocket(this.upstream);
    } else {
      endThenDestroy(this.client);
      endThenDestroy(this.upstream);
    }
  }

  /**
   * Destroys both sockets at once (RST when the connection has SO_LINGER 0). Before the upstream
   * connected, the client socket is closed unread (RST if it holds data the client sent, else FIN).
   */
  destroy(): void {
    this.stop();
    if (this.resets) {
      resetSocket(this.client);
      resetSocket(this.upstream);
    } else {
      this.client.destroy();
      this.upstream.destroy();
    }
  }

  /** Closes with RST: SO_LINGER 0 applies from when the connection is proxied (upstream connected). */
  private get resets(): boolean {
    return this.lingerZero && this.upstreamConnected;
  }

  /** Marks the connection closed and stops the toxics; false when it already was. */
  private stop(): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.chains.upstream.stop();
    this.chains.downstream.stop();
    return true;
  }
}
