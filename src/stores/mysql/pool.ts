/**
 * Sending the MySQL store's statements: on a `mysql2/promise` pool the user passed, or
 * on the small connection pool the store opens from its URL (why it has its own pool:
 * docs/stores/mysql.md, "Store down").
 * @module
 */
import { ConfigError, StoreUnavailableError } from '../../errors.js';
import { importPeer, raceSignal } from '../../store-kit/index.js';
import type { SqlRunner, SqlSession } from '../sql/base.js';
import { LazyPool } from '../sql/common.js';

/**
 * What the store needs from a `mysql2/promise` pool (or connection): `query`. Typed
 * structurally so no `mysql2` version is forced on you. A callback-style `mysql2` pool
 * is accepted too (its `.promise()` is used).
 */
export interface MysqlQueryable {
  /** Runs one request with positional (`?`) parameters; resolves `[result, fields]`. */
  query(sql: string, values?: unknown[]): Promise<[unknown, unknown]>;
}

/** The parts of a callback-style `mysql2` connection the store's own pool uses. */
interface RawConnection {
  query(sql: string, values: unknown[], cb: (err: Error | null, result: unknown) => void): void;
  destroy(): void;
  once(event: 'connect', listener: () => void): unknown;
  on(event: 'error' | 'end', listener: (err?: Error) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
  stream?: { ref?(): void; unref?(): void; destroy?(): void };
  /** The same connection with mysql2's promise API (what a transaction's work gets). */
  promise(): unknown;
}

type Mysql2 = { createConnection(config: Record<string, unknown>): RawConnection };

interface PooledConnection {
  raw: RawConnection;
  dead: boolean;
}

/** A request waiting for a connection. */
interface Waiter {
  resolve(c: PooledConnection): void;
  reject(e: Error): void;
  /** True once it got a connection, an error, or gave up. */
  settled: boolean;
}

/**
 * The small pool behind a store opened from a URL. Unlike mysql2's pool it never leaves a
 * late connection error without a listener, keeps the process alive only while a request
 * is in flight, cuts off a connection that holds an abandoned request past its grace, and
 * closes without waiting for a black-holed server.
 *
 * Connections are not thrown away because one request gave up on them: a slow server
 * would then never be asked anything on a connection that got to finish.
 * - A connection still opening when its request is aborted goes on opening (bounded by
 *   `connectTimeout`) and then serves the next request, or waits idle.
 * - A connection whose request was abandoned before its answer stays out of the pool
 *   until the answer arrives (mysql2 answers in order), then serves again; if no answer
 *   comes within `connectTimeout` (a black-holed server), it is destroyed.
 */
class ConnectionPool {
  readonly #idle: PooledConnection[] = [];
  readonly #waiters: Waiter[] = [];
  /** Connected, in use or idle (abandoned ones included, until their answer or grace). */
  readonly #all = new Set<PooledConnection>();
  /** Still connecting. */
  readonly #opening = new Set<PooledConnection>();
  /** How long an abandoned request's connection waits for its answer: the connect timeout. */
  readonly #graceMs: number;
  #closed = false;

  constructor(
    readonly mysql2: Mysql2,
    readonly config: Record<string, unknown>,
    readonly max: number,
  ) {
    const timeout = config.connectTimeout;
    this.#graceMs = typeof timeout === 'number' && timeout > 0 ? timeout : 10_000;
  }

  /** A connection for one request; resolves once connected. */
  get(signal: AbortSignal | undefined, label: string): Promise<PooledConnection> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError(`${label}: the store is closed`));
    for (let c = this.#idle.pop(); c; c = this.#idle.pop()) {
      if (!c.dead) {
        c.raw.stream?.ref?.();
        return Promise.resolve(c);
      }
      this.#forget(c);
    }
    const gaveUp = () =>
      new StoreUnavailableError(`${label}: no connection before the request was aborted`, { cause: signal?.reason });
    if (signal?.aborted) return Promise.reject(gaveUp());
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#leave(waiter);
        waiter.reject(gaveUp());
      };
      const waiter: Waiter = {
        settled: false,
        resolve: (c) => {
          waiter.settled = true;
          signal?.removeEventListener('abort', onAbort);
          resolve(c);
        },
        reject: (e) => {
          waiter.settled = true;
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      this.#waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.#all.size + this.#opening.size < this.max) this.#open(waiter);
    });
  }

  /** Takes a waiter out of the queue (it was served, failed or gave up). */
  #leave(waiter: Waiter): void {
    const i = this.#waiters.indexOf(waiter);
    if (i >= 0) this.#waiters.splice(i, 1);
  }

  /**
   * Opens a connection for `owner`: it gets the connection, or the error, if it still
   * waits then; otherwise the connection serves the next waiter or goes idle.
   */
  #open(owner: Waiter | undefined): void {
    const raw = this.mysql2.createConnection(this.config);
    const c: PooledConnection = { raw, dead: false };
    this.#opening.add(c);
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      this.#opening.delete(c);
      raw.removeListener('connect', onConnect);
      if (this.#closed) {
        // end() already failed every waiter.
        this.#kill(c);
      } else if (err) {
        this.#kill(c);
        if (owner && !owner.settled) {
          this.#leave(owner);
          owner.reject(err);
        }
        this.#wake();
      } else {
        this.#all.add(c);
        if (owner && !owner.settled) {
          this.#leave(owner);
          owner.resolve(c);
        } else {
          this.release(c);
        }
      }
    };
    const onConnect = () => settle();
    // Permanent listeners: a late error on this connection marks it dead and frees its
    // place in the pool (a restarted server ends every idle connection at once).
    raw.on('error', (err?: Error) => {
      c.dead = true;
      settle(err ?? new Error('connection failed'));
      this.#forget(c);
    });
    raw.on('end', () => {
      c.dead = true;
      settle(new Error('connection closed by the server'));
      this.#forget(c);
    });
    raw.once('connect', onConnect);
  }

  /** Returns a connection after a completed request: to the oldest waiter, else idle. */
  release(c: PooledConnection): void {
    if (c.dead || this.#closed) {
      this.destroy(c);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) {
      c.raw.stream?.ref?.();
      waiter.resolve(c);
      return;
    }
    c.raw.stream?.unref?.();
    this.#idle.push(c);
  }

  /**
   * A request on `c` was abandoned before its answer (`answer`): the connection comes
   * back when the answer does, or is destroyed after the grace. Meanwhile it does not
   * keep the process alive.
   */
  abandon(c: PooledConnection, answer: Promise<unknown>): void {
    c.raw.stream?.unref?.();
    let done = false;
    const grace = setTimeout(() => {
      done = true;
      this.destroy(c);
    }, this.#graceMs);
    grace.unref?.();
    const back = (err?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(grace);
      if (err === undefined || isServerError(err)) this.release(c);
      else this.destroy(c);
    };
    answer.then(
      () => back(),
      (err: unknown) => back(err ?? new Error('request failed')),
    );
  }

  /** Cuts a connection off at once (its request failed, or its abandoned request's grace ran out). */
  destroy(c: PooledConnection): void {
    this.#kill(c);
    this.#all.delete(c);
    this.#wake();
  }

  #kill(c: PooledConnection): void {
    c.dead = true;
    try {
      c.raw.destroy();
      c.raw.stream?.destroy?.();
    } catch {
      // already gone
    }
  }

  /** Drops a dead connection from the pool, so its place can be taken by a new one. */
  #forget(c: PooledConnection): void {
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
    if (this.#all.delete(c)) {
      this.#kill(c);
      this.#wake();
    }
  }

  /** The oldest waiter gets a new connection when a place in the pool is free. */
  #wake(): void {
    if (this.#closed || this.#all.size + this.#opening.size >= this.max) return;
    const waiter = this.#waiters[0];
    if (waiter) this.#open(waiter);
  }

  /** Destroys every connection, opening ones included; requests in flight fail. */
  end(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new StoreUnavailableError('mysql: the store is closed'));
    }
    for (const c of this.#all) this.#kill(c);
    for (const c of this.#opening) this.#kill(c);
    this.#all.clear();
    this.#idle.length = 0;
  }
}

/** A server's error answer (SQLSTATE, not fatal): the connection stays usable. */
const isServerError = (err: unknown) =>
  (err as { fatal?: boolean }).fatal !== true && !!(err as { sqlState?: string }).sqlState;

/** A connection of a `mysql2/promise` pool, as `getConnection` gives it. */
interface PromisePoolConnection extends MysqlQueryable {
  release(): void;
  destroy(): void;
}

/** Sends on a pool the user passed; an aborted request is abandoned, not cancelled. */
export class PassedMysqlRunner implements SqlRunner<unknown> {
  constructor(readonly pool: MysqlQueryable) {}

  async run(label: string, text: string, values: unknown[], signal: AbortSignal | undefined): Promise<unknown> {
    return (await raceSignal(this.pool.query(text, values), signal, label))[0];
  }

  /** A connection of the pool you passed; it must be a pool (a single connection cannot give a transaction its own). */
  async session(label: string, signal: AbortSignal | undefined): Promise<SqlSession<unknown>> {
    const pool = this.pool as Partial<{ getConnection(): Promise<PromisePoolConnection> }>;
    if (typeof pool.getConnection !== 'function') {
      throw new ConfigError(
        `${label}: transactional runs need the store's pool to be a mysql2 pool (a transaction takes a ` +
          'connection of its own); the pool given to the store is not one',
      );
    }
    const getting = pool.getConnection();
    const connection = await raceSignal(getting, signal, label, {
      onAbort: () =>
        void getting.then(
          (c) => c.release(),
          () => {},
        ),
    });
    return {
      client: connection,
      run: async (text, values) => (await connection.query(text, values))[0],
      release: (broken) => (broken ? connection.destroy() : connection.release()),
    };
  }

  async end(): Promise<void> {}
}

/** Sends on the store's own {@link ConnectionPool}, opened on first use. */
export class OwnMysqlRunner implements SqlRunner<unknown> {
  readonly #pool = new LazyPool(
    () => this.#open(),
    (pool: ConnectionPool) => pool.end(),
  );

  constructor(
    readonly config: Record<string, unknown>,
    readonly maxConnections: number,
  ) {}

  async #open(): Promise<ConnectionPool> {
    const pickMysql2 = (mod: Record<string, unknown>) =>
      typeof mod.createConnection === 'function' ? (mod as unknown as Mysql2) : undefined;
    const mysql2 = await importPeer('mysql', 'mysql2', () => import('mysql2'), pickMysql2);
    return new ConnectionPool(mysql2, this.config, this.maxConnections);
  }

  async run(label: string, text: string, values: unknown[], signal: AbortSignal | undefined): Promise<unknown> {
    const pool = await this.#pool.get();
    const connection = await pool.get(signal, label);
    const sent = send(connection.raw, text, values);
    let aborted = false;
    try {
      // A request still unanswered when the signal fires waits for its answer apart:
      // the connection serves again once it comes, or is destroyed after the grace.
      const result = await raceSignal(sent, signal, label, {
        onAbort: () => {
          aborted = true;
          pool.abandon(connection, sent);
        },
      });
      pool.release(connection);
      return result;
    } catch (err) {
      // A server error (SQLSTATE) leaves the connection usable; anything else may not.
      if (aborted) throw err;
      if (isServerError(err)) pool.release(connection);
      else pool.destroy(connection);
      throw err;
    }
  }

  /** A connection of the store's own pool, for a transaction; its work gets mysql2's promise API on it. */
  async session(label: string, signal: AbortSignal | undefined): Promise<SqlSession<unknown>> {
    const pool = await this.#pool.get();
    const connection = await pool.get(signal, label);
    return {
      client: connection.raw.promise(),
      run: (text, values) => send(connection.raw, text, values),
      release: (broken) => (broken || connection.dead ? pool.destroy(connection) : pool.release(connection)),
    };
  }

  end(): Promise<void> {
    return this.#pool.end();
  }
}

/** One request on a callback-style connection. */
function send(raw: RawConnection, text: string, values: unknown[]): Promise<unknown> {
  return new Promise<unknown>((resolve, reject) => {
    raw.query(text, values, (err, result) => (err ? reject(err) : resolve(result)));
  });
}
