/**
 * The Azure Blob store class. How it maps the lease contract and what each operation
 * costs: docs/stores/azure-blob.md.
 * @module
 */
import type { BlobGetPropertiesResponse, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { ConfigError, type LeaseholdError } from '../../errors.js';
import {
  encodeMark,
  encodeState,
  once,
  type Once,
  raceSignal,
  secretsOf,
  throwIfAborted,
} from '../../store-kit/index.js';
import type * as contract from '../../store.js';
import { acquireBlob, readVersion } from './acquire.js';
import { breakBlob } from './break.js';
import { checkConnectionString, connectionStringClient, pipelineOptions } from './credentials.js';
import { abortedLoading, dateOf, restInfo, storeFailure } from './errors.js';
import { BlobVersions, type KnownLease, KnownLeases } from './known.js';
import { checkContainerName, checkMarkFits, keyToBlobName, META, parseToken, withoutMark } from './naming.js';
import {
  type AzureBlobStoreOptions,
  checkLeaseId,
  checkOptions,
  checkStoreTtl,
  MAX_TTL_MS,
  MIN_TTL_MS,
} from './options.js';
import { leaseBlobs, recordOf, recordsOf } from './reading.js';

/** What this store can do (shared by every instance; frozen). */
const CAPABILITIES: contract.StoreCapabilities = Object.freeze({
  clock: 'store',
  persistent: true,
  minTtlMs: MIN_TTL_MS,
  maxTtlMs: MAX_TTL_MS,
  ttlGranularityMs: 1000,
  stateOnAcquire: true,
  clockResolutionMs: 1000,
});

/**
 * A {@link LeaseStore} on Azure Blob Storage (or Azurite). See docs/stores/azure-blob.md
 * for how it maps the contract and what each operation costs.
 *
 * @example
 * ```ts
 * import { AzureBlobStore } from 'leasehold/azure-blob';
 * const connectionString = process.env.AZURE_STORAGE_CONNECTION_STRING;
 * const store = new AzureBlobStore({ connectionString, containerName: 'leases' });
 * ```
 */
export class AzureBlobStore implements contract.LeaseStore {
  readonly name = 'azure-blob';
  readonly capabilities: contract.StoreCapabilities = CAPABILITIES;
  /** Prefix of every lease blob's name. */
  readonly prefix: string;
  /** Name of the container. */
  readonly containerName: string;

  readonly #secrets: string[];
  readonly #timeoutMs: number;
  readonly #known = new KnownLeases();
  readonly #versions = new BlobVersions();
  /** The container client: the user's, or built once from the connection string (again after `close`). */
  readonly #container: Once<ContainerClient>;
  readonly #builds: boolean;

  constructor(options: AzureBlobStoreOptions) {
    const { prefix, requestTimeoutMs, maxTries } = checkOptions(options);
    this.prefix = prefix;
    this.#timeoutMs = requestTimeoutMs;
    const client = options.containerClient;
    if (client) {
      if (typeof client.getBlockBlobClient !== 'function') {
        throw new ConfigError('azure-blob store: containerClient must be a ContainerClient from @azure/storage-blob');
      }
      this.containerName = client.containerName;
      this.#secrets = secretsOf(client.url);
      this.#builds = false;
      this.#container = once(async () => client);
    } else {
      const connectionString = checkConnectionString(options.connectionString);
      const containerName = checkContainerName(options.containerName);
      this.containerName = containerName;
      this.#secrets = secretsOf(connectionString);
      this.#builds = true;
      this.#container = once(() =>
        connectionStringClient(connectionString, containerName, pipelineOptions(requestTimeoutMs, maxTries)),
      );
    }
  }

  /** The container client (built on first use from a connection string; the wait for it honours `signal`). */
  async #client(signal?: AbortSignal): Promise<ContainerClient> {
    const ready = this.#container.value;
    return ready ?? raceSignal(this.#container(), signal, 'azure-blob store', { reason: abortedLoading });
  }

  /** The SDK's `abortSignal` for one request: the caller's signal, or this request's timeout, whichever fires first. */
  #requestOptions(signal: AbortSignal | undefined): { abortSignal: AbortSignal } {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    return { abortSignal: signal ? AbortSignal.any([signal, timeout]) : timeout };
  }

  /** @internal Builds the client now, so a bad connection string fails at open time. */
  async ready(): Promise<void> {
    await this.#client();
  }

  #blob(container: ContainerClient, key: string) {
    return container.getBlockBlobClient(this.prefix + keyToBlobName(key));
  }

  #fail(what: string, key: string | undefined, err: unknown): LeaseholdError {
    return storeFailure(what, key, err, this.#secrets, this.#timeoutMs);
  }

  async #ensureContainer(container: ContainerClient, signal: AbortSignal | undefined): Promise<void> {
    try {
      await container.create({ ...this.#requestOptions(signal) });
    } catch (err) {
      const { status, code } = restInfo(err);
      if (status === 409 && code === 'ContainerAlreadyExists') return;
      throw err;
    }
  }

  async acquire(req: contract.AcquireRequest, options?: contract.StoreOpOptions): Promise<contract.AcquireResult> {
    const seconds = checkStoreTtl(req.ttlMs);
    checkLeaseId(req.leaseId);
    const blobName = this.prefix + keyToBlobName(req.key);
    const markText = req.mark === undefined ? undefined : encodeMark(req.mark);
    if (markText !== undefined) checkMarkFits(req, markText);
    const signal = options?.signal;
    try {
      throwIfAborted(signal, `azure-blob store: acquire "${req.key}"`);
      const container = await this.#client(signal);
      const context = {
        requestOptions: (s: AbortSignal | undefined) => this.#requestOptions(s),
        ensureContainer: (s: AbortSignal | undefined) => this.#ensureContainer(container, s),
        known: this.#known,
        versions: this.#versions,
      };
      const acquisition = { req, seconds, markText };
      return await acquireBlob(context, container.getBlockBlobClient(blobName), acquisition, signal);
    } catch (err) {
      throw this.#fail('acquire', req.key, err);
    }
  }

  /**
   * Reads the blob's metadata and ETag, and answers whether they name this lease and
   * token. Used when this instance does not know the lease's ETag, or it changed.
   */
  async #verify(
    ref: contract.LeaseRef,
    signal: AbortSignal | undefined,
  ): Promise<(KnownLease & { leased: boolean }) | null> {
    const container = await this.#client(signal);
    let props: BlobGetPropertiesResponse;
    try {
      props = await this.#blob(container, ref.key).getProperties({ ...this.#requestOptions(signal) });
    } catch (err) {
      if (restInfo(err).status === 404) return null;
      throw err;
    }
    const meta = props.metadata ?? {};
    if (meta[META.lease] !== ref.leaseId || parseToken(meta[META.token]) !== ref.token) return null;
    const ttlMs = Number(meta[META.ttl]);
    const leased = props.leaseState === 'leased';
    return { key: ref.key, token: ref.token, ttlMs, etag: props.etag ?? '', meta, leased };
  }

  /**
   * Runs a lease-owned operation: first with the remembered ETag, then — when that is
   * unknown or stale — after reading and checking the metadata. `op` resolves to the
   * response's ETag; a 412 ConditionNotMet means the ETag moved and is retried, any
   * other refusal (lease id mismatch, lease gone, blob gone) answers false.
   */
  async #owned(
    what: string,
    ref: contract.LeaseRef,
    signal: AbortSignal | undefined,
    op: (lease: KnownLease) => Promise<string | undefined>,
    opts: { needLeased?: boolean; ttlMs?: number } = {},
  ): Promise<boolean> {
    checkLeaseId(ref.leaseId);
    try {
      throwIfAborted(signal, `azure-blob store: ${what} "${ref.key}"`);
      let lease = this.#known.get(ref.leaseId);
      if (lease && (lease.key !== ref.key || lease.token !== ref.token)) return false;
      if (lease && !lease.etag) lease = undefined;
      for (let attempt = 0; attempt < 4; attempt++) {
        if (!lease) {
          const checked = await this.#verify(ref, signal);
          if (!checked || (opts.needLeased && !checked.leased)) return false;
          lease = checked;
        }
        if (opts.ttlMs !== undefined && Number.isFinite(lease.ttlMs) && lease.ttlMs !== opts.ttlMs) {
          throw new ConfigError(
            `azure-blob store: ${what} with ttl ${opts.ttlMs}ms, but the lease was acquired for ${lease.ttlMs}ms; ` +
              'Azure renews a lease for the duration it was acquired with',
          );
        }
        try {
          const etag = await op(lease);
          const { key, token, ttlMs, meta } = lease;
          this.#known.remember(ref.leaseId, { key, token, ttlMs, meta, etag: etag ?? lease.etag });
          return true;
        } catch (err) {
          const { status, code } = restInfo(err);
          if (status === 412 && code === 'ConditionNotMet') {
            lease = undefined; // our ETag is stale (we wrote meanwhile, or someone else did): check again
            continue;
          }
          if (status === 409 || status === 412 || status === 404) {
            this.#known.forget(ref.leaseId);
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

  async renew(req: contract.RenewRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    checkStoreTtl(req.ttlMs);
    const signal = options?.signal;
    const container = await this.#clientOrFail('renew', req.key, signal);
    const lease = this.#blob(container, req.key).getBlobLeaseClient(req.leaseId);
    const renew = async (known: KnownLease) =>
      (await lease.renewLease({ ...this.#requestOptions(signal), conditions: { ifMatch: known.etag } })).etag;
    return this.#owned('renew', req, signal, renew, { ttlMs: req.ttlMs });
  }

  /**
   * Ends the lease. With `state` (the fused release) it takes two requests, the fewest
   * Azure allows — no write ends a lease: Put Blob of the state (the mark dropped from
   * the metadata) under the lease on top of the lease's ETag, then Release Lease.
   */
  async release(req: contract.ReleaseRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const text = req.state === undefined ? undefined : encodeState(req.state);
    const signal = options?.signal;
    const container = await this.#clientOrFail('release', req.key, signal);
    const blob = this.#blob(container, req.key);
    const lease = blob.getBlobLeaseClient(req.leaseId);
    const release = async (known: KnownLease) => {
      const etag = text === undefined ? known.etag : await this.#putState(blob, req.leaseId, known, text, signal);
      const conditions = etag ? { ifMatch: etag } : {};
      return (await lease.releaseLease({ ...this.#requestOptions(signal), conditions })).etag;
    };
    const ref = { key: req.key, leaseId: req.leaseId, token: req.token };
    const ok = await this.#owned('release', ref, signal, release, { needLeased: true });
    this.#known.forget(req.leaseId);
    return ok;
  }

  async writeState(req: contract.WriteStateRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const text = encodeState(req.state);
    const signal = options?.signal;
    const container = await this.#clientOrFail('writeState', req.key, signal);
    const blob = this.#blob(container, req.key);
    return this.#owned('writeState', req, signal, (known) => this.#putState(blob, req.leaseId, known, text, signal));
  }

  /**
   * Writes the state as the blob's content under the lease, on top of the lease's ETag,
   * keeping the metadata but the mark (a state write clears it). Answers the new ETag.
   */
  async #putState(
    blob: BlockBlobClient,
    leaseId: string,
    known: KnownLease,
    text: string,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const meta = withoutMark(known.meta);
    const response = await blob.upload(text, Buffer.byteLength(text), {
      ...this.#requestOptions(signal),
      metadata: meta,
      blobHTTPHeaders: { blobContentType: 'application/json' },
      conditions: { leaseId, ifMatch: known.etag },
    });
    if (response.etag) this.#versions.remember(blob.name, { etag: response.etag, meta, body: text });
    return response.etag;
  }

  async #clientOrFail(what: string, key: string, signal: AbortSignal | undefined): Promise<ContainerClient> {
    try {
      return await this.#client(signal);
    } catch (err) {
      throw this.#fail(what, key, err);
    }
  }

  async inspect(key: string, options?: contract.StoreOpOptions): Promise<contract.LeaseRecord | null> {
    const signal = options?.signal;
    try {
      throwIfAborted(signal, `azure-blob store: inspect "${key}"`);
      const container = await this.#client(signal);
      return await this.#readRecord(container, key, this.prefix + keyToBlobName(key), signal);
    } catch (err) {
      throw this.#fail('inspect', key, err);
    }
  }

  /** One blob's record from one Get Blob (content, metadata, lease state); null when it does not exist. */
  async #readRecord(
    container: ContainerClient,
    key: string,
    blobName: string,
    signal: AbortSignal | undefined,
  ): Promise<contract.LeaseRecord | null> {
    const blob = container.getBlockBlobClient(blobName);
    let read: Awaited<ReturnType<typeof readVersion>>;
    try {
      read = await readVersion(blob, this.#requestOptions(signal));
    } catch (err) {
      if (restInfo(err).status === 404) return null;
      throw err;
    }
    this.#versions.remember(blobName, read);
    return recordOf(key, read.meta, read.leaseState, read.body);
  }

  /**
   * Every record under `prefix`: one List Blobs with metadata (per 1000 blobs) carries
   * each blob's token, holder, TTL, mark and lease state; only a blob with content (a
   * state was written) is read as well, for its state (one Get Blob each, from which
   * its whole record is taken, so each record is consistent in itself). Keys that never
   * had a state — placement's host keys — cost nothing beyond the listing.
   */
  async inspectAll(options: contract.StoreOpOptions & { prefix: string }): Promise<contract.LeaseRecord[]> {
    const { prefix, signal } = options;
    try {
      throwIfAborted(signal, 'azure-blob store: inspectAll');
      const container = await this.#client(signal);
      const listing = leaseBlobs(container, this.prefix, prefix, this.#requestOptions(signal));
      return await recordsOf(listing, ({ key, name }) => this.#readRecord(container, key, name, signal));
    } catch (err) {
      throw this.#fail('inspectAll', prefix, err);
    }
  }

  async list(options?: contract.StoreOpOptions & { prefix?: string }): Promise<string[]> {
    const signal = options?.signal;
    try {
      throwIfAborted(signal, 'azure-blob store: list');
      const container = await this.#client(signal);
      const keys: string[] = [];
      const listing = leaseBlobs(container, this.prefix, options?.prefix ?? '', this.#requestOptions(signal));
      for await (const listed of listing) keys.push(listed.key);
      return keys;
    } catch (err) {
      throw this.#fail('list', undefined, err);
    }
  }

  /**
   * The service's time: the `Date` header of a Get Container Properties (one request).
   * Whole seconds, truncated — behind the service's clock by up to 1 s, never ahead.
   */
  async now(options?: contract.StoreOpOptions): Promise<number> {
    const signal = options?.signal;
    try {
      throwIfAborted(signal, 'azure-blob store: now');
      const container = await this.#client(signal);
      try {
        const date = dateOf(await container.getProperties({ ...this.#requestOptions(signal) }));
        if (date !== undefined) return date;
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

  async forceRelease(key: string, options?: contract.StoreOpOptions): Promise<boolean> {
    const signal = options?.signal;
    try {
      throwIfAborted(signal, `azure-blob store: forceRelease "${key}"`);
      const blob = this.#blob(await this.#client(signal), key);
      if (!(await breakBlob(blob, () => this.#requestOptions(signal)))) return false;
      this.#known.forgetKey(key);
      this.#versions.forget(blob.name);
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
    this.#versions.clear();
    if (this.#builds) this.#container.reset();
  }
}
