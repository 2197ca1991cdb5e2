/**
 * `leasehold/postgres` — leases in one PostgreSQL table, on `pg` (node-postgres). Each
 * key is one row whose token only grows; every operation is one statement, judged by the
 * database's `clock_timestamp()`. The statements are in `./statements.ts`, the shared
 * store in `../sql/base.ts`; how they keep the contract, and PgBouncer notes:
 * docs/stores/postgres.md.
 * @module
 */
import { ConfigError } from '../../errors.js';
import { checkBoolean, decodeUrlPart, parseStoreUrl, secretsOf, urlParams } from '../../store-kit/index.js';
import { checkSqlOptions, SqlStore, type SqlStoreOptions } from '../sql/base.js';
import { checkIdentifier, DEFAULT_TABLE } from '../sql/common.js';
import { OwnPgRunner, PassedPgRunner, statementNames, type PgQueryable, type PgQueryResult } from './pool.js';
import { ddlStatements, postgresDialect } from './statements.js';

export type { PgQueryable, PgQueryResult } from './pool.js';
export { DEFAULT_TABLE } from '../sql/common.js';

/** Options of {@link PostgresStore}. Give `pool` or `url`. */
export interface PostgresStoreOptions extends SqlStoreOptions {
  /**
   * Your `pg.Pool` (or any object with `pg`'s `query`). The store never ends it.
   * Cancellation of a hung query relies on your pool's own timeouts; set
   * `connectionTimeoutMillis` and `query_timeout` on it.
   */
  pool?: PgQueryable;
  /**
   * A `postgres://` or `postgresql://` URL; the store opens its own pool (with
   * connection timeouts set) and ends it on {@link PostgresStore.close}. Query
   * parameters `table`, `schema` and `preparedStatements` set those options,
   * `connect_timeout` (seconds, as in libpq) sets `connectTimeoutMs`; the connection
   * parameters `pg` reads ({@link PG_URL_PARAMS}) go to `pg`; any other is refused.
   */
  url?: string;
  /** Schema of the table: letters, digits and `_`. @defaultValue `'public'` */
  schema?: string;
  /**
   * Send the store's statements as named prepared statements: each is parsed and planned
   * once per connection instead of on every call (on PostgreSQL 15 here that halved the
   * latency of an acquire, 1.3–1.4 ms → 0.64–0.72 ms). Turn it off behind a connection
   * pooler that cannot keep prepared statements (PgBouncer in transaction mode before
   * 1.21, or without `max_prepared_statements`); the URL parameter
   * `preparedStatements=false` does the same. With a pool you pass, set it to `true` only
   * if its `query` takes pg's `{ name, text, values }` objects (`pg.Pool` and `pg.Client` do).
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

/**
 * A LeaseStore on PostgreSQL (9.6+ for `ON CONFLICT` and `ADD COLUMN IF NOT EXISTS`;
 * tested on 15): the shared SQL store with the PostgreSQL dialect. See
 * docs/stores/postgres.md.
 */
export class PostgresStore extends SqlStore<PgQueryResult, string> {
  constructor(options: PostgresStoreOptions) {
    const settings = checkSqlOptions('postgres', options, ['schema', 'preparedStatements']);
    const parsed = options.url === undefined ? undefined : parsePostgresUrl(options.url);
    if (!parsed && typeof options.pool?.query !== 'function') {
      throw new ConfigError('pool: must be a pg.Pool (an object with a query method)');
    }
    const preparedOption = options.preparedStatements ?? parsed?.preparedStatements;
    const prepared = checkBoolean('preparedStatements', preparedOption, parsed !== undefined);
    const schema = checkIdentifier('schema', options.schema ?? parsed?.schema ?? 'public', 63);
    const table = checkIdentifier('table', options.table ?? parsed?.table ?? DEFAULT_TABLE, 63);
    const dialect = postgresDialect(schema, table);
    const names = prepared ? statementNames(dialect.statements) : undefined;
    // The option wins over the URL's connect_timeout.
    const urlTimeoutMs = options.connectTimeoutMs === undefined ? parsed?.connectTimeoutMs : undefined;
    const connectTimeoutMs = urlTimeoutMs ?? settings.connectTimeoutMs;
    const runner = parsed
      ? new OwnPgRunner({ ...settings, connectTimeoutMs, connectionString: parsed.url }, names)
      : new PassedPgRunner(options.pool as PgQueryable, names);
    super(dialect, runner, { ...settings, secrets: parsed?.secrets ?? [] });
  }
}

/** A URL split into what `pg` gets and what the store reads itself. */
interface ParsedPostgresUrl {
  url: string;
  preparedStatements?: boolean;
  table?: string;
  schema?: string;
  connectTimeoutMs?: number;
  secrets: string[];
}

/** The query parameters the store reads itself and takes out of the URL `pg` gets. */
const STORE_PARAMS = ['table', 'schema', 'preparedStatements', 'connect_timeout'];

/**
 * The connection parameters `pg` 8 reads from a URL's query (pg-connection-string and
 * `ConnectionParameters`): where to connect, TLS, and the session settings it sends.
 * Any other parameter would be ignored by `pg` without a word, so the store refuses it.
 */
export const PG_URL_PARAMS: readonly string[] = [
  'host',
  'port',
  'user',
  'password',
  'ssl',
  'sslmode',
  'sslcert',
  'sslkey',
  'sslrootcert',
  'sslnegotiation',
  'uselibpqcompat',
  'application_name',
  'fallback_application_name',
  'client_encoding',
  'options',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'query_timeout',
];

/** The `sslmode` values `pg` acts on. */
const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'];

/** libpq's `connect_timeout` (seconds) in ms; 0 (libpq: wait for ever) is refused, as any unbounded wait. */
function connectTimeoutOf(text: string): number {
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds * 1000 > 2_147_483_647) {
    throw new ConfigError(`url: connect_timeout must be a positive number of seconds, got ${JSON.stringify(text)}`);
  }
  return seconds * 1000;
}

function parsePostgresUrl(text: string): ParsedPostgresUrl {
  const { url, shown } = parseStoreUrl(text, ['postgres', 'postgresql'], 'postgres://user:password@host:port/database');
  decodeUrlPart(url.password, shown, 'password');
  const params = urlParams(url, shown, [...STORE_PARAMS, ...PG_URL_PARAMS]);
  const out: ParsedPostgresUrl = { url: text, secrets: secretsOf(text) };
  const sslmode = params.get('sslmode');
  if (sslmode !== undefined && !SSL_MODES.includes(sslmode)) {
    throw new ConfigError(`url: sslmode must be one of ${SSL_MODES.join(', ')}, got ${JSON.stringify(sslmode)}`);
  }
  const table = params.get('table');
  const schema = params.get('schema');
  const prepared = params.get('preparedStatements');
  const timeout = params.get('connect_timeout');
  if (table !== undefined) out.table = table;
  if (schema !== undefined) out.schema = schema;
  if (prepared !== undefined) {
    if (prepared !== 'true' && prepared !== 'false') {
      throw new ConfigError(`url: preparedStatements: expected true or false, got ${JSON.stringify(prepared)}`);
    }
    out.preparedStatements = prepared === 'true';
  }
  if (timeout !== undefined) out.connectTimeoutMs = connectTimeoutOf(timeout);
  if (STORE_PARAMS.some((name) => params.has(name))) {
    for (const name of STORE_PARAMS) url.searchParams.delete(name);
    out.url = url.toString();
  }
  return out;
}

/**
 * Opens `postgres://user:password@host:port/database` (or `postgresql://`) for
 * `openStore`. `?table=` and `?schema=` pick the table; `options.prefix` becomes the
 * store's `prefix`. The store owns its pool and ends it on `close()`.
 */
export function fromUrl(url: string, options: { prefix?: string } = {}): PostgresStore {
  return new PostgresStore(options.prefix === undefined ? { url } : { url, prefix: options.prefix });
}
