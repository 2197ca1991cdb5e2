/**
 * The Azure Blob store's options and the checks of what its callers pass: options once
 * at construction (B1), TTLs and lease ids on every call. Table: docs/stores/azure-blob.md.
 * @module
 */
import type { ContainerClient } from '@azure/storage-blob';
import { ConfigError } from '../../errors.js';
import { requireOptions } from '../../store-kit/index.js';
import { checkBlobPrefix } from './naming.js';

/** Options of {@link AzureBlobStore}. Give either `containerClient`, or `connectionString` and `containerName`. */
export interface AzureBlobStoreOptions {
  /**
   * A container client built with any credential (connection string, SAS, an
   * `@azure/identity` token credential). The store never closes it. Its retry policy is
   * yours: every request still gets the operation's `AbortSignal`, so the core's
   * per-request timeout bounds it, but prefer `retryOptions: { maxTries: 1 }` or a short
   * `tryTimeoutInMs` so retries do not run into a lease's deadline.
   */
  containerClient?: ContainerClient;
  /**
   * A storage connection string (`AccountName=…;AccountKey=…`, `…;SharedAccessSignature=…`,
   * or `UseDevelopmentStorage=true` for Azurite on its default port). Used when
   * `containerClient` is not given. Never shown in errors.
   */
  connectionString?: string;
  /** The container, with `connectionString`. Created on first use when missing. */
  containerName?: string;
  /**
   * Prefix of every lease blob's name. A trailing `/` makes it a virtual folder.
   * @defaultValue `'leasehold/'`
   */
  prefix?: string;
  /**
   * Client-side timeout of each request: the store aborts a request that has no answer
   * by then, on every client (a user-passed one too). The SDK's own `tryTimeoutInMs` is
   * only a server-side hint and does not end a request whose connection went silent.
   * Every request is also bounded by the operation's `AbortSignal`.
   * @defaultValue 10000
   */
  requestTimeoutMs?: number;
  /**
   * Tries per request, for clients the store builds. The core already retries an
   * acquire once (with the same lease id) and renews about every ttl/3, so one try is
   * enough; more tries only lengthen a failure.
   * @defaultValue 1
   */
  maxTries?: number;
}

const OPTION_NAMES = ['containerClient', 'connectionString', 'containerName', 'prefix', 'requestTimeoutMs', 'maxTries'];
/** Azure's shortest finite lease duration. */
export const MIN_TTL_MS = 15_000;
/** Azure's longest finite lease duration. */
export const MAX_TTL_MS = 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Checks a TTL against Azure's lease durations; returns it in seconds. @throws ConfigError */
export function checkStoreTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS || ttlMs % 1000 !== 0) {
    throw new ConfigError(`ttl: ${ttlMs}ms is not a lease duration Azure Blob Storage allows (whole seconds, 15s–60s)`);
  }
  return ttlMs / 1000;
}

/** Checks a proposed lease id: Azure takes GUIDs only. @throws ConfigError */
export function checkLeaseId(id: string): void {
  if (typeof id !== 'string' || !UUID.test(id)) {
    throw new ConfigError(
      `azure-blob store: leaseId must be a UUID (Azure proposed lease ids are GUIDs), got ${JSON.stringify(id)}`,
    );
  }
}

/** The options after checking, with their defaults. */
export interface CheckedOptions {
  readonly prefix: string;
  readonly requestTimeoutMs: number;
  readonly maxTries: number;
}

/**
 * Checks the options that every form of the store shares: names, prefix, timeout, tries.
 * @throws ConfigError naming the option and the value
 */
export function checkOptions(options: AzureBlobStoreOptions): CheckedOptions {
  requireOptions('azure-blob store', options, OPTION_NAMES, '(containerClient, or connectionString and containerName)');
  const prefix = checkBlobPrefix(options.prefix);
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const maxTries = options.maxTries ?? 1;
  if (!Number.isFinite(requestTimeoutMs) || requestTimeoutMs <= 0) {
    const got = options.requestTimeoutMs;
    throw new ConfigError(`azure-blob store: requestTimeoutMs must be a positive number, got ${got}`);
  }
  if (!Number.isInteger(maxTries) || maxTries < 1 || maxTries > 10) {
    throw new ConfigError(`azure-blob store: maxTries must be an integer from 1 to 10, got ${options.maxTries}`);
  }
  return Object.freeze({ prefix, requestTimeoutMs, maxTries });
}
