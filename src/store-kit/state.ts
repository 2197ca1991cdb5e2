/**
 * The fenced state's wire form: JSON text of at most {@link MAX_STATE_BYTES}.
 * @module
 */
import { ConfigError, StoreUnavailableError } from '../errors.js';
import type { JsonValue } from '../store.js';

/** Largest serialized fenced state a store must accept, in bytes. */
export const MAX_STATE_BYTES = 64 * 1024;

/** Largest serialized mark (`AcquireRequest.mark`, a start record) a store must accept, in bytes. */
export const MAX_MARK_BYTES = 1024;

/** Serializes a mark, enforcing {@link MAX_MARK_BYTES}. @throws ConfigError when too large or not JSON. */
export function encodeMark(mark: JsonValue): string {
  return encodeState(mark, MAX_MARK_BYTES, 'mark');
}

/** Serializes fenced state, enforcing {@link MAX_STATE_BYTES}. @throws ConfigError when too large or not JSON. */
export function encodeState(state: JsonValue, limit = MAX_STATE_BYTES, what = 'state'): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(state);
  } catch (err) {
    // V8's message for a cycle spans three lines; the last says where: keep one line, with that.
    const lines = (err instanceof Error ? err.message : String(err)).split('\n').map((line) => line.trim());
    const where = lines.find((line) => line.includes('closes the circle'))?.replace(/^-+\s*/, '');
    const why = where ? `${lines[0]}: ${where}` : lines[0];
    throw new ConfigError(`${what}: not serializable as JSON (${why})`, { cause: err });
  }
  if (text === undefined) throw new ConfigError(`${what}: not serializable as JSON`);
  // A UTF-16 unit is at most 3 UTF-8 bytes: short text needs no count.
  if (text.length * 3 <= limit) return text;
  const bytes = Buffer.byteLength(text);
  if (bytes > limit) {
    throw new ConfigError(`${what}: ${bytes} bytes serialized, at most ${limit} allowed`);
  }
  return text;
}

/** Parses state written by {@link encodeState}; null for missing or empty. */
export function decodeState(text: string | null | undefined): JsonValue | null {
  if (text === null || text === undefined || text === '') return null;
  return JSON.parse(text) as JsonValue;
}

/** Parses a token a store returned (string, number or bigint) as a non-negative safe integer. */
export function toToken(value: unknown, what: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new StoreUnavailableError(
      `${what}: the store returned a token that is not a safe integer (${String(value)})`,
    );
  }
  return n;
}
