/**
 * One SQL lease store over a dialect (ShedLock's `SqlStatementsSource` shape): the retry
 * loop, creating the table once, every operation's body and the shared options live
 * here; a {@link SqlDialect} gives each operation's statement and reads its replies, and
 * a {@link SqlRunner} sends one statement on a pool. How each dialect keeps the contract:
 * docs/stores/postgres.md and docs/stores/mysql.md.
 * @module
 */
import { ConfigError, StoreUnavailableError } from '../../errors.js';
import { checkBoolean, checkCount, checkMs, requireOptions, checkPrefix, once } from '../../store-kit/index.js';
import { decodeState, encodeMark, encodeState, throwIfAborted, toToken, unavailable } from '../../store-kit/index.js';
import type { AcquireRequest, AcquireResult, JsonValue, LeaseRecord, LeaseRef, LeaseStore } from '../../store.js';
import type { ReleaseRequest, RenewRequest, StoreCapabilities, StoreOpOptions } from '../../store.js';
import type { WriteStateRequest } from '../../store.js';
import type { TransactionalStore } from '../../transaction.js';
import { likePrefix } from './common.js';
import { runTransaction, type SqlSession, type TransactionHost, type TransactionStatements } from './transaction.js';

export type { SqlSession, TransactionStatements } from './transaction.js';

/** A row of a reply, by column name. */
export type SqlRow = Record<string, unknown>;

/** One operation's statement: its text (fixed for one table) and its parameters for one call. */
export interface Statement<Args extends unknown[]> {
  /** The SQL text. */
  readonly text: string;
  /** The parameters of one call, in the order the text's placeholders take them. */
  values(...args: Args): unknown[];
}

/** The statement of every operation, for one table. `Key` is the dialect's form of a stored key. */
export interface SqlStatements<Key> {
  /**
   * Grant, retry or busy answer, in one round trip. A grant sets the mark to `mark` (JSON
   * text) when it is not null, and keeps the mark it replaced in `prior_mark`.
   */
  readonly acquire: Statement<[key: Key, req: AcquireRequest, mark: string | null]>;
  /**
   * Acquire checking the waiter announcement `req.unlessWaiter` first (L11): while another
   * holder's is live it grants only a retry of the caller's own live lease, and names that
   * waiter. A dialect with it gives the store `capabilities.checksWaiters`.
   */
  readonly acquireUnlessWaiter?: Statement<[key: Key, req: AcquireRequest, mark: string | null, waiterKey: Key]>;
  /** Extends a lease still ours. */
  readonly renew: Statement<[key: Key, req: RenewRequest]>;
  /** Ends a lease still ours. */
  readonly release: Statement<[key: Key, ref: LeaseRef]>;
  /** Ends a lease still ours, replacing the state (JSON text) and clearing the mark. */
  readonly releaseWithState: Statement<[key: Key, ref: LeaseRef, state: string]>;
  /** Replaces the state (JSON text) and clears the mark while the lease is still ours. */
  readonly writeState: Statement<[key: Key, ref: LeaseRef, state: string]>;
  /** Ends whatever lease the key has. */
  readonly forceRelease: Statement<[key: Key]>;
  /** Reads a key's row: `holder`, `token`, `state`, `mark`, `live`, `expires_in`. */
  readonly inspect: Statement<[key: Key]>;
  /** Reads the `key` of every row matching a `LIKE … ESCAPE '!'` pattern. */
  readonly list: Statement<[pattern: string]>;
  /** Reads every row matching a `LIKE … ESCAPE '!'` pattern: `key` and the columns of {@link inspect}. */
  readonly inspectAll: Statement<[pattern: string]>;
  /** Reads the database clock as `now_ms`. */
  readonly now: Statement<[]>;
  /**
   * Reads a key's `state` with a share lock (waiting for a transaction that holds the
   * row): how a transactional run whose COMMIT was cut off learns whether it committed.
   */
  readonly settledState: Statement<[key: Key]>;
}

/**
 * How the retry loop treats a failed statement. `needs-ddl`: the table, its schema or a
 * column this version added (the mark) is missing, so the DDL runs and the statement is
 * sent again.
 */
export type SqlErrorKind = 'needs-ddl' | 'retryable' | 'create-race';

/** A busy answer being built (the mutable form of `AcquireResult` with `acquired: false`). */
export type BusyAnswer = {
  acquired: false;
  holder?: string;
  expiresInMs?: number;
  storeTime?: number;
  state?: JsonValue | null;
  mark?: JsonValue | null;
};

/**
 * What one SQL dialect adds to the shared store: its statements and DDL, how it stores a
 * key, reads a reply and classifies an error. No I/O: that is the {@link SqlRunner}.
 */
export interface SqlDialect<Result, Key> {
  /** The store's name, and the first word of every message. */
  readonly name: string;
  /** The quoted (and qualified, where given) table name the statements use. */
  readonly tableSql: string;
  /** Every operation's statement. */
  readonly statements: SqlStatements<Key>;
  /**
   * The statements that create the table and add the columns later versions added to a
   * table an earlier version created, run in order; each is idempotent or fails with a
   * `create-race` error when there is nothing to do.
   */
  readonly ddl: readonly string[];
  /** Whether acquire's reply carries the key's state. */
  readonly stateOnAcquire: boolean;
  /** The stored form of `fullKey` (prefix and `key`). @throws ConfigError when the table cannot hold it */
  key(fullKey: string, key: string): Key;
  /** How the retry loop treats `err`; undefined: it is reported as it is. */
  errorKind(err: unknown): SqlErrorKind | undefined;
  /** The rows of a reply. */
  rows(result: Result): SqlRow[];
  /** How many rows a reply says were changed. */
  affected(result: Result): number;
  /** A stored key as a string. */
  text(value: unknown): string;
  /** BEGIN, COMMIT and ROLLBACK, for transactional runs. */
  readonly transaction: TransactionStatements;
  /** True when the server itself answered `err` (an SQL error): the connection is still usable. */
  answered(err: unknown): boolean;
  /**
   * The outcome in acquire's reply, or undefined when the reply does not say who holds
   * the key (the store then reads the row). `what` names the request in errors.
   */
  acquired(result: Result, what: string): AcquireResult | undefined;
}

/** Sends statements on a pool: one the store opened, or one the user passed. */
export interface SqlRunner<Result> {
  /**
   * Sends one statement (one round trip), giving up as soon as `signal` aborts.
   * `prepared` false sends it unprepared (the DDL, and a retry after the DDL).
   */
  run(
    label: string,
    text: string,
    values: unknown[],
    signal: AbortSignal | undefined,
    prepared: boolean,
  ): Promise<Result>;
  /**
   * Checks one connection out of the pool for a transaction, giving up as soon as
   * `signal` aborts. @throws ConfigError when the pool cannot give one (a pool the user
   * passed that is a single connection)
   */
  session(label: string, signal: AbortSignal | undefined): Promise<SqlSession<Result>>;
  /** Ends what the runner opened itself; a pool the user passed is left alone. */
  end(): Promise<void>;
}

/** Options every SQL store takes, besides its `pool` or `url`. */
export interface SqlStoreOptions {
  /** Table name: letters, digits and `_`. @defaultValue `'leasehold_leases'` */
  table?: string;
  /**
   * Create the table when a statement finds it missing (idempotent DDL, safe when many
   * processes race). Turn off when your own migrations run the store's schema SQL.
   * @defaultValue true
   */
  createTable?: boolean;
  /**
   * Prepended to every key in the table, so several applications can share one table
   * without seeing each other's keys. `list()` and `inspect()` report keys without it.
   * @defaultValue `''`
   */
  prefix?: string;
  /**
   * Connect timeout of the pool opened from `url`, in ms. On MySQL/MariaDB it is also how
   * long a connection whose request was abandoned waits for that request's late answer
   * before it is destroyed. @defaultValue 5000
   */
  connectTimeoutMs?: number;
  /** Most connections of the pool opened from `url`. @defaultValue 10 */
  maxConnections?: number;
}

/** {@link SqlStoreOptions} checked, with defaults applied. */
export interface SqlSettings {
  /** Create the table when it is missing. */
  readonly createTable: boolean;
  /** Prepended to every stored key. */
  readonly prefix: string;
  /** Connect timeout of a pool opened from a URL, in ms. */
  readonly connectTimeoutMs: number;
  /** Size of a pool opened from a URL. */
  readonly maxConnections: number;
}

const SQL_OPTION_NAMES = ['pool', 'url', 'table', 'createTable', 'prefix', 'connectTimeoutMs', 'maxConnections'];

/**
 * Checks the options every SQL store shares and refuses unknown ones (`more`: the
 * store's own names). Exactly one of `pool` and `url` must be given.
 * @throws ConfigError naming the option and the value
 */
export function checkSqlOptions(
  store: string,
  options: (SqlStoreOptions & { pool?: unknown; url?: unknown }) | undefined,
  more: readonly string[],
): SqlSettings {
  requireOptions(`${store} store`, options, [...SQL_OPTION_NAMES, ...more], 'with a pool or a url');
  if (!!options.pool === !!options.url) {
    throw new ConfigError(`${store} store: give exactly one of pool or url, got ${options.pool ? 'both' : 'neither'}`);
  }
  return {
    createTable: checkBoolean('createTable', options.createTable, true),
    prefix: checkPrefix(options.prefix),
    connectTimeoutMs: checkMs('connectTimeoutMs', options.connectTimeoutMs, 5000),
    maxConnections: checkCount('maxConnections', options.maxConnections, 10),
  };
}

/**
 * A {@link LeaseStore} on one SQL table: every operation is one statement of the dialect
 * (see {@link SqlStatements}), sent by the runner. Subclasses only check their options and
 * pick the dialect and runner.
 */
export class SqlStore<Result, Key> implements LeaseStore, TransactionalStore {
  /** The dialect's name (`'postgres'`, `'mysql'`). */
  readonly name: string;
  /** What the store can do. */
  readonly capabilities: StoreCapabilities;
  /** The quoted table name as used in SQL. */
  readonly tableSql: string;
  readonly #dialect: SqlDialect<Result, Key>;
  readonly #sql: SqlStatements<Key>;
  readonly #runner: SqlRunner<Result>;
  readonly #createTable: boolean;
  readonly #prefix: string;
  readonly #secrets: readonly string[];
  readonly #transactionHost: TransactionHost<Result>;
  #closed = false;
  /** The request that starts the DDL: the first caller's label and signal bound it. */
  #ddlRequest: { label: string; signal: AbortSignal | undefined } = { label: '', signal: undefined };
  readonly #tableReady = once(() => this.#runDdl(this.#ddlRequest.label, this.#ddlRequest.signal));

  constructor(
    dialect: SqlDialect<Result, Key>,
    runner: SqlRunner<Result>,
    settings: Pick<SqlSettings, 'createTable' | 'prefix'> & { secrets: readonly string[] },
  ) {
    this.name = dialect.name;
    this.capabilities = {
      clock: 'store',
      persistent: true,
      stateOnAcquire: dialect.stateOnAcquire,
      minTtlMs: 1,
      ...(dialect.statements.acquireUnlessWaiter ? { checksWaiters: true } : {}),
    };
    this.tableSql = dialect.tableSql;
    this.#dialect = dialect;
    this.#sql = dialect.statements;
    this.#runner = runner;
    this.#createTable = settings.createTable;
    this.#prefix = settings.prefix;
    this.#secrets = settings.secrets;
    this.#transactionHost = this.#newTransactionHost();
  }

  /** Sends one statement: one round trip. Creates the table on first use when allowed. */
  async #query(what: string, text: string, values: unknown[], signal: AbortSignal | undefined): Promise<Result> {
    const label = `${this.name}: ${what}`;
    throwIfAborted(signal, label);
    if (this.#closed) throw new StoreUnavailableError(`${label}: the store is closed`);
    let ensured = false;
    for (let attempt = 1; ; attempt++) {
      try {
        // After creating the table, the retry goes unprepared: a pg older than 8.12 may
        // remember a named statement whose parse failed.
        return await this.#runner.run(label, text, values, signal, !ensured);
      } catch (err) {
        const kind = this.#dialect.errorKind(err);
        if (kind === 'needs-ddl' && this.#createTable && !ensured) {
          ensured = true;
          this.#ddlRequest = { label, signal };
          try {
            await this.#tableReady();
          } catch (ddlError) {
            throw unavailable(label, ddlError, this.#secrets);
          }
          continue;
        }
        // A statement rolled back whole (a deadlock victim, a serialization failure on a
        // SERIALIZABLE pool) changed nothing: send it again.
        if (kind === 'retryable' && attempt < 4 && !signal?.aborted) continue;
        throw unavailable(label, err, this.#secrets);
      }
    }
  }

  /** Runs the DDL; a concurrent creator winning the race is success. */
  async #runDdl(label: string, signal: AbortSignal | undefined): Promise<void> {
    for (const statement of this.#dialect.ddl) {
      try {
        await this.#runner.run(label, statement, [], signal, false);
      } catch (err) {
        if (this.#dialect.errorKind(err) !== 'create-race') throw err;
      }
    }
  }

  #key(key: string): Key {
    return this.#dialect.key(this.#prefix + key, key);
  }

  async acquire(req: AcquireRequest, options?: StoreOpOptions): Promise<AcquireResult> {
    const what = `acquire "${req.key}"`;
    const mark = req.mark === undefined ? null : encodeMark(req.mark);
    const [key, checked, waiter] = [this.#key(req.key), this.#sql.acquireUnlessWaiter, req.unlessWaiter];
    const [text, values] =
      checked && waiter !== undefined
        ? [checked.text, checked.values(key, req, mark, this.#key(waiter))]
        : [this.#sql.acquire.text, this.#sql.acquire.values(key, req, mark)];
    const result = await this.#query(what, text, values, options?.signal);
    return this.#dialect.acquired(result, what) ?? this.#busyFromRow(req.key, options);
  }

  /**
   * The busy answer when acquire's reply could not read the row: it was created by a
   * concurrent transaction after the statement's snapshot. Rare (first use of a key,
   * under contention); one more read names the winner.
   */
  async #busyFromRow(key: string, options: StoreOpOptions | undefined): Promise<AcquireResult> {
    const record = await this.inspect(key, options);
    const out: BusyAnswer = { acquired: false, state: record?.state ?? null, mark: record?.mark ?? null };
    if (record?.holder) out.holder = record.holder;
    if (record?.expiresInMs != null) out.expiresInMs = record.expiresInMs;
    return out;
  }

  async renew(req: RenewRequest, options?: StoreOpOptions): Promise<boolean> {
    const statement = this.#sql.renew;
    const values = statement.values(this.#key(req.key), req);
    const result = await this.#query(`renew "${req.key}"`, statement.text, values, options?.signal);
    return this.#dialect.affected(result) === 1;
  }

  /** Ends the lease; with `req.state` (the fused release) also writes the state and clears the mark: one statement. */
  async release(req: ReleaseRequest, options?: StoreOpOptions): Promise<boolean> {
    const state = req.state === undefined ? undefined : encodeState(req.state);
    const key = this.#key(req.key);
    const { text, values } =
      state === undefined
        ? { text: this.#sql.release.text, values: this.#sql.release.values(key, req) }
        : { text: this.#sql.releaseWithState.text, values: this.#sql.releaseWithState.values(key, req, state) };
    const result = await this.#query(`release "${req.key}"`, text, values, options?.signal);
    return this.#dialect.affected(result) === 1;
  }

  async writeState(req: WriteStateRequest, options?: StoreOpOptions): Promise<boolean> {
    const statement = this.#sql.writeState;
    const values = statement.values(this.#key(req.key), req, encodeState(req.state));
    const result = await this.#query(`writeState "${req.key}"`, statement.text, values, options?.signal);
    return this.#dialect.affected(result) === 1;
  }

  async forceRelease(key: string, options?: StoreOpOptions): Promise<boolean> {
    const statement = this.#sql.forceRelease;
    const values = statement.values(this.#key(key));
    const result = await this.#query(`forceRelease "${key}"`, statement.text, values, options?.signal);
    return this.#dialect.affected(result) === 1;
  }

  async inspect(key: string, options?: StoreOpOptions): Promise<LeaseRecord | null> {
    const what = `inspect "${key}"`;
    const statement = this.#sql.inspect;
    const result = await this.#query(what, statement.text, statement.values(this.#key(key)), options?.signal);
    const row = this.#dialect.rows(result)[0];
    return row ? this.#record(key, row, what) : null;
  }

  /** Every record under `prefix`, in one `SELECT … WHERE key LIKE 'prefix%'` (one round trip). */
  async inspectAll(options: StoreOpOptions & { prefix: string }): Promise<LeaseRecord[]> {
    const what = `inspectAll "${options.prefix}"`;
    const statement = this.#sql.inspectAll;
    const values = statement.values(likePrefix(this.#prefix + options.prefix));
    const rows = this.#dialect.rows(await this.#query(what, statement.text, values, options.signal));
    return rows.map((row) => this.#record(this.#dialect.text(row.key).slice(this.#prefix.length), row, what));
  }

  /** A row of `inspect` or `inspectAll` as a record. */
  #record(key: string, row: SqlRow, what: string): LeaseRecord {
    // A boolean (PostgreSQL) or 0/1 (MySQL).
    const live = Number(row.live) === 1;
    return {
      key,
      holder: live ? (row.holder as string) : null,
      token: toToken(row.token, `${this.name}: ${what}`),
      expiresInMs: live ? Math.max(0, Number(row.expires_in)) : null,
      state: decodeState(row.state as string | null),
      mark: decodeState(row.mark as string | null),
    };
  }

  async list(options?: StoreOpOptions & { prefix?: string }): Promise<string[]> {
    const statement = this.#sql.list;
    const values = statement.values(likePrefix(this.#prefix + (options?.prefix ?? '')));
    const rows = this.#dialect.rows(await this.#query('list', statement.text, values, options?.signal));
    return rows.map((row) => this.#dialect.text(row.key).slice(this.#prefix.length));
  }

  async now(options?: StoreOpOptions): Promise<number> {
    const statement = this.#sql.now;
    const result = await this.#query('read clock', statement.text, statement.values(), options?.signal);
    return Number(this.#dialect.rows(result)[0]?.now_ms);
  }

  /**
   * Transactional runs (T1): `work(client)` in a transaction on a connection of this
   * store's pool (`client`: a `pg` client or a `mysql2/promise` connection), then the
   * fenced write of `endState()` as the last statement, then COMMIT. Requests: one
   * connection checkout, BEGIN, the work's own statements, the check, COMMIT. See
   * `TransactionalStore` and docs/fencing.md ("Transactional runs").
   * @throws LeaseLostError when `ref` is no longer the current lease (rolled back)
   */
  runInTransaction<T>(
    ref: LeaseRef,
    work: (client: unknown) => Promise<T>,
    endState: () => JsonValue,
    options?: StoreOpOptions,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError(`${this.name}: the store is closed`));
    return runTransaction(this.#transactionHost, ref, work, endState, options?.signal);
  }

  /** What {@link runTransaction} needs of this store. */
  #newTransactionHost(): TransactionHost<Result> {
    const dialect = this.#dialect;
    const write = this.#sql.writeState;
    const settled = this.#sql.settledState;
    return {
      name: this.name,
      secrets: this.#secrets,
      statements: dialect.transaction,
      open: (label, signal) => this.#runner.session(label, signal),
      check: (ref, state) => ({ text: write.text, values: write.values(this.#key(ref.key), ref, state) }),
      affected: (result) => dialect.affected(result),
      answered: (err) => dialect.answered(err),
      rolledBack: (err) => dialect.errorKind(err) === 'retryable',
      settledState: async (key, signal) => {
        const result = await this.#query(`read "${key}"`, settled.text, settled.values(this.#key(key)), signal);
        const state = dialect.rows(result)[0]?.state;
        return state === undefined || state === null ? null : String(state);
      },
    };
  }

  /** Ends the pool opened from a URL. A pool you passed is left alone. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#runner.end();
  }
}
