/**
 * An in-process server that speaks the subset of the Toxiproxy 2.x HTTP API listed in
 * /work/shared/CHAOS.md ("The API subset the server must implement"), so chaos tests can drive
 * network faults through `toxiproxy-node-client` on machines without Docker. Written from the
 * documented behaviour; no code is taken from Toxiproxy.
 *
 * The API listens on 127.0.0.1 (or `options.host`) on an ephemeral port; proxies may listen only
 * on loopback addresses or on `options.host`.
 *
 * @example
 * await using server = await startToxiproxyServer()
 * const toxiproxy = new Toxiproxy(server.url)
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultProxy, formatHostPort, parseHostPort, type ProxyJson } from './fault-proxy.js';
import { isToxicType, type Stream, toxicAttributeDefaults, type ToxicSpec } from './toxics.js';

export interface ToxiproxyServerOptions {
  /** Address of the HTTP API, and of proxies whose listen host is empty or `localhost`. @defaultValue '127.0.0.1' */
  readonly host?: string;
}

export interface ToxiproxyServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`, for `new Toxiproxy(url)`. */
  readonly url: string;
  /** Stops the API and every proxy, destroying all proxied connections. Idempotent. */
  close(): Promise<void>;
}

/** The version document of `GET /version`, byte for byte as Toxiproxy 2.12 sends it. */
const versionBody = '{"version": "2.12.0"}\n';
const jsonType = 'application/json;charset=utf-8';
const maxBodyBytes = 1 << 20;

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Reply = { readonly status: number; readonly json?: unknown; readonly text?: string };
type Handler = (body: string) => Reply | Promise<Reply>;

/** Starts the server; resolves once the API accepts requests. */
export async function startToxiproxyServer(options: ToxiproxyServerOptions = {}): Promise<ToxiproxyServer> {
  const host = options.host ?? '127.0.0.1';
  const api = new ToxiproxyApi(host);
  const http = createServer((req, res) => api.serve(req, res));
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const { port } = http.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await api.shutdown();
      await stopped;
    })();
    return closing;
  };
  return { url: `http://${formatHostPort(host, port)}`, close, [Symbol.asyncDispose]: close };
}

class ToxiproxyApi {
  private readonly proxies = new Map<string, FaultProxy>();
  /** Requests run one at a time, so a request sees the effects of every earlier one. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly host: string) {}

  serve(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBodyBytes) chunks.push(chunk);
    });
    req.on('end', () => {
      const body = size <= maxBodyBytes ? Buffer.concat(chunks).toString('utf8') : null;
      const work = this.tail.then(() => this.respond(req, body)).then((reply) => send(res, reply));
      this.tail = work.catch(() => undefined);
    });
    req.on('error', () => res.destroy());
  }

  async shutdown(): Promise<void> {
    await this.tail;
    const proxies = [...this.proxies.values()];
    this.proxies.clear();
    await Promise.all(proxies.map((p) => p.destroy()));
  }

  private async respond(req: IncomingMessage, body: string | null): Promise<Reply> {
    try {
      if ((req.headers['user-agent'] ?? '').startsWith('Mozilla/')) throw new ApiError(403, 'User agent not allowed');
      const methods = this.route(new URL(req.url ?? '/', 'http://toxiproxy').pathname);
      if (methods === undefined) return { status: 404, text: '404 page not found\n' };
      const handler = methods[req.method ?? 'GET'];
      if (handler === undefined) throw new ApiError(405, 'method not allowed');
      if (body === null) throw new ApiError(400, 'bad request body: larger than 1 MiB');
      return await handler(body);
    } catch (error) {
      if (error instanceof ApiError) return { status: error.status, json: { error: error.message, status: error.status } };
      const message = error instanceof Error ? error.message : String(error);
      return { status: 500, json: { error: message, status: 500 } };
    }
  }

  /** The handlers by method for a path, or undefined when no route has that path. */
  private route(pathname: string): Record<string, Handler> | undefined {
    let parts: string[];
    try {
      parts = pathname.split('/').slice(1).map(decodeURIComponent);
    } catch {
      return undefined;
    }
    const [root, proxy, sub, toxic] = parts;
    if (parts.length === 1 && root === 'version') return { GET: () => ({ status: 200, text: versionBody }) };
    if (parts.length === 1 && root === 'reset') return { POST: () => this.reset() };
    if (parts.length === 1 && root === 'populate') return { POST: (body) => this.populate(body) };
    if (root !== 'proxies') return undefined;
    if (parts.length === 1) return { GET: () => this.listProxies(), POST: (body) => this.createProxy(body) };
    if (proxy === undefined || proxy === '') return undefined;
    if (parts.length === 2) {
      const update: Handler = (body) => this.updateProxy(proxy, body);
      return { GET: () => ({ status: 200, json: this.proxy(proxy) }), POST: update, PATCH: update, DELETE: () => this.deleteProxy(proxy) };
    }
    if (sub !== 'toxics') return undefined;
    if (parts.length === 3) {
      return { GET: () => ({ status: 200, json: this.proxy(proxy).toxicList() }), POST: (body) => this.createToxic(proxy, body) };
    }
    if (parts.length !== 4 || toxic === undefined || toxic === '') return undefined;
    const update: Handler = (body) => this.updateToxic(proxy, toxic, body);
    return {
      GET: () => ({ status: 200, json: this.toxic(proxy, toxic) }),
      POST: update,
      PATCH: update,
      DELETE: () => {
        this.toxic(proxy, toxic);
        this.proxy(proxy).removeToxic(toxic);
        return { status: 204 };
      },
    };
  }

  private proxy(name: string): FaultProxy {
    const proxy = this.proxies.get(name);
    if (proxy === undefined) throw new ApiError(404, 'proxy not found');
    return proxy;
  }

  private toxic(proxyName: string, name: string): ToxicSpec {
    const toxic = this.proxy(proxyName).getToxic(name);
    if (toxic === undefined) throw new ApiError(404, 'toxic not found');
    return toxic;
  }

  private listProxies(): Reply {
    return { status: 200, json: Object.fromEntries([...this.proxies].map(([name, p]) => [name, p.toJSON()])) };
  }

  private async createProxy(body: string): Promise<Reply> {
    const input = readProxyInput(parseObject(body), this.host);
    if (this.proxies.has(input.name)) throw new ApiError(409, 'proxy already exists');
    return { status: 201, json: await this.addProxy(input) };
  }

  private async addProxy(input: ProxyInput): Promise<ProxyJson> {
    const proxy = new FaultProxy(input.name, input.listen, input.upstream, input.enabled);
    this.proxies.set(input.name, proxy);
    try {
      await proxy.start();
    } catch (error) {
      this.proxies.delete(input.name);
      throw error;
    }
    return proxy.toJSON();
  }

  private async updateProxy(name: string, body: string): Promise<Reply> {
    const proxy = this.proxy(name);
    const input = parseObject(body);
    const listen = optional(input, 'listen', 'string');
    const upstream = optional(input, 'upstream', 'string');
    await proxy.update({
      enabled: optional(input, 'enabled', 'boolean') ?? proxy.enabled,
      listen: listen === undefined ? proxy.listen : normaliseListen(listen, this.host),
      upstream: upstream ?? proxy.upstream,
    });
    return { status: 200, json: proxy.toJSON() };
  }

  private async deleteProxy(name: string): Promise<Reply> {
    const proxy = this.proxy(name);
    this.proxies.delete(name);
    await proxy.stop();
    return { status: 204 };
  }

  /** Creates the given proxies; keeps existing ones whose listen and upstream are unchanged. */
  private async populate(body: string): Promise<Reply> {
    let list: unknown;
    try {
      list = JSON.parse(body);
    } catch {
      throw new ApiError(400, 'bad request body');
    }
    if (!Array.isArray(list)) throw new ApiError(400, 'bad request body: expected an array of proxies');
    const inputs = list.map((item) => readProxyInput(asObject(item), this.host));
    const result: ProxyJson[] = [];
    for (const input of inputs) {
      const existing = this.proxies.get(input.name);
      if (existing !== undefined && existing.listen === input.listen && existing.upstream === input.upstream) {
        result.push(existing.toJSON());
        continue;
      }
      if (existing !== undefined) {
        this.proxies.delete(input.name);
        await existing.stop();
      }
      result.push(await this.addProxy(input));
    }
    return { status: 201, json: { proxies: result } };
  }

  /** Re-enables every proxy and removes every toxic. */
  private async reset(): Promise<Reply> {
    for (const proxy of this.proxies.values()) {
      proxy.removeAllToxics();
      await proxy.update({ enabled: true, listen: proxy.listen, upstream: proxy.upstream });
    }
    return { status: 204 };
  }

  private createToxic(proxyName: string, body: string): Reply {
    const proxy = this.proxy(proxyName);
    const input = parseObject(body);
    const streamText = optional(input, 'stream', 'string') ?? 'downstream';
    const stream = streamText.toLowerCase();
    if (stream !== 'upstream' && stream !== 'downstream') {
      throw new ApiError(400, 'stream was invalid, can be either upstream or downstream');
    }
    const type = input['type'];
    if (!isToxicType(type)) throw new ApiError(400, 'invalid toxic type');
    const name = optional(input, 'name', 'string') || `${type}_${stream}`;
    if (proxy.getToxic(name) !== undefined) throw new ApiError(409, 'toxic already exists');
    const spec: ToxicSpec = {
      attributes: readAttributes(type, input['attributes'], toxicAttributeDefaults[type]),
      name,
      type,
      stream: stream satisfies Stream,
      toxicity: optional(input, 'toxicity', 'number') ?? 1,
    };
    proxy.addToxic(spec);
    return { status: 200, json: spec };
  }

  /** Merges `attributes` and `toxicity` into the toxic; other fields are ignored. */
  private updateToxic(proxyName: string, name: string, body: string): Reply {
    const current = this.toxic(proxyName, name);
    const input = parseObject(body);
    const spec: ToxicSpec = {
      ...current,
      attributes: readAttributes(current.type, input['attributes'], current.attributes),
      toxicity: optional(input, 'toxicity', 'number') ?? current.toxicity,
    };
    this.proxy(proxyName).updateToxic(spec);
    return { status: 200, json: spec };
  }
}

function send(res: ServerResponse, reply: Reply): void {
  if (reply.status === 204) {
    res.writeHead(204).end();
  } else if (reply.text !== undefined) {
    const type = reply.status === 200 ? jsonType : 'text/plain; charset=utf-8';
    res.writeHead(reply.status, { 'content-type': type }).end(reply.text);
  } else {
    res.writeHead(reply.status, { 'content-type': jsonType }).end(JSON.stringify(reply.json));
  }
}

interface ProxyInput {
  readonly name: string;
  readonly listen: string;
  readonly upstream: string;
  readonly enabled: boolean;
}

function readProxyInput(input: Record<string, unknown>, defaultHost: string): ProxyInput {
  const name = optional(input, 'name', 'string');
  if (name === undefined || name === '') throw new ApiError(400, 'missing required field: name');
  const upstream = optional(input, 'upstream', 'string');
  if (upstream === undefined || upstream === '') throw new ApiError(400, 'missing required field: upstream');
  return {
    name,
    listen: normaliseListen(optional(input, 'listen', 'string') ?? '', defaultHost),
    upstream,
    enabled: optional(input, 'enabled', 'boolean') ?? true,
  };
}

/**
 * `host:port` with an empty host or `localhost` replaced by the server's host; an empty listen is
 * port 0. Refuses hosts that are neither loopback nor the server's host, so a test cannot open a
 * port to the network by accident.
 */
function normaliseListen(listen: string, defaultHost: string): string {
  const address = parseHostPort(listen === '' ? ':0' : listen);
  if (address === undefined) throw new ApiError(400, `bad request body: listen ${JSON.stringify(listen)} is not host:port`);
  const host = address.host === '' || address.host === 'localhost' ? defaultHost : address.host;
  const loopback = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1';
  if (!loopback && host !== defaultHost) {
    throw new ApiError(400, `listen host ${JSON.stringify(host)} is not allowed: the in-process server listens on loopback only`);
  }
  return formatHostPort(host, address.port);
}

/** Known attributes from `value` over `base`; each must be an integer. Unknown keys are ignored. */
function readAttributes(
  type: string,
  value: unknown,
  base: Readonly<Record<string, number>>,
): Record<string, number> {
  const attributes = { ...base };
  if (value === undefined || value === null) return attributes;
  const input = asObject(value);
  for (const key of Object.keys(attributes)) {
    const v = input[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw new ApiError(400, `bad request body: ${type} attribute ${key} must be an integer, got ${JSON.stringify(v)}`);
    }
    attributes[key] = v;
  }
  return attributes;
}

function parseObject(body: string): Record<string, unknown> {
  try {
    return asObject(JSON.parse(body));
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError(400, 'bad request body');
  }
}

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError(400, 'bad request body: expected a JSON object');
  }
  return value as Record<string, unknown>;
}

interface FieldTypes {
  string: string;
  boolean: boolean;
  number: number;
}

/** `input[key]` when it is present and of `type`; undefined when absent or null. */
function optional<K extends keyof FieldTypes>(input: Record<string, unknown>, key: string, type: K): FieldTypes[K] | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== type || (type === 'number' && !Number.isFinite(value))) {
    throw new ApiError(400, `bad request body: ${key} must be a ${type}, got ${JSON.stringify(value)}`);
  }
  return value as FieldTypes[K];
}
