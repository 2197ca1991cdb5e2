/**
 * `leasehold/mysql` — leases in one MySQL 8 / MariaDB 10.5+ table, on `mysql2`. Each key
 * is one row whose token only grows; acquire is one `INSERT … ON DUPLICATE KEY UPDATE`
 * that answers through `LAST_INSERT_ID(expr)`, and every value goes as a hex literal.
 * The statements are in `./statements.ts`, the store's own connection pool in
 * `./pool.ts`, the shared store in `../sql/base.ts`; how they keep the contract:
 * docs/stores/mysql.md.
 * @module
 */
import { ConfigError } from '../../errors.js';
import { checkBoolean, checkCount, checkMs, decodeUrlPart, parseStoreUrl } from '../../store-kit/index.js';
import { secretsOf, urlParams } from '../../store-kit/index.js';
import { checkSqlOptions, SqlStore, type SqlStoreOptions } from '../sql/base.js';
import { checkIdentifier, DEFAULT_TABLE } from '../sql/common.js';
import { OwnMysqlRunner, PassedMysqlRunner, type MysqlQueryable } from './pool.js';
import { ddl, mysqlDialect, quote, upgradeDdl } from './statements.js';

export type { MysqlQueryable } from './pool.js';
export { MAX_KEY_BYTES } from './statements.js';
export { DEFAULT_TABLE } from '../sql/common.js';

/** Options of {@link MysqlStore}. Give `pool` or `url`. */
export interface MysqlStoreOptions extends SqlStoreOptions {
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
  /**
   * Database (schema) of the table, when it is not the connection's default one.
   * @defaultValue the connection's database
   */
  database?: string;
  /**
   * Whether the connections accept several statements per query. Then acquire reads the
   * row back in the same round trip: busy answers name the holder and grants return the
   * key's state. Set it to true only if your pool was created with
   * `multipleStatements: true`.
   * @defaultValue true for the pool opened from `url`, false for a pool you pass
   */
  multipleStatements?: boolean;
}

/** Where the table lives; input of {@link mysqlSchemaSql}. */
export interface MysqlTableName {
  /** @defaultValue the connection's database */
  database?: string;
  /** @defaultValue `'leasehold_leases'` */
  table?: string;
}

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

/**
 * The migration that brings a table created by an earlier version (before the fused
 * acquire and release) up to date: it adds the `mark` and `prior_mark` columns. For teams
 * that run their own migrations. The store runs it itself when `createTable` is on. Run it once: MySQL 8
 * has no `ADD COLUMN IF NOT EXISTS`, so a second run fails with "Duplicate column name".
 */
export function mysqlUpgradeSql(name: MysqlTableName = {}): string {
  return `${upgradeDdl(tableRef(name))};\n`;
}

/** A callback-style mysql2 pool is used through its promise wrapper. */
function promisePool(pool: MysqlStoreOptions['pool']): MysqlQueryable {
  const given = pool as (MysqlQueryable & { promise?: () => MysqlQueryable }) | undefined;
  const queryable = typeof given?.promise === 'function' ? given.promise() : given;
  if (!queryable || typeof queryable.query !== 'function') {
    throw new ConfigError('pool: must be a mysql2/promise pool (an object with a query method)');
  }
  return queryable;
}

/**
 * A LeaseStore on MySQL 8 or MariaDB 10.5+: the shared SQL store with the MySQL dialect.
 * See docs/stores/mysql.md for the statements it runs and how acquire answers in one
 * round trip.
 */
export class MysqlStore extends SqlStore<unknown, Buffer> {
  constructor(options: MysqlStoreOptions) {
    const settings = checkSqlOptions('mysql', options, ['database', 'multipleStatements']);
    const multi = checkBoolean('multipleStatements', options.multipleStatements, options.url !== undefined);
    const parsed = options.url === undefined ? undefined : parseMysqlUrl(options.url);
    const runner = parsed
      ? new OwnMysqlRunner(
          {
            ...parsed.config,
            connectTimeout: parsed.connectTimeout ?? settings.connectTimeoutMs,
            multipleStatements: multi,
            enableKeepAlive: true,
            supportBigNumbers: true,
            bigNumberStrings: true,
            charset: 'utf8mb4',
          },
          parsed.connectionLimit ?? settings.maxConnections,
        )
      : new PassedMysqlRunner(promisePool(options.pool));
    const table = options.table ?? parsed?.table ?? DEFAULT_TABLE;
    const tableSql = tableRef(options.database === undefined ? { table } : { table, database: options.database });
    super(mysqlDialect(tableSql, multi), runner, { ...settings, secrets: parsed?.secrets ?? [] });
  }
}

interface ParsedMysqlUrl {
  config: Record<string, unknown>;
  table?: string;
  connectionLimit?: number;
  connectTimeout?: number;
  secrets: string[];
}

const URL_PARAMS = ['table', 'ssl', 'connectionLimit', 'connectTimeout'];

function parseMysqlUrl(text: string): ParsedMysqlUrl {
  const example = 'mysql://user:password@host:3306/database (or mariadb://)';
  const { url, shown } = parseStoreUrl(text, ['mysql', 'mariadb'], example);
  const password = decodeUrlPart(url.password, shown);
  const database = decodeUrlPart(url.pathname.replace(/^\//, ''), shown, 'database name');
  if (!database) throw new ConfigError(`store: "${shown}" names no database; expected ${example}`);
  const config: Record<string, unknown> = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost',
    port: url.port ? Number(url.port) : 3306,
    user: decodeUrlPart(url.username, shown) || 'root',
    database,
  };
  if (password) config.password = password;
  const out: ParsedMysqlUrl = { config, secrets: secretsOf(text) };
  const params = urlParams(url, shown, URL_PARAMS);
  const ssl = params.get('ssl');
  if (ssl === 'true' || ssl === 'required') config.ssl = {};
  else if (ssl !== undefined && ssl !== 'false') {
    throw new ConfigError(`url: ssl must be true or false, got ${JSON.stringify(ssl)}`);
  }
  const table = params.get('table');
  if (table !== undefined) out.table = table;
  const limit = params.get('connectionLimit');
  if (limit !== undefined) out.connectionLimit = checkCount('connectionLimit', Number(limit), 10);
  const timeout = params.get('connectTimeout');
  if (timeout !== undefined) out.connectTimeout = checkMs('connectTimeout', Number(timeout), 5000);
  return out;
}

/**
 * Opens `mysql://user:password@host:3306/database` (or `mariadb://`) for `openStore`.
 * `?table=` picks the table; `options.prefix` becomes the store's `prefix`. The store
 * owns its pool and ends it on `close()`.
 */
export function fromUrl(url: string, options: { prefix?: string } = {}): MysqlStore {
  return new MysqlStore(options.prefix === undefined ? { url } : { url, prefix: options.prefix });
}
