/**
 * What a SQL dialect gives `SqlStore` (`./base.ts`): each operation's statement, how
 * its replies read and which errors mean what, the runner that sends one statement on a
 * pool; and the options every SQL store shares, checked.
 * @module
 */
import { ConfigError } from '../../errors.js';
import { checkBoolean, checkCount, checkMs, requireOptions, checkPrefix } from '../../store-kit/index.js';
import type { AcquireRequest, AcquireResult, JsonValue, LeaseRef, RenewRequest } from '../../store.js';
import type { SqlSession, TransactionStatements } from './transaction.js';

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
