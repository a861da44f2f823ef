/**
 * One proxy of the in-process Toxiproxy-compatible server: a TCP listener, its open connections
 * and its toxics. The HTTP layer (toxiproxy-server.ts) validates input; this class applies it.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Connection, type HostPort } from './fault-link.js';
import type { Stream, ToxicSpec } from './toxics.js';

/** Splits `host:port` (or `[v6]:port`); undefined when it is not of that form. */
export function parseHostPort(address: string): HostPort | undefined {
  const match = /^(?:\[([^\]]*)\]|([^:]*)):(\d{1,5})$/.exec(address);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port > 65_535) return undefined;
  return { host: match[1] ?? match[2] ?? '', port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** proxyJson of the API. */
export interface ProxyJson {
  readonly name: string;
  readonly listen: string;
  readonly upstream: string;
  readonly enabled: boolean;
  readonly toxics: readonly ToxicSpec[];
}

export class FaultProxy {
  private server: Server | undefined;
  private readonly connections = new Set<Connection>();
  /** In the order they were added. */
  private readonly toxics: ToxicSpec[] = [];

  /** `listen` is a normalised `host:port`; port 0 becomes the real port on the first start. */
  constructor(
    readonly name: string,
    public listen: string,
    public upstream: string,
    public enabled: boolean,
  ) {}

  toJSON(): ProxyJson {
    return { name: this.name, listen: this.listen, upstream: this.upstream, enabled: this.enabled, toxics: this.toxicList() };
  }

  /** Upstream toxics first, then downstream ones, each in the order they were added. */
  toxicList(): ToxicSpec[] {
    const of = (stream: Stream): ToxicSpec[] => this.toxics.filter((t) => t.stream === stream);
    return [...of('upstream'), ...of('downstream')];
  }

  getToxic(name: string): ToxicSpec | undefined {
    return this.toxics.find((t) => t.name === name);
  }

  /** Starts listening when enabled and not yet listening. Rejects with the listen error. */
  async start(): Promise<void> {
    if (!this.enabled || this.server !== undefined) return;
    const address = parseHostPort(this.listen);
    if (address === undefined) throw new Error(`listen address ${JSON.stringify(this.listen)} is not host:port`);
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    const bound = server.address() as AddressInfo;
    this.listen = formatHostPort(bound.address, bound.port);
    this.server = server;
  }

  /**
   * Stops listening (new connections are refused at once) and closes every open connection.
   * Resolves when the listener and every connection are gone; the port is free before that.
   */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) {
      this.closeConnections();
      return;
    }
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.closeConnections();
    await closed;
  }

  /** Applies `enabled`, `listen` and `upstream`; a new listen or upstream restarts the proxy. */
  async update(changes: { enabled: boolean; listen: string; upstream: string }): Promise<void> {
    if (changes.listen !== this.listen || changes.upstream !== this.upstream) {
      await this.stop();
      this.listen = changes.listen;
      this.upstream = changes.upstream;
    }
    this.enabled = changes.enabled;
    if (this.enabled) await this.start();
    else await this.stop();
  }

  /** Closes every open connection gracefully. */
  closeConnections(): void {
    for (const connection of this.connections) connection.close();
  }

  /** Destroys everything at once (server shutdown). */
  async destroy(): Promise<void> {
    for (const connection of this.connections) connection.destroy();
    await this.stop();
  }

  addToxic(spec: ToxicSpec): void {
    this.toxics.push(spec);
    for (const connection of this.connections) connection.addToxic(spec);
  }

  updateToxic(spec: ToxicSpec): void {
    const i = this.toxics.findIndex((t) => t.name === spec.name);
    if (i === -1) return;
    this.toxics[i] = spec;
    for (const connection of this.connections) connection.updateToxic(spec);
  }

  /** Removes a toxic; removing a `timeout` toxic closes every connection of the proxy. */
  removeToxic(name: string): void {
    const i = this.toxics.findIndex((t) => t.name === name);
    const spec = this.toxics[i];
    if (spec === undefined) return;
    this.toxics.splice(i, 1);
    for (const connection of this.connections) connection.removeToxic(spec);
    if (spec.type === 'timeout') this.closeConnections();
  }

  removeAllToxics(): void {
    for (const spec of this.toxicList()) this.removeToxic(spec.name);
  }

  private accept(client: Socket): void {
    const upstream = parseHostPort(this.upstream);
    if (!this.enabled || upstream === undefined) {
      client.destroy();
      return;
    }
    client.on('error', () => undefined);
    const connection: Connection = new Connection(client, upstream, this.toxicList(), () => {
      this.connections.delete(connection);
    });
    this.connections.add(connection);
  }
}
