/**
 * Pieces shared by the SQL stores (`leasehold/postgres`, `leasehold/mysql`): identifier
 * checks, racing a query against an `AbortSignal`, and one-line error descriptions.
 * @internal
 * @module
 */
import { ConfigError, StoreUnavailableError } from '../errors.js';
import { redactText } from '../store-kit/index.js';

/** Identifiers we accept for tables and schemas: letters, digits, `_`, not starting with a digit. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks a table or schema name. Only plain identifiers are accepted (they are still
 * quoted in SQL), so a name can never inject SQL or depend on case folding rules.
 * @throws ConfigError naming the option and the value.
 */
export function checkIdentifier(option: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value) || value.length > maxLength) {
    throw new ConfigError(
      `${option}: must be a plain SQL identifier (letters, digits and _, not starting with a digit, at most ${maxLength} characters), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Checks a key prefix: a string without control characters, at most `max` characters. */
export function checkKeyPrefix(value: unknown, max = 256): string {
  if (value === undefined) return '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
  if (typeof value !== 'string' || value.length > max || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ConfigError(`keyPrefix: must be a string of at most ${max} characters without control characters, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks a positive duration option given in ms. */
export function checkMs(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${option}: must be a positive number of milliseconds, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks a positive integer option. */
export function checkCount(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(`${option}: must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Escapes `%`, `_` and the escape character `!` for a `LIKE … ESCAPE '!'` prefix pattern. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[!%_]/g, (c) => `!${c}`)}%`;
}

/** Rejects with a `StoreUnavailableError` when `signal` aborts before `p` settles; calls `onAbort` then. */
export function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined, what: string, onAbort?: () => void): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => {});
    onAbort?.();
    return Promise.reject(new StoreUnavailableError(`${what}: aborted`, { cause: signal.reason }));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      p.catch(() => {});
      onAbort?.();
      reject(new StoreUnavailableError(`${what}: no answer before the request was aborted`, { cause: signal.reason }));
    };
    signal.addEventListener('abort', abort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(e);
      },
    );
  });
}

/**
 * One line describing a client error: the message (or, for an `AggregateError` from a
 * multi-address connect, each inner message), its code, with secrets masked and
 * newlines folded.
 */
export function describeError(err: unknown, secrets: readonly (string | undefined)[]): string {
  const parts: string[] = [];
  const add = (e: unknown) => {
    if (e instanceof Error) {
      const code = (e as { code?: unknown }).code;
      let msg = e.message || (typeof code === 'string' ? code : e.name);
      if (typeof code === 'string' && code && !msg.includes(code)) msg += ` (${code})`;
      parts.push(msg);
    } else {
      parts.push(String(e));
    }
  };
  if (err instanceof AggregateError && err.errors.length > 0) {
    for (const e of err.errors) add(e);
  } else {
    add(err);
  }
  return redactText([...new Set(parts)].join('; '), secrets).replace(/\s*\n\s*/g, ' ').trim();
}

/** Wraps a client error as a one-line `StoreUnavailableError` (leasehold errors pass through). */
export function storeError(what: string, err: unknown, secrets: readonly (string | undefined)[]): Error {
  if (err instanceof StoreUnavailableError || err instanceof ConfigError) return err;
  return new StoreUnavailableError(`${what}: ${describeError(err, secrets)}`, { cause: err });
}

/** Parses a token the database returned (string, number or bigint) as a safe integer. */
export function toToken(value: unknown, what: string): number {
  const n = typeof value === 'bigint' ? Number(value) : Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new StoreUnavailableError(`${what}: the database returned a token that is not a safe integer (${String(value)})`);
  return n;
}
