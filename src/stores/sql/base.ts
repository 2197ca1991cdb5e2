/**
 * One SQL lease store over a dialect (ShedLock's `SqlStatementsSource` shape): the retry
 * loop, creating the table once, every operation's body and the shared options live
 * here; a {@link SqlDialect} gives each operation's statement and reads its replies, and
 * a {@link SqlRunner} sends one statement on a pool. How each dialect keeps the contract:
 * docs/stores/postgres.md and docs/stores/mysql.md.
 * @module
 */
import { StoreUnavailableError } from '../../errors.js';
import { once } from '../../store-kit/index.js';
import { decodeState, encodeMark, encodeState, throwIfAborted, toToken, unavailable } from '../../store-kit/index.js';
import type { AcquireRequest, AcquireResult, JsonValue, LeaseRecord, LeaseRef, LeaseStore } from '../../store.js';
import type { ReleaseRequest, RenewRequest, StoreCapabilities, StoreOpOptions } from '../../store.js';
import type { WriteStateRequest } from '../../store.js';
import type { TransactionalStore } from '../../transaction.js';
import { likePrefix } from './common.js';
import type { BusyAnswer, SqlDialect, SqlRow, SqlRunner, SqlSettings, SqlStatements } from './dialect.js';
import { runTransaction, type TransactionHost } from './transaction.js';

export type { SqlSession, TransactionStatements } from './transaction.js';
export type {
  BusyAnswer,
  SqlDialect,
  SqlErrorKind,
  SqlRow,
  SqlRunner,
  SqlSettings,
  SqlStatements,
  SqlStoreOptions,
  Statement,
} from './dialect.js';
export { checkSqlOptions } from './dialect.js';

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
