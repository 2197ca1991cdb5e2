/**
 * `leasehold/redis` — leases on Redis (standalone, Sentinel-managed or Cluster), through
 * `ioredis` 5 or 6. Every operation is one Lua script (`scripts/`), one round trip; expiry
 * and `now()` are the server's (`PEXPIRE`, `TIME`). Key layout, the token design that
 * survives data loss (L2), connection behaviour and limits: docs/stores/redis.md.
 * @module
 */
import type { ConnectionOptions } from 'node:tls';
import { ConfigError } from '../../errors.js';
import {
  checkCount,
  checkMs,
  requireOptions,
  checkPrefix,
  encodeMark,
  encodeState,
  redactUrl,
  throwIfAborted,
} from '../../store-kit/index.js';
import type { AcquireRequest, AcquireResult, LeaseRecord, ReleaseRequest, RenewRequest } from '../../store.js';
import type { LeaseStore, StoreCapabilities, StoreOpOptions, WriteStateRequest } from '../../store.js';
import { loadRedis, RedisConnection, type RedisClientLike } from './connection.js';
import type { Eval, ScriptArgs } from './eval.js';
import { checkBraces, indexKeys, KeyNames, keyOfName, namePrefix, scanPattern } from './keys.js';
import { decodeTime } from './replies.js';
import { type AcquireArgs, acquireScript } from './scripts/acquire.js';
import { forceReleaseScript } from './scripts/force-release.js';
import { type InspectPage, type InspectPageArgs, inspectPageScript } from './scripts/inspect-all.js';
import { inspectScript } from './scripts/inspect.js';
import { type ReleaseArgs, releaseScript } from './scripts/release.js';
import { renewScript } from './scripts/renew.js';
import { writeStateScript } from './scripts/write-state.js';
import { Requests } from './requests.js';
import { parseRedisUrl } from './url.js';

export type { RedisClientLike } from './connection.js';
export { parseRedisUrl, type ParsedRedisUrl } from './url.js';

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
  requestTimeoutMs?: number;
  /**
   * With `url`: longest the TCP (and TLS) connection may take to open.
   * @defaultValue 5000
   */
  connectTimeoutMs?: number;
  /**
   * Page size of {@link RedisStore.list} and {@link RedisStore.inspectAll}: how many keys
   * one request reads from the store's index, or asks `SCAN` to look at when it walks the
   * database (each request blocks the server for about that many keys).
   * @defaultValue 1000
   */
  scanCount?: number;
}

/** Options of {@link fromUrl}. */
export type RedisFromUrlOptions = Omit<RedisStoreOptions, 'client' | 'url'>;

const OPTION_NAMES = [
  'client',
  'url',
  'tls',
  'prefix',
  'requestTimeoutMs',
  'connectTimeoutMs',
  'scanCount',
] as const satisfies readonly (keyof RedisStoreOptions)[];

const DEFAULTS = {
  prefix: 'leasehold:',
  requestTimeoutMs: 5000,
  connectTimeoutMs: 5000,
  scanCount: 1000,
} satisfies Required<Omit<RedisFromUrlOptions, 'tls'>>;

/** The connection a store's options ask for: your client, or one it opens from the URL. */
function connectionOf(options: RedisStoreOptions, connectTimeoutMs: number): RedisConnection {
  if ((options.client === undefined) === (options.url === undefined)) {
    throw new ConfigError('redis store: give exactly one of "client" and "url"');
  }
  const { client, url, tls } = options;
  if (client !== undefined) {
    if (tls !== undefined) {
      throw new ConfigError('redis store: tls options apply to a url; configure TLS on the client you pass');
    }
    if (!client || typeof client.evalsha !== 'function' || typeof client.eval !== 'function') {
      throw new ConfigError('redis store: client must be an ioredis client (it needs evalsha, eval, time and scan)');
    }
    return new RedisConnection('redis', { client }, []);
  }
  if (typeof url !== 'string') throw new ConfigError(`redis store: url must be a string, got ${JSON.stringify(url)}`);
  const parsed = parseRedisUrl(url);
  if (tls !== undefined && !parsed.tls) {
    throw new ConfigError(`redis store: tls options need a rediss:// url, got "${redactUrl(url)}"`);
  }
  return new RedisConnection(`redis ${redactUrl(url)}`, { settings: { url: parsed, tls, connectTimeoutMs } }, [
    parsed.password,
    parsed.rawPassword,
  ]);
}

/**
 * How long the index of a store's keys counts as complete after the scan that completed
 * it: a key an older version of leasehold created without joining the index (during a
 * rolling upgrade) is found by the next scan, at most this long after.
 */
const INDEX_RESCAN_MS = 10 * 60_000;

/**
 * Requests in flight from which the next ones are sent together at the end of the event
 * loop's turn instead of one write each (see `RedisConnection.batch`): above what a few
 * concurrent callers reach, below a burst of jobs due at once.
 */
const BATCH_FROM = 32;

/** What this store can do on one server (shared by every instance; frozen). */
const CAPABILITIES: StoreCapabilities = Object.freeze({
  clock: 'store',
  persistent: false,
  stateOnAcquire: true,
  minTtlMs: 1,
  checksWaiters: true,
  // One connection to one server: requests are applied in the order they were written.
  ordered: true,
});

/**
 * On a Cluster: no waiter check inside the acquire, since a key's waiter announcement
 * hashes to another slot, which one script cannot read; the core reads it instead. Nor a
 * promise of order: a request redirected to another node (MOVED, ASK) is sent again later.
 */
const CLUSTER_CAPABILITIES: StoreCapabilities = Object.freeze({
  ...CAPABILITIES,
  checksWaiters: false,
  ordered: false,
});

/**
 * A {@link LeaseStore} on Redis. See docs/stores/redis.md for the key layout, the token
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
  readonly capabilities: StoreCapabilities;
  /** Prefix of every Redis key this store writes. */
  readonly prefix: string;
  readonly #requestTimeoutMs: number;
  readonly #scanCount: number;
  /** Where messages say the store is (the connection's `where`), first in every message. */
  readonly #where: string;
  readonly #connection: RedisConnection;
  /** The requests in flight and their timeout. */
  readonly #requests: Requests;
  /** The Redis names of recently used lease keys. */
  readonly #names: KeyNames;
  /** On one server: the index of the store's keys and its completeness mark; none on a Cluster. */
  readonly #index: readonly [index: string, scanned: string] | undefined;

  /** @throws ConfigError naming the option for an unknown option or a bad value (B1). */
  constructor(options: RedisStoreOptions) {
    requireOptions('redis store', options, OPTION_NAMES, 'with a client or a url');
    const named = (option: string) => `redis store: ${option}`;
    this.prefix = checkBraces(named('prefix'), checkPrefix(options.prefix, DEFAULTS.prefix, 256, named('prefix')));
    this.#requestTimeoutMs = checkMs(named('requestTimeoutMs'), options.requestTimeoutMs, DEFAULTS.requestTimeoutMs);
    const connectTimeoutMs = checkMs(named('connectTimeoutMs'), options.connectTimeoutMs, DEFAULTS.connectTimeoutMs);
    this.#scanCount = checkCount(named('scanCount'), options.scanCount, DEFAULTS.scanCount);
    this.#names = new KeyNames(this.prefix);
    this.#connection = connectionOf(options, connectTimeoutMs);
    this.#where = this.#connection.where;
    const connection = this.#connection;
    this.#requests = new Requests(this.#requestTimeoutMs, {
      answered: () => connection.answered(),
      unanswered: () => connection.unanswered(),
      failure: (label, err) => connection.failure(label, err),
    });
    const cluster = typeof options.client?.nodes === 'function';
    this.capabilities = cluster ? CLUSTER_CAPABILITIES : CAPABILITIES;
    this.#index = cluster ? undefined : indexKeys(this.prefix);
  }

  /**
   * Sends one request with its own timeout and the caller's signal; maps every failure to
   * a one-line `StoreUnavailableError`. `label` names the store and the operation.
   */
  #call<T>(label: string, signal: AbortSignal | undefined, send: (client: RedisClientLike) => Promise<T>): Promise<T> {
    const client = this.#connection.ready;
    if (client === undefined || signal?.aborted) return this.#callOnceReady(label, signal, send);
    if (this.#requests.size >= BATCH_FROM) this.#connection.batch(client);
    return this.#requests.run(label, signal, send(client));
  }

  /** {@link #call} before the connection is ready (it opens, or selects its database, first). */
  async #callOnceReady<T>(
    label: string,
    signal: AbortSignal | undefined,
    send: (client: RedisClientLike) => Promise<T>,
  ): Promise<T> {
    throwIfAborted(signal, label);
    const connection = this.#connection;
    let client: RedisClientLike;
    try {
      client = connection.ready ?? (await connection.client());
    } catch (err) {
      throw connection.failure(label, err);
    }
    return this.#requests.run(label, signal, send(client));
  }

  /** Runs `script` on `key`'s Redis keys (or on `keys` when given) as one request. */
  #eval<Args extends ScriptArgs, Reply>(
    script: Eval<Args, Reply>,
    key: string,
    args: Args,
    signal: AbortSignal | undefined,
    keys: readonly string[] = this.#names.of(key),
  ): Promise<Reply> {
    return this.#call(`${this.#where}: ${script.name} "${key}"`, signal, (client) => script.run(client, keys, args));
  }

  async acquire(req: AcquireRequest, options?: StoreOpOptions): Promise<AcquireResult> {
    const ttl = Math.max(1, Math.ceil(req.ttlMs));
    // Encoded (and its size checked) before any request: a refused mark writes nothing.
    const args: AcquireArgs =
      req.mark === undefined ? [req.holder, req.leaseId, ttl] : [req.holder, req.leaseId, ttl, encodeMark(req.mark)];
    const index = this.#index;
    if (index === undefined) return this.#eval(acquireScript, req.key, args, options?.signal);
    // On one server, the index (which a first grant joins) and the waiter check's key.
    const indexed = this.#names.withIndex(req.key, index[0]);
    const allKeys = req.unlessWaiter === undefined ? indexed : [...indexed, this.#names.of(req.unlessWaiter)[1]];
    return this.#eval(acquireScript, req.key, args, options?.signal, allKeys);
  }

  async renew(req: RenewRequest, options?: StoreOpOptions): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(req.ttlMs));
    return this.#eval(renewScript, req.key, [req.leaseId, String(req.token), ttl], options?.signal);
  }

  async release(req: ReleaseRequest, options?: StoreOpOptions): Promise<boolean> {
    const token = String(req.token);
    const args: ReleaseArgs =
      req.state === undefined ? [req.leaseId, token] : [req.leaseId, token, encodeState(req.state)];
    return this.#eval(releaseScript, req.key, args, options?.signal);
  }

  async writeState(req: WriteStateRequest, options?: StoreOpOptions): Promise<boolean> {
    const state = encodeState(req.state);
    return this.#eval(writeStateScript, req.key, [req.leaseId, String(req.token), state], options?.signal);
  }

  async forceRelease(key: string, options?: StoreOpOptions): Promise<boolean> {
    return this.#eval(forceReleaseScript, key, [], options?.signal);
  }

  async inspect(key: string, options?: StoreOpOptions): Promise<LeaseRecord | null> {
    const found = await this.#eval(inspectScript, key, [], options?.signal);
    return found && { key, ...found };
  }

  /** The client, and the nodes a key walk visits: every master of a Cluster client, else the client itself. */
  async #masters(label: string, signal: AbortSignal | undefined): Promise<RedisClientLike[]> {
    const client = await this.#call(label, signal, async (connected) => connected);
    if (typeof client.nodes !== 'function') return [client];
    let nodes = client.nodes('master');
    if (nodes.length === 0) {
      // A Cluster client that has not connected yet knows no nodes: one request connects it.
      await this.#call(label, signal, (connected) => connected.time());
      nodes = client.nodes('master');
    }
    return nodes;
  }

  /**
   * Lists keys ever acquired (whose state hash is still there), as {@link inspectAll}
   * finds them: from the store's index on one server, by `SCAN` on a Cluster. Meant for
   * status output, not hot paths.
   */
  async list(options?: StoreOpOptions & { prefix?: string }): Promise<string[]> {
    const records = await this.#listing('list', options?.prefix ?? '', options?.signal);
    return records.map((record) => record.key);
  }

  /**
   * Every record under `prefix` (each read atomically, as {@link inspect} reads it), one
   * script per page. On one server the keys come from the store's index of its keys, so a
   * read costs one request per `scanCount` keys under the prefix, whatever else the
   * database holds; when the index is not known to be complete (a new store, data written
   * by a version without it, and every 10 minutes after), the read walks the whole
   * database with `SCAN` instead and completes the index as it goes. On a Cluster every
   * read walks every master with `SCAN`. docs/stores/redis.md ("inspectAll").
   */
  async inspectAll(options: StoreOpOptions & { prefix: string }): Promise<LeaseRecord[]> {
    return this.#listing('inspectAll', options?.prefix, options?.signal);
  }

  async #listing(what: string, prefix: unknown, signal: AbortSignal | undefined): Promise<LeaseRecord[]> {
    const label = `${this.#where}: ${what} "${String(prefix)}"`;
    if (typeof prefix !== 'string') {
      throw new ConfigError(`${label}: prefix must be a string, got ${JSON.stringify(prefix)}`);
    }
    const index = this.#index;
    // Without an index, the scan looks only for the keys asked for; with one, for every key
    // of the store, which it adds to the index.
    const pattern = scanPattern(this.prefix, index === undefined ? prefix : '');
    const lo = namePrefix(this.prefix, prefix);
    const keys = index ?? [];
    const found = new Map<string, LeaseRecord>();
    for (const node of await this.#masters(label, signal)) {
      let mode: InspectPageArgs[0] = 'auto';
      let cursor = '0';
      do {
        const args: InspectPageArgs = [mode, cursor, pattern, lo, this.#scanCount, INDEX_RESCAN_MS];
        const page: InspectPage = await this.#call(label, signal, () => inspectPageScript.run(node, keys, args));
        mode = page.mode;
        cursor = page.cursor;
        for (const { name, record } of page.records) {
          const key = keyOfName(this.prefix, name);
          if (key !== undefined) found.set(key, { key, ...record });
        }
      } while (cursor !== '0');
    }
    return [...found.values()];
  }

  async now(options?: StoreOpOptions): Promise<number> {
    return this.#call(`${this.#where}: read clock`, options?.signal, async (client) => decodeTime(await client.time()));
  }

  /** Closes the client the store opened from a URL; a client you passed stays open. */
  async close(): Promise<void> {
    await this.#connection.close();
  }
}

/**
 * Opens `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS), e.g. for
 * `openStore('redis://localhost:6379', { prefix: 'myapp:' })`. The store owns its
 * connection: `close()` closes it.
 *
 * @throws ConfigError for a malformed URL, an unknown option, or when `ioredis` is not installed.
 */
export async function fromUrl(url: string, options: RedisFromUrlOptions = {}): Promise<RedisStore> {
  const store = new RedisStore({ ...options, url });
  await loadRedis(); // fail at open time, not on the first request, when ioredis is missing
  return store;
}
