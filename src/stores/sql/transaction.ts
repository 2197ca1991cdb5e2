/**
 * Transactional runs on the SQL stores (T1, `src/transaction.ts`): the caller's work and
 * the slot's end record in one transaction, on one connection of the store's own pool.
 * The lease is checked by the last statement before COMMIT (the store's fenced state
 * write, judged by the database clock), not by a lock taken at the start: a lock held
 * from the start would block the holder's own renewals of the same row for the whole
 * transaction. The check's row lock lasts until COMMIT, so no acquire can come between
 * the check and the commit. Isolation, pool sizing and what is promised:
 * docs/fencing.md ("Transactional runs").
 * @module
 */
import { LeaseholdError, LeaseLostError, StoreUnavailableError } from '../../errors.js';
import { encodeState, errorText, raceSignal, throwIfAborted, unavailable } from '../../store-kit/index.js';
import type { JsonValue, LeaseRef } from '../../store.js';

/** One connection checked out of the store's pool for one transaction. */
export interface SqlSession<Result> {
  /** The driver's connection, handed to the caller's work: a `pg` client, a `mysql2/promise` connection. */
  readonly client: unknown;
  /** Sends one statement on this connection (one round trip). */
  run(text: string, values: unknown[]): Promise<Result>;
  /**
   * Gives the connection back to the pool. `broken`: destroy it instead — its state is
   * unknown (a statement may still be running), and the server rolls back what was open.
   */
  release(broken: boolean): void;
}

/** The statements that open and end a transaction, in one dialect. */
export interface TransactionStatements {
  readonly begin: string;
  readonly commit: string;
  readonly rollback: string;
}

/** What a transactional run needs of its store. */
export interface TransactionHost<Result> {
  /** The store's name, first word of every message. */
  readonly name: string;
  /** Secrets to keep out of error messages. */
  readonly secrets: readonly string[];
  /** BEGIN, COMMIT and ROLLBACK of the dialect. */
  readonly statements: TransactionStatements;
  /** Checks a connection out of the store's pool. @throws ConfigError when the pool cannot give one */
  open(label: string, signal: AbortSignal | undefined): Promise<SqlSession<Result>>;
  /** The fenced state write of `ref` with `state` (JSON text): the last statement before COMMIT. */
  check(ref: LeaseRef, state: string): { text: string; values: unknown[] };
  /** Rows a reply says were changed. */
  affected(result: Result): number;
  /** True when the server answered `err` itself (an SQL error): the connection is usable and nothing committed. */
  answered(err: unknown): boolean;
  /** True when `err` is a serialization failure or a deadlock: the database rolled the transaction back. */
  rolledBack(err: unknown): boolean;
  /**
   * Reads the key's state (JSON text) on another connection with a share lock, so it
   * waits for a transaction still holding the row: how an interrupted COMMIT is judged.
   */
  settledState(key: string, signal: AbortSignal): Promise<string | null>;
}

/**
 * How long the outcome of an interrupted COMMIT is looked for (a locking read on another
 * connection) before the run is reported as "outcome unknown". Long enough for a server
 * to notice a cut-off connection and roll its transaction back, short enough that a
 * caller is not held long after its lease is gone.
 */
export const COMMIT_CHECK_MS = 10_000;

/**
 * Runs `work` in a transaction of `host`'s database, then writes `endState()` as the key's
 * state if `ref` is still its current lease, and commits. See `TransactionalStore`.
 */
export async function runTransaction<Result, T>(
  host: TransactionHost<Result>,
  ref: LeaseRef,
  work: (client: unknown) => Promise<T>,
  endState: () => JsonValue,
  signal: AbortSignal | undefined,
): Promise<T> {
  const label = `${host.name}: transaction on "${ref.key}"`;
  throwIfAborted(signal, label);
  const tx = new Transaction(host, await host.open(label, signal), label, signal);
  try {
    await tx.send(host.statements.begin, []);
    const result = await tx.race(Promise.resolve().then(() => work(tx.client)));
    const state = encodeState(endState());
    const { text, values } = host.check(ref, state);
    if (host.affected(await tx.send(text, values)) !== 1) {
      const detail = 'it was no longer the current lease when its transaction was to commit (rolled back)';
      throw new LeaseLostError(ref.key, ref.token, detail);
    }
    await tx.commit(ref.key, state);
    return result;
  } finally {
    await tx.end();
  }
}

/** One transaction's connection and what is known of it. */
class Transaction<Result> {
  readonly #host: TransactionHost<Result>;
  readonly #session: SqlSession<Result>;
  readonly #label: string;
  readonly #signal: AbortSignal | undefined;
  #committed = false;
  #released = false;

  constructor(host: TransactionHost<Result>, session: SqlSession<Result>, label: string, signal?: AbortSignal) {
    this.#host = host;
    this.#session = session;
    this.#label = label;
    this.#signal = signal;
  }

  /** The driver's connection, for the caller's work. */
  get client(): unknown {
    return this.#session.client;
  }

  /**
   * Settles like `running`, or rejects as soon as the signal aborts: the connection is then
   * destroyed, which rolls the transaction back on the server. The rejection is the
   * signal's reason when it is a leasehold error (a `LeaseLostError`, the run's timeout).
   */
  async race<T>(running: Promise<T>): Promise<T> {
    const reason = (why: unknown) => this.#aborted(why);
    return raceSignal(running, this.#signal, this.#label, { reason, onAbort: () => this.#release(true) });
  }

  /** The rejection for an abort whose reason is `why`. */
  #aborted(why: unknown): unknown {
    if (why instanceof LeaseholdError) return why;
    return new StoreUnavailableError(`${this.#label}: aborted, rolled back`, { cause: why });
  }

  /** Sends one statement; an SQL error of the server is reported without its secrets. */
  async send(text: string, values: unknown[]): Promise<Result> {
    try {
      return await this.race(this.#session.run(text, values));
    } catch (err) {
      if (err instanceof LeaseholdError) throw err;
      if (this.#host.rolledBack(err)) {
        const why = 'the database rolled the transaction back (a serialization failure or a deadlock)';
        throw new LeaseholdError(`${this.#label}: ${why}: ${errorText(err, this.#host.secrets)}`, { cause: err });
      }
      throw unavailable(this.#label, err, this.#host.secrets);
    }
  }

  /**
   * Commits. Once COMMIT is sent, an abort no longer stops the wait for its answer by
   * itself: a COMMIT cut off (the connection lost, or the signal fired) is judged by
   * reading the key's state on another connection, since it may have committed.
   */
  async commit(key: string, state: string): Promise<void> {
    if (this.#signal?.aborted) throw this.#aborted(this.#signal.reason);
    const sent = this.#session.run(this.#host.statements.commit, []);
    try {
      await raceSignal(sent, this.#signal, this.#label, { reason: (why) => why });
      this.#committed = true;
    } catch (err) {
      if (this.#host.answered(err)) {
        throw unavailable(`${this.#label}: COMMIT refused, nothing committed`, err, this.#host.secrets);
      }
      this.#release(true);
      if (!(await this.#settledAs(key, state, err))) {
        throw err instanceof LeaseholdError ? err : unavailable(this.#label, err, this.#host.secrets);
      }
      this.#committed = true;
    }
  }

  /** Whether an interrupted COMMIT committed: the key's state is the one this transaction wrote. */
  async #settledAs(key: string, state: string, cut: unknown): Promise<boolean> {
    try {
      return (await this.#host.settledState(key, AbortSignal.timeout(COMMIT_CHECK_MS))) === state;
    } catch (err) {
      const why = `COMMIT interrupted (${errorText(cut, this.#host.secrets)}), outcome unknown`;
      throw new LeaseholdError(`${this.#label}: ${why}: ${errorText(err, this.#host.secrets)}`, { cause: err });
    }
  }

  /**
   * Ends the transaction: gives the connection back after a COMMIT, or after a ROLLBACK
   * of what did not commit; a ROLLBACK that fails (the connection is gone) destroys it.
   */
  async end(): Promise<void> {
    if (this.#released) return;
    if (this.#committed) {
      this.#release(false);
      return;
    }
    try {
      await this.race(this.#session.run(this.#host.statements.rollback, []));
      this.#release(false);
    } catch {
      this.#release(true);
    }
  }

  #release(broken: boolean): void {
    if (this.#released) return;
    this.#released = true;
    this.#session.release(broken);
  }
}
