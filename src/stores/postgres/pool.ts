/**
 * Sending the PostgreSQL store's statements: on a pool the user passed, or on a `pg.Pool`
 * the store opens from its URL, with named (prepared) statements when asked. Why named
 * statements and what PgBouncer needs for them: docs/stores/postgres.md.
 * @module
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import { importPeer, raceSignal } from '../../store-kit/index.js';
import type { SqlRunner, SqlSession, SqlStatements } from '../sql/base.js';
import { LazyPool } from '../sql/common.js';

/** The result shape of `pg`'s `query`, as far as this store reads it. */
export interface PgQueryResult {
  /** The rows, by column name. */
  rows: Record<string, unknown>[];
  /** Rows changed (or returned). */
  rowCount: number | null;
}

/**
 * What the store needs from a `pg.Pool` (or anything with the same `query`, such as a
 * `pg.Client` or a PgBouncer-facing pool). Typed structurally so no `pg` version is forced
 * on you.
 */
export interface PgQueryable {
  /** Runs one statement with positional (`$n`) parameters. */
  query(text: string, values?: unknown[]): Promise<PgQueryResult>;
}

/** `pg`'s form of a named (prepared) statement. */
interface NamedQuery {
  name: string;
  text: string;
  values: unknown[];
}

interface OwnedClient {
  query(text: string, values?: unknown[]): Promise<PgQueryResult>;
  query(config: NamedQuery): Promise<PgQueryResult>;
  release(err?: Error | boolean): void;
}

interface ErrorEmitter {
  on(event: 'error', listener: (err: Error) => void): unknown;
}

interface OwnedPool extends ErrorEmitter {
  connect(): Promise<OwnedClient>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'connect', listener: (client: ErrorEmitter) => void): unknown;
}

type PgModule = { Pool: new (config: Record<string, unknown>) => OwnedPool };

/**
 * One statement name per statement text, `leasehold_<operation>_<hash>`: the table is
 * part of the text, so two stores on different tables never share a name on a connection.
 */
export function statementNames(statements: SqlStatements<string>): Map<string, string> {
  const names = new Map<string, string>();
  for (const [operation, { text }] of Object.entries(statements)) {
    names.set(text, `leasehold_${operation}_${createHash('sha1').update(text).digest('hex').slice(0, 12)}`);
  }
  return names;
}

const ignore = () => {};
const giveBack = (client: OwnedClient) => client.release();

/** A client checked out for a transaction: named statements where the store uses them. */
function pgSession(client: OwnedClient, names: ReadonlyMap<string, string> | undefined): SqlSession<PgQueryResult> {
  return {
    client,
    run: (text, values) => {
      const name = names?.get(text);
      return name ? client.query({ name, text, values }) : client.query(text, values);
    },
    // pg destroys a client released with an error instead of pooling it.
    release: (broken) => client.release(broken ? new Error('transaction abandoned') : undefined),
  };
}

/** Checks a client out of `pool`, returning it at once if the signal aborted first. */
async function checkOut(
  pool: { connect(): Promise<OwnedClient> },
  label: string,
  signal: AbortSignal | undefined,
): Promise<OwnedClient> {
  const connecting = pool.connect();
  return raceSignal(connecting, signal, label, { onAbort: () => void connecting.then(giveBack, ignore) });
}

/** Sends on a pool the user passed, named when `names` is given (`pg.Pool` and `pg.Client` take names). */
export class PassedPgRunner implements SqlRunner<PgQueryResult> {
  constructor(
    readonly pool: PgQueryable,
    readonly names: ReadonlyMap<string, string> | undefined,
  ) {}

  run(label: string, text: string, values: unknown[], signal: AbortSignal | undefined, prepared: boolean) {
    const name = prepared ? this.names?.get(text) : undefined;
    const query = name
      ? (this.pool as unknown as { query(config: NamedQuery): Promise<PgQueryResult> }).query({ name, text, values })
      : this.pool.query(text, values);
    return raceSignal(query, signal, label);
  }

  /** A client of the pool you passed; it must be a `pg.Pool` (a single client cannot give a transaction its own). */
  async session(label: string, signal: AbortSignal | undefined): Promise<SqlSession<PgQueryResult>> {
    const pool = this.pool as Partial<{ connect(): Promise<OwnedClient>; totalCount: number }>;
    if (typeof pool.connect !== 'function' || typeof pool.totalCount !== 'number') {
      throw new ConfigError(
        `${label}: transactional runs need the store's pool to be a pg.Pool (a transaction takes a client ` +
          'of its own); the pool given to the store is not one',
      );
    }
    return pgSession(await checkOut(pool as { connect(): Promise<OwnedClient> }, label, signal), this.names);
  }

  async end(): Promise<void> {}
}

/** Settings of the pool the store opens from its URL. */
export interface OwnPoolSettings {
  readonly connectionString: string;
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
}

/**
 * Sends on a `pg.Pool` of the store's own, checking a client out per statement so that
 * a query still hanging when the signal fires (a black-holed connection) is cut off
 * instead of holding a pool slot.
 */
export class OwnPgRunner implements SqlRunner<PgQueryResult> {
  readonly #pool = new LazyPool(
    () => this.#open(),
    (pool: OwnedPool) => pool.end(),
  );

  constructor(
    readonly settings: OwnPoolSettings,
    readonly names: ReadonlyMap<string, string> | undefined,
  ) {}

  async #open(): Promise<OwnedPool> {
    const pickPool = (mod: Record<string, unknown>) =>
      typeof mod.Pool === 'function' ? (mod as unknown as PgModule) : undefined;
    const pg = await importPeer('postgres', 'pg', () => import('pg'), pickPool);
    const pool = new pg.Pool({
      connectionString: this.settings.connectionString,
      connectionTimeoutMillis: this.settings.connectTimeoutMs,
      max: this.settings.maxConnections,
      keepAlive: true,
      idleTimeoutMillis: 10_000,
      // Idle connections must not keep the process alive.
      allowExitOnIdle: true,
      application_name: 'leasehold',
    });
    // A connection that breaks (server restart, a connection we cut off) must never
    // crash the process with an 'error' event nobody listens to: the pool listens only
    // while a client is idle, so every client gets a listener of its own for its whole
    // life. Errors during a query still reach that query.
    pool.on('error', ignore);
    pool.on('connect', (client) => client.on('error', ignore));
    return pool;
  }

  async run(label: string, text: string, values: unknown[], signal: AbortSignal | undefined, prepared: boolean) {
    const name = prepared ? this.names?.get(text) : undefined;
    const client = await checkOut(await this.#pool.get(), label, signal);
    let aborted = false;
    try {
      const query = name ? client.query({ name, text, values }) : client.query(text, values);
      const result = await raceSignal(query, signal, label, {
        onAbort: () => {
          aborted = true;
          client.release(new Error('aborted'));
        },
      });
      client.release();
      return result;
    } catch (err) {
      // A server error (SQLSTATE) leaves the connection usable; anything else may not.
      const serverError = typeof (err as { severity?: unknown }).severity === 'string';
      if (!aborted) client.release(serverError ? undefined : err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  /** A client of the store's own pool, for a transaction. */
  async session(label: string, signal: AbortSignal | undefined): Promise<SqlSession<PgQueryResult>> {
    return pgSession(await checkOut(await this.#pool.get(), label, signal), this.names);
  }

  end(): Promise<void> {
    return this.#pool.end();
  }
}
