/**
 * The MySQL / MariaDB dialect: the DDL, one statement per operation, the error numbers
 * the retry loop acts on, and how replies are read — including acquire's answer through
 * `LAST_INSERT_ID(expr)`. Why each statement has its shape: docs/stores/mysql.md
 * ("How it keeps the contract").
 * @module
 */
import { ConfigError, StoreUnavailableError } from '../../errors.js';
import { decodeState, toToken } from '../../store-kit/index.js';
import type { AcquireRequest, AcquireResult, JsonValue } from '../../store.js';
import type { BusyAnswer, SqlDialect, SqlErrorKind, SqlRow, SqlStatements } from '../sql/base.js';

/** Longest stored key (prefix + key), in UTF-8 bytes: InnoDB's index key limit. */
export const MAX_KEY_BYTES = 3072;
/** A busy answer's `LAST_INSERT_ID` is this plus the ms left; tokens stay below it. */
const BUSY = 2 ** 52;

/** Quotes a checked identifier. */
export const quote = (identifier: string) => `\`${identifier}\``;

/** The DDL of the lease table (its current form). */
export function ddl(t: string): string {
  return [
    `CREATE TABLE IF NOT EXISTS ${t} (`,
    '  `key`        VARBINARY(3072) NOT NULL,   -- the lease key (with the prefix), UTF-8',
    '  `holder`     VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, -- NULL when free',
    '  `lease_id`   VARBINARY(255) NULL,         -- id of the current acquisition, NULL when free',
    '  `token`      BIGINT NOT NULL,             -- last fencing token issued; only grows',
    '  `expires_at` BIGINT NOT NULL DEFAULT 0,   -- epoch ms by the server clock (UTC); 0 when free',
    '  `state`      MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, -- fenced state (JSON)',
    '  `revision`   BIGINT NOT NULL DEFAULT 0,   -- bumped by every change',
    '  `updated_at` BIGINT NOT NULL DEFAULT 0,   -- epoch ms of the last change',
    `  \`mark\`       ${MARK_TYPE}, -- last grant's start record (JSON); NULL after a state write`,
    `  \`prior_mark\` ${MARK_TYPE}, -- the mark that grant replaced (its answer)`,
    '  PRIMARY KEY (`key`)',
    ') ENGINE=InnoDB',
  ].join('\n');
}

const MARK_TYPE = 'TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL';

/**
 * Adds the columns this version needs to a table an earlier version created. Not
 * idempotent on MySQL 8 (no `ADD COLUMN IF NOT EXISTS`): a second run fails with
 * "Duplicate column name" (1060), which the store takes as done.
 */
export function upgradeDdl(t: string): string {
  return `ALTER TABLE ${t} ADD COLUMN \`mark\` ${MARK_TYPE}, ADD COLUMN \`prior_mark\` ${MARK_TYPE}`;
}

/** The server's clock, epoch ms, constant within a statement. */
const NOW = "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)";

/** Strings go as UTF-8 buffers, which mysql2 writes as hex literals (no `sql_mode` changes how they are read). */
const b = (text: string) => Buffer.from(text, 'utf8');

/** The holder of a live waiter announcement on the key `?` that is not the holder `?`, else NULL. */
const WAITER = (t: string) =>
  `SELECT holder FROM ${t} WHERE \`key\` = ? AND lease_id IS NOT NULL AND expires_at > ${NOW} ` +
  'AND NOT (holder <=> ?) LIMIT 1';

/**
 * Acquire's `INSERT … ON DUPLICATE KEY UPDATE`, and its parameters. The grant condition
 * ("free, expired, or already ours") is true before a grant and, because the grant writes
 * our lease id, still true after it: every assignment may read either version. With
 * `unlessWaiter`, it also needs `@leasehold_waiter` (set by the statement before) to be
 * NULL, unless the key has our own live lease (L9 first); the assignments keep it true
 * or false throughout too. A key with no row yet is inserted either way: a waiter only
 * announces itself after finding the key held, so its row exists.
 *
 * Parameters: key, holder, lease id, ttl, mark | token: grant, lease id (retry) |
 * lease_id: grant, lease id | holder: grant, holder | expires_at: grant, ttl | updated_at:
 * grant | revision: grant | prior_mark: grant | mark: grant, mark. `prior_mark` is
 * assigned before `mark`, so it gets the mark this grant replaces in both evaluation
 * orders; a NULL mark keeps the mark.
 */
function acquireStatement(
  t: string,
  unlessWaiter: boolean,
): { text: string; values: (key: Buffer, req: AcquireRequest, markText: string | null) => unknown[] } {
  const plain = `(lease_id IS NULL OR expires_at <= ${NOW} OR lease_id = ?)`;
  const grant = unlessWaiter
    ? `((lease_id = ? AND expires_at > ${NOW}) OR (${plain} AND @leasehold_waiter IS NULL))`
    : plain;
  const left = `GREATEST(expires_at - ${NOW}, 0)`;
  const columns = '`key`, holder, lease_id, token, expires_at, state, revision, updated_at, `mark`, prior_mark';
  const text = `INSERT INTO ${t} (${columns})
VALUES (?, ?, ?, LAST_INSERT_ID(1), ${NOW} + ?, NULL, 1, ${NOW}, ?, NULL)
ON DUPLICATE KEY UPDATE
  token = IF(${grant},
    LAST_INSERT_ID(IF(lease_id = ? AND expires_at > ${NOW}, token, token + 1)),
    LAST_INSERT_ID(${BUSY} + ${left}) - ${BUSY} - ${left} + token),
  lease_id = IF(${grant}, ?, lease_id),
  holder = IF(${grant}, ?, holder),
  expires_at = IF(${grant}, ${NOW} + ?, expires_at),
  updated_at = IF(${grant}, ${NOW}, updated_at),
  revision = revision + IF(${grant}, 1, 0),
  prior_mark = IF(${grant}, \`mark\`, prior_mark),
  \`mark\` = IF(${grant}, COALESCE(?, \`mark\`), \`mark\`)`;
  return {
    text,
    values: (key, req, markText) => {
      const id = b(req.leaseId);
      const holder = b(req.holder);
      const ttl = Math.ceil(req.ttlMs);
      const mark = markText === null ? null : b(markText);
      // The grant condition's parameters: the lease id once, or twice with the waiter check.
      const g = unlessWaiter ? [id, id] : [id];
      return [key, holder, id, ttl, mark, ...g, id, ...g, id, ...g, holder, ...g, ttl, ...g, ...g, ...g, ...g, mark];
    },
  };
}

/**
 * Acquire with the waiter check (only with several statements per request): the waiter's
 * holder goes into a session variable by a first statement, the acquire's grant condition
 * reads it, and `read` (the read-back, with the variable as `waiter`) returns it.
 */
function acquireUnlessWaiter(t: string, read: string): NonNullable<SqlStatements<Buffer>['acquireUnlessWaiter']> {
  const checked = acquireStatement(t, true);
  return {
    text: `SET @leasehold_waiter = (${WAITER(t)});\n${checked.text};\n${read}`,
    values: (key, req, markText, waiterKey) => [waiterKey, b(req.holder), ...checked.values(key, req, markText), key],
  };
}

/**
 * The SQL of each operation, for one table. Parameters are positional (`?`). With
 * `multi`, acquire also reads the row back in the same request.
 */
export function mysqlStatements(t: string, multi: boolean): SqlStatements<Buffer> {
  const { text: acquire, values: acquireValues } = acquireStatement(t, false);
  // The row read back after the acquire, with `extra` columns.
  const readBack = (extra = '') =>
    `SELECT holder, state, \`mark\`, prior_mark, ${NOW} AS now_ms${extra} FROM ${t} WHERE \`key\` = ?`;
  const owned = `\`key\` = ? AND lease_id = ? AND token = ? AND expires_at > ${NOW}`;
  const freed = `holder = NULL, lease_id = NULL, expires_at = 0, updated_at = ${NOW}, revision = revision + 1`;
  const record =
    `holder, token, state, \`mark\`, (lease_id IS NOT NULL AND expires_at > ${NOW}) AS live, ` +
    `expires_at - ${NOW} AS expires_in`;
  return {
    acquire: {
      text: multi ? `${acquire};\n${readBack()}` : acquire,
      values: (key, req, markText) => {
        const values = acquireValues(key, req, markText);
        if (multi) values.push(key);
        return values;
      },
    },
    // Only with `multi`: the waiter's holder is kept in a session variable by a first
    // statement, and the read-back returns it.
    ...(multi ? { acquireUnlessWaiter: acquireUnlessWaiter(t, readBack(', @leasehold_waiter AS waiter')) } : {}),
    renew: {
      text: `UPDATE ${t} SET expires_at = ${NOW} + ?, updated_at = ${NOW}, revision = revision + 1 WHERE ${owned}`,
      values: (key, req) => [Math.ceil(req.ttlMs), key, b(req.leaseId), req.token],
    },
    release: {
      text: `UPDATE ${t} SET ${freed} WHERE ${owned}`,
      values: (key, ref) => [key, b(ref.leaseId), ref.token],
    },
    releaseWithState: {
      text: `UPDATE ${t} SET ${freed}, state = ?, \`mark\` = NULL WHERE ${owned}`,
      values: (key, ref, state) => [b(state), key, b(ref.leaseId), ref.token],
    },
    writeState: {
      text: `UPDATE ${t} SET state = ?, \`mark\` = NULL, updated_at = ${NOW}, revision = revision + 1 WHERE ${owned}`,
      values: (key, ref, state) => [b(state), key, b(ref.leaseId), ref.token],
    },
    forceRelease: {
      text: `UPDATE ${t} SET ${freed}\nWHERE \`key\` = ? AND lease_id IS NOT NULL AND expires_at > ${NOW}`,
      values: (key) => [key],
    },
    inspect: {
      text: `SELECT ${record}\nFROM ${t} WHERE \`key\` = ?`,
      values: (key) => [key],
    },
    list: { text: `SELECT \`key\` FROM ${t} WHERE \`key\` LIKE ? ESCAPE '!'`, values: (pattern) => [b(pattern)] },
    inspectAll: {
      text: `SELECT \`key\`, ${record}\nFROM ${t} WHERE \`key\` LIKE ? ESCAPE '!'`,
      values: (pattern) => [b(pattern)],
    },
    now: { text: `SELECT ${NOW} AS now_ms`, values: () => [] },
    // LOCK IN SHARE MODE: MySQL 8 and MariaDB both take it (MariaDB has no FOR SHARE before 10.6).
    settledState: { text: `SELECT state FROM ${t} WHERE \`key\` = ? LOCK IN SHARE MODE`, values: (key) => [key] },
  };
}

const ER_NO_SUCH_TABLE = 1146;
/** A column this version added is missing: the table was created by an earlier version. */
const ER_BAD_FIELD_ERROR = 1054;
/** The upgrade's `ADD COLUMN` found the column there: another process (or the CREATE) added it. */
const ER_DUP_FIELDNAME = 1060;
const ER_LOCK_DEADLOCK = 1213;

function errorKind(err: unknown): SqlErrorKind | undefined {
  const errno = (err as { errno?: unknown } | undefined)?.errno;
  if (errno === ER_NO_SUCH_TABLE || errno === ER_BAD_FIELD_ERROR) return 'needs-ddl';
  if (errno === ER_DUP_FIELDNAME) return 'create-race';
  // InnoDB rolled the statement back as a deadlock victim (possible when several clients
  // insert the same new key at once): it changed nothing.
  return errno === ER_LOCK_DEADLOCK ? 'retryable' : undefined;
}

/** A server error (SQLSTATE) that did not end the connection. */
export function answered(err: unknown): boolean {
  const error = err as { fatal?: boolean; sqlState?: string } | undefined;
  return typeof error?.sqlState === 'string' && error.fatal !== true;
}

function storedKey(fullKey: string, key: string): Buffer {
  const buffer = b(fullKey);
  if (buffer.length > MAX_KEY_BYTES) {
    throw new ConfigError(
      `key: at most ${MAX_KEY_BYTES} UTF-8 bytes with the prefix in the mysql store, ` +
        `got ${buffer.length} ("${key.slice(0, 40)}…")`,
    );
  }
  return buffer;
}

/**
 * Reads acquire's reply: the decision from the OK packet's `insertId` (the token, or
 * {@link BUSY} + ms left), and with `multi` the row read back (holder, state, clock, and
 * the mark: the one the grant replaced, or the holder's on a busy answer).
 */
function acquired(result: unknown, what: string, multi: boolean): AcquireResult {
  // With the waiter check, a `SET` comes first: [SET, INSERT, SELECT].
  const parts = multi ? (result as unknown[]).slice(-2) : [result];
  const header = parts[0];
  const row = multi ? (parts[1] as SqlRow[] | undefined)?.[0] : undefined;
  const id64 = Number((header as { insertId?: unknown }).insertId);
  if (!Number.isSafeInteger(id64) || id64 <= 0) {
    throw new StoreUnavailableError(
      `mysql: ${what}: the server did not report the outcome (insertId ${String(id64)}); ` +
        'is this MySQL 8 / MariaDB 10.5+?',
    );
  }
  if (id64 < BUSY) {
    const out: { acquired: true; token: number; storeTime?: number; state?: JsonValue | null; mark?: JsonValue } = {
      acquired: true,
      token: toToken(id64, `mysql: ${what}`),
    };
    if (row) {
      out.storeTime = Number(row.now_ms);
      out.state = decodeState(row.state as string | null);
      out.mark = decodeState(row.prior_mark as string | null);
    }
    return out;
  }
  const waiter = row?.waiter;
  if (row && waiter !== undefined && waiter !== null) {
    // Not granted, and another holder's waiter is announced (acquireUnlessWaiter).
    const holder = Buffer.isBuffer(waiter) ? waiter.toString('utf8') : String(waiter);
    const [state, mark] = [decodeState(row.state as string | null), decodeState(row.mark as string | null)];
    return { acquired: false, waiter: holder, storeTime: Number(row.now_ms), state, mark };
  }
  const out: BusyAnswer = { acquired: false, expiresInMs: id64 - BUSY };
  if (row) {
    if (typeof row.holder === 'string') out.holder = row.holder;
    out.storeTime = Number(row.now_ms);
    out.state = decodeState(row.state as string | null);
    out.mark = decodeState(row.mark as string | null);
  }
  return out;
}

/**
 * The MySQL dialect for the quoted table `tableSql`. `multi`: the connections accept
 * several statements per request, so acquire reads the row back in the same round trip.
 */
export function mysqlDialect(tableSql: string, multi: boolean): SqlDialect<unknown, Buffer> {
  return {
    name: 'mysql',
    tableSql,
    statements: mysqlStatements(tableSql, multi),
    ddl: [ddl(tableSql), upgradeDdl(tableSql)],
    stateOnAcquire: multi,
    key: storedKey,
    errorKind,
    rows: (result) => result as SqlRow[],
    affected: (result) => Number((result as { affectedRows?: unknown }).affectedRows ?? 0),
    text: (value) => Buffer.from(value as Uint8Array).toString('utf8'),
    transaction: { begin: 'START TRANSACTION', commit: 'COMMIT', rollback: 'ROLLBACK' },
    answered,
    acquired: (result, what) => acquired(result, what, multi),
  };
}
