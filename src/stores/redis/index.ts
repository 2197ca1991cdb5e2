/**
 * `leasehold/redis` — leases on Redis (standalone, Sentinel-managed or Cluster), through
 * `ioredis` 5 or 6.
 *
 * ## How it works
 *
 * Every operation is one Lua script, run atomically by the server with `EVALSHA` (and
 * `EVAL` when the server answers `NOSCRIPT`, e.g. just after a restart): one round trip
 * per acquire, busy answer, renew, release, fenced write, break and inspect.
 *
 * Each lease key uses two Redis keys that share a hash tag, so they live in one slot
 * and one script may touch both on Redis Cluster:
 *
 * - `<prefix>{<key>}` — a hash that never expires: the last token issued (`token`) and
 *   the fenced state (`state`). It outlives every lease on the key.
 * - `<prefix>{<key>}:lease` — a hash with the current lease (`holder`, `id`, `token`),
 *   expired by the server itself (`PEXPIRE`). No key means no current lease.
 *
 * (`{`, `}` and `%` in a key are written `%7B`, `%7D` and `%25`, so a key can never cut
 * the hash tag short.)
 *
 * ## Tokens across data loss
 *
 * Redis often runs without persistence, and a failover can promote a replica that
 * missed the last writes. A token counter alone would then start again from 1. So
 * each new token is the larger of (last token + 1) and the server's clock in
 * microseconds since the epoch (read with `TIME` inside the script). A server that
 * lost everything still issues tokens above every token issued before the loss, as
 * long as:
 *
 * - the clock of the server that answers after the loss is not behind the clock of the
 *   server that issued the last token before it (same server not stepped back; or
 *   NTP-synchronised servers, the gap covering any offset between them), and
 * - a key is not acquired more than once per microsecond on average (a Redis server
 *   runs far fewer scripts than that).
 *
 * Tokens are therefore large (about 1.8 × 10^15 in 2026), but exact in JSON, SQL
 * `bigint` and JavaScript numbers until the year 2255.
 *
 * ## Clock
 *
 * Expiry is the server's: the lease key's `PEXPIRE`. `now()` and `storeTime` are the
 * server's `TIME`.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { ConfigError, LeaseholdError, StoreUnavailableError } from '../../errors.js';
import { redactText, redactUrl } from '../../store-kit/index.js';
import type {
  AcquireRequest,
  AcquireResult,
  LeaseRecord,
  LeaseRef,
  LeaseStore,
  RenewRequest,
  StoreCapabilities,
  StoreOpOptions,
  WriteStateRequest,
} from '../../store.js';
import { decodeState, encodeState } from '../util.js';

/**
 * The few commands the store sends, typed structurally so any `ioredis` 5 or 6 client —
 * `Redis` or `Cluster` — fits without tying you to one SDK version. Replies are
 * treated as `unknown` and checked.
 */
export interface RedisClientLike {
  /** `EVALSHA sha numkeys key… arg…` */
  evalsha(sha1: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** `EVAL script numkeys key… arg…` (after a `NOSCRIPT` answer) */
  eval(script: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** `TIME`, for {@link RedisStore.now}. */
  time(): Promise<unknown>;
  /** `SCAN cursor MATCH pattern COUNT n`, for {@link RedisStore.list}. */
  scan(cursor: string, matchToken: 'MATCH', pattern: string, countToken: 'COUNT', count: number): Promise<unknown>;
  /** Present on a Cluster client: {@link RedisStore.list} scans every master. */
  nodes?(role: 'master'): RedisClientLike[];
}

/** Options of {@link RedisStore}. Give exactly one of `client` and `url`. */
export interface RedisStoreOptions {
  /**
   * Your client (`new Redis(…)` or `new Cluster(…)` from ioredis). The store never
   * closes it. Do not set ioredis's `keyPrefix` on it; use {@link prefix}.
   */
  client?: RedisClientLike;
  /**
   * `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS). The store opens
   * its own ioredis client (imported on first use) and closes it in `close()`.
   */
  url?: string;
  /**
   * With a `rediss://` url: TLS settings for the connection, e.g. `{ ca }` for a server
   * whose certificate a private CA signed. The certificate is always verified unless
   * you set `rejectUnauthorized: false` here.
   * @defaultValue Node's defaults (its CA list, plus `NODE_EXTRA_CA_CERTS`)
   */
  tls?: ConnectionOptions;
  /**
   * Prefix of every Redis key the store writes. Must not contain `{` or `}` (they would
   * break the hash tags that keep a lease key's Redis keys in one Cluster slot).
   * @defaultValue `'leasehold:'`
   */
  prefix?: string;
  /**
   * Longest a single request may take before it is abandoned with
   * `StoreUnavailableError` (on top of any `signal` the caller passes).
   * @defaultValue 5000
   */
  timeoutMs?: number;
  /**
   * With `url`: longest the TCP (and TLS) connection may take to open.
   * @defaultValue 5000
   */
  connectTimeoutMs?: number;
  /**
   * How many keys `SCAN` is asked to look at per round trip in {@link RedisStore.list}.
   * @defaultValue 1000
   */
  scanCount?: number;
}

/** Options of {@link fromUrl}. */
export type RedisFromUrlOptions = Omit<RedisStoreOptions, 'client' | 'url'>;

/** What an owned ioredis client offers beyond {@link RedisClientLike}. */
interface OwnedClient extends RedisClientLike {
  status: string;
  quit(): Promise<unknown>;
  disconnect(reconnect?: boolean): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

type IORedisCtor = new (options: Record<string, unknown>) => OwnedClient;

/** Connection settings parsed from a `redis://` / `rediss://` URL by {@link parseRedisUrl}. */
export interface ParsedRedisUrl {
  /** The password as written in the URL (percent-encoded), for redaction. */
  rawPassword: string | undefined;
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** TCP port; 6379 when the URL names none. */
  port: number;
  /** ACL user name (Redis 6+), decoded. */
  username: string | undefined;
  /** Password, decoded. */
  password: string | undefined;
  /** Database number from `/N` or `?db=N`; 0 when absent. */
  db: number;
  /** True for `rediss://`. */
  tls: boolean;
}

const DEFAULTS = {
  prefix: 'leasehold:',
  timeoutMs: 5000,
  connectTimeoutMs: 5000,
  scanCount: 1000,
} satisfies Required<Omit<RedisFromUrlOptions, 'tls'>>;

// Scripts. KEYS[1] = the state hash (never expires), KEYS[2] = the lease hash (PEXPIRE).
// They return only integers and strings: RESP3 clients (ioredis 6) would otherwise see
// Lua booleans as booleans instead of nil. A missing string is returned as ''.
// redis.replicate_commands() lets Redis 3.2–4 replicate writes made after TIME; newer
// servers always do.

const ACQUIRE = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nowMs = math.floor(nowUs / 1000)
local cur = redis.call('HMGET', KEYS[2], 'id', 'holder', 'token')
local state = redis.call('HGET', KEYS[1], 'state') or ''
if cur[1] then
  if cur[1] == ARGV[2] then
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
    return {1, cur[3], nowMs, state}
  end
  return {0, cur[2] or '', redis.call('PTTL', KEYS[2]), nowMs, state}
end
local token = tonumber(redis.call('HGET', KEYS[1], 'token') or '0') + 1
if nowUs > token then token = nowUs end
local ts = string.format('%.0f', token)
redis.call('HSET', KEYS[1], 'token', ts)
redis.call('HSET', KEYS[2], 'holder', ARGV[1], 'id', ARGV[2], 'token', ts)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1, ts, nowMs, state}
`;

// ARGV: leaseId, token, ttlMs
const RENEW = `
local cur = redis.call('HMGET', KEYS[2], 'id', 'token')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`;

// ARGV: leaseId, token
const RELEASE = `
local cur = redis.call('HMGET', KEYS[2], 'id', 'token')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
return 1
`;

// ARGV: leaseId, token, state
const WRITE_STATE = `
local cur = redis.call('HMGET', KEYS[2], 'id', 'token')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[3])
return 1
`;

const FORCE_RELEASE = `
return redis.call('DEL', KEYS[2])
`;

const INSPECT = `
local m = redis.call('HMGET', KEYS[1], 'token', 'state')
local l = redis.call('HMGET', KEYS[2], 'holder', 'token')
if not m[1] and not l[2] then return {0} end
local pttl = -2
if l[2] then pttl = redis.call('PTTL', KEYS[2]) end
return {1, l[1] or '', l[2] or m[1], pttl, m[2] or ''}
`;

interface Script {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

function script(name: string, lua: string): Script {
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const SCRIPTS = {
  acquire: script('acquire', ACQUIRE),
  renew: script('renew', RENEW),
  release: script('release', RELEASE),
  writeState: script('writeState', WRITE_STATE),
  forceRelease: script('forceRelease', FORCE_RELEASE),
  inspect: script('inspect', INSPECT),
} as const;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Writes a key so that it cannot end the hash tag: `%`, `{`, `}` percent-encoded. */
function encodeKey(key: string): string {
  return key.replace(/[%{}]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D'));
}

function decodeKey(name: string): string {
  return name.replace(/%(25|7B|7D)/g, (_m, h: string) => (h === '25' ? '%' : h === '7B' ? '{' : '}'));
}

/** Escapes Redis glob metacharacters for `SCAN MATCH`. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v === null || v === undefined) return '';
  return String(v);
}

function num(v: unknown, what: string): number {
  const n = typeof v === 'number' ? v : Number(str(v));
  if (!Number.isFinite(n)) throw new Error(`unexpected reply for ${what}: ${JSON.stringify(str(v)).slice(0, 80)}`);
  return n;
}

function asArray(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new Error(`unexpected reply for ${what}: ${JSON.stringify(v)?.slice(0, 80)}`);
  return v;
}

function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null ? String((err as { code?: unknown }).code ?? '') : '';
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || errorCode(err) || err.name;
  return String(err);
}

/**
 * Parses a `redis://` or `rediss://` URL.
 * @throws ConfigError naming the URL (password masked) and what is wrong with it.
 */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const shown = redactUrl(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`store: "${shown}" is not a valid Redis URL; expected redis://[user:password@]host[:port][/db]`);
  }
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  if (scheme !== 'redis' && scheme !== 'rediss') {
    throw new ConfigError(`store: "${shown}" is not a Redis URL; expected redis:// or rediss://`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new ConfigError(`store: "${shown}" names no host; expected redis://host[:port][/db]`);
  const port = u.port === '' ? 6379 : Number(u.port);
  const path = u.pathname.replace(/^\//, '');
  let dbText = path === '' ? undefined : path;
  for (const [name, value] of u.searchParams) {
    if (name === 'db') dbText = value;
    else throw new ConfigError(`store: unknown parameter "${name}" in "${shown}"; only "db" is understood`);
  }
  const db = dbText === undefined ? 0 : Number(dbText);
  if (!/^\d+$/.test(dbText ?? '0') || !Number.isSafeInteger(db)) {
    throw new ConfigError(`store: database "${dbText}" in "${shown}" must be a number such as /0`);
  }
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new ConfigError(`store: malformed percent-encoding in the credentials of "${shown}"`);
    }
  };
  return {
    rawPassword: u.password || undefined,
    host,
    port,
    username: u.username ? decode(u.username) : undefined,
    password: u.password ? decode(u.password) : undefined,
    db,
    tls: scheme === 'rediss',
  };
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`redis store: ${name} must be a positive number of ms, got ${JSON.stringify(value)}`);
  }
  return value;
}

async function loadIORedis(): Promise<IORedisCtor> {
  try {
    const mod = (await import('ioredis')) as unknown as { Redis?: IORedisCtor; default?: IORedisCtor };
    const ctor = mod.Redis ?? mod.default;
    if (typeof ctor !== 'function') throw new Error('ioredis exports no Redis class');
    return ctor;
  } catch (err) {
    throw new ConfigError('redis store: the "ioredis" package is needed for redis:// URLs; install it with `npm install ioredis`', { cause: err });
  }
}

/**
 * A {@link LeaseStore} on Redis. See the module docs for the key layout, the token
 * design and what it assumes.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { RedisStore } from 'leasehold/redis';
 * const store = new RedisStore({ client: new Redis(process.env.REDIS_URL!) });
 * ```
 */
export class RedisStore implements LeaseStore {
  readonly name = 'redis';
  readonly capabilities: StoreCapabilities = { clock: 'store', persistent: false, stateOnAcquire: true, minTtlMs: 1 };
  /** Prefix of every Redis key this store writes. */
  readonly prefix: string;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #scanCount: number;
  /** Where messages say the store is: `redis <URL with its password masked>`, or `redis`. */
  readonly #where: string;
  readonly #secrets: (string | undefined)[];
  readonly #url: ParsedRedisUrl | undefined;
  readonly #tls: ConnectionOptions | undefined;
  #client: RedisClientLike | undefined;
  #owned: Promise<OwnedClient> | undefined;
  #lastConnError: Error | undefined;
  #silentRequests = 0;
  /** A reconnection we asked for is under way: many requests timing out together ask once. */
  #dropping = false;
  #closed = false;

  constructor(options: RedisStoreOptions) {
    if (!options || typeof options !== 'object') throw new ConfigError('redis store: options with a client or a url are required');
    const prefix = options.prefix ?? DEFAULTS.prefix;
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      throw new ConfigError(`redis store: prefix must be a string without "{" or "}", got ${JSON.stringify(prefix)}`);
    }
    this.prefix = prefix;
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs);
    this.#connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, DEFAULTS.connectTimeoutMs);
    this.#scanCount = Math.ceil(positive('scanCount', options.scanCount, DEFAULTS.scanCount));
    if ((options.client === undefined) === (options.url === undefined)) {
      throw new ConfigError('redis store: give exactly one of "client" and "url"');
    }
    if (options.client !== undefined) {
      if (options.tls !== undefined) throw new ConfigError('redis store: tls options apply to a url; configure TLS on the client you pass');
      const c = options.client;
      if (!c || typeof c.evalsha !== 'function' || typeof c.eval !== 'function') {
        throw new ConfigError('redis store: client must be an ioredis client (it needs evalsha, eval, time and scan)');
      }
      this.#client = c;
      this.#where = 'redis';
      this.#secrets = [];
    } else {
      if (typeof options.url !== 'string') throw new ConfigError(`redis store: url must be a string, got ${JSON.stringify(options.url)}`);
      this.#url = parseRedisUrl(options.url);
      this.#where = `redis ${redactUrl(options.url)}`;
      if (options.tls !== undefined && !this.#url.tls) {
        throw new ConfigError(`redis store: tls options need a rediss:// url, got "${redactUrl(options.url)}"`);
      }
      this.#tls = options.tls;
      this.#secrets = [this.#url.password, this.#url.rawPassword];
    }
  }

  async #getClient(): Promise<RedisClientLike> {
    if (this.#closed) throw new StoreUnavailableError(`${this.#where}: the store is closed`);
    if (this.#client) return this.#client;
    this.#owned ??= this.#open();
    return this.#owned;
  }

  async #open(): Promise<OwnedClient> {
    const Redis = await loadIORedis();
    const u = this.#url as ParsedRedisUrl;
    const client = new Redis({
      host: u.host,
      port: u.port,
      username: u.username,
      password: u.password,
      db: u.db,
      // SNI carries host names only (RFC 6066); an IP address is checked against the certificate without it.
      ...(u.tls ? { tls: { ...(isIP(u.host) ? {} : { servername: u.host }), ...this.#tls } } : {}),
      connectionName: 'leasehold',
      // Connect on the first request, never at construction.
      lazyConnect: true,
      // Requests made while (re)connecting wait for the connection, but fail after one
      // failed reconnection instead of queueing forever; each request also has its own
      // timeout (timeoutMs / the caller's signal).
      enableOfflineQueue: true,
      maxRetriesPerRequest: 1,
      connectTimeout: this.#connectTimeoutMs,
      // Reconnect soon and keep trying: a request waiting for the connection learns the
      // outcome of the next attempt, so a short cap keeps "server down" answers fast.
      retryStrategy: (times: number) => Math.min(50 * times, 500),
      // A request whose reply was lost is not sent again behind the caller's back: the
      // caller already gave up on it.
      autoResendUnfulfilledCommands: false,
      enableAutoPipelining: false,
    });
    // Remembered for messages ("cannot reach the server (connect ECONNREFUSED …)"); also
    // keeps ioredis from printing unhandled error events.
    client.on('error', (err) => {
      this.#lastConnError = err;
    });
    client.on('ready', () => {
      this.#lastConnError = undefined;
      this.#dropping = false;
    });
    return client;
  }

  #key(key: string): [string, string] {
    // Redis keys are bytes; a lone surrogate would be written as U+FFFD and two keys
    // could become one.
    if (LONE_SURROGATE.test(key)) throw new ConfigError(`key: ${JSON.stringify(key)} is not valid Unicode (lone surrogate)`);
    const base = `${this.prefix}{${encodeKey(key)}}`;
    return [base, `${base}:lease`];
  }

  /** Runs one request with its own timeout and the caller's signal; maps every failure. */
  async #call<T>(what: string, signal: AbortSignal | undefined, fn: (c: RedisClientLike) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    let unanswered = false;
    try {
      if (signal?.aborted) throw new StoreUnavailableError(`${this.#where}: ${what}: aborted`, { cause: signal.reason });
      const client = await this.#getClient();
      const stop = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          unanswered = true;
          reject(new StoreUnavailableError(`${this.#where}: ${what}: no answer within ${this.#timeoutMs}ms`));
        }, this.#timeoutMs);
        timer.unref?.();
        if (signal) {
          onAbort = () => {
            unanswered = true;
            reject(new StoreUnavailableError(`${this.#where}: ${what}: aborted before the server answered`, { cause: signal.reason }));
          };
          signal.addEventListener('abort', onAbort, { once: true });
        }
      });
      const work = fn(client);
      work.catch(() => {});
      const result = await Promise.race([work, stop]);
      this.#silentRequests = 0;
      return result;
    } catch (err) {
      if (unanswered) this.#noAnswer();
      throw this.#map(what, err);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  #map(what: string, err: unknown): LeaseholdError {
    if (err instanceof LeaseholdError) return err;
    let detail = errorText(err);
    const name = err instanceof Error ? err.name : '';
    if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(detail)) {
      detail = `authentication failed (${detail})`;
    } else if (name === 'MaxRetriesPerRequestError' || /Connection is closed|Stream isn't writeable|enableOfflineQueue/i.test(detail)) {
      const cause = this.#lastConnError ? errorText(this.#lastConnError) : 'connection lost';
      detail = `cannot reach the server (${cause})`;
    }
    const line = redactText(detail, this.#secrets).replace(/\s+/g, ' ').trim();
    return new StoreUnavailableError(`${this.#where}: ${what}: ${line}`, { cause: err });
  }

  /**
   * Two requests in a row without an answer on the store's own connection: it may be
   * black-holed (a half-open TCP connection can stay silent for many minutes), so open
   * a fresh one. A client you passed is left alone.
   */
  #noAnswer(): void {
    this.#silentRequests += 1;
    if (this.#silentRequests < 2 || !this.#owned || this.#dropping) return;
    this.#silentRequests = 0;
    this.#dropping = true;
    this.#owned
      .then((c) => {
        if (!this.#closed && c.status === 'ready') c.disconnect(true);
        else this.#dropping = false;
      })
      .catch(() => {
        this.#dropping = false;
      });
  }

  /** EVALSHA, then EVAL when the server does not have the script cached (NOSCRIPT). */
  async #run(c: RedisClientLike, s: Script, keys: [string, string], args: (string | number)[]): Promise<unknown> {
    try {
      return await c.evalsha(s.sha, 2, ...keys, ...args);
    } catch (err) {
      if (!/^NOSCRIPT/.test(errorText(err))) throw err;
      return c.eval(s.lua, 2, ...keys, ...args);
    }
  }

  #script(what: string, key: string, s: Script, args: (string | number)[], signal: AbortSignal | undefined): Promise<unknown> {
    const keys = this.#key(key);
    return this.#call(`${what} "${key}"`, signal, (c) => this.#run(c, s, keys, args));
  }

  async acquire(req: AcquireRequest, options?: StoreOpOptions): Promise<AcquireResult> {
    const ttl = Math.max(1, Math.ceil(req.ttlMs));
    const reply = asArray(await this.#script('acquire', req.key, SCRIPTS.acquire, [req.holder, req.leaseId, ttl], options?.signal), 'acquire');
    const state = decodeState(str(reply.at(-1)));
    if (num(reply[0], 'acquire') === 1) {
      return { acquired: true, token: num(reply[1], 'acquire token'), storeTime: num(reply[2], 'acquire time'), state };
    }
    const holder = str(reply[1]);
    const pttl = num(reply[2], 'acquire pttl');
    const busy: AcquireResult = { acquired: false, storeTime: num(reply[3], 'acquire time'), state };
    return { ...busy, ...(holder ? { holder } : {}), ...(pttl >= 0 ? { expiresInMs: pttl } : {}) };
  }

  async renew(req: RenewRequest, options?: StoreOpOptions): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(req.ttlMs));
    const reply = await this.#script('renew', req.key, SCRIPTS.renew, [req.leaseId, String(req.token), ttl], options?.signal);
    return num(reply, 'renew') === 1;
  }

  async release(ref: LeaseRef, options?: StoreOpOptions): Promise<boolean> {
    const reply = await this.#script('release', ref.key, SCRIPTS.release, [ref.leaseId, String(ref.token)], options?.signal);
    return num(reply, 'release') === 1;
  }

  async writeState(req: WriteStateRequest, options?: StoreOpOptions): Promise<boolean> {
    const text = encodeState(req.state);
    const reply = await this.#script('writeState', req.key, SCRIPTS.writeState, [req.leaseId, String(req.token), text], options?.signal);
    return num(reply, 'writeState') === 1;
  }

  async forceRelease(key: string, options?: StoreOpOptions): Promise<boolean> {
    const reply = await this.#script('forceRelease', key, SCRIPTS.forceRelease, [], options?.signal);
    return num(reply, 'forceRelease') > 0;
  }

  async inspect(key: string, options?: StoreOpOptions): Promise<LeaseRecord | null> {
    const reply = asArray(await this.#script('inspect', key, SCRIPTS.inspect, [], options?.signal), 'inspect');
    if (num(reply[0], 'inspect') === 0) return null;
    const holder = str(reply[1]);
    const pttl = num(reply[3], 'inspect pttl');
    const live = holder !== '' && pttl !== -2;
    return {
      key,
      holder: live ? holder : null,
      token: num(reply[2], 'inspect token'),
      // -1 (no expiry) cannot happen for keys this store wrote; report it as unknown-but-held.
      expiresInMs: live ? Math.max(pttl, 0) : null,
      state: decodeState(str(reply[4])),
    };
  }

  /**
   * Lists keys ever acquired, with `SCAN … MATCH <prefix>{…}`. SCAN walks the whole
   * database (every key, not only this store's), `scanCount` keys per round trip; on a
   * Cluster client every master is scanned. Meant for status output, not hot paths.
   */
  async list(options?: StoreOpOptions & { prefix?: string }): Promise<string[]> {
    const pattern = `${globEscape(this.prefix)}{${globEscape(encodeKey(options?.prefix ?? ''))}*}`;
    const found = new Set<string>();
    const head = `${this.prefix}{`;
    const client = await this.#call('list', options?.signal, async (c) => c);
    let nodes = typeof client.nodes === 'function' ? client.nodes('master') : [client];
    if (nodes.length === 0 && typeof client.nodes === 'function') {
      // A Cluster client that has not connected yet knows no nodes: one request connects it.
      await this.#call('list', options?.signal, (c) => c.time());
      nodes = client.nodes('master');
    }
    for (const node of nodes) {
      let cursor = '0';
      do {
        // Each page is one request with its own timeout.
        const reply = asArray(await this.#call('list', options?.signal, () => node.scan(cursor, 'MATCH', pattern, 'COUNT', this.#scanCount)), 'scan');
        cursor = str(reply[0]);
        for (const name of asArray(reply[1], 'scan keys')) {
          const n = str(name);
          if (n.startsWith(head) && n.endsWith('}')) found.add(decodeKey(n.slice(head.length, -1)));
        }
      } while (cursor !== '0');
    }
    return [...found];
  }

  async now(options?: StoreOpOptions): Promise<number> {
    const reply = asArray(await this.#call('read clock', options?.signal, (c) => c.time()), 'time');
    return num(reply[0], 'time') * 1000 + Math.floor(num(reply[1], 'time') / 1000);
  }

  /** Closes the client the store opened from a URL; a client you passed stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const owned = this.#owned;
    if (!owned) return;
    const c = await owned.catch(() => undefined);
    if (!c) return;
    if (c.status === 'ready') {
      await Promise.race([c.quit().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    c.disconnect(false);
  }
}

/**
 * Opens `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS), e.g. for
 * `openStore('redis://localhost:6379', { prefix: 'myapp:' })`. The store owns its
 * connection: `close()` closes it.
 *
 * @throws ConfigError for a malformed URL or when `ioredis` is not installed.
 */
export async function fromUrl(url: string, options: RedisFromUrlOptions = {}): Promise<RedisStore> {
  const store = new RedisStore({ ...options, url });
  await loadIORedis(); // fail at open time, not on the first request, when ioredis is missing
  return store;
}
