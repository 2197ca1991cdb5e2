/**
 * `leasehold/postgres` — leases in one PostgreSQL table, on `pg` (node-postgres). Each
 * key is one row whose token only grows; every operation is one statement, judged by the
 * database's `clock_timestamp()`. The statements are in `./statements.ts`, the shared
 * store in `../sql/base.ts`; how they keep the contract, and PgBouncer notes:
 * docs/stores/postgres.md.
 * @module
 */
import { ConfigError } from '../../errors.js';
import { checkBoolean, decodeUrlPart, parseStoreUrl, secretsOf } from '../../store-kit/index.js';
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
   * parameters `table`, `schema` and `preparedStatements` set those options; the others
   * go to `pg`.
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
 * A LeaseStore on PostgreSQL (9.5+ for `ON CONFLICT`; tested on 15): the shared SQL
 * store with the PostgreSQL dialect. See docs/stores/postgres.md.
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
    const runner = parsed
      ? new OwnPgRunner({ ...settings, connectionString: parsed.url }, names)
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
  secrets: string[];
}

/** The query parameters the store reads; every other one goes to `pg`. */
const STORE_PARAMS = ['table', 'schema', 'preparedStatements'];

function parsePostgresUrl(text: string): ParsedPostgresUrl {
  const { url, shown } = parseStoreUrl(text, ['postgres', 'postgresql'], 'postgres://user:password@host:port/database');
  decodeUrlPart(url.password, shown, 'password');
  const out: ParsedPostgresUrl = { url: text, secrets: secretsOf(text) };
  const table = url.searchParams.get('table');
  const schema = url.searchParams.get('schema');
  const prepared = url.searchParams.get('preparedStatements');
  if (table !== null) out.table = table;
  if (schema !== null) out.schema = schema;
  if (prepared !== null) {
    if (prepared !== 'true' && prepared !== 'false') {
      throw new ConfigError(`url: preparedStatements: expected true or false, got ${JSON.stringify(prepared)}`);
    }
    out.preparedStatements = prepared === 'true';
  }
  if (table !== null || schema !== null || prepared !== null) {
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
