/**
 * The place for operator controls on the status page: `POST controls`, off unless the page
 * is given {@link StatusControls}, and then only for a request that presents the secret.
 * The page does not act on the store itself: `perform` does (the admin API: pause, resume,
 * trigger, skip-next, backfill, each recording who asked). docs/operating.md, "Controls".
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { Admin, ControlResult } from '../admin/admin.js';
import { ConfigError, LeaseholdError } from '../errors.js';
import { checkKey } from '../internal.js';
import { checkOptionNames } from '../store-kit/index.js';
import { esc } from './html.js';

/** The controls the page offers. */
export const CONTROL_ACTIONS = ['pause', 'resume', 'trigger', 'skip-next', 'backfill'] as const;

/** One control. */
export type ControlAction = (typeof CONTROL_ACTIONS)[number];

/** A control as the page received it, checked: the action, the job's key, who asked. */
export interface ControlRequest {
  readonly action: ControlAction;
  /** The job's key. */
  readonly key: string;
  /** `backfill`: the first slot of the range, ISO-8601 (as typed; `perform` checks it against the job). */
  readonly from?: string;
  /** `backfill`: the last slot of the range, ISO-8601. */
  readonly to?: string;
  /** Who asked: the form's "your name" (or the `by` field of a JSON request), for the run history. */
  readonly by: string;
}

/** Operator controls for the status page. Without them the page is read-only. */
export interface StatusControls {
  /**
   * The secret each control request must present, as the form field `secret` or an
   * `Authorization: Bearer <secret>` header. At least 16 characters.
   */
  readonly secret: string;
  /**
   * Carries out one control and resolves to a one-line answer for the operator. Throw a
   * `ConfigError` for input it refuses (an unknown key, a bad range): its message is shown.
   */
  perform(request: ControlRequest): Promise<string>;
}

/** Shortest secret accepted: guessing one over HTTP must be hopeless. */
const MIN_SECRET_LENGTH = 16;
/** Largest control request body read. */
const MAX_BODY_BYTES = 16 * 1024;
/** Longest "who asked". */
const MAX_BY_LENGTH = 100;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
/** A wrong secret is answered after this pause, so guesses are slow. */
const WRONG_SECRET_DELAY_MS = 500;

/** Checks the `controls` option. @throws ConfigError naming the field */
export function checkControls(value: unknown): StatusControls | undefined {
  if (value === undefined) return undefined;
  checkOptionNames('controls', value, ['secret', 'perform']);
  const { secret, perform } = value as Partial<StatusControls>;
  if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
    // Never echo the secret, even a short one.
    throw new ConfigError(`controls.secret: must be a string of at least ${MIN_SECRET_LENGTH} characters`);
  }
  if (typeof perform !== 'function') {
    throw new ConfigError(`controls.perform: must be a function, got ${typeof perform}`);
  }
  return Object.freeze({ secret, perform: perform.bind(value) });
}

/** Answers `POST controls`: checks the secret and the fields, then calls `perform`. */
export async function handleControl(
  req: IncomingMessage,
  res: ServerResponse,
  controls: StatusControls,
  clean: (text: string) => string,
): Promise<void> {
  let fields: Record<string, string>;
  try {
    fields = await readFields(req);
  } catch (err) {
    return answer(req, res, 400, clean((err as Error).message));
  }
  const presented = bearer(req) ?? fields.secret;
  if (presented === undefined || presented === '') return answer(req, res, 401, 'controls: the secret is required');
  if (!sameSecret(presented, controls.secret)) {
    await delay(WRONG_SECRET_DELAY_MS);
    return answer(req, res, 403, 'controls: wrong secret');
  }
  try {
    const request = controlRequest(fields);
    const message = await controls.perform(request);
    return answer(req, res, 200, clean(String(message)));
  } catch (err) {
    return answer(req, res, statusOf(err), clean(err instanceof Error ? err.message : String(err)));
  }
}

/** Bad input 400; the job's lease busy past the wait 409; the store away 503; the rest 500. */
function statusOf(err: unknown): number {
  const code = err instanceof LeaseholdError ? err.code : undefined;
  if (code === 'CONFIG') return 400;
  if (code === 'ACQUIRE_TIMEOUT') return 409;
  return code === 'STORE_UNAVAILABLE' ? 503 : 500;
}

/** How long a control from the page waits for the job's lease while a run holds it. */
const PAGE_CONTROL_WAIT = '10s';

/**
 * The status page's controls carried out by a Leasehold's operator controls (`lh.admin`:
 * pause, resume, trigger, skip-next, backfill), each written under the job's lease and
 * recorded with who asked. A control waits up to 10 s for the job's lease while a run holds
 * it (then 409: try again).
 *
 * @example
 * ```ts
 * const lh = new Leasehold({ store, placement: false });
 * app.use('/leasehold', statusHandler({ store, controls: adminControls(lh, process.env.LEASEHOLD_UI_SECRET!) }));
 * ```
 */
export function adminControls(lh: { readonly admin: Admin }, secret: string): StatusControls {
  const perform = async (request: ControlRequest): Promise<string> => {
    const options = { by: request.by, wait: PAGE_CONTROL_WAIT };
    const admin = lh.admin;
    const result = await {
      pause: () => admin.pause(request.key, options),
      resume: () => admin.resume(request.key, options),
      trigger: () => admin.trigger(request.key, options),
      'skip-next': () => admin.skipNext(request.key, options),
      backfill: () => admin.backfill(request.key, { ...options, from: request.from ?? '', to: request.to ?? '' }),
    }[request.action]();
    return describeResult(result);
  };
  return checkControls({ secret, perform }) as StatusControls;
}

/** One line: `"nightly": paused (by ann)`, with a trigger's id or a backfill's slot count. */
function describeResult(result: ControlResult): string {
  const id = result.id ? `, id ${result.id}` : '';
  const slots = result.slots ? `: ${result.slots.length} slot${result.slots.length === 1 ? '' : 's'}` : '';
  return `"${result.key}": ${result.detail} (by ${result.by}${id})${slots}`;
}

function bearer(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
  return match?.[1]?.trim();
}

/** Compares digests in constant time: neither the length nor a prefix of the secret leaks. */
function sameSecret(presented: string, secret: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(secret));
}

/** The fields of a control request. @throws ConfigError naming the field and value */
export function controlRequest(fields: Record<string, string>): ControlRequest {
  const action = fields.action ?? '';
  if (!(CONTROL_ACTIONS as readonly string[]).includes(action)) {
    throw new ConfigError(`action: expected one of ${CONTROL_ACTIONS.join(', ')}, got ${JSON.stringify(action)}`);
  }
  const key = checkKey(fields.key, 'key');
  const by = (fields.by ?? '').trim();
  if (by === '' || by.length > MAX_BY_LENGTH || CONTROL_CHARACTER.test(by)) {
    throw new ConfigError(`by: who asks, 1 to ${MAX_BY_LENGTH} printable characters, got ${JSON.stringify(by)}`);
  }
  const request: { -readonly [K in keyof ControlRequest]: ControlRequest[K] } = {
    action: action as ControlAction,
    key,
    by,
  };
  if (action === 'backfill') {
    request.from = instantField(fields, 'from');
    request.to = instantField(fields, 'to');
  }
  return request;
}

function instantField(fields: Record<string, string>, name: 'from' | 'to'): string {
  const value = (fields[name] ?? '').trim();
  if (Number.isNaN(Date.parse(value))) {
    throw new ConfigError(
      `${name}: expected an ISO-8601 time such as 2026-11-23T10:00:00Z, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** A form (urlencoded) or JSON body; Express or Fastify may have parsed it already. */
async function readFields(req: IncomingMessage): Promise<Record<string, string>> {
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (parsed && typeof parsed === 'object') return stringFields(parsed);
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ConfigError(`controls: request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if ((req.headers['content-type'] ?? '').includes('application/json')) {
    try {
      return stringFields(JSON.parse(text));
    } catch {
      throw new ConfigError('controls: the request body is not valid JSON');
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function stringFields(value: unknown): Record<string, string> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  const out: Record<string, string> = {};
  for (const [name, field] of Object.entries(value)) if (typeof field === 'string') out[name] = field;
  return out;
}

/** JSON for a script (`Accept: application/json`), a small page for a browser without JavaScript. */
function answer(req: IncomingMessage, res: ServerResponse, status: number, message: string): void {
  const ok = status === 200;
  if ((req.headers.accept ?? '').includes('application/json')) {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ ok, message }));
    return;
  }
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(
    `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
      `<title>leasehold: ${ok ? 'done' : 'refused'}</title><link rel="stylesheet" href="app.css">` +
      `<p class="${ok ? 'answer' : 'alert'}">${esc(message)}</p><p><a href="./">Back to the status page</a></p>`,
  );
}
