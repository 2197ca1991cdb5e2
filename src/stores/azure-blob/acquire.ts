/**
 * Acquiring a lease blob: take the Azure lease with the proposed lease id, then write
 * `token + 1` and the mark under it, on top of the ETag of the version it learned the
 * counter from; or create the blob on a key's first acquisition. Why each step is safe:
 * docs/stores/azure-blob.md ("How it keeps the contract").
 * @module
 */
import type { BlockBlobClient, Metadata } from '@azure/storage-blob';
import { decodeState } from '../../store-kit/index.js';
import type { AcquireRequest, AcquireResult } from '../../store.js';
import { dateOf, restInfo } from './errors.js';
import type { BlobVersion, BlobVersions, KnownLeases } from './known.js';
import { grantMetadata, leaseMetadata, META, markOf, markTextOf, parseToken } from './naming.js';

/** What an acquisition needs from its store. */
export interface AcquireContext {
  /** The SDK options of one request: the caller's signal joined with the per-request timeout. */
  readonly requestOptions: (signal: AbortSignal | undefined) => { abortSignal: AbortSignal };
  /** Creates the container (answers when it already exists). */
  readonly ensureContainer: (signal: AbortSignal | undefined) => Promise<void>;
  /** Where the acquisition records its token and ETag. */
  readonly known: KnownLeases;
  /** The blob versions this store wrote or read last: a match spares the read. */
  readonly versions: BlobVersions;
}

/** What one acquisition asks for: the request, its lease duration and its mark's JSON text. */
export interface Acquisition {
  readonly req: AcquireRequest;
  readonly seconds: number;
  readonly markText: string | undefined;
}

/** Attempts on a blob that keeps being created and deleted under us before giving up. */
const ATTEMPTS = 4;

function granted(token: number, previous: Metadata, body: string, storeTime: number | undefined): AcquireResult {
  const answer = { acquired: true as const, token, state: decodeState(body), mark: markOf(previous) };
  return storeTime === undefined ? answer : { ...answer, storeTime };
}

function busy(storeTime: number | undefined): AcquireResult {
  return storeTime === undefined ? { acquired: false } : { acquired: false, storeTime };
}

/**
 * Acquires `req.key`'s lease blob for `seconds` (a lease duration Azure allows).
 * Throws the SDK's errors as they are; the store maps them.
 */
export async function acquireBlob(
  context: AcquireContext,
  blob: BlockBlobClient,
  acquisition: Acquisition,
  signal: AbortSignal | undefined,
): Promise<AcquireResult> {
  const lease = blob.getBlobLeaseClient(acquisition.req.leaseId);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let response: { etag?: string; date?: Date };
    try {
      response = await lease.acquireLease(acquisition.seconds, { ...context.requestOptions(signal) });
    } catch (err) {
      const { status, code, date } = restInfo(err);
      if (status === 409 && code === 'LeaseAlreadyPresent') return busy(date);
      if (status !== 404 || attempt === ATTEMPTS - 1) throw err;
      if (code === 'ContainerNotFound') await context.ensureContainer(signal);
      const first = await acquireFirst(context, blob, acquisition, signal);
      if (first) return first;
      continue;
    }
    return await writeToken(context, blob, acquisition, response, signal);
  }
  throw new Error('the lease blob kept disappearing');
}

/**
 * First acquisition of a key: create its blob, recording token 1 for this lease id (and
 * the mark). If-None-Match: * makes creation race-free; the lease then taken with
 * If-Match on the new blob's ETag proves nobody wrote a token in between. Undefined when
 * someone else got there first: the ordinary path decides.
 */
async function acquireFirst(
  context: AcquireContext,
  blob: BlockBlobClient,
  acquisition: Acquisition,
  signal: AbortSignal | undefined,
): Promise<AcquireResult | undefined> {
  const { req } = acquisition;
  const first = await createBlob(context, blob, acquisition, signal);
  if (!first) return undefined;
  try {
    const options = { ...context.requestOptions(signal), conditions: { ifMatch: first.etag } };
    const response = await blob.getBlobLeaseClient(req.leaseId).acquireLease(acquisition.seconds, options);
    const etag = response.etag ?? first.etag;
    context.known.remember(req.leaseId, { key: req.key, token: 1, ttlMs: req.ttlMs, etag, meta: first.meta });
    context.versions.remember(blob.name, { etag, meta: first.meta, body: '' });
    return granted(1, {}, '', dateOf(response));
  } catch (err) {
    const { status, code, date } = restInfo(err);
    if (status === 409 && code === 'LeaseAlreadyPresent') return busy(date);
    if (status === 412 || status === 404) return undefined; // someone acquired and wrote first
    throw err;
  }
}

/** Creates the key's blob if it does not exist; null when it already did. */
async function createBlob(
  context: AcquireContext,
  blob: BlockBlobClient,
  { req, markText }: Acquisition,
  signal: AbortSignal | undefined,
): Promise<{ etag: string; meta: Metadata } | null> {
  const meta = grantMetadata(leaseMetadata(req.key, 1, req.leaseId, req.holder, req.ttlMs), {}, markText);
  try {
    const options = { ...context.requestOptions(signal), metadata: meta, conditions: { ifNoneMatch: '*' } };
    const response = await blob.upload('', 0, options);
    return { etag: response.etag ?? '', meta };
  } catch (err) {
    const { status } = restInfo(err);
    if (status === 409 || status === 412) return null; // created meanwhile (and maybe leased)
    throw err;
  }
}

/** Reads the blob's current version (content, metadata, ETag): one Get Blob. */
export async function readVersion(
  blob: BlockBlobClient,
  options: { abortSignal: AbortSignal },
): Promise<BlobVersion & { leaseState: string | undefined }> {
  const read = await blob.download(0, undefined, options);
  const body = await readBody(read.readableStreamBody);
  return { etag: read.etag ?? '', meta: read.metadata ?? {}, body, leaseState: read.leaseState };
}

/**
 * We hold the lease: learn the counter — from the version this store last wrote or read
 * when the lease answer shows that same ETag (nobody wrote since, and nobody else can
 * while we hold the lease), else by reading the blob — then write token + 1 and the
 * mark under the lease, on top of exactly that version (If-Match).
 */
async function writeToken(
  context: AcquireContext,
  blob: BlockBlobClient,
  { req, markText }: Acquisition,
  response: { etag?: string; date?: Date },
  signal: AbortSignal | undefined,
): Promise<AcquireResult> {
  const version =
    context.versions.match(blob.name, response.etag) ?? (await readVersion(blob, context.requestOptions(signal)));
  const { meta, body } = version;
  const storeTime = dateOf(response);
  const previous = parseToken(meta[META.token]);
  // A retry of an acquisition whose reply was lost: same lease, same token (L9); the mark
  // is written again only if it differs from the one the first attempt wrote.
  const retry = meta[META.lease] === req.leaseId && previous > 0;
  const token = retry ? previous : previous + 1;
  if (retry && (markText === undefined || markTextOf(meta) === markText)) {
    context.known.remember(req.leaseId, { key: req.key, token, ttlMs: req.ttlMs, etag: version.etag, meta });
    context.versions.remember(blob.name, version);
    return granted(token, meta, body, storeTime);
  }
  const next = grantMetadata(leaseMetadata(req.key, token, req.leaseId, req.holder, req.ttlMs), meta, markText);
  try {
    const conditions = { leaseId: req.leaseId, ...(version.etag ? { ifMatch: version.etag } : {}) };
    const wrote = await blob.setMetadata(next, { ...context.requestOptions(signal), conditions });
    const etag = wrote.etag ?? '';
    context.known.remember(req.leaseId, { key: req.key, token, ttlMs: req.ttlMs, etag, meta: next });
    context.versions.remember(blob.name, { etag, meta: next, body });
  } catch (err) {
    // The lease was broken (or expired) between our steps and someone else wrote.
    // Let go of whatever is left of it, so it does not sit there until it expires.
    const { status } = restInfo(err);
    if (status === 412 || status === 409) {
      context.versions.forget(blob.name);
      await blob
        .getBlobLeaseClient(req.leaseId)
        .releaseLease({ ...context.requestOptions(signal) })
        .catch(() => {});
      return { acquired: false };
    }
    throw err;
  }
  return granted(token, meta, body, storeTime);
}

/** Reads a downloaded blob's content as UTF-8 text. */
export async function readBody(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
