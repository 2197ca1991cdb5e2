/**
 * Acquiring a lease blob: take the Azure lease with the proposed lease id, then write
 * `token + 1` under it, on top of the ETag just read; or create the blob on a key's
 * first acquisition. Why each step is safe: docs/stores/azure-blob.md ("How it keeps
 * the contract").
 * @module
 */
import type { BlockBlobClient, Metadata } from '@azure/storage-blob';
import { decodeState } from '../../store-kit/index.js';
import type { AcquireRequest, AcquireResult, JsonValue } from '../../store.js';
import { dateOf, restInfo } from './errors.js';
import type { KnownLeases } from './known.js';
import { leaseMetadata, META, parseToken } from './naming.js';

/** What an acquisition needs from its store. */
export interface AcquireContext {
  /** The SDK options of one request: the caller's signal joined with the per-request timeout. */
  readonly requestOptions: (signal: AbortSignal | undefined) => { abortSignal: AbortSignal };
  /** Creates the container (answers when it already exists). */
  readonly ensureContainer: (signal: AbortSignal | undefined) => Promise<void>;
  /** Where the acquisition records its token and ETag. */
  readonly known: KnownLeases;
}

/** Attempts on a blob that keeps being created and deleted under us before giving up. */
const ATTEMPTS = 4;

function granted(token: number, state: JsonValue | null, storeTime: number | undefined): AcquireResult {
  return storeTime === undefined ? { acquired: true, token, state } : { acquired: true, token, storeTime, state };
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
  req: AcquireRequest,
  seconds: number,
  signal: AbortSignal | undefined,
): Promise<AcquireResult> {
  const lease = blob.getBlobLeaseClient(req.leaseId);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let response: { etag?: string; date?: Date };
    try {
      response = await lease.acquireLease(seconds, { ...context.requestOptions(signal) });
    } catch (err) {
      const { status, code, date } = restInfo(err);
      if (status === 409 && code === 'LeaseAlreadyPresent') return busy(date);
      if (status !== 404 || attempt === ATTEMPTS - 1) throw err;
      if (code === 'ContainerNotFound') await context.ensureContainer(signal);
      const first = await acquireFirst(context, blob, req, seconds, signal);
      if (first) return first;
      continue;
    }
    return await writeToken(context, blob, req, response, signal);
  }
  throw new Error('the lease blob kept disappearing');
}

/**
 * First acquisition of a key: create its blob, recording token 1 for this lease id.
 * If-None-Match: * makes creation race-free; the lease then taken with If-Match on the
 * new blob's ETag proves nobody wrote a token in between. Undefined when someone else
 * got there first: the ordinary path decides.
 */
async function acquireFirst(
  context: AcquireContext,
  blob: BlockBlobClient,
  req: AcquireRequest,
  seconds: number,
  signal: AbortSignal | undefined,
): Promise<AcquireResult | undefined> {
  const first = await createBlob(context, blob, req, signal);
  if (!first) return undefined;
  try {
    const options = { ...context.requestOptions(signal), conditions: { ifMatch: first.etag } };
    const response = await blob.getBlobLeaseClient(req.leaseId).acquireLease(seconds, options);
    const etag = response.etag ?? first.etag;
    context.known.remember(req.leaseId, { key: req.key, token: 1, ttlMs: req.ttlMs, etag, meta: first.meta });
    return granted(1, null, dateOf(response));
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
  req: AcquireRequest,
  signal: AbortSignal | undefined,
): Promise<{ etag: string; meta: Metadata } | null> {
  const meta = leaseMetadata(req.key, 1, req.leaseId, req.holder, req.ttlMs);
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

/** We hold the lease: read the counter, then write token + 1 under the lease. */
async function writeToken(
  context: AcquireContext,
  blob: BlockBlobClient,
  req: AcquireRequest,
  response: { etag?: string; date?: Date },
  signal: AbortSignal | undefined,
): Promise<AcquireResult> {
  const read = await blob.download(0, undefined, { ...context.requestOptions(signal) });
  const body = await readBody(read.readableStreamBody);
  const meta = read.metadata ?? {};
  const state = decodeState(body);
  const storeTime = dateOf(response);
  const previous = parseToken(meta[META.token]);
  if (meta[META.lease] === req.leaseId && previous > 0) {
    // A retry of an acquisition whose reply was lost: same lease, same token (L9).
    const etag = read.etag ?? '';
    context.known.remember(req.leaseId, { key: req.key, token: previous, ttlMs: req.ttlMs, etag, meta });
    return granted(previous, state, storeTime);
  }
  const token = previous + 1;
  const next = leaseMetadata(req.key, token, req.leaseId, req.holder, req.ttlMs);
  try {
    const conditions = { leaseId: req.leaseId, ...(read.etag ? { ifMatch: read.etag } : {}) };
    const wrote = await blob.setMetadata(next, { ...context.requestOptions(signal), conditions });
    context.known.remember(req.leaseId, { key: req.key, token, ttlMs: req.ttlMs, etag: wrote.etag ?? '', meta: next });
  } catch (err) {
    // The lease was broken (or expired) between our steps and someone else wrote.
    // Let go of whatever is left of it, so it does not sit there until it expires.
    const { status } = restInfo(err);
    if (status === 412 || status === 409) {
      await blob
        .getBlobLeaseClient(req.leaseId)
        .releaseLease({ ...context.requestOptions(signal) })
        .catch(() => {});
      return { acquired: false };
    }
    throw err;
  }
  return granted(token, state, storeTime);
}

/** Reads a downloaded blob's content as UTF-8 text. */
export async function readBody(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
