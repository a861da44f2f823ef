/**
 * Chaos tests drive network faults only through `toxiproxy-node-client`, so the same test files
 * run against the in-process server (default) or a real Toxiproxy (`TOXIPROXY_URL`).
 *
 * Environment:
 * - `TOXIPROXY_URL`: a running Toxiproxy, e.g. `http://127.0.0.1:8474`; unset starts an in-process server.
 * - `TOXIPROXY_LISTEN_HOST`: host the proxies listen on (default `127.0.0.1`; `0.0.0.0` inside Docker).
 * - `TOXIPROXY_UPSTREAM_HOST`: host the proxies reach the redis-servers at (default `127.0.0.1`;
 *   e.g. `host.docker.internal` from Docker).
 */
import { Toxiproxy } from 'toxiproxy-node-client';
import { startToxiproxyServer } from './toxiproxy-server.js';

export interface ToxiproxyHandle extends AsyncDisposable {
  readonly client: Toxiproxy;
  /** The API base URL. */
  readonly url: string;
  /** True when `TOXIPROXY_URL` selected an outside server (tests must remove their own proxies). */
  readonly external: boolean;
  /** Stops the in-process server; does nothing for an outside one. Idempotent. */
  close(): Promise<void>;
}

/**
 * Returns a `Toxiproxy` client for `TOXIPROXY_URL`, or for a freshly started in-process server
 * that `close()` (or `await using`) stops.
 */
export async function toxiproxyClient(): Promise<ToxiproxyHandle> {
  const external = process.env['TOXIPROXY_URL'];
  if (external !== undefined && external !== '') {
    const url = external.replace(/\/+$/, '');
    const close = (): Promise<void> => Promise.resolve();
    return { client: new Toxiproxy(url), url, external: true, close, [Symbol.asyncDispose]: close };
  }
  const server = await startToxiproxyServer();
  const close = (): Promise<void> => server.close();
  return { client: new Toxiproxy(server.url), url: server.url, external: false, close, [Symbol.asyncDispose]: close };
}

/** Host the proxies listen on: `TOXIPROXY_LISTEN_HOST`, else 127.0.0.1. */
export function listenHost(): string {
  return process.env['TOXIPROXY_LISTEN_HOST'] || '127.0.0.1';
}

/** Host the proxies reach the upstream servers at: `TOXIPROXY_UPSTREAM_HOST`, else 127.0.0.1. */
export function upstreamHost(): string {
  return process.env['TOXIPROXY_UPSTREAM_HOST'] || '127.0.0.1';
}

/** `listen` for createProxy; port 0 (the default) asks for an ephemeral port. */
export function listenAddress(port = 0): string {
  return hostPort(listenHost(), port);
}

/** `upstream` for createProxy, for a server on this machine at `port`. */
export function upstreamAddress(port: number): string {
  return hostPort(upstreamHost(), port);
}

/**
 * Where a test connects to reach a proxy, from the proxy's `listen` as the server reports it
 * (with the real port); a wildcard listen host is reached through 127.0.0.1.
 */
export function proxyEndpoint(proxy: { readonly listen: string }): { host: string; port: number } {
  const match = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(proxy.listen);
  if (match === null) throw new Error(`Expected a proxy listen address like 127.0.0.1:PORT, got \`${proxy.listen}\``);
  const host = match[1] ?? match[2] ?? '';
  const wildcard = host === '' || host === '0.0.0.0' || host === '::';
  return { host: wildcard ? '127.0.0.1' : host, port: Number(match[3]) };
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
