/**
 * Fencing over HTTP: the writer sends its key and token in two headers, and the server
 * refuses a stale token with 409 before its handler runs. The check-and-record is one
 * atomic step of a {@link FenceStore}; the server must apply an accepted request's write
 * before it accepts a newer one, or fence the write itself (docs/fencing.md, "HTTP").
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { errorText } from '../store-kit/index.js';
import type { FenceStore } from './common.js';
import { MemoryFence } from './memory.js';

/** Header carrying the lease key. */
export const KEY_HEADER = 'Leasehold-Key';
/** Header carrying the fencing token, in decimal. */
export const TOKEN_HEADER = 'Leasehold-Token';

/**
 * The headers of a fenced request, for `fetch` or any client.
 *
 * @example
 * ```ts
 * await fetch(url, { method: 'PUT', body, headers: { ...fenceHeaders(ctx.key, ctx.token) } });
 * ```
 */
export function fenceHeaders(key: string, token: number): Record<string, string> {
  return { [KEY_HEADER]: key, [TOKEN_HEADER]: String(token) };
}

/** What a request said about its lease: nothing, something malformed, or a key and token. */
export type FenceHeaders =
  | { kind: 'none' }
  | { kind: 'invalid'; why: string }
  | { kind: 'fenced'; key: string; token: number };

const TOKEN = /^(0|[1-9][0-9]{0,15})$/;

/** Reads the fence headers of a request (Node lowercases header names). */
export function readFenceHeaders(headers: IncomingHttpHeaders): FenceHeaders {
  const key = headers[KEY_HEADER.toLowerCase()];
  const token = headers[TOKEN_HEADER.toLowerCase()];
  if (key === undefined && token === undefined) return { kind: 'none' };
  if (typeof key !== 'string' || key === '') return { kind: 'invalid', why: `${KEY_HEADER} missing or repeated` };
  if (typeof token !== 'string' || !TOKEN.test(token) || !Number.isSafeInteger(Number(token))) {
    return { kind: 'invalid', why: `${TOKEN_HEADER} must be a non-negative integer` };
  }
  return { kind: 'fenced', key, token: Number(token) };
}

/** Options of the middlewares. */
export interface HttpFenceOptions {
  /** Where the highest token of each resource is kept. @defaultValue a new {@link MemoryFence} */
  store?: FenceStore;
  /** The fenced resource of a request. @defaultValue the lease key */
  resource?: (key: string, request: IncomingMessage) => string;
  /** Refuse (428) a request without the headers; false lets it through unfenced. @defaultValue true */
  required?: boolean;
}

/** A refusal: status and JSON body. */
interface Refusal {
  status: number;
  body: Record<string, unknown>;
}

/** The shared judge of every middleware: undefined lets the request through. */
function judge(options: HttpFenceOptions): (request: IncomingMessage) => Promise<Refusal | undefined> {
  const store = options.store ?? new MemoryFence();
  const required = options.required ?? true;
  return async (request) => {
    const fence = readFenceHeaders(request.headers);
    if (fence.kind === 'none') {
      return required ? { status: 428, body: { error: `${KEY_HEADER} and ${TOKEN_HEADER} required` } } : undefined;
    }
    if (fence.kind === 'invalid') return { status: 400, body: { error: fence.why } };
    try {
      const resource = options.resource ? options.resource(fence.key, request) : fence.key;
      const verdict = await store.advance(resource, fence.token);
      if (verdict.accepted) return undefined;
      return {
        status: 409,
        body: { error: 'stale token', resource, token: fence.token, highest: verdict.highest },
      };
    } catch (err) {
      return { status: 503, body: { error: `fence unavailable: ${errorText(err)}` } };
    }
  };
}

function send(response: ServerResponse, refusal: Refusal): void {
  response.writeHead(refusal.status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(refusal.body));
}

/**
 * For a Node `http` server: resolves true when the request may proceed, false when it
 * was answered (409 stale, 428 missing headers, 400 malformed, 503 fence down).
 *
 * @example
 * ```ts
 * const fenced = httpFence({ store });
 * http.createServer(async (req, res) => { if (await fenced(req, res)) write(req, res); });
 * ```
 */
export function httpFence(
  options: HttpFenceOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const check = judge(options);
  return async (req, res) => {
    const refusal = await check(req);
    if (refusal) send(res, refusal);
    return refusal === undefined;
  };
}

/** Express (4 and 5) middleware: answers stale tokens with 409, else calls `next`. */
export function expressFence(
  options: HttpFenceOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const check = judge(options);
  return (req, res, next) => {
    check(req).then((refusal) => (refusal ? send(res, refusal) : next()), next);
  };
}

/** The parts of a Fastify request and reply the hook uses. */
interface FastifyLikeRequest {
  raw: IncomingMessage;
}
interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  type(contentType: string): FastifyLikeReply;
  send(body: string): unknown;
}

/**
 * A Fastify `preHandler` hook: answers stale tokens with 409, else lets the route run.
 *
 * @example
 * ```ts
 * app.put('/report', { preHandler: fastifyFence({ store }) }, handler);
 * ```
 */
export function fastifyFence(
  options: HttpFenceOptions = {},
): (request: FastifyLikeRequest, reply: FastifyLikeReply) => Promise<unknown> {
  const check = judge(options);
  return async (request, reply) => {
    const refusal = await check(request.raw);
    if (!refusal) return undefined;
    reply.code(refusal.status).type('application/json').send(JSON.stringify(refusal.body));
    return reply;
  };
}
