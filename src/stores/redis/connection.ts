/**
 * The store's connection: a client you pass (used as is, never closed) or one opened from a
 * URL (connects on first use, reconnects in the background, replaced after two unanswered
 * requests), and the mapping of its failures to one-line `StoreUnavailableError`s.
 * Why each ioredis setting: docs/stores/redis.md ("Options").
 * @module
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { ConfigError, LeaseholdError, StoreUnavailableError } from '../../errors.js';
import { cleanError, errorText, importPeer, once } from '../../store-kit/index.js';
import type { ParsedRedisUrl } from './url.js';

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
  /** `TIME`, for `RedisStore.now`. */
  time(): Promise<unknown>;
  /** `SCAN cursor MATCH pattern COUNT n`, for `RedisStore.list`. */
  scan(cursor: string, matchToken: 'MATCH', pattern: string, countToken: 'COUNT', count: number): Promise<unknown>;
  /** Present on a Cluster client: `RedisStore.list` scans every master. */
  nodes?(role: 'master'): RedisClientLike[];
}

/** What an owned ioredis client offers beyond {@link RedisClientLike}. */
interface OwnedClient extends RedisClientLike {
  status: string;
  select(db: number): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(reconnect?: boolean): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

type RedisConstructor = new (options: Record<string, unknown>) => OwnedClient;

/** The socket of a connected ioredis client, as far as batching needs it. */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/** What an ioredis `Redis` client shows of its connection (a `Cluster` client has no `stream`). */
interface ClientInternals {
  readonly status?: unknown;
  readonly stream?: Partial<Corkable> | null;
}

/** Imports ioredis's `Redis` class. @throws ConfigError when `ioredis` is not installed. */
export function loadRedis(): Promise<RedisConstructor> {
  return importPeer(
    'redis',
    'ioredis',
    () => import('ioredis'),
    (mod) => (typeof mod.Redis === 'function' ? (mod.Redis as RedisConstructor) : undefined),
  );
}

/** What the store needs to open its own connection. */
export interface OwnedSettings {
  /** Host, port, database and credentials. */
  readonly url: ParsedRedisUrl;
  /** With `rediss://`: TLS settings merged into the connection's. */
  readonly tls: ConnectionOptions | undefined;
  /** Longest the TCP (and TLS) connection may take to open. */
  readonly connectTimeoutMs: number;
}

const AUTH_FAILED = /WRONGPASS|NOAUTH|invalid password|invalid username-password/i;
/** Redis's answer to `SELECT n` past its `databases` setting (Valkey and older Redis word it differently). */
const NO_SUCH_DB = /DB index is out of range|invalid DB index/i;
const CONNECTION_LOST = /Connection is closed|Stream isn't writeable|enableOfflineQueue/i;

/** One connection to Redis, with its health and its failure messages. */
export class RedisConnection {
  /** Where messages say the store is: `redis <URL with its password masked>`, or `redis`. */
  readonly where: string;
  readonly #secrets: readonly (string | undefined)[];
  readonly #given: RedisClientLike | undefined;
  readonly #settings: OwnedSettings | undefined;
  #opening: Promise<OwnedClient> | undefined;
  #owned: OwnedClient | undefined;
  #lastError: Error | undefined;
  #silentRequests = 0;
  /** A reconnection we asked for is under way: many requests timing out together ask once. */
  #dropping = false;
  #closed = false;
  /** The socket whose writes are held until the end of this turn of the event loop, while they are. */
  #corked: Corkable | undefined;
  readonly #uncork = (): void => {
    const stream = this.#corked;
    this.#corked = undefined;
    stream?.uncork();
  };
  /**
   * `SELECT <db>` answered once before the first request. ioredis selects the URL's
   * database on connect but, when the server has no such database, only emits an error
   * event and goes on in database 0: the store would share keys with other users of it.
   */
  readonly #selected = once(async () => {
    const client = await (this.#opening as Promise<OwnedClient>);
    const db = (this.#settings as OwnedSettings).url.db;
    try {
      await client.select(db);
    } catch (err) {
      if (!NO_SUCH_DB.test(errorText(err))) throw err;
      throw new ConfigError(
        `${this.where}: the server has no database ${db} (${errorText(err)}); its "databases" setting limits them`,
      );
    }
    return client;
  });

  /**
   * @param where - where messages say the store is (`redis <URL with its password masked>`)
   * @param source - your client, or the settings to open one on first use
   * @param secrets - masked in every message and cause
   */
  constructor(
    where: string,
    source: { readonly client: RedisClientLike } | { readonly settings: OwnedSettings },
    secrets: readonly (string | undefined)[],
  ) {
    this.where = where;
    this.#secrets = secrets;
    if ('client' in source) this.#given = source.client;
    else this.#settings = source.settings;
  }

  /** The client when it is usable at once (so a request needs no extra await), else undefined. */
  get ready(): RedisClientLike | undefined {
    if (this.#closed) return undefined;
    return this.#given ?? (this.#settings?.url.db === 0 || this.#selected.value ? this.#owned : undefined);
  }

  /** The client, opening the store's own on first use. @throws StoreUnavailableError after {@link close}. */
  client(): Promise<RedisClientLike> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError(`${this.where}: the store is closed`));
    if (this.#given) return Promise.resolve(this.#given);
    const settings = this.#settings as OwnedSettings;
    this.#opening ??= this.#open(settings);
    return settings.url.db === 0 ? this.#opening : this.#selected();
  }

  async #open({ url, tls, connectTimeoutMs }: OwnedSettings): Promise<OwnedClient> {
    const Redis = await loadRedis();
    const client = new Redis({
      host: url.host,
      port: url.port,
      username: url.username,
      password: url.password,
      db: url.db,
      // SNI carries host names only (RFC 6066); an IP address is checked against the certificate without it.
      ...(url.tls ? { tls: { ...(isIP(url.host) ? {} : { servername: url.host }), ...tls } } : {}),
      connectionName: 'leasehold',
      // Connect on the first request, never at construction.
      lazyConnect: true,
      // Requests made while (re)connecting wait for the connection, but fail after one
      // failed reconnection instead of queueing forever; each request also has its own
      // timeout (requestTimeoutMs / the caller's signal).
      enableOfflineQueue: true,
      maxRetriesPerRequest: 1,
      connectTimeout: connectTimeoutMs,
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
      this.#lastError = err;
    });
    client.on('ready', () => {
      this.#lastError = undefined;
      this.#dropping = false;
    });
    this.#owned = client;
    return client;
  }

  /**
   * Holds the client's socket writes until the end of this turn of the event loop
   * (`setImmediate`), so the requests sent meanwhile leave in one write. The store calls it
   * only while many requests are in flight (a burst: thousands of jobs due at one
   * instant), when a write per request is the largest share of the CPU time; a few
   * concurrent callers are never held, since holding their next request while the others
   * handle their replies makes them a convoy (docs/stores/redis.md, "Performance"). On a
   * client you pass, your own commands sent meanwhile join the write, in order. Only a
   * `Redis` client that is ready has a socket to hold; a `Cluster` client is left alone.
   */
  batch(client: RedisClientLike): void {
    if (this.#corked !== undefined) return;
    const { status, stream } = client as ClientInternals;
    if (status !== 'ready' || typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') return;
    stream.cork();
    this.#corked = stream as Corkable;
    setImmediate(this.#uncork);
  }

  /** A request was answered: the connection is alive. */
  answered(): void {
    this.#silentRequests = 0;
  }

  /**
   * A request went unanswered (its timeout or the caller's signal). Two in a row on the
   * store's own connection: it may be black-holed (a half-open TCP connection can stay
   * silent for many minutes), so open a fresh one. A client you passed is left alone.
   */
  unanswered(): void {
    this.#silentRequests += 1;
    const owned = this.#owned;
    if (this.#silentRequests < 2 || !owned || this.#dropping) return;
    this.#silentRequests = 0;
    if (this.#closed || owned.status !== 'ready') return;
    this.#dropping = true;
    owned.disconnect(true);
  }

  /**
   * A failed request as one line, `StoreUnavailableError`, secrets masked; its cause is the
   * client's error reduced by `cleanError` (no command arguments: ioredis attaches them,
   * `AUTH` with the password included). Leasehold errors pass through.
   */
  failure(label: string, err: unknown): LeaseholdError {
    if (err instanceof LeaseholdError) return err;
    let detail = errorText(err, this.#secrets);
    if (AUTH_FAILED.test(detail)) {
      detail = `authentication failed (${detail})`;
    } else if ((err instanceof Error && err.name === 'MaxRetriesPerRequestError') || CONNECTION_LOST.test(detail)) {
      const cause = this.#lastError ? errorText(this.#lastError, this.#secrets) : 'connection lost';
      detail = `cannot reach the server (${cause})`;
    }
    return new StoreUnavailableError(`${label}: ${detail}`, { cause: cleanError(err, this.#secrets) });
  }

  /** Closes the client the store opened (QUIT, at most 1 s, then disconnect); a client you passed stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = await this.#opening?.catch(() => undefined);
    if (!client) return;
    if (client.status === 'ready') {
      await Promise.race([client.quit().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    }
    client.disconnect(false);
  }
}
