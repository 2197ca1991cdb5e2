/**
 * The fence on PostgreSQL and MySQL/MariaDB: one row per resource holding the highest
 * token seen, advanced inside the caller's own transaction so that the check, the
 * caller's writes and the new token commit together (docs/fencing.md, "SQL").
 * @module
 */
import { ConfigError } from '../errors.js';
import { throwIfAborted, toToken } from '../store-kit/index.js';
import { checkIdentifier } from '../stores/sql/common.js';
import { checkResource, checkToken, enforce, type FenceCallOptions, type FenceStore } from './common.js';
import type { FenceVerdict } from './common.js';

/** Default name of the fence table. */
export const DEFAULT_FENCE_TABLE = 'leasehold_fence';

/** Which SQL a client speaks. */
export type FenceDialect = 'postgres' | 'mysql';

/**
 * A `pg` client, pool client or pool (`query` resolves `{ rows }`), or a `mysql2/promise`
 * connection or pool (`query` resolves `[result, fields]`). Typed structurally.
 */
export interface SqlFenceClient {
  /** Runs one statement with positional parameters. */
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/** Options of the SQL fence helpers. */
export interface SqlFenceOptions {
  /** Table name: letters, digits and `_`. @defaultValue `'leasehold_fence'` */
  table?: string;
  /**
   * The client's SQL. @defaultValue `'mysql'` for an object with `execute` (mysql2), else `'postgres'`
   */
  dialect?: FenceDialect;
}

interface Resolved {
  dialect: FenceDialect;
  table: string;
}

function resolve(client: SqlFenceClient, options: SqlFenceOptions | undefined): Resolved {
  if (typeof client?.query !== 'function') {
    throw new ConfigError('client: must be a pg client or pool, or a mysql2/promise connection or pool');
  }
  const dialect =
    options?.dialect ?? (typeof (client as { execute?: unknown }).execute === 'function' ? 'mysql' : 'postgres');
  if (dialect !== 'postgres' && dialect !== 'mysql') {
    throw new ConfigError(`dialect: must be 'postgres' or 'mysql', got ${JSON.stringify(dialect)}`);
  }
  const name = checkIdentifier('table', options?.table ?? DEFAULT_FENCE_TABLE, 63);
  return { dialect, table: dialect === 'mysql' ? `\`${name}\`` : `"${name}"` };
}

/**
 * The DDL of the fence table, for your own migrations. Idempotent.
 *
 * @example
 * ```ts
 * await migrate(fenceTableSql('postgres'));
 * ```
 */
export function fenceTableSql(dialect: FenceDialect, options: { table?: string } = {}): string {
  const name = checkIdentifier('table', options.table ?? DEFAULT_FENCE_TABLE, 63);
  if (dialect === 'mysql') {
    return (
      `CREATE TABLE IF NOT EXISTS \`${name}\` (\n  \`resource\` VARBINARY(3072) NOT NULL PRIMARY KEY,\n` +
      '  `token` BIGINT NOT NULL -- highest token seen; only grows\n) ENGINE=InnoDB'
    );
  }
  return (
    `CREATE TABLE IF NOT EXISTS "${name}" (\n  resource text COLLATE "C" PRIMARY KEY,\n` +
    '  token bigint NOT NULL -- highest token seen; only grows\n)'
  );
}

/** A concurrent `CREATE TABLE IF NOT EXISTS` on PostgreSQL can fail on the catalog's unique index. */
const CREATE_RACE = new Set(['23505', '42P07']);

/**
 * Creates the fence table if it is missing. Call it once at start-up, outside any
 * transaction: on MySQL a DDL statement commits the transaction it runs in.
 */
export async function ensureFenceTable(client: SqlFenceClient, options?: SqlFenceOptions): Promise<void> {
  const { dialect } = resolve(client, options);
  try {
    await client.query(fenceTableSql(dialect, options?.table === undefined ? {} : { table: options.table }));
  } catch (err) {
    if (!CREATE_RACE.has(String((err as { code?: unknown }).code))) throw err;
  }
}

/** The rows of a reply in either client's shape. */
function rowsOf(reply: unknown): Record<string, unknown>[] {
  const rows = Array.isArray(reply) ? reply[0] : (reply as { rows?: unknown }).rows;
  return Array.isArray(rows) ? rows : [];
}

/**
 * Advances the resource's token on `client` and says whether `token` was accepted,
 * without throwing for a stale one. The row stays locked until the transaction ends.
 */
export async function tryFence(
  client: SqlFenceClient,
  resource: string,
  token: number,
  options?: SqlFenceOptions,
): Promise<FenceVerdict> {
  const { dialect, table } = resolve(client, options);
  checkResource(resource);
  checkToken(token);
  const what = `fence "${resource}"`;
  if (dialect === 'postgres') {
    // ON CONFLICT locks the row even when WHERE refuses the update, so a lower token
    // waiting behind a higher one is judged against the committed higher one.
    const up =
      `INSERT INTO ${table} AS f (resource, token) VALUES ($1, $2::bigint) ON CONFLICT (resource) ` +
      'DO UPDATE SET token = excluded.token WHERE f.token <= excluded.token RETURNING f.token::text AS token';
    if (rowsOf(await client.query(up, [resource, String(token)])).length === 1)
      return { accepted: true, highest: token };
    const seen = rowsOf(
      await client.query(`SELECT token::text AS token FROM ${table} WHERE resource = $1`, [resource]),
    );
    return { accepted: false, highest: toToken(seen[0]?.token, what) };
  }
  // GREATEST never lowers the row; the locking read then sees the latest version (not
  // the transaction's snapshot), which is ours exactly when ours was the highest.
  const key = Buffer.from(resource, 'utf8');
  const insert = `INSERT INTO ${table} (resource, token) VALUES (?, ?) `;
  await client.query(`${insert}ON DUPLICATE KEY UPDATE token = GREATEST(token, VALUES(token))`, [key, token]);
  const seen = rowsOf(await client.query(`SELECT token FROM ${table} WHERE resource = ? FOR UPDATE`, [key]));
  const highest = toToken(seen[0]?.token, what);
  return { accepted: highest === token, highest };
}

/**
 * Fences `resource` inside your transaction: refuses `token` when a higher one was
 * already recorded, else records it. Roll the transaction back when it throws.
 *
 * @example
 * ```ts
 * await client.query('BEGIN');
 * await fence(client, 'orders', ctx.token); // throws StaleTokenError for a paused holder
 * await client.query('UPDATE orders SET …');
 * await client.query('COMMIT');
 * ```
 * @throws StaleTokenError when a higher token was seen
 */
export async function fence(
  client: SqlFenceClient,
  resource: string,
  token: number,
  options?: SqlFenceOptions,
): Promise<FenceVerdict> {
  return enforce(resource, token, await tryFence(client, resource, token, options));
}

/** The parts of a `mysql2/promise` pool connection a transaction needs. */
interface MysqlPoolConnection extends SqlFenceClient {
  release(): void;
}

/**
 * A {@link FenceStore} on a `pg` pool or a `mysql2/promise` pool, each call its own
 * short transaction: the storage behind the HTTP middleware. Create the table first
 * ({@link ensureFenceTable}).
 */
export class SqlFence implements FenceStore {
  readonly #pool: SqlFenceClient;
  readonly #options: SqlFenceOptions;

  /** A fence on `pool`. @throws ConfigError for a bad client, dialect or table */
  constructor(pool: SqlFenceClient, options: SqlFenceOptions = {}) {
    const { dialect } = resolve(pool, options);
    this.#pool = pool;
    this.#options = { ...options, dialect };
  }

  async advance(resource: string, token: number, options?: FenceCallOptions): Promise<FenceVerdict> {
    throwIfAborted(options?.signal, `fence "${resource}"`);
    // PostgreSQL decides in one statement; MySQL's two must share a transaction.
    if (this.#options.dialect === 'postgres') return tryFence(this.#pool, resource, token, this.#options);
    const getConnection = (this.#pool as { getConnection?: () => Promise<MysqlPoolConnection> }).getConnection;
    if (typeof getConnection !== 'function') throw new ConfigError('pool: a mysql2/promise pool (with getConnection)');
    const connection = await getConnection.call(this.#pool);
    try {
      await connection.query('START TRANSACTION');
      const verdict = await tryFence(connection, resource, token, this.#options);
      await connection.query('COMMIT');
      return verdict;
    } catch (err) {
      await connection.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      connection.release();
    }
  }
}
