/**
 * The fence on Azure Blob Storage: the highest token lives in the blob's metadata, and
 * every write is conditional on the ETag that was read (`If-Match`, or `If-None-Match: *`
 * for a new blob), so a check and its write cannot be split by another writer; a
 * precondition failure means someone wrote in between, and the write is judged again.
 * docs/fencing.md, "Azure Blob".
 * @module
 */
import { StoreUnavailableError } from '../errors.js';
import { throwIfAborted } from '../store-kit/index.js';
import { checkResource, checkToken, enforce, type FenceCallOptions, PrefixedFence } from './common.js';
import type { FenceVerdict } from './common.js';

/** Metadata name of the highest token (metadata names must be C# identifiers). */
export const TOKEN_METADATA = 'leaseholdtoken';

/** Precondition failed (ETag moved) or, for `If-None-Match: *`, the blob now exists. */
const RACED = new Set([409, 412]);
/** Tries before giving up: each retry means another writer committed, so this is rare. */
const MAX_ATTEMPTS = 20;

/** Request options the SDK takes, as far as the fence sets them. */
interface BlobRequestOptions {
  abortSignal?: AbortSignal;
  metadata?: Record<string, string>;
  conditions?: { ifMatch?: string; ifNoneMatch?: string };
}

/** What the fence needs of a `BlockBlobClient` from `@azure/storage-blob`. Typed structurally. */
export interface FenceBlobClient {
  /** The blob's name, for messages. */
  readonly name: string;
  /** Reads the ETag and metadata. */
  getProperties(options?: BlobRequestOptions): Promise<{ etag?: string; metadata?: Record<string, string> }>;
  /** Replaces the blob's content and metadata. */
  upload(body: string | Buffer, contentLength: number, options?: BlobRequestOptions): Promise<{ etag?: string }>;
}

/** Options of {@link fencedUpload}. */
export interface FencedUploadOptions extends FenceCallOptions {
  /** More metadata to store with the blob (the token's entry is added). */
  metadata?: Record<string, string>;
}

const statusOf = (err: unknown) => (err as { statusCode?: unknown } | undefined)?.statusCode;

/**
 * Writes `body` to the blob unless its metadata holds a higher token; says which,
 * without throwing for a stale token.
 */
export async function tryFencedUpload(
  blob: FenceBlobClient,
  body: string | Buffer,
  token: number,
  options: FencedUploadOptions = {},
): Promise<FenceVerdict & { etag?: string }> {
  checkToken(token);
  const signal = options.signal;
  const request = signal ? { abortSignal: signal } : {};
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    throwIfAborted(signal, `fenced upload "${blob.name}"`);
    let etag: string | undefined;
    let seen = -1;
    try {
      const properties = await blob.getProperties(request);
      etag = properties.etag;
      seen = Number(properties.metadata?.[TOKEN_METADATA] ?? -1);
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    if (token < seen) return { accepted: false, highest: seen };
    const conditions = etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: etag };
    const metadata = { ...options.metadata, [TOKEN_METADATA]: String(token) };
    try {
      const written = await blob.upload(body, Buffer.byteLength(body), { ...request, metadata, conditions });
      return written.etag === undefined
        ? { accepted: true, highest: token }
        : { accepted: true, highest: token, etag: written.etag };
    } catch (err) {
      if (!RACED.has(statusOf(err) as number)) throw err;
    }
  }
  throw new StoreUnavailableError(`fenced upload "${blob.name}": the blob kept changing (${MAX_ATTEMPTS} tries)`);
}

/**
 * Writes `body` to the blob with fencing: refused when a higher token was already
 * written to it.
 *
 * @example
 * ```ts
 * await fencedUpload(container.getBlockBlobClient('report.json'), json, ctx.token);
 * ```
 * @throws StaleTokenError when a higher token was seen; nothing is written
 */
export async function fencedUpload(
  blob: FenceBlobClient,
  body: string | Buffer,
  token: number,
  options?: FencedUploadOptions,
): Promise<FenceVerdict & { etag?: string }> {
  const verdict = await tryFencedUpload(blob, body, token, options);
  enforce(blob.name, token, verdict);
  return verdict;
}

/** What {@link AzureBlobFence} needs of a `ContainerClient`. */
export interface FenceContainerClient {
  /** A client for one block blob of the container. */
  getBlockBlobClient(name: string): FenceBlobClient;
}

/**
 * A {@link FenceStore} on an Azure Blob container: one empty blob per resource, at
 * `prefix + resource`, its metadata holding the highest token.
 */
export class AzureBlobFence extends PrefixedFence<FenceContainerClient> {
  /** A fence in `container` (which must exist). @defaultValue prefix `'leasehold-fence/'` */
  constructor(container: FenceContainerClient, options: { prefix?: string } = {}) {
    super(container, options.prefix ?? 'leasehold-fence/');
  }

  advance(resource: string, token: number, options?: FenceCallOptions): Promise<FenceVerdict> {
    const blob = this.client.getBlockBlobClient(this.prefix + checkResource(resource));
    return tryFencedUpload(blob, '', token, options);
  }
}
