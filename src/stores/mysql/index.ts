/**
 * `leasehold/mysql` — leases in one MySQL 8 / MariaDB 10.5+ table, on `mysql2`.
 *
 * ## How it works
 *
 * Each key is one row: holder, lease id, fencing token, expiry, state. The row is never
 * deleted, so its token only grows: a grant sets `token = token + 1`, release and
 * expiry leave it alone. Expiry is stored as epoch milliseconds computed by the server
 * from `UTC_TIMESTAMP(6)` (the statement's start time; immune to session time zones and
 * DST), and judged by the server, never by the caller's clock.
 *
 * **Acquire is one statement**, an `INSERT … ON DUPLICATE KEY UPDATE` whose assignments
 * are conditional on "free, expired or our own lease id". MySQL cannot `RETURNING`, so
 * the statement reports its decision through `LAST_INSERT_ID(expr)`, which the server
 * sends back in the statement's own OK packet (no session variable is read afterwards,
 * so pools and proxies cannot mix connections up): the new token when granted, or
 * 2^52 + the milliseconds left on the current lease when busy. Tokens stay below 2^52.
 *
 * The assignments are ordered and written so that they give the same result whether the
 * server evaluates them left to right (MySQL, MariaDB) or simultaneously (MariaDB's
 * `SIMULTANEOUS_ASSIGNMENT` mode): the token is computed first from the old row; the
 * others depend only on "is the row's lease id ours", which the grant itself makes true.
 *
 * When the connection allows several statements per query (the pool the store opens
 * from a URL does), the same request also reads the row back, so a busy answer names
 * the holder and a grant carries the key's state — still **one round trip**. On a pool
 * you pass without `multipleStatements`, busy answers give the time left but not the
 * holder, and acquire does not return the state.
 *
 * Renew, release, fenced write and break are one `UPDATE … WHERE key AND lease_id AND
 * token AND expires_at > now` each. Every string goes to the server as a hex literal,
 * so no `sql_mode` (e.g. `NO_BACKSLASH_ESCAPES`) can change how a value is read.
 *
 * @module
 */
import { ConfigError, StoreUnavailableError } from '../../errors.js';
import { redactUrl } from '../../store-kit/index.js';
import type {
  AcquireRequest,
  AcquireResult,
  JsonValue,
  LeaseRecord,
  LeaseRef,
  LeaseStore,
  RenewRequest,
  StoreCapabilities,
  StoreOpOptions,
  WriteStateRequest,
} from '../../store.js';
import { checkCount, checkIdentifier, checkKeyPrefix, checkMs, likePrefix, raceSignal, storeError, toToken } from '../sql-common.js';
import { decodeState, encodeState, throwIfAborted } from '../util.js';

/**
 * What the store needs from a `mysql2/promise` pool (or connection): `query`. Typed
 * structurally so no `mysql2` version is forced on you. A callback-style `mysql2` pool
 * is accepted too (its `.promise()` is used).
 */
export interface MysqlQueryable {
  query(sql: string, values?: unknown[]): Promise<[unknown, unknown]>;
}

/** Options of {@link MysqlStore}. Give `pool` or `url`. */
export interface MysqlStoreOptions {
  /**
   * Your `mysql2/promise` pool. The store never ends it. Set `connectTimeout` on it;
   * a hung query is abandoned (not cancelled) when the caller's signal aborts.
   */
  pool?: MysqlQueryable | { promise(): MysqlQueryable };
  /**
   * A `mysql://` or `mariadb://` URL (`mysql://user:password@host:3306/database`); the
   * store opens its own pool, with timeouts set, and ends it on {@link MysqlStore.close}.
   * Query parameters: `table`, `ssl` (`true` to require TLS), `connectionLimit`,
   * `connectTimeout` (ms).
   */
  url?: string;
  /** Table name: letters, digits and `_`. @defaultValue `'leasehold_leases'` */
  table?: string;
  /**
   * Database (schema) of the table, when it is not the connection's default one.
   * @defaultValue the connection's database
   */
  database?: string;
  /**
   * Create the table when a statement finds it missing (`CREATE TABLE IF NOT EXISTS`,
   * safe when processes race). Turn off when you run {@link mysqlSchemaSql} in your
   * own migrations.
   * @defaultValue true
   */
  createTable?: boolean;
  /**
   * Prepended to every key in the table, so several applications can share one table.
   * `list()` and `inspect()` report keys without it.
   * @defaultValue `''`
   */
  keyPrefix?: string;
  /**
   * Whether the connections accept several statements per query. Then acquire reads the
   * row back in the same round trip: busy answers name the holder and grants return the
   * key's state. Set it to true only if your pool was created with
   * `multipleStatements: true`.
   * @defaultValue true for the pool opened from `url`, false for a pool you pass
   */
  multipleStatements?: boolean;
  /** Connect timeout of the pool opened from `url`, in ms. @defaultValue 5000 */
  connectTimeoutMs?: number;
  /** Most connections of the pool opened from `url`. @defaultValue 10 */
  maxConnections?: number;
}

/** Where the table lives; input of {@link mysqlSchemaSql}. */
export interface MysqlTableName {
  /** @defaultValue the connection's database */
  database?: string;
  /** @defaultValue `'leasehold_leases'` */
  table?: string;
}

/** Default table name of the SQL stores. */
export const DEFAULT_TABLE = 'leasehold_leases';
/** Longest stored key (keyPrefix + key), in UTF-8 bytes: InnoDB's index key limit. */
export const MAX_KEY_BYTES = 3072;
/** A busy answer's `LAST_INSERT_ID` is this plus the ms left; tokens stay below it. */
const BUSY = 2 ** 52;

const quote = (id: string) => `\`${id}\``;

function tableRef(name: MysqlTableName): string {
  const table = checkIdentifier('table', name.table ?? DEFAULT_TABLE, 64);
  const db = name.database === undefined ? undefined : checkIdentifier('database', name.database, 64);
  return db ? `${quote(db)}.${quote(table)}` : quote(table);
}

/**
 * The DDL of the lease table, for teams that run their own migrations (then construct
 * the store with `createTable: false`). Idempotent; MySQL 8 and MariaDB 10.5+.
 */
export function mysqlSchemaSql(name: MysqlTableName = {}): string {
  return `${ddl(tableRef(name))};\n`;
}

function ddl(t: string): string {
  return [
    `CREATE TABLE IF NOT EXISTS ${t} (`,
    '  `key`        VARBINARY(3072) NOT NULL,   -- the lease key (with the keyPrefix), UTF-8',
    '  `holder`     VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, -- NULL when free',
    '  `lease_id`   VARBINARY(255) NULL,         -- id of the current acquisition, NULL when free',
    '  `token`      BIGINT NOT NULL,             -- last fencing token issued; only grows',
    '  `expires_at` BIGINT NOT NULL DEFAULT 0,   -- epoch ms by the server clock (UTC); 0 when free',
    '  `state`      MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, -- fenced state (JSON)',
    '  `revision`   BIGINT NOT NULL DEFAULT 0,   -- bumped by every change',
    '  `updated_at` BIGINT NOT NULL DEFAULT 0,   -- epoch ms of the last change',
    '  PRIMARY KEY (`key`)',
    ') ENGINE=InnoDB',
  ].join('\n');
}

/** The parts of a callback-style `mysql2` connection the store's own pool uses. */
interface RawConnection {
  query(sql: string, values: unknown[], cb: (err: Error | null, result: unknown) => void): void;
  destroy(): void;
  once(event: 'connect', listener: () => void): unknown;
  on(event: 'error' | 'end', listener: (err?: Error) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
  stream?: { ref?(): void; unref?(): void; destroy?(): void };
}

type Mysql2 = { createConnection(config: Record<string, unknown>): RawConnection };

async function loadMysql2(): Promise<Mysql2> {
  try {
    const mod = (await import('mysql2')) as unknown as { default?: Mysql2 } & Mysql2;
    return mod.default?.createConnection ? mod.default : mod;
  } catch (err) {
    throw new ConfigError('mysql store: the "mysql2" package is not installed; run `npm install mysql2`', { cause: err });
  }
}

interface PooledConnection {
  raw: RawConnection;
  dead: boolean;
}

/**
 * The small pool behind a store opened from a URL. Unlike mysql2's pool it can cut a
 * connection off at once (socket destroyed) when a request is abandoned, never leaves
 * a late connection error without a listener, keeps the process alive only while a
 * request is in flight, and closes without waiting for a black-holed server.
 */
class ConnectionPool {
  readonly #idle: PooledConnection[] = [];
  readonly #waiters: { resolve(c: PooledConnection): void; reject(e: Error): void }[] = [];
  readonly #all = new Set<PooledConnection>();
  #opening = 0;
  #closed = false;

  constructor(
    readonly mysql2: Mysql2,
    readonly config: Record<string, unknown>,
    readonly max: number,
  ) {}

  /** A connection for one request; resolves once connected. */
  get(signal: AbortSignal | undefined, label: string): Promise<PooledConnection> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError(`${label}: the store is closed`));
    for (let c = this.#idle.pop(); c; c = this.#idle.pop()) {
      if (!c.dead) {
        c.raw.stream?.ref?.();
        return Promise.resolve(c);
      }
      this.#forget(c);
    }
    if (this.#all.size + this.#opening < this.max) return this.#open(signal, label);
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      this.#waiters.push(w);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(new StoreUnavailableError(`${label}: no connection before the request was aborted`, { cause: signal.reason }));
        },
        { once: true },
      );
    });
  }

  #open(signal: AbortSignal | undefined, label: string): Promise<PooledConnection> {
    this.#opening++;
    return new Promise((resolve, reject) => {
      const raw = this.mysql2.createConnection(this.config);
      const c: PooledConnection = { raw, dead: false };
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        this.#opening--;
        signal?.removeEventListener('abort', onAbort);
        raw.removeListener('connect', onConnect);
        if (err) {
          this.#kill(c);
          reject(err);
          this.#wake();
        } else if (this.#closed) {
          this.#kill(c);
          reject(new StoreUnavailableError(`${label}: the store is closed`));
        } else {
          this.#all.add(c);
          resolve(c);
        }
      };
      const onConnect = () => settle();
      const onAbort = () => settle(new StoreUnavailableError(`${label}: not connected before the request was aborted`, { cause: signal?.reason }));
      // Permanent listeners: a late error on this connection marks it dead and frees its
      // place in the pool (a restarted server ends every idle connection at once).
      raw.on('error', (err?: Error) => {
        c.dead = true;
        settle(err ?? new Error('connection failed'));
        this.#forget(c);
      });
      raw.on('end', () => {
        c.dead = true;
        settle(new Error('connection closed by the server'));
        this.#forget(c);
      });
      raw.once('connect', onConnect);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Returns a connection after a completed request. */
  release(c: PooledConnection): void {
    if (c.dead || this.#closed) {
      this.destroy(c);
      return;
    }
    const w = this.#waiters.shift();
    if (w) {
      w.resolve(c);
      return;
    }
    c.raw.stream?.unref?.();
    this.#idle.push(c);
  }

  /** Cuts a connection off at once (its request was abandoned or failed). */
  destroy(c: PooledConnection): void {
    this.#kill(c);
    this.#all.delete(c);
    this.#wake();
  }

  #kill(c: PooledConnection): void {
    c.dead = true;
    try {
      c.raw.destroy();
      c.raw.stream?.destroy?.();
    } catch {
      // already gone
    }
  }

  /** Drops a dead connection from the pool, so its place can be taken by a new one. */
  #forget(c: PooledConnection): void {
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
    if (this.#all.delete(c)) {
      this.#kill(c);
      this.#wake();
    }
  }

  /** A waiter gets a new connection when one was destroyed. */
  #wake(): void {
    if (this.#closed || this.#all.size + this.#opening >= this.max) return;
    const w = this.#waiters.shift();
    if (w) this.#open(undefined, 'mysql').then(w.resolve, w.reject);
  }

  /** Destroys every connection; requests in flight fail. */
  end(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.reject(new StoreUnavailableError('mysql: the store is closed'));
    for (const c of this.#all) this.#kill(c);
    this.#all.clear();
    this.#idle.length = 0;
  }
}

/** The server's clock, epoch ms, constant within a statement. */
const NOW = "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)";
const ER_NO_SUCH_TABLE = 1146;
const ER_LOCK_DEADLOCK = 1213;

/** Strings go as UTF-8 buffers, which mysql2 writes as hex literals. */
const b = (s: string) => Buffer.from(s, 'utf8');

/**
 * A {@link LeaseStore} on MySQL 8 or MariaDB 10.5+. See the module docs for the
 * statements it runs and how acquire answers in one round trip.
 */
export class MysqlStore implements LeaseStore {
  readonly name = 'mysql';
  readonly capabilities: StoreCapabilities;
  /** Quoted table name as used in SQL. */
  readonly tableSql: string;
  readonly #createTable: boolean;
  readonly #prefix: string;
  readonly #multi: boolean;
  readonly #userPool: MysqlQueryable | undefined;
  readonly #config: Record<string, unknown> | undefined;
  readonly #maxConnections: number = 0;
  readonly #secrets: string[] = [];
  #ownPool: Promise<ConnectionPool> | undefined;
  #ensuring: Promise<void> | undefined;
  #closed = false;
  readonly #sql: ReturnType<typeof statements>;

  constructor(options: MysqlStoreOptions) {
    if (!options || typeof options !== 'object') throw new ConfigError('mysql store: options with a pool or a url are required');
    if (!!options.pool === !!options.url) {
      throw new ConfigError(`mysql store: give exactly one of pool or url, got ${options.pool ? 'both' : 'neither'}`);
    }
    let table = options.table;
    if (options.url !== undefined) {
      const parsed = parseMysqlUrl(options.url);
      this.#secrets.push(...parsed.secrets);
      table ??= parsed.table;
      this.#config = {
        ...parsed.config,
        connectTimeout: parsed.connectTimeout ?? checkMs('connectTimeoutMs', options.connectTimeoutMs, 5000),
        multipleStatements: options.multipleStatements ?? true,
        enableKeepAlive: true,
        supportBigNumbers: true,
        bigNumberStrings: true,
        charset: 'utf8mb4',
      };
      this.#maxConnections = parsed.connectionLimit ?? checkCount('maxConnections', options.maxConnections, 10);
      this.#multi = options.multipleStatements ?? true;
    } else {
      const p = options.pool as MysqlQueryable & { promise?: () => MysqlQueryable };
      let q: MysqlQueryable | undefined = p;
      // A callback-style mysql2 pool: use its promise wrapper.
      if (p && typeof p.promise === 'function') q = p.promise();
      if (!q || typeof q.query !== 'function') throw new ConfigError('pool: must be a mysql2/promise pool (an object with a query method)');
      this.#userPool = q;
      this.#multi = options.multipleStatements ?? false;
    }
    this.tableSql = tableRef(options.database === undefined ? { table: table ?? DEFAULT_TABLE } : { table: table ?? DEFAULT_TABLE, database: options.database });
    this.#createTable = options.createTable ?? true;
    this.#prefix = checkKeyPrefix(options.keyPrefix);
    this.#sql = statements(this.tableSql);
    this.capabilities = { clock: 'store', persistent: true, stateOnAcquire: this.#multi, minTtlMs: 1 };
  }

  #pool(): Promise<ConnectionPool> {
    this.#ownPool ??= loadMysql2().then((m) => new ConnectionPool(m, this.#config as Record<string, unknown>, this.#maxConnections));
    return this.#ownPool;
  }

  #key(key: string): Buffer {
    const buf = b(this.#prefix + key);
    if (buf.length > MAX_KEY_BYTES) {
      throw new ConfigError(`key: at most ${MAX_KEY_BYTES} UTF-8 bytes with the keyPrefix in the mysql store, got ${buf.length} ("${key.slice(0, 40)}…")`);
    }
    return buf;
  }

  /** Sends one request (one round trip). Creates the table on first use when allowed. */
  async #query(what: string, sql: string, values: unknown[], signal: AbortSignal | undefined): Promise<unknown> {
    const label = `mysql: ${what}`;
    throwIfAborted(signal, label);
    if (this.#closed) throw new StoreUnavailableError(`${label}: the store is closed`);
    let ensured = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#send(label, sql, values, signal);
      } catch (err) {
        const errno = (err as { errno?: number }).errno;
        if (this.#createTable && !ensured && errno === ER_NO_SUCH_TABLE) {
          ensured = true;
          try {
            await this.#ensureTable(label, signal);
          } catch (e) {
            throw storeError(label, e, this.#secrets);
          }
          continue;
        }
        // InnoDB rolled the statement back as a deadlock victim (possible when several
        // clients insert the same new key at once): it changed nothing; send it again.
        if (errno === ER_LOCK_DEADLOCK && attempt < 4 && !signal?.aborted) continue;
        throw storeError(label, err, this.#secrets);
      }
    }
  }

  async #send(label: string, sql: string, values: unknown[], signal: AbortSignal | undefined): Promise<unknown> {
    if (this.#userPool) return (await raceSignal(this.#userPool.query(sql, values), signal, label))[0];
    const pool = await this.#pool();
    const conn = await pool.get(signal, label);
    let done = false;
    const finish = (destroy: boolean) => {
      if (done) return;
      done = true;
      if (destroy) pool.destroy(conn);
      else pool.release(conn);
    };
    const sent = new Promise<unknown>((resolve, reject) => {
      conn.raw.query(sql, values, (err, result) => (err ? reject(err) : resolve(result)));
    });
    try {
      // A request still unanswered when the signal fires (a black-holed server) has its
      // connection destroyed rather than left holding a slot.
      const result = await raceSignal(sent, signal, label, () => finish(true));
      finish(false);
      return result;
    } catch (err) {
      // A server error (SQLSTATE) leaves the connection usable; anything else may not.
      finish((err as { fatal?: boolean }).fatal === true || !(err as { sqlState?: string }).sqlState);
      throw err;
    }
  }

  #ensureTable(label: string, signal: AbortSignal | undefined): Promise<void> {
    this.#ensuring ??= this.#send(label, ddl(this.tableSql), [], signal).then(() => {});
    this.#ensuring.catch(() => {
      this.#ensuring = undefined;
    });
    return this.#ensuring;
  }

  async acquire(req: AcquireRequest, options?: StoreOpOptions): Promise<AcquireResult> {
    const what = `acquire "${req.key}"`;
    const key = this.#key(req.key);
    const id = b(req.leaseId);
    const ttl = Math.ceil(req.ttlMs);
    const values = [key, b(req.holder), id, ttl, id, id, id, id, id, b(req.holder), id, ttl, id, id];
    const res = await this.#query(what, this.#multi ? this.#sql.acquireAndRead : this.#sql.acquire, this.#multi ? [...values, key] : values, options?.signal);
    const [header, rows] = this.#multi ? (res as [unknown, Record<string, unknown>[]]) : [res, undefined];
    const id64 = Number((header as { insertId?: unknown }).insertId);
    if (!Number.isSafeInteger(id64) || id64 <= 0) {
      throw new StoreUnavailableError(`mysql: ${what}: the server did not report the outcome (insertId ${String(id64)}); is this MySQL 8 / MariaDB 10.5+?`);
    }
    const row = rows?.[0];
    const state = row ? decodeState(row.state as string | null) : undefined;
    if (id64 < BUSY) {
      const out: { acquired: true; token: number; storeTime?: number; state?: JsonValue | null } = { acquired: true, token: toToken(id64, `mysql: ${what}`) };
      if (row) {
        out.storeTime = Number(row.now_ms);
        out.state = state ?? null;
      }
      return out;
    }
    const out: { acquired: false; holder?: string; expiresInMs: number; storeTime?: number; state?: JsonValue | null } = { acquired: false, expiresInMs: id64 - BUSY };
    if (row) {
      if (typeof row.holder === 'string') out.holder = row.holder;
      out.storeTime = Number(row.now_ms);
      out.state = state ?? null;
    }
    return out;
  }

  async renew(req: RenewRequest, options?: StoreOpOptions): Promise<boolean> {
    const res = await this.#query(`renew "${req.key}"`, this.#sql.renew, [Math.ceil(req.ttlMs), this.#key(req.key), b(req.leaseId), req.token], options?.signal);
    return affected(res) === 1;
  }

  async release(ref: LeaseRef, options?: StoreOpOptions): Promise<boolean> {
    const res = await this.#query(`release "${ref.key}"`, this.#sql.release, [this.#key(ref.key), b(ref.leaseId), ref.token], options?.signal);
    return affected(res) === 1;
  }

  async writeState(req: WriteStateRequest, options?: StoreOpOptions): Promise<boolean> {
    const text = encodeState(req.state);
    const res = await this.#query(`writeState "${req.key}"`, this.#sql.writeState, [b(text), this.#key(req.key), b(req.leaseId), req.token], options?.signal);
    return affected(res) === 1;
  }

  async forceRelease(key: string, options?: StoreOpOptions): Promise<boolean> {
    const res = await this.#query(`forceRelease "${key}"`, this.#sql.forceRelease, [this.#key(key)], options?.signal);
    return affected(res) === 1;
  }

  async inspect(key: string, options?: StoreOpOptions): Promise<LeaseRecord | null> {
    const what = `inspect "${key}"`;
    const rows = (await this.#query(what, this.#sql.inspect, [this.#key(key)], options?.signal)) as Record<string, unknown>[];
    const row = rows[0];
    if (!row) return null;
    const live = Number(row.live) === 1;
    return {
      key,
      holder: live ? (row.holder as string) : null,
      token: toToken(row.token, `mysql: ${what}`),
      expiresInMs: live ? Math.max(0, Number(row.expires_in)) : null,
      state: decodeState(row.state as string | null),
    };
  }

  async list(options?: StoreOpOptions & { prefix?: string }): Promise<string[]> {
    const pattern = b(likePrefix(this.#prefix + (options?.prefix ?? '')));
    const rows = (await this.#query('list', this.#sql.list, [pattern], options?.signal)) as Record<string, unknown>[];
    return rows.map((r) => Buffer.from(r.key as Uint8Array).toString('utf8').slice(this.#prefix.length));
  }

  async now(options?: StoreOpOptions): Promise<number> {
    const rows = (await this.#query('read clock', this.#sql.now, [], options?.signal)) as Record<string, unknown>[];
    return Number(rows[0]?.now_ms);
  }

  /** Ends the pool opened from a URL. A pool you passed is left alone. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const own = this.#ownPool;
    this.#ownPool = undefined;
    if (own) await own.then((p) => p.end(), () => {});
  }
}

function affected(res: unknown): number {
  return Number((res as { affectedRows?: unknown }).affectedRows ?? 0);
}

/** The SQL of each operation, for one table. Parameters are positional (`?`). */
function statements(t: string) {
  // "free, expired, or already ours" — true before a grant and, because the grant writes
  // our lease id, still true after it: every assignment below may read either version.
  const free = `(lease_id IS NULL OR expires_at <= ${NOW} OR lease_id = ?)`;
  const left = `GREATEST(expires_at - ${NOW}, 0)`;
  // Parameters: key, holder, lease id, ttl | token: lease id (free), lease id (retry) |
  // lease_id: lease id (free), lease id | holder: lease id (free), holder | expires_at:
  // lease id (free), ttl | updated_at: lease id (free) | revision: lease id (free).
  const acquire = `INSERT INTO ${t} (\`key\`, holder, lease_id, token, expires_at, state, revision, updated_at)
VALUES (?, ?, ?, LAST_INSERT_ID(1), ${NOW} + ?, NULL, 1, ${NOW})
ON DUPLICATE KEY UPDATE
  token = IF(${free},
    LAST_INSERT_ID(IF(lease_id = ? AND expires_at > ${NOW}, token, token + 1)),
    LAST_INSERT_ID(${BUSY} + ${left}) - ${BUSY} - ${left} + token),
  lease_id = IF(${free}, ?, lease_id),
  holder = IF(${free}, ?, holder),
  expires_at = IF(${free}, ${NOW} + ?, expires_at),
  updated_at = IF(${free}, ${NOW}, updated_at),
  revision = revision + IF(${free}, 1, 0)`;
  const read = `SELECT holder, state, ${NOW} AS now_ms FROM ${t} WHERE \`key\` = ?`;
  const owned = `\`key\` = ? AND lease_id = ? AND token = ? AND expires_at > ${NOW}`;
  return {
    acquire,
    acquireAndRead: `${acquire};\n${read}`,
    renew: `UPDATE ${t} SET expires_at = ${NOW} + ?, updated_at = ${NOW}, revision = revision + 1 WHERE ${owned}`,
    release: `UPDATE ${t} SET holder = NULL, lease_id = NULL, expires_at = 0, updated_at = ${NOW}, revision = revision + 1 WHERE ${owned}`,
    writeState: `UPDATE ${t} SET state = ?, updated_at = ${NOW}, revision = revision + 1 WHERE ${owned}`,
    forceRelease: `UPDATE ${t} SET holder = NULL, lease_id = NULL, expires_at = 0, updated_at = ${NOW}, revision = revision + 1
WHERE \`key\` = ? AND lease_id IS NOT NULL AND expires_at > ${NOW}`,
    inspect: `SELECT holder, token, state, (lease_id IS NOT NULL AND expires_at > ${NOW}) AS live, expires_at - ${NOW} AS expires_in
FROM ${t} WHERE \`key\` = ?`,
    list: `SELECT \`key\` FROM ${t} WHERE \`key\` LIKE ? ESCAPE '!'`,
    now: `SELECT ${NOW} AS now_ms`,
  };
}

interface ParsedMysqlUrl {
  config: Record<string, unknown>;
  table?: string;
  connectionLimit?: number;
  connectTimeout?: number;
  secrets: string[];
}

const URL_PARAMS = ['table', 'ssl', 'connectionLimit', 'connectTimeout'];

function parseMysqlUrl(url: string): ParsedMysqlUrl {
  if (typeof url !== 'string' || !/^(mysql|mariadb):\/\//i.test(url)) {
    throw new ConfigError(`url: expected mysql://user:password@host:3306/database (or mariadb://), got "${redactUrl(String(url))}"`);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`url: not a valid URL: "${redactUrl(url)}"`);
  }
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new ConfigError(`url: bad percent-encoding in "${redactUrl(url)}"`);
    }
  };
  const password = decode(u.password);
  const database = decode(u.pathname.replace(/^\//, ''));
  if (!database) throw new ConfigError(`url: names no database; use mysql://user:password@host:3306/<database>, got "${redactUrl(url)}"`);
  const config: Record<string, unknown> = {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost',
    port: u.port ? Number(u.port) : 3306,
    user: decode(u.username) || 'root',
    database,
  };
  if (password) config.password = password;
  const out: ParsedMysqlUrl = { config, secrets: [password, u.password] };
  for (const [name, value] of u.searchParams) {
    switch (name) {
      case 'table':
        out.table = value;
        break;
      case 'ssl':
        if (value === 'true' || value === 'required') config.ssl = {};
        else if (value !== 'false') throw new ConfigError(`url: ssl must be true or false, got ${JSON.stringify(value)}`);
        break;
      case 'connectionLimit':
        out.connectionLimit = checkCount('connectionLimit', Number(value), 10);
        break;
      case 'connectTimeout':
        out.connectTimeout = checkMs('connectTimeout', Number(value), 5000);
        break;
      default:
        throw new ConfigError(`url: unknown parameter "${name}"; known: ${URL_PARAMS.join(', ')}`);
    }
  }
  return out;
}

/**
 * Opens `mysql://user:password@host:3306/database` (or `mariadb://`) for `openStore`.
 * `?table=` picks the table; `options.prefix` becomes the store's `keyPrefix`. The store
 * owns its pool and ends it on `close()`.
 */
export function fromUrl(url: string, options: { prefix?: string } = {}): MysqlStore {
  const opts: MysqlStoreOptions = { url };
  if (options.prefix !== undefined) opts.keyPrefix = options.prefix;
  return new MysqlStore(opts);
}
