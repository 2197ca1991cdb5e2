/**
 * `leasehold/azure-blob` — leases on Azure Blob Storage, using the service's own blob
 * leases: the store the project grew from.
 *
 * ## How it works
 *
 * Each key is one block blob, `<prefix><escaped key>` (see {@link keyToBlobName}).
 *
 * - **The lease** is an Azure blob lease whose id is the acquisition's `leaseId` (a
 *   UUID the client proposes), so Azure itself judges exclusivity and expiry, on its
 *   own clock. A retried acquire with the same proposed id gets the same lease back
 *   (Azure answers an acquire with the current lease id as a success), which is L9.
 * - **The fencing token** is a counter in the blob's metadata (`leaseholdtoken`), next
 *   to the `leaseId` that was given that token (`leaseholdlease`). After getting the
 *   lease, acquire reads the metadata and writes `token + 1` with the lease id *and*
 *   the ETag it read as conditions: only the lease holder can write, and only on top of
 *   what it read. If the metadata already names this `leaseId`, the acquire is a retry
 *   of one whose reply was lost, and the recorded token is returned instead of a new
 *   one (a token its holder never received, and still the highest issued: any other
 *   acquisition writes a higher one with its own lease id). The counter lives in the
 *   blob, so it survives release, expiry and restarts.
 * - **Fenced state** is the blob's content, written with Put Blob under the lease id and
 *   the last ETag this lease saw; the metadata (token, lease id, holder) is written
 *   back unchanged with it.
 * - **Renew, release and fenced writes** check the lease twice: Azure checks the lease
 *   id, and an `If-Match` on the blob's ETag proves that no other acquisition has
 *   written a token since this lease wrote its own. The ETag is remembered from this
 *   lease's own responses; when it is not known (another store instance) or no longer
 *   matches (this lease wrote state meanwhile), the store reads the metadata once,
 *   checks that it names this lease and token, and retries with that ETag. So the
 *   store never depends on how the service treats a renewal of an *expired* lease by a
 *   different lease id — Azurite accepts it, Azure rejects it.
 *
 * ## Requests per operation
 *
 * | operation | requests |
 * | --- | --- |
 * | acquire, key busy | 1 (Acquire Lease → 409) |
 * | acquire, granted | 3 (Acquire Lease, Get Blob, Set Metadata) |
 * | acquire, retry of a granted acquire | 2 |
 * | acquire, first ever on a key | 3 (Acquire Lease → 404, Put Blob if-none-match, Acquire Lease if-match) + 1 if the container must be created |
 * | renew, release, writeState | 1 (2 when this instance did not acquire the lease or wrote meanwhile) |
 * | inspect | 1 (Get Blob) |
 * | now | 1 (Get Container Properties; its `Date` header) |
 * | forceRelease | 3 (Get Properties, Break Lease, Set Metadata) |
 *
 * ## Limits
 *
 * - TTLs are whole seconds from 15 s to 60 s (Azure's lease durations). Any other TTL
 *   is a `ConfigError`; nothing is rounded. Infinite leases are not offered.
 * - `now()` is the `Date` header: whole seconds, truncated, so it lags the service's
 *   clock by up to 1 s — never runs ahead of it. The store says so
 *   (`clockResolutionMs: 1000`) and the scheduler refines its estimate with a few reads
 *   at different phases of the second.
 * - `inspect().expiresInMs` is the lease's duration, an upper bound: Azure does not
 *   report the time left on a lease.
 * - Do not delete lease blobs: the token counter lives in them.
 * - Releasing a lease that expired while nobody else acquired the key may answer
 *   `true` (Azure lets its lease id release it); nothing else changes. The core never
 *   relies on that answer: it treats a lease past its holder-side deadline as lost.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { ContainerClient, Metadata, StoragePipelineOptions } from '@azure/storage-blob';
import { ConfigError, LeaseholdError, StoreUnavailableError } from '../../errors.js';
import { redactText, redactUrl } from '../../store-kit/index.js';
import type {
  AcquireRequest,
  AcquireResult,
  LeaseRecord,
  LeaseRef,
  LeaseStore,
  RenewRequest,
  StoreCapabilities,
  StoreOpOptions,
  WriteStateRequest,
} from '../../store.js';
import { decodeState, encodeState, throwIfAborted, unavailable } from '../util.js';

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

/** What the store remembers about a lease it acquired or checked: saves a read on renew, release and writes. */
interface Known {
  key: string;
  token: number;
  ttlMs: number;
  /** The blob's ETag as of this lease's last response. */
  etag: string;
  /** The blob's metadata as this lease wrote it. */
  meta: Metadata;
}

/** Metadata names (lower case, as the service returns them). */
const M = {
  token: 'leaseholdtoken',
  lease: 'leaseholdlease',
  holder: 'leaseholdholder',
  ttl: 'leaseholdttl',
  key: 'leaseholdkey',
} as const;

const DEFAULT_PREFIX = 'leasehold/';
const MIN_TTL_MS = 15_000;
const MAX_TTL_MS = 60_000;
const MAX_KNOWN = 1000;
/** Escaped keys longer than this are shortened with a hash (blob names allow 1024 characters). */
const MAX_ENCODED = 480;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SDK = '@azure/storage-blob';

/**
 * Maps a key to the part of a blob name after the prefix. Percent-encoding
 * (`encodeURIComponent`, plus `!'()*~`), so `/` never creates a virtual folder and the
 * name is the same on every tool; a leading or trailing `.` is escaped too (`%2E`), so
 * no name is a dot segment or ends with a dot. Escaped keys longer than 480 characters
 * become their first 200 escaped characters, `~`, and the SHA-256 of the key; the key
 * itself is then kept in the blob's metadata.
 *
 * @throws ConfigError when the key is not valid UTF-16 (a lone surrogate), which no blob name can hold.
 */
export function keyToBlobName(key: string): string {
  let enc: string;
  try {
    enc = encodeURIComponent(key).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch (err) {
    throw new ConfigError(`azure-blob store: key ${JSON.stringify(key)} cannot be mapped to a blob name (it is not valid UTF-16)`, { cause: err });
  }
  if (enc === '') throw new ConfigError('azure-blob store: key must be a non-empty string');
  if (enc.startsWith('.')) enc = `%2E${enc.slice(1)}`;
  if (enc.endsWith('.')) enc = `${enc.slice(0, -1)}%2E`;
  if (enc.length > MAX_ENCODED) {
    const head = enc.slice(0, 200).replace(/%[0-9A-F]?$/, '');
    enc = `${head}~${createHash('sha256').update(key).digest('hex')}`;
  }
  return enc;
}

/** Inverse of {@link keyToBlobName}; undefined for hashed (long) names and names it did not make. */
export function blobNameToKey(name: string): string | undefined {
  if (name.includes('~')) return undefined;
  try {
    const key = decodeURIComponent(name);
    return keyToBlobName(key) === name ? key : undefined;
  } catch {
    return undefined;
  }
}

/** The parts of an SDK error the store branches on. */
function restInfo(err: unknown): { status: number | undefined; code: string | undefined; date: number | undefined } {
  const e = err as { statusCode?: number; code?: string; details?: { errorCode?: string }; response?: { headers?: { get?(n: string): string | undefined } } };
  const status = typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  const code = e?.details?.errorCode ?? (typeof e?.code === 'string' ? e.code : undefined);
  const d = e?.response?.headers?.get?.('date');
  const t = d ? Date.parse(d) : Number.NaN;
  return { status, code, date: Number.isFinite(t) ? t : undefined };
}

function dateOf(res: { date?: Date | undefined }): number | undefined {
  const t = res.date?.getTime();
  return t !== undefined && Number.isFinite(t) ? t : undefined;
}

/** Parses a connection string into its `Key=Value` parts (keys lower-cased). */
function parseConnectionString(cs: string): Map<string, string> {
  const parts = new Map<string, string>();
  for (const seg of cs.split(';')) {
    if (seg.trim() === '') continue;
    const eq = seg.indexOf('=');
    if (eq <= 0) throw new ConfigError(`azure-blob store: connectionString is malformed: "${redactText(seg.slice(0, 40))}" is not Key=Value (expected AccountName=…;AccountKey=…;BlobEndpoint=…, or UseDevelopmentStorage=true)`);
    parts.set(seg.slice(0, eq).trim().toLowerCase(), seg.slice(eq + 1).trim());
  }
  return parts;
}

/** Secrets in a connection string or URL: account key, SAS signature, the whole SAS. */
function secretsOf(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  for (const m of text.matchAll(/(?:AccountKey|SharedAccessSignature|sig)=([^;&\s]+)/gi)) {
    if (m[1]) {
      out.push(m[1]);
      try {
        out.push(decodeURIComponent(m[1]));
      } catch {
        /* not percent-encoded */
      }
    }
  }
  return out;
}

/** Checks a connection string's shape without loading the SDK. @throws ConfigError that never echoes the key. */
function checkConnectionString(cs: unknown): string {
  if (typeof cs !== 'string' || cs.trim() === '') {
    throw new ConfigError('azure-blob store: connectionString must be a non-empty string (or pass containerClient)');
  }
  const p = parseConnectionString(cs.trim());
  if (p.get('usedevelopmentstorage')?.toLowerCase() === 'true') return cs.trim();
  const hasAuth = p.has('accountkey') || p.has('sharedaccesssignature');
  const hasTarget = p.has('accountname') || p.has('blobendpoint');
  if (!hasAuth || !hasTarget || (p.has('accountkey') && !p.has('accountname'))) {
    throw new ConfigError(
      'azure-blob store: connectionString is malformed: it needs AccountName and AccountKey (or BlobEndpoint and SharedAccessSignature), ' +
        `or UseDevelopmentStorage=true; got the keys ${[...p.keys()].join(', ') || 'none'}`,
    );
  }
  const endpoint = p.get('blobendpoint');
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/i.test(endpoint)) {
    throw new ConfigError(`azure-blob store: connectionString is malformed: BlobEndpoint "${redactUrl(endpoint)}" is not an http(s) URL`);
  }
  return cs.trim();
}

function checkContainerName(name: unknown): string {
  if (typeof name !== 'string' || !/^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$/.test(name)) {
    throw new ConfigError(`azure-blob store: containerName must be 3–63 lower-case letters, digits and single hyphens, got ${JSON.stringify(name)}`);
  }
  return name;
}

function checkPrefix(prefix: unknown): string {
  if (prefix === undefined) return DEFAULT_PREFIX;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
  if (typeof prefix !== 'string' || prefix.length > 256 || /[\u0000-\u001f\u007f\\]/.test(prefix) || prefix.startsWith('/') || /(^|\/)\.\.?(\/|$)/.test(prefix)) {
    throw new ConfigError(
      `azure-blob store: prefix must be at most 256 characters, without control characters, backslashes, a leading "/" or "."/".." segments; got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix;
}

type Sdk = typeof import('@azure/storage-blob');

/** The shape of an `@azure/identity` credential, as the SDK accepts it. */
interface TokenCredentialLike {
  getToken(scopes: string | string[], options?: object): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

async function loadSdk(): Promise<Sdk> {
  try {
    return await import('@azure/storage-blob');
  } catch (err) {
    throw new ConfigError(`azure-blob store: the "${SDK}" package is needed; install it with \`npm install ${SDK}\``, { cause: err });
  }
}

function pipelineOptions(requestTimeoutMs: number, maxTries: number): StoragePipelineOptions {
  return { retryOptions: { maxTries, tryTimeoutInMs: requestTimeoutMs, retryDelayInMs: 200, maxRetryDelayInMs: 1000 } };
}

/** @internal How `fromUrl` hands the store a client it built (and therefore owns). */
const OWNED = Symbol('owned');

/**
 * A {@link LeaseStore} on Azure Blob Storage (or Azurite). See the module docs for how
 * it maps the contract and what each operation costs.
 *
 * @example
 * ```ts
 * import { ContainerClient } from '@azure/storage-blob';
 * import { AzureBlobStore } from 'leasehold/azure-blob';
 * const store = new AzureBlobStore({ connectionString: process.env.AZURE_STORAGE_CONNECTION_STRING, containerName: 'leases' });
 * ```
 */
export class AzureBlobStore implements LeaseStore {
  readonly name = 'azure-blob';
  readonly capabilities: StoreCapabilities = {
    clock: 'store',
    persistent: true,
    minTtlMs: MIN_TTL_MS,
    maxTtlMs: MAX_TTL_MS,
    ttlGranularityMs: 1000,
    stateOnAcquire: true,
    clockResolutionMs: 1000,
  };
  /** Prefix of every lease blob's name. */
  readonly prefix: string;
  /** Name of the container. */
  readonly containerName: string;

  readonly #secrets: string[];
  readonly #timeoutMs: number;
  readonly #ownsClient: boolean;
  readonly #known = new Map<string, Known>();
  #container: ContainerClient | undefined;
  #building: Promise<ContainerClient> | undefined;
  readonly #build: (() => Promise<ContainerClient>) | undefined;

  constructor(options: AzureBlobStoreOptions & { [OWNED]?: boolean }) {
    if (!options || typeof options !== 'object') throw new ConfigError('azure-blob store: options are required (containerClient, or connectionString and containerName)');
    this.prefix = checkPrefix(options.prefix);
    const timeout = options.requestTimeoutMs ?? 10_000;
    const tries = options.maxTries ?? 1;
    if (!Number.isFinite(timeout) || timeout <= 0) throw new ConfigError(`azure-blob store: requestTimeoutMs must be a positive number, got ${options.requestTimeoutMs}`);
    if (!Number.isInteger(tries) || tries < 1 || tries > 10) throw new ConfigError(`azure-blob store: maxTries must be an integer from 1 to 10, got ${options.maxTries}`);
    this.#timeoutMs = timeout;
    if (options.containerClient) {
      const c = options.containerClient;
      if (typeof c.getBlockBlobClient !== 'function') throw new ConfigError('azure-blob store: containerClient must be a ContainerClient from @azure/storage-blob');
      this.#container = c;
      this.containerName = c.containerName;
      this.#secrets = secretsOf(c.url);
      this.#ownsClient = options[OWNED] === true;
      this.#build = undefined;
    } else {
      const cs = checkConnectionString(options.connectionString);
      this.containerName = checkContainerName(options.containerName);
      this.#secrets = secretsOf(cs);
      this.#ownsClient = true;
      const name = this.containerName;
      const secrets = this.#secrets;
      this.#build = async () => {
        const sdk = await loadSdk();
        try {
          return new sdk.ContainerClient(cs, name, pipelineOptions(timeout, tries));
        } catch (err) {
          throw new ConfigError(`azure-blob store: connectionString is malformed: ${redactText(errText(err), secrets)}`);
        }
      };
    }
  }

  /** The container client (built on first use from a connection string; the wait for it honours `signal`). */
  async #client(signal?: AbortSignal): Promise<ContainerClient> {
    if (this.#container) return this.#container;
    if (!this.#build) throw new ConfigError('azure-blob store: no container client');
    this.#building ??= this.#build().then((c) => (this.#container = c));
    this.#building.catch(() => {
      this.#building = undefined;
    });
    if (!signal) return this.#building;
    let onAbort: (() => void) | undefined;
    try {
      return await Promise.race([
        this.#building,
        new Promise<never>((_, reject) => {
          onAbort = () => reject(Object.assign(new Error('aborted while loading the SDK'), { name: 'AbortError' }));
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /** The SDK's `abortSignal` for one request: the caller's signal, or this request's timeout, whichever fires first. */
  #sig(signal: AbortSignal | undefined): { abortSignal: AbortSignal } {
    const t = AbortSignal.timeout(this.#timeoutMs);
    return { abortSignal: signal ? AbortSignal.any([signal, t]) : t };
  }

  /** @internal Builds the client now, so a bad connection string fails at open time. */
  async ready(): Promise<void> {
    await this.#client();
  }

  #blobName(key: string): string {
    return this.prefix + keyToBlobName(key);
  }

  #fail(what: string, key: string | undefined, err: unknown): LeaseholdError {
    if (err instanceof LeaseholdError) return err;
    const label = `azure-blob store: ${what}${key === undefined ? '' : ` "${key}"`}`;
    const e = err as { name?: string };
    if (e?.name === 'AbortError') {
      return new StoreUnavailableError(`${label}: aborted (by the caller's signal, or no answer within requestTimeoutMs ${this.#timeoutMs}ms)`, { cause: sanitize(err, this.#secrets) });
    }
    const { status, code } = restInfo(err);
    let detail = redactText(errText(err), this.#secrets);
    if (status === 403) detail = `the service refused the credential (403 ${code ?? ''}) — check the account key, SAS permissions or role assignment`;
    else if (status !== undefined) detail = `${status} ${code ?? ''}: ${detail.split('\n')[0]}`;
    return unavailable(label, sanitize(new Error(detail), this.#secrets), this.#secrets);
  }

  #remember(leaseId: string, k: Known): void {
    this.#known.delete(leaseId);
    this.#known.set(leaseId, k);
    if (this.#known.size > MAX_KNOWN) {
      const oldest = this.#known.keys().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
  }

  async #ensureContainer(c: ContainerClient, signal: AbortSignal | undefined): Promise<void> {
    try {
      await c.create({ ...this.#sig(signal) });
    } catch (err) {
      const { status, code } = restInfo(err);
      if (status === 409 && code === 'ContainerAlreadyExists') return;
      throw err;
    }
  }

  async acquire(req: AcquireRequest, options?: StoreOpOptions): Promise<AcquireResult> {
    const seconds = checkStoreTtl(req.ttlMs);
    checkLeaseId(req.leaseId);
    const name = this.#blobName(req.key);
    const signal = options?.signal;
    try {
      throwIfAborted(signal, `azure-blob store: acquire "${req.key}"`);
      const c = await this.#client(signal);
      const blob = c.getBlockBlobClient(name);
      const lease = blob.getBlobLeaseClient(req.leaseId);
      for (let attempt = 0; attempt < 4; attempt++) {
        let granted: { etag?: string; date?: Date };
        try {
          granted = await lease.acquireLease(seconds, { ...this.#sig(signal) });
        } catch (err) {
          const { status, code, date } = restInfo(err);
          if (status === 409 && code === 'LeaseAlreadyPresent') return date === undefined ? { acquired: false } : { acquired: false, storeTime: date };
          if (status !== 404 || attempt === 3) throw err;
          if (code === 'ContainerNotFound') await this.#ensureContainer(c, signal);
          // First acquisition of this key: create its blob, recording token 1 for this
          // lease id. If-None-Match: * makes creation race-free; the lease then taken with
          // If-Match on the new blob's ETag proves nobody wrote a token in between.
          const first = await this.#create(blob, req, signal);
          if (!first) continue;
          try {
            const got = await lease.acquireLease(seconds, { ...this.#sig(signal), conditions: { ifMatch: first.etag } });
            const etag = got.etag ?? first.etag;
            this.#remember(req.leaseId, { key: req.key, token: 1, ttlMs: req.ttlMs, etag, meta: first.meta });
            const storeTime = dateOf(got);
            return storeTime === undefined ? { acquired: true, token: 1, state: null } : { acquired: true, token: 1, storeTime, state: null };
          } catch (err2) {
            const r = restInfo(err2);
            if (r.status === 409 && r.code === 'LeaseAlreadyPresent') return r.date === undefined ? { acquired: false } : { acquired: false, storeTime: r.date };
            if (r.status === 412 || r.status === 404) continue; // someone acquired and wrote first: the ordinary path decides
            throw err2;
          }
        }
        // We hold the lease. Read the counter, then write token + 1 under the lease.
        const read = await blob.download(0, undefined, { ...this.#sig(signal) });
        const body = await readBody(read.readableStreamBody);
        const meta = read.metadata ?? {};
        const state = decodeState(body);
        const storeTime = dateOf(granted);
        const prevToken = parseToken(meta[M.token]);
        if (meta[M.lease] === req.leaseId && prevToken > 0) {
          // A retry of an acquisition whose reply was lost: same lease, same token (L9).
          this.#remember(req.leaseId, { key: req.key, token: prevToken, ttlMs: req.ttlMs, etag: read.etag ?? '', meta });
          return storeTime === undefined ? { acquired: true, token: prevToken, state } : { acquired: true, token: prevToken, storeTime, state };
        }
        const token = prevToken + 1;
        const next = this.#meta(req.key, token, req.leaseId, req.holder, req.ttlMs);
        try {
          const wrote = await blob.setMetadata(next, { ...this.#sig(signal), conditions: { leaseId: req.leaseId, ...(read.etag ? { ifMatch: read.etag } : {}) } });
          this.#remember(req.leaseId, { key: req.key, token, ttlMs: req.ttlMs, etag: wrote.etag ?? '', meta: next });
        } catch (err) {
          // The lease was broken (or expired) between our steps and someone else wrote.
          // Let go of whatever is left of it, so it does not sit there until it expires.
          const { status } = restInfo(err);
          if (status === 412 || status === 409) {
            await lease.releaseLease({ ...this.#sig(signal) }).catch(() => {});
            return { acquired: false };
          }
          throw err;
        }
        return storeTime === undefined ? { acquired: true, token, state } : { acquired: true, token, storeTime, state };
      }
      throw new Error('the lease blob kept disappearing');
    } catch (err) {
      throw this.#fail('acquire', req.key, err);
    }
  }

  /** Creates the key's blob if it does not exist; null when it already did. */
  async #create(
    blob: ReturnType<ContainerClient['getBlockBlobClient']>,
    req: AcquireRequest,
    signal: AbortSignal | undefined,
  ): Promise<{ etag: string; meta: Metadata } | null> {
    const meta = this.#meta(req.key, 1, req.leaseId, req.holder, req.ttlMs);
    try {
      const res = await blob.upload('', 0, { ...this.#sig(signal), metadata: meta, conditions: { ifNoneMatch: '*' } });
      return { etag: res.etag ?? '', meta };
    } catch (err) {
      const { status } = restInfo(err);
      if (status === 409 || status === 412) return null; // created meanwhile (and maybe leased)
      throw err;
    }
  }

  #meta(key: string, token: number, leaseId: string, holder: string, ttlMs: number): Metadata {
    const meta: Metadata = {
      [M.token]: String(token),
      [M.lease]: leaseId,
      [M.holder]: encodeURIComponent(holder),
      [M.ttl]: String(ttlMs),
    };
    const enc = keyToBlobName(key);
    if (enc.includes('~')) meta[M.key] = encodeURIComponent(key);
    return meta;
  }

  /**
   * Reads the blob's metadata and ETag, and answers whether they name this lease and
   * token. Used when this instance does not know the lease's ETag, or it changed.
   */
  async #verify(ref: LeaseRef, signal: AbortSignal | undefined): Promise<{ etag: string; meta: Metadata; leased: boolean; ttlMs: number } | null> {
    const c = await this.#client(signal);
    let props;
    try {
      props = await c.getBlockBlobClient(this.#blobName(ref.key)).getProperties({ ...this.#sig(signal) });
    } catch (err) {
      if (restInfo(err).status === 404) return null;
      throw err;
    }
    const meta = props.metadata ?? {};
    if (meta[M.lease] !== ref.leaseId || parseToken(meta[M.token]) !== ref.token) return null;
    return { etag: props.etag ?? '', meta, leased: props.leaseState === 'leased', ttlMs: Number(meta[M.ttl]) };
  }

  /**
   * Runs a lease-owned operation: first with the remembered ETag, then — when that is
   * unknown or stale — after reading and checking the metadata. `op` resolves to the
   * response's ETag; a 412 ConditionNotMet means the ETag moved and is retried, any
   * other refusal (lease id mismatch, lease gone, blob gone) answers false.
   */
  async #owned(
    what: string,
    ref: LeaseRef,
    signal: AbortSignal | undefined,
    op: (k: Known) => Promise<string | undefined>,
    opts: { needLeased?: boolean; ttlMs?: number } = {},
  ): Promise<boolean> {
    checkLeaseId(ref.leaseId);
    try {
      throwIfAborted(signal, `azure-blob store: ${what} "${ref.key}"`);
      let k = this.#known.get(ref.leaseId);
      if (k && (k.key !== ref.key || k.token !== ref.token)) return false;
      if (k && !k.etag) k = undefined;
      for (let attempt = 0; attempt < 4; attempt++) {
        if (!k) {
          const v = await this.#verify(ref, signal);
          if (!v || (opts.needLeased && !v.leased)) return false;
          k = { key: ref.key, token: ref.token, ttlMs: v.ttlMs, etag: v.etag, meta: v.meta };
        }
        if (opts.ttlMs !== undefined && Number.isFinite(k.ttlMs) && k.ttlMs !== opts.ttlMs) {
          throw new ConfigError(
            `azure-blob store: ${what} with ttl ${opts.ttlMs}ms, but the lease was acquired for ${k.ttlMs}ms; Azure renews a lease for the duration it was acquired with`,
          );
        }
        try {
          const etag = await op(k);
          this.#remember(ref.leaseId, { ...k, etag: etag ?? k.etag });
          return true;
        } catch (err) {
          const { status, code } = restInfo(err);
          if (status === 412 && code === 'ConditionNotMet') {
            k = undefined; // our ETag is stale (we wrote meanwhile, or someone else did): check again
            continue;
          }
          if (status === 409 || status === 412 || status === 404) {
            this.#known.delete(ref.leaseId);
            return false;
          }
          throw err;
        }
      }
      return false;
    } catch (err) {
      throw this.#fail(what, ref.key, err);
    }
  }

  async renew(req: RenewRequest, options?: StoreOpOptions): Promise<boolean> {
    checkStoreTtl(req.ttlMs);
    const signal = options?.signal;
    const c = await this.#clientOrFail('renew', req.key, signal);
    const lease = c.getBlockBlobClient(this.#blobName(req.key)).getBlobLeaseClient(req.leaseId);
    return this.#owned(
      'renew',
      req,
      signal,
      async (k) => (await lease.renewLease({ ...this.#sig(signal), conditions: { ifMatch: k.etag } })).etag,
      { ttlMs: req.ttlMs },
    );
  }

  async release(ref: LeaseRef, options?: StoreOpOptions): Promise<boolean> {
    const signal = options?.signal;
    const c = await this.#clientOrFail('release', ref.key, signal);
    const lease = c.getBlockBlobClient(this.#blobName(ref.key)).getBlobLeaseClient(ref.leaseId);
    const ok = await this.#owned(
      'release',
      ref,
      signal,
      async (k) => (await lease.releaseLease({ ...this.#sig(signal), conditions: { ifMatch: k.etag } })).etag,
      { needLeased: true },
    );
    this.#known.delete(ref.leaseId);
    return ok;
  }

  async writeState(req: WriteStateRequest, options?: StoreOpOptions): Promise<boolean> {
    const text = encodeState(req.state);
    const signal = options?.signal;
    const c = await this.#clientOrFail('writeState', req.key, signal);
    const blob = c.getBlockBlobClient(this.#blobName(req.key));
    return this.#owned('writeState', req, signal, async (k) => {
      const res = await blob.upload(text, Buffer.byteLength(text), {
        ...this.#sig(signal),
        metadata: k.meta,
        blobHTTPHeaders: { blobContentType: 'application/json' },
        conditions: { leaseId: req.leaseId, ifMatch: k.etag },
      });
      return res.etag;
    });
  }

  async #clientOrFail(what: string, key: string, signal: AbortSignal | undefined): Promise<ContainerClient> {
    try {
      return await this.#client(signal);
    } catch (err) {
      throw this.#fail(what, key, err);
    }
  }

  async inspect(key: string, options?: StoreOpOptions): Promise<LeaseRecord | null> {
    const signal = options?.signal;
    const name = this.#blobName(key);
    try {
      throwIfAborted(signal, `azure-blob store: inspect "${key}"`);
      const c = await this.#client(signal);
      let read;
      try {
        read = await c.getBlockBlobClient(name).download(0, undefined, { ...this.#sig(signal) });
      } catch (err) {
        if (restInfo(err).status === 404) return null;
        throw err;
      }
      const body = await readBody(read.readableStreamBody);
      const meta = read.metadata ?? {};
      const token = parseToken(meta[M.token]);
      if (token === 0) return null;
      const held = read.leaseState === 'leased';
      const ttl = Number(meta[M.ttl]);
      return {
        key,
        holder: held ? decodeMeta(meta[M.holder]) : null,
        token,
        expiresInMs: held ? (Number.isFinite(ttl) && ttl > 0 ? ttl : MAX_TTL_MS) : null,
        state: decodeState(body),
      };
    } catch (err) {
      throw this.#fail('inspect', key, err);
    }
  }

  async list(options?: StoreOpOptions & { prefix?: string }): Promise<string[]> {
    const signal = options?.signal;
    const want = options?.prefix ?? '';
    try {
      throwIfAborted(signal, 'azure-blob store: list');
      const c = await this.#client(signal);
      // Characters that are never escaped map to themselves: narrow the listing by them.
      const plain = /^[A-Za-z0-9_-]*/.exec(want)?.[0] ?? '';
      const keys: string[] = [];
      try {
        for await (const page of c.listBlobsFlat({ prefix: this.prefix + plain, includeMetadata: true, ...this.#sig(signal) }).byPage({ maxPageSize: 1000 })) {
          for (const item of page.segment.blobItems) {
            const meta = item.metadata ?? {};
            if (parseToken(meta[M.token]) === 0) continue;
            const key = meta[M.key] !== undefined ? decodeMeta(meta[M.key]) : blobNameToKey(item.name.slice(this.prefix.length));
            if (key !== null && key !== undefined && key.startsWith(want)) keys.push(key);
          }
        }
      } catch (err) {
        const { status, code } = restInfo(err);
        if (status === 404 && code === 'ContainerNotFound') return [];
        throw err;
      }
      return keys;
    } catch (err) {
      throw this.#fail('list', undefined, err);
    }
  }

  /**
   * The service's time: the `Date` header of a Get Container Properties (one request).
   * Whole seconds, truncated — behind the service's clock by up to 1 s, never ahead.
   */
  async now(options?: StoreOpOptions): Promise<number> {
    const signal = options?.signal;
    try {
      throwIfAborted(signal, 'azure-blob store: now');
      const c = await this.#client(signal);
      try {
        const t = dateOf(await c.getProperties({ ...this.#sig(signal) }));
        if (t !== undefined) return t;
      } catch (err) {
        const { status, date } = restInfo(err);
        if (status === 404 && date !== undefined) return date; // no container yet: its Date is just as good
        throw err;
      }
      throw new Error('the response had no Date header');
    } catch (err) {
      throw this.#fail('read clock', undefined, err);
    }
  }

  async forceRelease(key: string, options?: StoreOpOptions): Promise<boolean> {
    const signal = options?.signal;
    try {
      throwIfAborted(signal, `azure-blob store: forceRelease "${key}"`);
      const c = await this.#client(signal);
      const blob = c.getBlockBlobClient(this.#blobName(key));
      let props;
      try {
        props = await blob.getProperties({ ...this.#sig(signal) });
      } catch (err) {
        if (restInfo(err).status === 404) return false;
        throw err;
      }
      if (props.leaseState !== 'leased') return false;
      try {
        await blob.getBlobLeaseClient().breakLease(0, { ...this.#sig(signal) });
      } catch (err) {
        if (restInfo(err).status === 409) return false; // it ended by itself meanwhile
        throw err;
      }
      // Change the ETag and forget the lease id, so the broken lease's holder can no longer
      // act even where the service would let a lease id release a broken lease.
      const meta = { ...(props.metadata ?? {}), [M.lease]: 'broken', [M.holder]: '' };
      try {
        await blob.setMetadata(meta, { ...this.#sig(signal), ...(props.etag ? { conditions: { ifMatch: props.etag } } : {}) });
      } catch (err) {
        // Someone acquired the key right after the break: their token write moved the ETag
        // already, which is all we wanted.
        if (restInfo(err).status !== 412) throw err;
      }
      for (const [id, k] of this.#known) if (k.key === key) this.#known.delete(id);
      return true;
    } catch (err) {
      throw this.#fail('forceRelease', key, err);
    }
  }

  /**
   * Forgets what it remembers about leases. A client the user passed is left alone; one
   * the store built is dropped (the SDK's HTTP client has no close: its idle keep-alive
   * sockets do not keep the process alive).
   */
  async close(): Promise<void> {
    this.#known.clear();
    if (this.#ownsClient && this.#build) {
      this.#container = undefined;
      this.#building = undefined;
    }
  }
}

function checkStoreTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS || ttlMs % 1000 !== 0) {
    throw new ConfigError(
      `ttl: ${ttlMs}ms is not a lease duration Azure Blob Storage allows (whole seconds, 15s–60s)`,
    );
  }
  return ttlMs / 1000;
}

function checkLeaseId(id: string): void {
  if (typeof id !== 'string' || !UUID.test(id)) throw new ConfigError(`azure-blob store: leaseId must be a UUID (Azure proposed lease ids are GUIDs), got ${JSON.stringify(id)}`);
}

function parseToken(v: string | undefined): number {
  if (v === undefined || !/^\d{1,16}$/.test(v)) return 0;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : 0;
}

function decodeMeta(v: string | undefined): string | null {
  if (v === undefined || v === '') return null;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

async function readBody(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function errText(err: unknown): string {
  if (err instanceof Error) return err.message || (err as { code?: string }).code || err.name;
  return String(err);
}

/**
 * A copy of an SDK error that carries no request (URL with SAS, headers) or response:
 * SDK errors keep both, and a `cause` is printed by loggers.
 */
function sanitize(err: unknown, secrets: readonly string[]): Error {
  const { status, code } = restInfo(err);
  const out = new Error(redactText(errText(err), secrets)) as Error & { code?: string; statusCode?: number };
  out.name = err instanceof Error ? err.name : 'Error';
  if (code !== undefined) out.code = code;
  if (status !== undefined) out.statusCode = status;
  out.stack = `${out.name}: ${out.message}`;
  return out;
}

/**
 * Opens a store from a URL:
 *
 * - `azure-blob://<container>[/<prefix>]` — credentials from the
 *   `AZURE_STORAGE_CONNECTION_STRING` environment variable (`UseDevelopmentStorage=true`
 *   for Azurite on its default port).
 * - `https://<account>.blob.core.windows.net/<container>[/<prefix>]?<sas>` — a SAS URL.
 * - the same URL without a query — `DefaultAzureCredential` from `@azure/identity`
 *   (install it; it is loaded only then).
 *
 * The prefix defaults to `leasehold/` (or `options.prefix`). The store owns the client
 * it builds.
 *
 * @throws ConfigError for a malformed URL or connection string, a missing package or
 *   environment variable. Never echoes a key or SAS signature.
 */
export async function fromUrl(url: string, options: { prefix?: string; env?: NodeJS.ProcessEnv; loadIdentity?: () => Promise<unknown> } = {}): Promise<AzureBlobStore> {
  const shown = redactUrl(url);
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(url.trim());
  if (!m) throw new ConfigError(`store: "${shown}" is not a valid Azure Blob URL; use azure-blob://<container> or https://<account>.blob.core.windows.net/<container>?<sas>`);
  const scheme = (m[1] as string).toLowerCase();
  const host = m[2] as string;
  const path = m[3] ?? '';
  const query = m[4] ?? '';
  const pathPrefix = (p: string): string | undefined => {
    if (p === '' || p === '/') return undefined;
    try {
      return decodeURIComponent(p.replace(/^\//, ''));
    } catch {
      throw new ConfigError(`store: "${shown}" has a malformed prefix (bad percent-encoding)`);
    }
  };
  const env = options.env ?? process.env;
  if (scheme === 'azure-blob') {
    const containerName = checkContainerName(decodeURIComponent(host));
    const cs = env.AZURE_STORAGE_CONNECTION_STRING;
    if (!cs) throw new ConfigError(`store: "${shown}" needs the AZURE_STORAGE_CONNECTION_STRING environment variable (UseDevelopmentStorage=true for Azurite)`);
    const prefix = pathPrefix(path) ?? options.prefix;
    const store = new AzureBlobStore({ connectionString: cs, containerName, ...(prefix === undefined ? {} : { prefix }) });
    await store.ready();
    return store;
  }
  if (scheme !== 'https' && scheme !== 'http') throw new ConfigError(`store: "${shown}" is not an Azure Blob URL`);
  if (host === '') throw new ConfigError(`store: "${shown}" names no account host`);
  // http://127.0.0.1:10000/devstoreaccount1/<container> (Azurite) puts the account in the path.
  const segs = path.split('/').filter((s) => s !== '');
  const pathStyle = /^(localhost|127\.0\.0\.1|\[::1\]|[0-9.]+)(:\d+)?$/i.test(host);
  const accountSegs = pathStyle ? 1 : 0;
  const container = segs[accountSegs];
  if (!container) throw new ConfigError(`store: "${shown}" names no container; use https://<account>.blob.core.windows.net/<container>`);
  checkContainerName(container);
  const base = `${scheme}://${host}/${segs.slice(0, accountSegs + 1).join('/')}`;
  const rest = segs.slice(accountSegs + 1).join('/');
  const prefix = rest ? pathPrefix(`/${rest}${path.endsWith('/') ? '/' : ''}`) : options.prefix;
  const sdk = await loadSdk();
  const popts = pipelineOptions(10_000, 1);
  let client: ContainerClient;
  if (query.length > 1) {
    try {
      client = new sdk.ContainerClient(`${base}${query}`, new sdk.AnonymousCredential(), popts);
    } catch (err) {
      throw new ConfigError(`store: "${shown}" is not a valid container SAS URL: ${redactText(errText(err), secretsOf(query))}`);
    }
  } else {
    let identity: { DefaultAzureCredential: new () => unknown };
    try {
      identity = (await (options.loadIdentity ?? (() => import('@azure/identity' as string)))()) as typeof identity;
    } catch (err) {
      throw new ConfigError(
        `store: "${shown}" has no SAS token, so it needs @azure/identity for DefaultAzureCredential; install it with \`npm install @azure/identity\`, or append a SAS token`,
        { cause: err },
      );
    }
    if (typeof identity?.DefaultAzureCredential !== 'function') throw new ConfigError('store: the installed @azure/identity has no DefaultAzureCredential');
    client = new sdk.ContainerClient(base, new identity.DefaultAzureCredential() as TokenCredentialLike, popts);
  }
  return new AzureBlobStore({ containerClient: client, [OWNED]: true, ...(prefix === undefined ? {} : { prefix }) });
}
