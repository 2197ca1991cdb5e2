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

/**
 * The DDL of the lease table, as separate statements: the schema, the table, and the
 * columns added since the first version (a table an earlier version created gets them;
 * `ADD COLUMN IF NOT EXISTS` needs PostgreSQL 9.6).
 */
export function ddlStatements(schema: string, table: string): string[] {
  const t = `${quote(schema)}.${quote(table)}`;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quote(schema)}`,
    [
      `CREATE TABLE IF NOT EXISTS ${t} (`,
      `  key        text COLLATE "C" PRIMARY KEY, -- the lease key (with the store's prefix)`,
      `  holder     text,                         -- current holder, NULL when free`,
      `  lease_id   text,                         -- random id of the current acquisition, NULL when free`,
      `  token      bigint NOT NULL,              -- last fencing token issued; only grows`,
      `  expires_at timestamptz,                  -- by the database clock; NULL when free`,
      `  state      text,                         -- fenced state (JSON text), outlives leases`,
      `  updated_at timestamptz NOT NULL,         -- last change, by the database clock`,
      `  mark       text,                         -- last grant's start record (JSON); NULL after a state write`,
      `  prior_mark text                          -- the mark that grant replaced (its answer)`,
      `)`,
    ].join('\n'),
    `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS mark text, ADD COLUMN IF NOT EXISTS prior_mark text`,
  ];
}

const ms = (e: string) => `(extract(epoch FROM ${e}) * 1000)::float8`;

/**
 * Acquire's statement: grant, retry or busy answer in one round trip. `c.t` is read once,
 * before any lock wait, and passed to the conflict branch as `excluded.updated_at`: a
 * lease that expires while we wait is judged by the earlier instant (busy), never the
 * reverse. Every SET expression reads the old row, so `prior_mark` gets the mark this
 * grant replaces; RETURNING reads the new row.
 *
 * With `unlessWaiter`, `w` is another holder's live announcement on the key `$6`: while
 * there is one, nothing is granted but a retry of our own live lease (L9 comes first), and
 * a key with no row yet is not created; the answer names the waiter. Nothing is locked
 * for the check: it is a liveness aid (L11), and the lease decides.
 */
function acquireText(t: string, unlessWaiter: boolean): string {
  const waiterCte = unlessWaiter
    ? `w AS (
  SELECT a.holder FROM ${t} a, c
  WHERE a.key = $6 AND a.lease_id IS NOT NULL AND a.expires_at > c.t AND a.holder IS DISTINCT FROM $2
),
`
    : '';
  const noWaiter = 'NOT EXISTS (SELECT 1 FROM w)';
  const source = unlessWaiter ? `\n  WHERE ${noWaiter} OR EXISTS (SELECT 1 FROM ${t} x WHERE x.key = $1)` : '';
  const free = 'l.lease_id IS NULL OR l.expires_at <= excluded.updated_at OR l.lease_id = excluded.lease_id';
  const grantable = unlessWaiter
    ? `(l.lease_id = excluded.lease_id AND l.expires_at > excluded.updated_at)\n     OR ((${free}) AND ${noWaiter})`
    : free;
  const waiterOf = (from: string) => (unlessWaiter ? from : 'NULL::text');
  const yielded = unlessWaiter
    ? `\nUNION ALL
SELECT false, NULL, NULL, NULL, NULL, NULL, ${ms('c.t')}, w.holder FROM w, c
WHERE NOT EXISTS (SELECT 1 FROM up) AND NOT EXISTS (SELECT 1 FROM cur)`
    : '';
  return (
    `WITH c AS (SELECT clock_timestamp() AS t),
${waiterCte}up AS (
  INSERT INTO ${t} AS l (key, holder, lease_id, token, expires_at, state, updated_at, mark, prior_mark)
  SELECT $1, $2, $3, 1, c.t + $4::float8 * interval '1 millisecond', NULL, c.t, $5::text, NULL FROM c${source}
  ON CONFLICT (key) DO UPDATE SET
    token = CASE WHEN l.lease_id = excluded.lease_id AND l.expires_at > excluded.updated_at THEN l.token ELSE l.token + 1 END,
    holder = excluded.holder,
    lease_id = excluded.lease_id,
    expires_at = excluded.expires_at,
    updated_at = excluded.updated_at,
    prior_mark = l.mark,
    mark = COALESCE(excluded.mark, l.mark)
  WHERE ${grantable}
  RETURNING l.token, l.state, l.prior_mark, l.updated_at
),
cur AS (
  SELECT l.holder, l.token, l.state, l.mark, l.expires_at FROM ${t} l
  WHERE l.key = $1 AND NOT EXISTS (SELECT 1 FROM up)
  FOR SHARE
)
SELECT true AS acquired, up.token::text AS token, up.state, up.prior_mark AS mark, NULL::text AS holder, ` +
    `NULL::float8 AS expires_in, ${ms('up.updated_at')} AS now_ms, NULL::text AS waiter FROM up
UNION ALL
SELECT false, cur.token::text, cur.state, cur.mark, cur.holder, ${ms('cur.expires_at - c.t')}, ${ms('c.t')}, ` +
    `${waiterOf('(SELECT holder FROM w)')} FROM cur, c${yielded}`
  );
}

/** The SQL of each operation, for one table. Parameters are positional (`$n`). */
export function postgresStatements(t: string): SqlStatements<string> {
  const owned = 'WHERE key = $1 AND lease_id = $2 AND token = $3::bigint AND expires_at > clock_timestamp()';
  const freed = 'holder = NULL, lease_id = NULL, expires_at = NULL, updated_at = clock_timestamp()';
  const record = `l.holder, l.token::text AS token, l.state, l.mark,
  (l.lease_id IS NOT NULL AND l.expires_at > c.t) AS live, ${ms('l.expires_at - c.t')} AS expires_in`;
  const clock = '(SELECT clock_timestamp() AS t) c';
  return {
    // $1 key, $2 holder, $3 lease id, $4 ttl ms, $5 mark (NULL: keep the mark); the
    // statement: acquireText below.
    acquire: {
      text: acquireText(t, false),
      values: (key, req, mark) => [key, req.holder, req.leaseId, req.ttlMs, mark],
    },
    // $6 the waiter announcement's key (L11, `unlessWaiter`).
    acquireUnlessWaiter: {
      text: acquireText(t, true),
      values: (key, req, mark, waiterKey) => [key, req.holder, req.leaseId, req.ttlMs, mark, waiterKey],
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
    releaseWithState: {
      text: `UPDATE ${t} SET ${freed}, state = $4, mark = NULL\n${owned}`,
      values: (key, ref, state) => [key, ref.leaseId, String(ref.token), state],
    },
    writeState: {
      text: `UPDATE ${t} SET state = $4, mark = NULL, updated_at = clock_timestamp()\n${owned}`,
      values: (key, ref, state) => [key, ref.leaseId, String(ref.token), state],
    },
    forceRelease: {
      text: `UPDATE ${t} SET ${freed}
WHERE key = $1 AND lease_id IS NOT NULL AND expires_at > clock_timestamp()`,
      values: (key) => [key],
    },
    inspect: {
      text: `SELECT ${record}\nFROM ${t} l, ${clock} WHERE l.key = $1`,
      values: (key) => [key],
    },
    list: { text: `SELECT key FROM ${t} WHERE key LIKE $1 ESCAPE '!'`, values: (pattern) => [pattern] },
    inspectAll: {
      text: `SELECT l.key, ${record}\nFROM ${t} l, ${clock} WHERE l.key LIKE $1 ESCAPE '!'`,
      values: (pattern) => [pattern],
    },
    now: { text: `SELECT ${ms('clock_timestamp()')} AS now_ms`, values: () => [] },
    settledState: { text: `SELECT state FROM ${t} WHERE key = $1 FOR SHARE`, values: (key) => [key] },
  };
}

/** SQLSTATEs meaning "the table, its schema, or a column this version added is not there yet". */
const MISSING = new Set(['42P01', '3F000', '42703']);
/** SQLSTATEs of a statement that was rolled back whole and may simply be sent again. */
const RETRYABLE = new Set(['40001', '40P01']);
/** SQLSTATEs of a concurrent `CREATE … IF NOT EXISTS` or `ADD COLUMN IF NOT EXISTS` losing its race. */
const CREATE_RACE = new Set(['23505', '42P07', '42P06', '42710', '42701']);

function errorKind(err: unknown): SqlErrorKind | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return undefined;
  if (MISSING.has(code)) return 'needs-ddl';
  if (RETRYABLE.has(code)) return 'retryable';
  return CREATE_RACE.has(code) ? 'create-race' : undefined;
}

/**
 * Reads acquire's one row: the grant (with the state and the mark it replaced), the
 * busy answer (with holder, time left, state and the holder's mark), or the yield to an
 * announced waiter (`acquireUnlessWaiter`).
 */
function acquired(result: PgQueryResult, what: string): AcquireResult | undefined {
  const row = result.rows[0];
  if (!row) return undefined;
  const state = decodeState(row.state as string | null);
  const mark = decodeState(row.mark as string | null);
  const storeTime = Number(row.now_ms);
  if (typeof row.waiter === 'string') return { acquired: false, waiter: row.waiter, storeTime, state, mark };
  if (row.acquired === true) {
    return { acquired: true, token: toToken(row.token, `postgres: ${what}`), storeTime, state, mark };
  }
  const out: BusyAnswer = { acquired: false, storeTime, state, mark };
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
    // Plain BEGIN keeps the database's default isolation (READ COMMITTED unless changed).
    transaction: { begin: 'BEGIN', commit: 'COMMIT', rollback: 'ROLLBACK' },
    // pg gives server errors a severity; a broken connection's errors have none.
    answered: (err) => typeof (err as { severity?: unknown } | undefined)?.severity === 'string',
    acquired,
  };
}
