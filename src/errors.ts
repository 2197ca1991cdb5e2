/**
 * Error classes. Every error leasehold throws or reports is a {@link LeaseholdError}
 * with a stable `code` callers can branch on; the original error, when there is one,
 * is kept as `cause`.
 *
 * @module
 */

/** Stable error codes; one per subclass. */
export type LeaseholdErrorCode =
  | 'LEASE_LOST'
  | 'ACQUIRE_TIMEOUT'
  | 'STORE_UNAVAILABLE'
  | 'CONFIG'
  | 'STALE_TOKEN'
  | 'LEASEHOLD';

/** Base class of every leasehold error. `code` is stable across versions; messages are not. */
export class LeaseholdError extends Error {
  /** Stable machine-readable code. */
  readonly code: LeaseholdErrorCode;

  constructor(message: string, options?: { cause?: unknown; code?: LeaseholdErrorCode }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = options?.code ?? 'LEASEHOLD';
    this.name = new.target.name;
  }
}

/**
 * The lease is no longer ours: a renewal did not succeed before the holder-side
 * deadline, or the store answered that someone else holds the key. This is the
 * `reason` of an aborted {@link Lease.signal}.
 */
export class LeaseLostError extends LeaseholdError {
  /** The key whose lease was lost. */
  readonly key: string;
  /** The fencing token of the lost lease. */
  readonly token: number;

  constructor(key: string, token: number, detail: string, options?: { cause?: unknown }) {
    super(`lease on "${key}" (token ${token}) lost: ${detail}`, { ...options, code: 'LEASE_LOST' });
    this.key = key;
    this.token = token;
  }
}

/** {@link Leasehold.acquire} waited its whole `wait` without getting the lease. */
export class AcquireTimeoutError extends LeaseholdError {
  /** The key that could not be acquired. */
  readonly key: string;
  /** The holder that had the key at the last attempt, when the store knows it. */
  readonly currentHolder: string | undefined;

  constructor(key: string, waitedMs: number, currentHolder?: string, options?: { cause?: unknown }) {
    super(`could not acquire "${key}" within ${waitedMs}ms${currentHolder ? `: held by ${currentHolder}` : ''}`, {
      ...options,
      code: 'ACQUIRE_TIMEOUT',
    });
    this.key = key;
    this.currentHolder = currentHolder;
  }
}

/**
 * The store could not be reached or did not answer in time. Distinct from "busy":
 * nothing is known about who holds the key.
 */
export class StoreUnavailableError extends LeaseholdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'STORE_UNAVAILABLE' });
  }
}

/** An option, key, duration or URL is invalid. Thrown at construction, never later. */
export class ConfigError extends LeaseholdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'CONFIG' });
  }
}

/**
 * A fenced resource refused a write: a higher token was already seen for it, so the
 * writer's lease is no longer current (see docs/fencing.md). Nothing was written.
 */
export class StaleTokenError extends LeaseholdError {
  /** The fenced resource (a row name, a Redis key, a blob, a lease key). */
  readonly resource: string;
  /** The token the write carried. */
  readonly token: number;
  /** The highest token the resource had seen, when it said. */
  readonly highest: number | undefined;

  constructor(resource: string, token: number, highest?: number, options?: { cause?: unknown }) {
    const seen = highest === undefined ? 'a higher one' : `token ${highest}`;
    super(`stale token ${token} for "${resource}": the resource has seen ${seen}`, {
      ...options,
      code: 'STALE_TOKEN',
    });
    this.resource = resource;
    this.token = token;
    this.highest = highest;
  }
}

/** True for errors that mean "the store could not be reached", as opposed to a logic error. */
export function isStoreUnavailable(err: unknown): err is StoreUnavailableError {
  return err instanceof StoreUnavailableError;
}
