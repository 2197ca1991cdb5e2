/**
 * Helpers for store implementations: state encoding and error mapping. Exported from
 * `leasehold/testing` too, for third-party stores.
 * @module
 */
import { ConfigError, LeaseholdError, StoreUnavailableError } from '../errors.js';
import { redactText } from '../store-kit/index.js';
import type { JsonValue } from '../store.js';

/** Largest serialized fenced state a store must accept, in bytes. */
export const MAX_STATE_BYTES = 64 * 1024;

/** Serializes fenced state, enforcing {@link MAX_STATE_BYTES}. @throws ConfigError when too large or not JSON. */
export function encodeState(state: JsonValue): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(state);
  } catch (err) {
    throw new ConfigError(`state: not serializable as JSON (${(err as Error).message})`, { cause: err });
  }
  if (text === undefined) throw new ConfigError('state: not serializable as JSON');
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_STATE_BYTES) throw new ConfigError(`state: ${bytes} bytes serialized, at most ${MAX_STATE_BYTES} allowed`);
  return text;
}

/** Parses state written by {@link encodeState}; null for missing or empty. */
export function decodeState(text: string | null | undefined): JsonValue | null {
  if (text === null || text === undefined || text === '') return null;
  return JSON.parse(text) as JsonValue;
}

/**
 * Wraps an error from a store's client as `StoreUnavailableError` (unless it already is
 * a leasehold error), with `secrets` masked out of the message.
 */
export function unavailable(what: string, err: unknown, secrets: readonly (string | undefined)[] = []): LeaseholdError {
  if (err instanceof LeaseholdError) return err;
  const msg = err instanceof Error ? err.message || (err as { code?: string }).code || err.name : String(err);
  return new StoreUnavailableError(`${what}: ${redactText(msg, secrets)}`, { cause: err });
}

/** Rejects with the signal's reason when it has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new StoreUnavailableError(`${what}: aborted`, { cause: signal.reason });
}
