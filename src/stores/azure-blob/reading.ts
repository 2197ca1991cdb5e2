/**
 * Reading lease blobs back as records: one blob (`inspect`), and every blob under a
 * prefix from one listing (`list`, `inspectAll`). What a listing carries and what it
 * does not: docs/stores/azure-blob.md ("inspectAll").
 * @module
 */
import type { ContainerClient, Metadata } from '@azure/storage-blob';
import { decodeState } from '../../store-kit/index.js';
import type { LeaseRecord } from '../../store.js';
import { restInfo } from './errors.js';
import { blobNameToKey, decodeMeta, META, markOf, parseToken } from './naming.js';
import { MAX_TTL_MS } from './options.js';

/** One lease blob as a listing shows it: everything but its content. */
export interface ListedBlob {
  readonly key: string;
  readonly name: string;
  readonly meta: Metadata;
  readonly leaseState: string | undefined;
  /** Bytes of content: 0 when no state was ever written. */
  readonly contentLength: number;
}

/**
 * A key's record from its blob's metadata, lease state and content; null when the blob
 * carries no token (not a lease blob, or one never acquired through a store).
 */
export function recordOf(
  key: string,
  meta: Metadata,
  leaseState: string | undefined,
  body: string,
): LeaseRecord | null {
  const token = parseToken(meta[META.token]);
  if (token === 0) return null;
  const held = leaseState === 'leased';
  const ttl = Number(meta[META.ttl]);
  return {
    key,
    holder: held ? decodeMeta(meta[META.holder]) : null,
    token,
    // Azure does not say how long a lease has left: its duration is an upper bound.
    expiresInMs: held ? (Number.isFinite(ttl) && ttl > 0 ? ttl : MAX_TTL_MS) : null,
    state: decodeState(body),
    mark: markOf(meta),
  };
}

/** Blob names start with the escaped key, and characters that are never escaped map to themselves. */
const PLAIN_HEAD = /^[A-Za-z0-9_-]*/;

/**
 * The lease blobs under the store's `prefix` whose key starts with `want`, from List
 * Blobs with metadata (one request per 1000 blobs). The listing is narrowed on the
 * service by the part of `want` that escaping leaves as it is, then filtered by key.
 * A missing container lists nothing.
 */
export async function* leaseBlobs(
  container: ContainerClient,
  prefix: string,
  want: string,
  requestOptions: { abortSignal: AbortSignal },
): AsyncGenerator<ListedBlob> {
  const plain = PLAIN_HEAD.exec(want)?.[0] ?? '';
  const listing = { prefix: prefix + plain, includeMetadata: true, ...requestOptions };
  try {
    for await (const page of container.listBlobsFlat(listing).byPage({ maxPageSize: 1000 })) {
      for (const item of page.segment.blobItems) {
        const meta = item.metadata ?? {};
        if (parseToken(meta[META.token]) === 0) continue;
        const key =
          meta[META.key] !== undefined ? decodeMeta(meta[META.key]) : blobNameToKey(item.name.slice(prefix.length));
        if (!key?.startsWith(want)) continue;
        const { leaseState, contentLength } = item.properties;
        yield { key, name: item.name, meta, leaseState, contentLength: contentLength ?? 0 };
      }
    }
  } catch (err) {
    const { status, code } = restInfo(err);
    if (status === 404 && code === 'ContainerNotFound') return;
    throw err;
  }
}

/** Blobs read at once for their content by {@link recordsOf} (the listing carries everything else). */
const READ_CONCURRENCY = 8;

/**
 * The records of listed blobs: from the listing alone for a blob without content (no
 * state was ever written), from `read` (one Get Blob, the whole record from its answer,
 * so each record is consistent in itself) for the others.
 */
export async function recordsOf(
  listing: AsyncIterable<ListedBlob>,
  read: (listed: ListedBlob) => Promise<LeaseRecord | null>,
): Promise<LeaseRecord[]> {
  const records: LeaseRecord[] = [];
  const withState: ListedBlob[] = [];
  for await (const listed of listing) {
    if (listed.contentLength > 0) withState.push(listed);
    else {
      const record = recordOf(listed.key, listed.meta, listed.leaseState, '');
      if (record) records.push(record);
    }
  }
  for (let start = 0; start < withState.length; start += READ_CONCURRENCY) {
    const batch = await Promise.all(withState.slice(start, start + READ_CONCURRENCY).map(read));
    for (const record of batch) if (record) records.push(record);
  }
  return records;
}
