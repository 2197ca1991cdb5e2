/**
 * What every fence shares: the verdict of one fenced write, the {@link FenceStore} the
 * HTTP middleware plugs in, and the checks of a resource name and a token. Why fencing
 * is needed at all: docs/fencing.md.
 * @module
 */
import { ConfigError, StaleTokenError } from '../errors.js';

/** What a fence said to one token. */
export interface FenceVerdict {
  /** True when the token was not lower than the highest seen, and is now recorded. */
  readonly accepted: boolean;
  /** The highest token seen for the resource after this call (this token when accepted). */
  readonly highest: number;
}

/** Options of one fenced call. */
export interface FenceCallOptions {
  /** Gives up (rejects) as soon as it aborts; a write already sent may still land. */
  signal?: AbortSignal;
}

/**
 * Somewhere that remembers, per resource, the highest token seen, and advances it
 * atomically: the storage behind the HTTP middleware. {@link MemoryFence} and the fences
 * on PostgreSQL, MySQL, Redis and Azure Blob implement it.
 */
export interface FenceStore {
  /**
   * Records `token` for `resource` unless a higher token was already recorded, in one
   * atomic step. An equal token is accepted (the same lease writing again).
   */
  advance(resource: string, token: number, options?: FenceCallOptions): Promise<FenceVerdict>;
}

/**
 * A {@link FenceStore} that keeps each resource's token under a name prefix on a client
 * of its own (Redis, Azure Blob).
 */
export abstract class PrefixedFence<Client> implements FenceStore {
  /** The client the tokens live on. */
  protected readonly client: Client;
  /** Prepended to every resource name. */
  readonly prefix: string;

  /** Keeps tokens on `client`, under `prefix`. */
  constructor(client: Client, prefix: string) {
    this.client = client;
    this.prefix = prefix;
  }

  /** As {@link FenceStore.advance}. */
  abstract advance(resource: string, token: number, options?: FenceCallOptions): Promise<FenceVerdict>;
}

/** Checks a fencing token: a non-negative safe integer, as every store issues. @throws ConfigError */
export function checkToken(token: unknown): number {
  if (typeof token !== 'number' || !Number.isSafeInteger(token) || token < 0) {
    throw new ConfigError(`token: must be a non-negative safe integer (a lease's token), got ${String(token)}`);
  }
  return token;
}

/** Checks a resource name: a non-empty string. @throws ConfigError */
export function checkResource(resource: unknown): string {
  if (typeof resource !== 'string' || resource.length === 0) {
    throw new ConfigError(`resource: must be a non-empty string, got ${JSON.stringify(resource)}`);
  }
  return resource;
}

/** Returns an accepted verdict; throws for a refused one. @throws StaleTokenError */
export function enforce(resource: string, token: number, verdict: FenceVerdict): FenceVerdict {
  if (!verdict.accepted) throw new StaleTokenError(resource, token, verdict.highest);
  return verdict;
}

/**
 * Advances `resource` on `store` and throws when the token is stale: the one call a
 * writer makes before touching a resource that has no fence of its own.
 * @throws StaleTokenError when a higher token was seen
 */
export async function checkFence(
  store: FenceStore,
  resource: string,
  token: number,
  options?: FenceCallOptions,
): Promise<FenceVerdict> {
  return enforce(resource, token, await store.advance(checkResource(resource), checkToken(token), options));
}
