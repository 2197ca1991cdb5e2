/**
 * The standalone status server (`leasehold ui`, or `startStatusServer` from code): the
 * status page on its own Node `http` server, bound to 127.0.0.1 unless told otherwise.
 * @module
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.js';
import { openStore } from '../open.js';
import type { LeaseStore } from '../store.js';
import { checkOptionNames, secretsOf } from '../store-kit/index.js';
import { checkPageOptions, createHandler, type StatusPageOptions } from './handler.js';

/** Options of {@link startStatusServer}. */
export interface StatusServerOptions extends Omit<StatusPageOptions, 'store' | 'basePath'> {
  /** The store, or a store URL: opened here (credentials never shown) and closed with the server. */
  store: LeaseStore | string;
  /**
   * The address to listen on. Anything but a loopback address exposes the page (key names,
   * hosts, run history) to whoever reaches it. @defaultValue `'127.0.0.1'`
   */
  host?: string;
  /** The port; 0 picks a free one (read it from {@link StatusServer.port}). @defaultValue 7070 */
  port?: number;
}

/** A running status server. */
export interface StatusServer {
  /** The page's address, e.g. `http://127.0.0.1:7070/`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Stops listening, ends open event streams, and closes the store if it was opened from a URL. */
  close(): Promise<void>;
  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The default port of `leasehold ui`. */
export const DEFAULT_UI_PORT = 7070;
/** The default address: this machine only. */
export const DEFAULT_UI_HOST = '127.0.0.1';

const SERVER_OPTION_NAMES = ['store', 'refresh', 'metrics', 'controls', 'title', 'host', 'port'] as const;

/** True for an address only this machine reaches. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/**
 * Host headers a loopback-bound server answers: a page on this machine is reached by these
 * names only, so a site that points its own name at 127.0.0.1 (DNS rebinding) gets 403.
 */
function loopbackHostHeader(header: string | undefined): boolean {
  if (!header) return false;
  const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.replace(/:\d+$/, '');
  return isLoopback(name) || name.toLowerCase().endsWith('.localhost');
}

/**
 * Starts the status page on its own HTTP server.
 *
 * @example
 * ```ts
 * import { startStatusServer } from 'leasehold/ui';
 * const server = await startStatusServer({ store: 'postgres://app@db/app', port: 7070 });
 * console.log(server.url);  // http://127.0.0.1:7070/
 * ```
 * @throws ConfigError for bad options, before any request to the store
 */
export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  if (options === undefined) throw new ConfigError('startStatusServer: an options object is required, e.g. { store }');
  checkOptionNames('startStatusServer', options, SERVER_OPTION_NAMES);
  const { host, port } = checkAddress(options.host, options.port);
  const { host: _host, port: _port, store: given, ...page } = options;
  if (typeof given !== 'string') return serveStore(given, page, { host, port, secrets: [], ownsStore: false });
  const store = await openStore(given);
  try {
    return await serveStore(store, page, { host, port, secrets: secretsOf(given), ownsStore: true });
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
}

/** Checks the address options. @throws ConfigError naming the option and value */
export function checkAddress(host: unknown = DEFAULT_UI_HOST, port: unknown = DEFAULT_UI_PORT) {
  if (typeof host !== 'string' || host.trim() === '') {
    throw new ConfigError(`host: expected an address, got ${JSON.stringify(host)}`);
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`port: expected an integer from 0 to 65535, got ${JSON.stringify(port)}`);
  }
  return { host, port };
}

/** How {@link serveStore} listens and cleans. */
export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  /** Masked in every error shown: the store URL's secrets. */
  readonly secrets: readonly string[];
  /** Close the store with the server (it was opened from a URL). */
  readonly ownsStore: boolean;
}

/** Serves the page for an open store (the CLI opens and checks it first). */
export async function serveStore(
  store: LeaseStore,
  page: Omit<StatusPageOptions, 'store' | 'basePath'>,
  serve: ServeOptions,
): Promise<StatusServer> {
  const checked = checkPageOptions('startStatusServer', { ...page, store });
  const { host, port } = serve;
  const handler = createHandler(checked, {
    secrets: serve.secrets,
    ...(isLoopback(host) ? { allowHost: loopbackHostHeader } : {}),
  });
  const server = createServer(handler);
  await listen(server, port, host);
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      handler.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (serve.ownsStore) await store.close();
    })();
    return closing;
  };
  return { url: `http://${shownHost}:${bound}/`, port: bound, close, [Symbol.asyncDispose]: close };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.message;
      reject(new ConfigError(`ui: cannot listen on ${host}:${port}: ${why}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
