/**
 * `leasehold/postgres` — leases in one PostgreSQL table, on `pg` (node-postgres).
 *
 * ## How it works
 *
 * Each key is one row: holder, lease id, fencing token, expiry, state. The row is never
 * deleted, so its token only grows: a grant sets `token = token + 1`, release and
 * expiry leave it alone. Every operation is **one SQL statement** (one round trip):
 *
 * - acquire: `INSERT … ON CONFLICT (key) DO UPDATE … WHERE <free, expired or our own
 *   lease id> RETURNING …`, wrapped in a CTE that, when the upsert changed nothing,
 *   reads the current row (`FOR SHARE`, so it sees the version that beat us) to name
 *   the holder and the time left;
 * - renew, release, fenced write, break: one `UPDATE … WHERE key AND lease_id AND token
 *   AND expires_at > clock_timestamp()`.
 *
 * Expiry is judged by the database's `clock_timestamp()`, never the caller's clock.
 * No advisory locks, no session settings: every statement stands alone, so the store
 * works through PgBouncer in transaction mode. The pool opened from a URL sends named
 * (prepared) statements; turn that off with `preparedStatements: false` behind a pooler
 * that cannot keep them. A pool you pass gets unnamed statements unless you opt in.
 *
 * @module
 */
import { createHash } from 'node:crypto';
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

/** The result shape of `pg`'s `query`, as far as this store reads it. */
export interface PgQueryResult {
  rows: Record<string, unknown>[];
  rowCount: number | null;
}

/**
 * What the store needs from a `pg.Pool` (or anything with the same `query`, such as a
 * `pg.Client` or a PgBouncer-facing pool). Typed structurally so no `pg` version is forced
 * on you.
 */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<PgQueryResult>;
}

/** Options of {@link PostgresStore}. Give `pool` or `url`. */
export interface PostgresStoreOptions {
  /**
   * Your `pg.Pool` (or any object with `pg`'s `query`). The store never ends it.
   * Cancellation of a hung query relies on your pool's own timeouts; set
   * `connectionTimeoutMillis` and `query_timeout` on it.
   */
  pool?: PgQueryable;
  /**
   * A `postgres://` or `postgresql://` URL; the store opens its own pool (with
   * connection timeouts set) and ends it on {@link PostgresStore.close}. Query
   * parameters `table` and `schema` set those options; the others go to `pg`.
   */
  url?: string;
  /** Table name: letters, digits and `_`. @defaultValue `'leasehold_leases'` */
  table?: string;
  /** Schema of the table: letters, digits and `_`. @defaultValue `'public'` */
  schema?: string;
  /**
   * Create the schema and table when a statement finds them missing
   * (`CREATE … IF NOT EXISTS`, safe when many processes race). Turn off when you run
   * the DDL from {@link postgresSchemaSql} in your own migrations.
   * @defaultValue true
   */
  createTable?: boolean;
  /**
   * Prepended to every key in the table, so several applications can share one table
   * without seeing each other's keys. `list()` and `inspect()` report keys without it.
   * @defaultValue `''`
   */
  keyPrefix?: string;
  /** Connect timeout of the pool opened from `url`, in ms. @defaultValue 5000 */
  connectTimeoutMs?: number;
  /** Most connections of the pool opened from `url`. @defaultValue 10 */
  maxConnections?: number;
  /**
   * Send the store's statements as named prepared statements on the pool opened from
   * `url`: each is parsed and planned once per connection instead of on every call (on
   * PostgreSQL 15 here that halved the latency of an acquire, 1.3–1.4 ms → 0.64–0.72 ms).
   * Turn it off behind a connection pooler that cannot keep prepared statements (PgBouncer
   * in transaction mode before 1.21, or without `max_prepared_statements`); the URL
   * parameter `preparedStatements=false` does the same. With a pool you pass, set it to
   * `true` only if its `query` takes pg's `{ name, text, values }` objects (`pg.Pool` and
   * `pg.Client` do).
   * @defaultValue true with `url`, false with `pool`
   */
  preparedStatements?: boolean;
}

/** Where the table lives; input of {@link postgresSchemaSql}. */
export interface PostgresTableName {
  /** @defaultValue `'public'` */
  schema?: string;
  /** @defaultValue `'leasehold_leases'` */
  table?: string;
}

/** Default table name of the SQL stores. */
export const DEFAULT_TABLE = 'leasehold_leases';

const quote = (id: string) => `"${id}"`;

/**
 * The DDL of the lease table, for teams that run their own migrations (then construct
 * the store with `createTable: false`). Idempotent.
 *
 * @example
 * ```ts
 * await migrate(postgresSchemaSql({ schema: 'ops', table: 'leases' }));
 * ```
 */
export function postgresSchemaSql(name: PostgresTableName = {}): string {
  const schema = checkIdentifier('schema', name.schema ?? 'public', 63);
  const table = checkIdentifier('table', name.table ?? DEFAULT_TABLE, 63);
  return `${ddlStatements(schema, table).join(';\n')};\n`;
}

function ddlStatements(schema: string, table: string): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quote(schema)}`,
    [
      `CREATE TABLE IF NOT EXISTS ${quote(schema)}.${quote(table)} (`,
      `  key        text COLLATE "C" PRIMARY KEY, -- the lease key (with the store's keyPrefix)`,
      `  holder     text,                         -- current holder, NULL when free`,
      `  lease_id   text,                         -- random id of the current acquisition, NULL when free`,
      `  token      bigint NOT NULL,              -- last fencing token issued; only grows`,
      `  expires_at timestamptz,                  -- by the database clock; NULL when free`,
      `  state      text,                         -- fenced state (JSON text), outlives leases`,
      `  updated_at timestamptz NOT NULL           -- last change, by the database clock`,
      `)`,
    ].join('\n'),
  ];
}

type PgModule = { Pool: new (config: Record<string, unknown>) => OwnedPool };

interface OwnedClient {
  query(text: string, values?: unknown[]): Promise<PgQueryResult>;
  query(config: { name: string; text: string; values: unknown[] }): Promise<PgQueryResult>;
  release(err?: Error | boolean): void;
}

interface OwnedPool extends PgQueryable {
  connect(): Promise<OwnedClient>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'connect', listener: (client: { on(event: 'error', listener: (err: Error) => void): unknown }) => void): unknown;
}

async function loadPg(): Promise<PgModule> {
  try {
    const mod = (await import('pg')) as unknown as { default?: PgModule } & PgModule;
    return mod.default?.Pool ? mod.default : mod;
  } catch (err) {
    throw new ConfigError('postgres store: the "pg" package is not installed; run `npm install pg`', { cause: err });
  }
}

const URL_SCHEME = /^postgres(ql)?:\/\//i;

/** SQLSTATEs meaning "the table (or its schema) is not there yet". */
const MISSING = new Set(['42P01', '3F000']);
/** SQLSTATEs of a statement that was rolled back whole and may simply be sent again. */
const RETRYABLE = new Set(['40001', '40P01']);
/** SQLSTATEs of a concurrent `CREATE … IF NOT EXISTS` losing its race: the object exists now. */
const CREATE_RACE = new Set(['23505', '42P07', '42P06', '42710']);

/**
 * A {@link LeaseStore} on PostgreSQL (9.5+ for `ON CONFLICT`; tested on 15). See the
 * module docs for the statements it runs.
 */
export class PostgresStore implements LeaseStore {
  readonly name = 'postgres';
  readonly capabilities: StoreCapabilities = { clock: 'store', persistent: true, stateOnAcquire: true, minTtlMs: 1 };
  /** Schema-qualified, quoted table name as used in SQL. */
  readonly tableSql: string;
  readonly #schema: string;
  readonly #table: string;
  readonly #createTable: boolean;
  readonly #prefix: string;
  readonly #userPool: PgQueryable | undefined;
  readonly #url: string | undefined;
  readonly #secrets: string[] = [];
  readonly #connectTimeoutMs: number;
  readonly #maxConnections: number;
  #ownPool: Promise<OwnedPool> | undefined;
  #ensuring: Promise<void> | undefined;
  #closed = false;
  readonly #sql: ReturnType<typeof statements>;
  /** Statement text → prepared statement name, when statements are prepared. */
  readonly #names = new Map<string, string>();

  constructor(options: PostgresStoreOptions) {
    if (!options || typeof options !== 'object') throw new ConfigError('postgres store: options with a pool or a url are required');
    if (!!options.pool === !!options.url) {
      throw new ConfigError(`postgres store: give exactly one of pool or url, got ${options.pool ? 'both' : 'neither'}`);
    }
    let table = options.table;
    let schema = options.schema;
    let prepared = options.preparedStatements;
    if (prepared !== undefined && typeof prepared !== 'boolean') throw new ConfigError(`preparedStatements: expected true or false, got ${JSON.stringify(prepared)}`);
    if (options.url !== undefined) {
      const parsed = parsePostgresUrl(options.url);
      this.#url = parsed.url;
      this.#secrets.push(...parsed.secrets);
      table ??= parsed.table;
      schema ??= parsed.schema;
      prepared ??= parsed.preparedStatements;
    } else if (typeof options.pool?.query !== 'function') {
      throw new ConfigError('pool: must be a pg.Pool (an object with a query method)');
    }
    this.#userPool = options.pool;
    this.#schema = checkIdentifier('schema', schema ?? 'public', 63);
    this.#table = checkIdentifier('table', table ?? DEFAULT_TABLE, 63);
    this.tableSql = `${quote(this.#schema)}.${quote(this.#table)}`;
    this.#createTable = options.createTable ?? true;
    this.#prefix = checkKeyPrefix(options.keyPrefix);
    this.#connectTimeoutMs = checkMs('connectTimeoutMs', options.connectTimeoutMs, 5000);
    this.#maxConnections = checkCount('maxConnections', options.maxConnections, 10);
    this.#sql = statements(this.tableSql);
    if (prepared ?? !options.pool) {
      // One name per statement text: the table is part of the text, so two stores on
      // different tables never share a name on a connection.
      for (const [op, text] of Object.entries(this.#sql)) this.#names.set(text, `leasehold_${op}_${createHash('sha1').update(text).digest('hex').slice(0, 12)}`);
    }
  }

  #pool(): Promise<OwnedPool> {
    this.#ownPool ??= loadPg().then((pg) => {
      const pool = new pg.Pool({
        connectionString: this.#url,
        connectionTimeoutMillis: this.#connectTimeoutMs,
        max: this.#maxConnections,
        keepAlive: true,
        idleTimeoutMillis: 10_000,
        // Idle connections must not keep the process alive.
        allowExitOnIdle: true,
        application_name: 'leasehold',
      });
      // A connection that breaks (server restart, a connection we cut off) must never
      // crash the process with an 'error' event nobody listens to: the pool listens only
      // while a client is idle, so every client gets a listener of its own for its whole
      // life. Errors during a query still reach that query.
      pool.on('error', () => {});
      pool.on('connect', (client) => {
        client.on('error', () => {});
      });
      return pool;
    });
    return this.#ownPool;
  }

  /** Runs one statement: one round trip. Creates the table on first use when allowed. */
  async #query(what: string, text: string, values: unknown[], signal: AbortSignal | undefined): Promise<PgQueryResult> {
    const label = `postgres: ${what}`;
    throwIfAborted(signal, label);
    if (this.#closed) throw new StoreUnavailableError(`${label}: the store is closed`);
    let ensured = false;
    for (let attempt = 1; ; attempt++) {
      try {
        // After creating the table, the retry goes unnamed: a pg older than 8.12 may
        // remember a named statement whose parse failed.
        return await this.#send(label, text, values, signal, !ensured);
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (this.#createTable && !ensured && MISSING.has(code)) {
          ensured = true;
          try {
            await this.#ensureTable(label, signal);
          } catch (e) {
            throw storeError(label, e, this.#secrets);
          }
          continue;
        }
        // A statement rolled back as a deadlock victim or a serialization failure (a pool
        // running SERIALIZABLE) changed nothing: send it again.
        if (RETRYABLE.has(code) && attempt < 4 && !signal?.aborted) continue;
        throw storeError(label, err, this.#secrets);
      }
    }
  }

  async #send(label: string, text: string, values: unknown[], signal: AbortSignal | undefined, named = false): Promise<PgQueryResult> {
    const name = named ? this.#names.get(text) : undefined;
    if (this.#userPool) {
      const q = name ? (this.#userPool.query as unknown as (c: { name: string; text: string; values: unknown[] }) => Promise<PgQueryResult>)({ name, text, values }) : this.#userPool.query(text, values);
      return raceSignal(q, signal, label);
    }
    const pool = await this.#pool();
    // Check a client out ourselves, so that a query still hanging when the signal fires
    // (a black-holed connection) is cut off instead of holding a pool slot.
    const connecting = pool.connect();
    const client = await raceSignal(connecting, signal, label, () => {
      connecting.then((c) => c.release(), () => {});
    });
    let released = false;
    const release = (err?: Error) => {
      if (released) return;
      released = true;
      client.release(err);
    };
    try {
      const res = await raceSignal(name ? client.query({ name, text, values }) : client.query(text, values), signal, label, () => release(new Error('aborted')));
      release();
      return res;
    } catch (err) {
      // A server error (SQLSTATE) leaves the connection usable; anything else may not.
      const serverError = typeof (err as { severity?: unknown }).severity === 'string';
      release(serverError ? undefined : err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  #ensureTable(label: string, signal: AbortSignal | undefined): Promise<void> {
    this.#ensuring ??= (async () => {
      for (const stmt of ddlStatements(this.#schema, this.#table)) {
        try {
          await this.#send(label, stmt, [], signal);
        } catch (err) {
          if (!CREATE_RACE.has((err as { code?: string }).code ?? '')) throw err;
        }
      }
    })();
    this.#ensuring.catch(() => {
      this.#ensuring = undefined;
    });
    return this.#ensuring;
  }

  async acquire(req: AcquireRequest, options?: StoreOpOptions): Promise<AcquireResult> {
    const key = this.#prefix + req.key;
    const what = `acquire "${req.key}"`;
    const res = await this.#query(what, this.#sql.acquire, [key, req.holder, req.leaseId, req.ttlMs], options?.signal);
    const row = res.rows[0];
    if (!row) {
      // The key's row was created by a concurrent transaction after this statement's
      // snapshot was taken, so the CTE could not read it. Rare (first use of a key, under
      // contention); one more read names the winner.
      const rec = await this.inspect(req.key, options);
      const out: { acquired: false; holder?: string; expiresInMs?: number; state: JsonValue | null } = { acquired: false, state: rec?.state ?? null };
      if (rec?.holder) out.holder = rec.holder;
      if (rec?.expiresInMs != null) out.expiresInMs = rec.expiresInMs;
      return out;
    }
    const state = decodeState(row.state as string | null);
    const storeTime = Number(row.now_ms);
    if (row.acquired === true) return { acquired: true, token: toToken(row.token, `postgres: ${what}`), storeTime, state };
    const out: { acquired: false; holder?: string; expiresInMs?: number; storeTime: number; state: JsonValue | null } = { acquired: false, storeTime, state };
    if (typeof row.holder === 'string') out.holder = row.holder;
    if (row.expires_in !== null && row.expires_in !== undefined) out.expiresInMs = Math.max(0, Number(row.expires_in));
    return out;
  }

  async renew(req: RenewRequest, options?: StoreOpOptions): Promise<boolean> {
    const res = await this.#query(`renew "${req.key}"`, this.#sql.renew, [this.#prefix + req.key, req.leaseId, String(req.token), req.ttlMs], options?.signal);
    return res.rowCount === 1;
  }

  async release(ref: LeaseRef, options?: StoreOpOptions): Promise<boolean> {
    const res = await this.#query(`release "${ref.key}"`, this.#sql.release, [this.#prefix + ref.key, ref.leaseId, String(ref.token)], options?.signal);
    return res.rowCount === 1;
  }

  async writeState(req: WriteStateRequest, options?: StoreOpOptions): Promise<boolean> {
    const text = encodeState(req.state);
    const res = await this.#query(`writeState "${req.key}"`, this.#sql.writeState, [this.#prefix + req.key, req.leaseId, String(req.token), text], options?.signal);
    return res.rowCount === 1;
  }

  async forceRelease(key: string, options?: StoreOpOptions): Promise<boolean> {
    const res = await this.#query(`forceRelease "${key}"`, this.#sql.forceRelease, [this.#prefix + key], options?.signal);
    return res.rowCount === 1;
  }

  async inspect(key: string, options?: StoreOpOptions): Promise<LeaseRecord | null> {
    const what = `inspect "${key}"`;
    const res = await this.#query(what, this.#sql.inspect, [this.#prefix + key], options?.signal);
    const row = res.rows[0];
    if (!row) return null;
    const live = row.live === true;
    return {
      key,
      holder: live ? (row.holder as string) : null,
      token: toToken(row.token, `postgres: ${what}`),
      expiresInMs: live ? Math.max(0, Number(row.expires_in)) : null,
      state: decodeState(row.state as string | null),
    };
  }

  async list(options?: StoreOpOptions & { prefix?: string }): Promise<string[]> {
    const res = await this.#query('list', this.#sql.list, [likePrefix(this.#prefix + (options?.prefix ?? ''))], options?.signal);
    return res.rows.map((r) => (r.key as string).slice(this.#prefix.length));
  }

  async now(options?: StoreOpOptions): Promise<number> {
    const res = await this.#query('read clock', this.#sql.now, [], options?.signal);
    return Number(res.rows[0]?.now_ms);
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

/** The SQL of each operation, for one table. Parameters are positional (`$n`). */
function statements(t: string) {
  const ms = (e: string) => `(extract(epoch FROM ${e}) * 1000)::float8`;
  return {
    // $1 key, $2 holder, $3 lease id, $4 ttl ms. `c.t` is read once, before any lock
    // wait, and passed to the conflict branch as `excluded.updated_at`: a lease that
    // expires while we wait is judged by the earlier instant (busy), never the reverse.
    acquire: `WITH c AS (SELECT clock_timestamp() AS t),
up AS (
  INSERT INTO ${t} AS l (key, holder, lease_id, token, expires_at, state, updated_at)
  SELECT $1, $2, $3, 1, c.t + $4::float8 * interval '1 millisecond', NULL, c.t FROM c
  ON CONFLICT (key) DO UPDATE SET
    token = CASE WHEN l.lease_id = excluded.lease_id AND l.expires_at > excluded.updated_at THEN l.token ELSE l.token + 1 END,
    holder = excluded.holder,
    lease_id = excluded.lease_id,
    expires_at = excluded.expires_at,
    updated_at = excluded.updated_at
  WHERE l.lease_id IS NULL OR l.expires_at <= excluded.updated_at OR l.lease_id = excluded.lease_id
  RETURNING l.token, l.state, l.updated_at
),
cur AS (
  SELECT l.holder, l.token, l.state, l.expires_at FROM ${t} l
  WHERE l.key = $1 AND NOT EXISTS (SELECT 1 FROM up)
  FOR SHARE
)
SELECT true AS acquired, up.token::text AS token, up.state, NULL::text AS holder, NULL::float8 AS expires_in, ${ms('up.updated_at')} AS now_ms FROM up
UNION ALL
SELECT false, cur.token::text, cur.state, cur.holder, ${ms('cur.expires_at - c.t')}, ${ms('c.t')} FROM cur, c`,
    // $1 key, $2 lease id, $3 token, $4 ttl ms
    renew: `UPDATE ${t} SET expires_at = clock_timestamp() + $4::float8 * interval '1 millisecond', updated_at = clock_timestamp()
WHERE key = $1 AND lease_id = $2 AND token = $3::bigint AND expires_at > clock_timestamp()`,
    release: `UPDATE ${t} SET holder = NULL, lease_id = NULL, expires_at = NULL, updated_at = clock_timestamp()
WHERE key = $1 AND lease_id = $2 AND token = $3::bigint AND expires_at > clock_timestamp()`,
    // $4 state
    writeState: `UPDATE ${t} SET state = $4, updated_at = clock_timestamp()
WHERE key = $1 AND lease_id = $2 AND token = $3::bigint AND expires_at > clock_timestamp()`,
    forceRelease: `UPDATE ${t} SET holder = NULL, lease_id = NULL, expires_at = NULL, updated_at = clock_timestamp()
WHERE key = $1 AND lease_id IS NOT NULL AND expires_at > clock_timestamp()`,
    inspect: `SELECT l.holder, l.token::text AS token, l.state,
  (l.lease_id IS NOT NULL AND l.expires_at > c.t) AS live, ${ms('l.expires_at - c.t')} AS expires_in
FROM ${t} l, (SELECT clock_timestamp() AS t) c WHERE l.key = $1`,
    list: `SELECT key FROM ${t} WHERE key LIKE $1 ESCAPE '!'`,
    now: `SELECT ${ms('clock_timestamp()')} AS now_ms`,
  };
}

/** A URL split into what `pg` gets and what the store reads itself. */
interface ParsedPostgresUrl {
  url: string;
  preparedStatements?: boolean;
  table?: string;
  schema?: string;
  secrets: string[];
}

function parsePostgresUrl(url: string): ParsedPostgresUrl {
  if (typeof url !== 'string' || !URL_SCHEME.test(url)) {
    throw new ConfigError(`url: expected postgres://user:password@host:port/database, got "${redactUrl(String(url))}"`);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`url: not a valid URL: "${redactUrl(url)}"`);
  }
  const secrets: string[] = [];
  if (u.password) {
    secrets.push(u.password);
    try {
      secrets.push(decodeURIComponent(u.password));
    } catch {
      throw new ConfigError(`url: bad percent-encoding in the password of "${redactUrl(url)}"`);
    }
  }
  const out: ParsedPostgresUrl = { url, secrets };
  const table = u.searchParams.get('table');
  const schema = u.searchParams.get('schema');
  const prepared = u.searchParams.get('preparedStatements');
  if (table !== null) out.table = table;
  if (schema !== null) out.schema = schema;
  if (prepared !== null) {
    if (prepared !== 'true' && prepared !== 'false') throw new ConfigError(`url: preparedStatements: expected true or false, got "${prepared}"`);
    out.preparedStatements = prepared === 'true';
  }
  for (const p of ['password']) {
    const v = u.searchParams.get(p);
    if (v) secrets.push(v);
  }
  if (table !== null || schema !== null || prepared !== null) {
    u.searchParams.delete('table');
    u.searchParams.delete('schema');
    u.searchParams.delete('preparedStatements');
    out.url = u.toString();
  }
  return out;
}

/**
 * Opens `postgres://user:password@host:port/database` (or `postgresql://`) for
 * `openStore`. `?table=` and `?schema=` pick the table; `options.prefix` becomes the
 * store's `keyPrefix`. The store owns its pool and ends it on `close()`.
 */
export function fromUrl(url: string, options: { prefix?: string } = {}): PostgresStore {
  const opts: PostgresStoreOptions = { url };
  if (options.prefix !== undefined) opts.keyPrefix = options.prefix;
  return new PostgresStore(opts);
}
