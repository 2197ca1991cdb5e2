/**
 * Small pieces both SQL dialects use: the default table name, the identifier check and
 * the `LIKE` prefix pattern.
 * @module
 */
import { ConfigError } from '../../errors.js';

/** Default table name of the SQL stores. */
export const DEFAULT_TABLE = 'leasehold_leases';

/** Identifiers we accept for tables and schemas: letters, digits, `_`, not starting with a digit. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks a table, schema or database name. Only plain identifiers are accepted (they are
 * still quoted in SQL), so a name can never inject SQL or depend on case folding rules.
 * @throws ConfigError naming the option and the value.
 */
export function checkIdentifier(option: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value) || value.length > maxLength) {
    throw new ConfigError(
      `${option}: must be a plain SQL identifier (letters, digits and _, not starting with a digit, ` +
        `at most ${maxLength} characters), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Escapes `%`, `_` and the escape character `!` for a `LIKE … ESCAPE '!'` prefix pattern. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[!%_]/g, (c) => `!${c}`)}%`;
}

/**
 * A store's own pool, opened on first use: the SDK is imported only when a statement is
 * sent, and `end` waits for an open still under way (a failed open has nothing to end).
 */
export class LazyPool<Pool> {
  #pool: Promise<Pool> | undefined;

  constructor(
    readonly open: () => Promise<Pool>,
    readonly endPool: (pool: Pool) => unknown,
  ) {}

  /** The pool, opening it on the first call. */
  get(): Promise<Pool> {
    this.#pool ??= this.open();
    return this.#pool;
  }

  /** Ends the pool if it was opened; the next {@link get} opens a new one. */
  async end(): Promise<void> {
    const own = this.#pool;
    this.#pool = undefined;
    if (own) await own.then(this.endPool, () => {});
  }
}
