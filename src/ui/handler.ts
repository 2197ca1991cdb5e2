/**
 * The status page as a request handler: for a Node `http` server, as Express middleware
 * (`app.use('/leasehold', handler)`), and as a Fastify plugin. Routes, relative to where
 * it is mounted: the page (`./`), `status.json` (the `status --json` document), `events`
 * (server-sent events carrying the page's live part), `metrics` (Prometheus text),
 * `app.css`, `app.js`, and `controls` (POST, only when controls are enabled).
 * docs/operating.md, "The status page".
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readStatus } from '../cli/admin.js';
import { type Duration, parseDuration } from '../duration.js';
import { ConfigError } from '../errors.js';
import type { LeaseStore } from '../store.js';
import { checkOptionNames, errorText, redactText } from '../store-kit/index.js';
import { STATUS_REFRESH_MS } from '../defaults.js';
import { SCRIPT, STYLE } from './assets.js';
import { checkControls, handleControl, type StatusControls } from './controls.js';
import { type Snapshot, StatusHub } from './hub.js';
import { joinMetrics, PROMETHEUS_CONTENT_TYPE, storeGauges } from './metrics.js';
import { type PageOptions, renderLive, renderPage, type View } from './render.js';

/** Options of {@link statusHandler}, {@link fastifyStatus} and the status server. */
export interface StatusPageOptions {
  /** The store to show. The page only reads it (unless controls are enabled and `perform` writes). */
  store: LeaseStore;
  /** How often an open page gets a new read of the store (one read shared by every viewer). @defaultValue `'2s'` */
  refresh?: Duration;
  /**
   * Prometheus text appended to `/metrics` after the store's gauges: a process's own
   * counters and histograms (for example from an OpenTelemetry Prometheus exporter).
   */
  metrics?: () => string | Promise<string>;
  /** Operator controls (a secret and what carries them out). Without them the page is read-only. */
  controls?: StatusControls;
  /**
   * The path the handler answers under on a plain Node `http` server, e.g. `'/leasehold'`.
   * Express and Fastify strip their mount path themselves: leave it unset there. @defaultValue `''`
   */
  basePath?: string;
  /** The page's title. @defaultValue `'leasehold status'` */
  title?: string;
}

/** A request handler for the status page; also Express middleware (it calls `next` for paths not its own). */
export interface StatusHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** Stops the page's timer and ends its open event streams. Idempotent. */
  close(): void;
}

/** What the status server adds to the options (not for embedding). */
export interface HandlerInternals {
  /** Secrets to mask in every error shown (the store URL's password). */
  readonly secrets?: readonly string[];
  /** When set, requests whose Host header it refuses get 403 (DNS rebinding against a local server). */
  readonly allowHost?: (host: string | undefined) => boolean;
}

/** Shortest and longest refresh interval accepted. */
const REFRESH_BOUNDS_MS = [250, 3_600_000] as const;

interface Checked {
  readonly store: LeaseStore;
  readonly refreshMs: number;
  readonly metrics: (() => string | Promise<string>) | undefined;
  readonly controls: StatusControls | undefined;
  readonly basePath: string;
  readonly title: string;
}

const OPTION_NAMES = ['store', 'refresh', 'metrics', 'controls', 'basePath', 'title'] as const;

/** Checks the options before anything else. @throws ConfigError naming the option and value */
export function checkPageOptions(what: string, options: unknown): Checked {
  if (options === undefined) throw new ConfigError(`${what}: an options object is required, e.g. { store }`);
  checkOptionNames(what, options, OPTION_NAMES);
  const o = options as StatusPageOptions;
  const store = o.store as Partial<LeaseStore> | undefined;
  if (!store || typeof store.inspect !== 'function' || typeof store.list !== 'function') {
    throw new ConfigError(`${what}: store must be a LeaseStore (from openStore or a store class)`);
  }
  const refreshMs = o.refresh === undefined ? STATUS_REFRESH_MS : parseDuration(o.refresh, 'refresh');
  const [min, max] = REFRESH_BOUNDS_MS;
  if (refreshMs < min || refreshMs > max) {
    throw new ConfigError(`refresh: ${JSON.stringify(o.refresh)} is outside ${min}ms to 1h`);
  }
  if (o.metrics !== undefined && typeof o.metrics !== 'function') {
    throw new ConfigError(`metrics: must be a function returning Prometheus text, got ${typeof o.metrics}`);
  }
  const basePath = o.basePath ?? '';
  if (typeof basePath !== 'string' || (basePath !== '' && !/^\/[^?#\s]*[^/?#\s]$/.test(basePath))) {
    throw new ConfigError(
      `basePath: expected a path such as "/leasehold" (no trailing slash), got ${JSON.stringify(basePath)}`,
    );
  }
  const title = o.title ?? 'leasehold status';
  if (typeof title !== 'string' || title.trim() === '')
    throw new ConfigError(`title: expected text, got ${JSON.stringify(title)}`);
  return Object.freeze({
    store: o.store,
    refreshMs,
    metrics: o.metrics,
    controls: checkControls(o.controls),
    basePath,
    title,
  });
}

/**
 * The status page as a handler for a Node `http` server or Express.
 *
 * @example
 * ```ts
 * import { statusHandler } from 'leasehold/ui';
 * const page = statusHandler({ store });
 * http.createServer(page).listen(7070, '127.0.0.1');   // or: app.use('/leasehold', page)
 * ```
 * @throws ConfigError for bad options, before any request
 */
export function statusHandler(options: StatusPageOptions): StatusHandler {
  return createHandler(checkPageOptions('statusHandler', options), {});
}

/** Builds the handler from checked options (the status server passes its internals). */
export function createHandler(options: Checked, internals: HandlerInternals): StatusHandler & ServeAt {
  const clean = (text: string) => redactText(text, internals.secrets ?? []);
  const hub = new StatusHub(() => readStatus(options.store), options.refreshMs, clean);
  const streams = new Set<ServerResponse>();
  const page: PageOptions = { controls: options.controls !== undefined, title: options.title };
  const serveAt: ServeAt['serveAt'] = (req, res, path, fullPath, next) => {
    if (internals.allowHost && !internals.allowHost(req.headers.host)) {
      return plain(res, 403, `host ${JSON.stringify(req.headers.host ?? '')} is not allowed; use localhost`);
    }
    const context: Context = { options, hub, streams, page, clean, req, res };
    route(context, path, fullPath, next).catch((err: unknown) => {
      if (!res.headersSent) plain(res, 500, `status page: ${clean(errorText(err))}`);
      else res.destroy();
    });
  };
  const handler = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => {
    const fullPath = new URL(req.url ?? '/', 'http://localhost').pathname;
    const relative = stripBase(fullPath, options.basePath);
    if (relative === undefined) return next ? next() : plain(res, 404, 'not found');
    const shown = (req as IncomingMessage & { originalUrl?: string }).originalUrl;
    serveAt(req, res, relative, shown ? new URL(shown, 'http://localhost').pathname : fullPath, next);
  }) as StatusHandler & ServeAt;
  handler.serveAt = serveAt;
  handler.close = () => {
    hub.close();
    for (const stream of streams) stream.end();
    streams.clear();
  };
  return handler;
}

/** Serving a request whose path relative to the mount point is already known (the Fastify plugin). */
export interface ServeAt {
  serveAt(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    fullPath: string,
    next: ((err?: unknown) => void) | undefined,
  ): void;
}

function stripBase(path: string, base: string): string | undefined {
  if (base === '') return path;
  if (path === base) return '';
  return path.startsWith(`${base}/`) ? path.slice(base.length) : undefined;
}

interface Context {
  readonly options: Checked;
  readonly hub: StatusHub;
  readonly streams: Set<ServerResponse>;
  readonly page: PageOptions;
  readonly clean: (text: string) => string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
}

/** Relative paths the page uses (`app.css`, `events`) need the mount point to end with `/`. */
async function route(
  c: Context,
  path: string,
  fullPath: string,
  next: ((err?: unknown) => void) | undefined,
): Promise<void> {
  if (path === '' || (path === '/' && !fullPath.endsWith('/'))) return redirect(c, `${fullPath}/`);
  const method = c.req.method ?? 'GET';
  if (path === '/controls') {
    if (!c.options.controls) return plain(c.res, 404, 'controls are not enabled on this status page');
    if (method !== 'POST') return plain(c.res, 405, 'controls: use POST', { allow: 'POST' });
    return handleControl(c.req, c.res, c.options.controls, c.clean);
  }
  const get = READS[path];
  if (!get) return next ? next() : plain(c.res, 404, 'not found');
  if (method !== 'GET' && method !== 'HEAD')
    return plain(c.res, 405, `${path.slice(1) || 'page'}: use GET`, { allow: 'GET, HEAD' });
  return get(c);
}

const READS: Record<string, (c: Context) => Promise<void> | void> = {
  '/': sendPage,
  '/status.json': sendJson,
  '/events': sendEvents,
  '/metrics': sendMetrics,
  '/app.css': (c) => send(c.res, 200, 'text/css; charset=utf-8', STYLE, { 'cache-control': 'no-cache' }),
  '/app.js': (c) => send(c.res, 200, 'text/javascript; charset=utf-8', SCRIPT, { 'cache-control': 'no-cache' }),
};

function viewOf(snapshot: Snapshot): View {
  return { doc: snapshot.doc, error: snapshot.error, ageMs: performance.now() - snapshot.readAt };
}

/**
 * Same-origin script and style only, no framing, no referrer: the page shows key names and
 * hosts, and its forms (controls) must not be driven from another site.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

async function sendPage(c: Context): Promise<void> {
  const snapshot = await c.hub.current();
  send(c.res, 200, 'text/html; charset=utf-8', renderPage(viewOf(snapshot), c.page), PAGE_HEADERS);
}

async function sendJson(c: Context): Promise<void> {
  const snapshot = await c.hub.current();
  if (snapshot.error !== undefined || !snapshot.doc) {
    const body = JSON.stringify({ error: snapshot.error ?? 'the store was not read yet' });
    return send(c.res, 503, 'application/json; charset=utf-8', body, { 'cache-control': 'no-store' });
  }
  // The document `leasehold status --json` prints, byte for byte.
  send(c.res, 200, 'application/json; charset=utf-8', `${JSON.stringify(snapshot.doc, null, 2)}\n`, {
    'cache-control': 'no-store',
  });
}

async function sendMetrics(c: Context): Promise<void> {
  const gauges = storeGauges(await c.hub.current());
  let provided: string | undefined;
  if (c.options.metrics) {
    try {
      provided = await c.options.metrics();
    } catch (err) {
      provided = `# the metrics provider failed: ${c.clean(errorText(err))}\n`;
    }
  }
  send(c.res, 200, PROMETHEUS_CONTENT_TYPE, joinMetrics(gauges, provided), { 'cache-control': 'no-store' });
}

/** Server-sent events: `page` events with the live part, on every read while the page is open. */
function sendEvents(c: Context): void {
  const { req, res } = c;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
    'x-content-type-options': 'nosniff',
  });
  // A browser that lost the stream comes back after 3 s.
  res.write('retry: 3000\n\n');
  const push = (snapshot: Snapshot) => {
    if (!res.writableEnded) res.write(eventText('page', renderLive(viewOf(snapshot))));
  };
  c.streams.add(res);
  const unsubscribe = c.hub.subscribe(push);
  c.hub.current().then(push, () => {});
  req.on('close', () => {
    unsubscribe();
    c.streams.delete(res);
  });
}

/** One event; the data's lines each get their own `data:` field, as the format asks. */
export function eventText(event: string, data: string): string {
  return `event: ${event}\n${data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}`)
    .join('\n')}\n\n`;
}

function redirect(c: Context, location: string): void {
  const query = new URL(c.req.url ?? '/', 'http://localhost').search;
  c.res.writeHead(308, { location: `${location}${query}`, 'content-type': 'text/plain; charset=utf-8' });
  c.res.end(`see ${location}\n`);
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string>): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    ...headers,
  });
  res.end(body);
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  send(res, status, 'text/plain; charset=utf-8', `${text}\n`, { 'cache-control': 'no-store', ...headers });
}

/** The parts of a Fastify instance the plugin uses (any Fastify 4 or 5). */
export interface FastifyLikeInstance {
  readonly prefix: string;
  addHook(name: 'onClose', hook: (instance: unknown) => Promise<void>): unknown;
  removeAllContentTypeParsers(): unknown;
  addContentTypeParser(
    type: string,
    parser: (request: unknown, payload: unknown, done: (err: Error | null, body?: unknown) => void) => void,
  ): unknown;
  route(options: {
    method: string[];
    url: string;
    handler: (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }) => void;
  }): unknown;
}

/**
 * The status page as a Fastify plugin; register it with a prefix.
 *
 * @example
 * ```ts
 * import { fastifyStatus } from 'leasehold/ui';
 * await app.register(fastifyStatus({ store }), { prefix: '/leasehold' });
 * ```
 * @throws ConfigError for bad options, before any request
 */
export function fastifyStatus(options: StatusPageOptions): (instance: FastifyLikeInstance) => Promise<void> {
  const checked = checkPageOptions('fastifyStatus', options);
  return async (instance) => {
    const handler = createHandler(checked, {});
    instance.addHook('onClose', async () => handler.close());
    // Inside this plugin only: leave bodies unread, so the controls route reads its own.
    instance.removeAllContentTypeParsers();
    instance.addContentTypeParser('*', (_request, _payload, done) => done(null));
    const prefix = instance.prefix;
    const handle = (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }) => {
      reply.hijack();
      const fullPath = new URL(request.raw.url ?? '/', 'http://localhost').pathname;
      const relative = fullPath.startsWith(prefix) ? fullPath.slice(prefix.length) : fullPath;
      handler.serveAt(request.raw, reply.raw, relative, fullPath, undefined);
    };
    instance.route({ method: ['GET', 'POST'], url: '/', handler: handle });
    instance.route({ method: ['GET', 'POST'], url: '/*', handler: handle });
  };
}
