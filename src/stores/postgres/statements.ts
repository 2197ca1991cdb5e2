/**
 * The PostgreSQL dialect: the DDL, one statement per operation, the SQLSTATEs the retry
 * loop acts on, and how replies are read. Why each statement has its shape:
 * docs/stores/postgres.md ("How it keeps the contract").
 * @module
 */
import { decodeState, toToken } from '../../store-kit/index.js';
import type { AcquireResult } from '../../store.js';
import type { BusyAnswer, SqlDialect, SqlErrorKind, SqlStatements } from '../sql/base.js';
import type { PgQueryResult } from './pool.js';

/** Quotes a checked identifier. */
const quote = (identifier: string) => `"${identifier}"`;

/** The DDL of the lease table, as separate statements. */
export function ddlStatements(schema: string, table: string): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quote(schema)}`,
    [
      `CREATE TABLE IF NOT EXISTS ${quote(schema)}.${quote(table)} (`,
      `  key        text COLLATE "C" PRIMARY KEY, -- the lease key (with the store's prefix)`,
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

/** The SQL of each operation, for one table. Parameters are positional (`$n`). */
export function postgresStatements(t: string): SqlStatements<string> {
  const ms = (e: string) => `(extract(epoch FROM ${e}) * 1000)::float8`;
  const owned = 'WHERE key = $1 AND lease_id = $2 AND token = $3::bigint AND expires_at > clock_timestamp()';
  const freed = 'holder = NULL, lease_id = NULL, expires_at = NULL, updated_at = clock_timestamp()';
  return {
    // $1 key, $2 holder, $3 lease id, $4 ttl ms. `c.t` is read once, before any lock
    // wait, and passed to the conflict branch as `excluded.updated_at`: a lease that
    // expires while we wait is judged by the earlier instant (busy), never the reverse.
    acquire: {
      text:
        `WITH c AS (SELECT clock_timestamp() AS t),
up AS (
  INSERT INTO ${t} AS l (key, holder, lease_id, token, expires_at, state, updated_at)
  SELECT $1, $2, $3, 1, c.t + $4::float8 * interval '1 millisecond', NULL, c.t FROM c
  ON CONFLICT (key) DO UPDATE SET
    token = CASE WHEN l.lease_id = excluded.lease_id AND l.expires_at > excluded.updated_at ` +
        `THEN l.token ELSE l.token + 1 END,
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
SELECT true AS acquired, up.token::text AS token, up.state, NULL::text AS holder, ` +
        `NULL::float8 AS expires_in, ${ms('up.updated_at')} AS now_ms FROM up
UNION ALL
SELECT false, cur.token::text, cur.state, cur.holder, ${ms('cur.expires_at - c.t')}, ${ms('c.t')} FROM cur, c`,
      values: (key, req) => [key, req.holder, req.leaseId, req.ttlMs],
    },
    // $1 key, $2 lease id, $3 token, $4 ttl ms
    renew: {
      text:
        `UPDATE ${t} SET expires_at = clock_timestamp() + $4::float8 * interval '1 millisecond', ` +
        `updated_at = clock_timestamp()\n${owned}`,
      values: (key, req) => [key, req.leaseId, String(req.token), req.ttlMs],
    },
    release: {
      text: `UPDATE ${t} SET ${freed}\n${owned}`,
      values: (key, ref) => [key, ref.leaseId, String(ref.token)],
    },
    // $4 state
    writeState: {
      text: `UPDATE ${t} SET state = $4, updated_at = clock_timestamp()\n${owned}`,
      values: (key, ref, state) => [key, ref.leaseId, String(ref.token), state],
    },
    forceRelease: {
      text: `UPDATE ${t} SET ${freed}
WHERE key = $1 AND lease_id IS NOT NULL AND expires_at > clock_timestamp()`,
      values: (key) => [key],
    },
    inspect: {
      text: `SELECT l.holder, l.token::text AS token, l.state,
  (l.lease_id IS NOT NULL AND l.expires_at > c.t) AS live, ${ms('l.expires_at - c.t')} AS expires_in
FROM ${t} l, (SELECT clock_timestamp() AS t) c WHERE l.key = $1`,
      values: (key) => [key],
    },
    list: { text: `SELECT key FROM ${t} WHERE key LIKE $1 ESCAPE '!'`, values: (pattern) => [pattern] },
    now: { text: `SELECT ${ms('clock_timestamp()')} AS now_ms`, values: () => [] },
  };
}

/** SQLSTATEs meaning "the table (or its schema) is not there yet". */
const MISSING = new Set(['42P01', '3F000']);
/** SQLSTATEs of a statement that was rolled back whole and may simply be sent again. */
const RETRYABLE = new Set(['40001', '40P01']);
/** SQLSTATEs of a concurrent `CREATE … IF NOT EXISTS` losing its race: the object exists now. */
const CREATE_RACE = new Set(['23505', '42P07', '42P06', '42710']);

function errorKind(err: unknown): SqlErrorKind | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return undefined;
  if (MISSING.has(code)) return 'missing-table';
  if (RETRYABLE.has(code)) return 'retryable';
  return CREATE_RACE.has(code) ? 'create-race' : undefined;
}

/** Reads acquire's one row: the grant, or the busy answer with holder and time left. */
function acquired(result: PgQueryResult, what: string): AcquireResult | undefined {
  const row = result.rows[0];
  if (!row) return undefined;
  const state = decodeState(row.state as string | null);
  const storeTime = Number(row.now_ms);
  if (row.acquired === true) {
    return { acquired: true, token: toToken(row.token, `postgres: ${what}`), storeTime, state };
  }
  const out: BusyAnswer = { acquired: false, storeTime, state };
  if (typeof row.holder === 'string') out.holder = row.holder;
  if (row.expires_in !== null && row.expires_in !== undefined) out.expiresInMs = Math.max(0, Number(row.expires_in));
  return out;
}

/** The PostgreSQL dialect for the table `schema.table` (both checked identifiers). */
export function postgresDialect(schema: string, table: string): SqlDialect<PgQueryResult, string> {
  const tableSql = `${quote(schema)}.${quote(table)}`;
  return {
    name: 'postgres',
    tableSql,
    statements: postgresStatements(tableSql),
    ddl: ddlStatements(schema, table),
    stateOnAcquire: true,
    key: (fullKey) => fullKey,
    errorKind,
    rows: (result) => result.rows,
    affected: (result) => result.rowCount ?? 0,
    text: (value) => value as string,
    acquired,
  };
}
