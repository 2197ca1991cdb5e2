/**
 * Error text and error mapping for stores: one-line messages with secrets masked, and
 * causes that keep what callers branch on (`name`, `code`, status) but none of what a
 * client library attaches (a command's arguments, a request with its headers).
 * @module
 */
import { LeaseholdError, StoreUnavailableError } from '../errors.js';
import { redactText } from './redact.js';

function codeOf(err: Error): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' ? code : undefined;
}

function oneError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = codeOf(err);
  let msg = err.message || code || err.name;
  if (code && !msg.includes(code)) msg += ` (${code})`;
  return msg;
}

/**
 * One line describing a thrown value: its message (for an `AggregateError` from a
 * multi-address connect, each inner message), its `code` when the message lacks it,
 * with `secrets` masked and newlines folded. Never throws.
 */
export function errorText(err: unknown, secrets: readonly (string | undefined)[] = []): string {
  const parts = err instanceof AggregateError && err.errors.length > 0 ? err.errors.map(oneError) : [oneError(err)];
  return redactText([...new Set(parts)].join('; '), secrets)
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

/** Fields of a client error that are safe to keep and useful to branch on. */
const KEPT_FIELDS = ['code', 'errno', 'syscall', 'statusCode', 'status', 'sqlState', 'severity'] as const;

/**
 * A copy of a client error that is safe to log: its message redacted, its stack reduced
 * to that line, only {@link KEPT_FIELDS} kept (so no command arguments, request, headers
 * or response), and its own `cause` chain cleaned the same way (at most 5 deep).
 * Leasehold errors pass through with their causes cleaned.
 */
export function cleanError(err: unknown, secrets: readonly (string | undefined)[] = [], depth = 0): unknown {
  if (!(err instanceof Error)) return typeof err === 'string' ? redactText(err, secrets) : err;
  if (err instanceof LeaseholdError) {
    if (err.cause !== undefined) {
      Object.defineProperty(err, 'cause', {
        value: depth >= 5 ? undefined : cleanError(err.cause, secrets, depth + 1),
        configurable: true,
        writable: true,
        enumerable: false,
      });
    }
    return err;
  }
  const out = new Error(redactText(err.message, secrets)) as Error & Record<string, unknown>;
  out.name = err.name;
  for (const field of KEPT_FIELDS) {
    const value = (err as unknown as Record<string, unknown>)[field];
    if (typeof value === 'string' || typeof value === 'number') out[field] = value;
  }
  if (err instanceof AggregateError) {
    out.errors = err.errors.slice(0, 10).map((inner) => cleanError(inner, secrets, depth + 1));
  }
  out.stack = `${out.name}: ${out.message}`;
  if (err.cause !== undefined && depth < 5) {
    Object.defineProperty(out, 'cause', { value: cleanError(err.cause, secrets, depth + 1), configurable: true });
  }
  return out;
}

/**
 * Wraps a client error as a one-line `StoreUnavailableError` whose cause is
 * {@link cleanError}ed. Leasehold errors pass through (their causes cleaned).
 */
export function unavailable(what: string, err: unknown, secrets: readonly (string | undefined)[] = []): LeaseholdError {
  if (err instanceof LeaseholdError) return cleanError(err, secrets) as LeaseholdError;
  return new StoreUnavailableError(`${what}: ${errorText(err, secrets)}`, { cause: cleanError(err, secrets) });
}

/** Rejects with `StoreUnavailableError` when the signal has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new StoreUnavailableError(`${what}: aborted`, { cause: signal.reason });
}
