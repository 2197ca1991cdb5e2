/**
 * What the Azure Blob store remembers: the leases it acquired or checked, so that renew,
 * release and fenced writes need one request instead of two; and the last version of
 * each blob it wrote or read, so that an acquire whose lease answer shows the blob
 * unchanged since then skips reading it (two requests instead of three).
 * @module
 */
import type { Metadata } from '@azure/storage-blob';

/** One lease as this store instance last saw it. */
export interface KnownLease {
  readonly key: string;
  readonly token: number;
  readonly ttlMs: number;
  /** The blob's ETag as of this lease's last response. */
  readonly etag: string;
  /** The blob's metadata as this lease wrote it. */
  readonly meta: Metadata;
}

/** Leases remembered at most; the oldest is forgotten first (it costs one read later, nothing else). */
const MAX_KNOWN = 1000;

/** Known leases by lease id, oldest first. */
export class KnownLeases {
  readonly #byLeaseId = new Map<string, KnownLease>();

  /** The lease with this id, if remembered. */
  get(leaseId: string): KnownLease | undefined {
    return this.#byLeaseId.get(leaseId);
  }

  /** Remembers a lease as the newest, forgetting the oldest past {@link MAX_KNOWN}. */
  remember(leaseId: string, lease: KnownLease): void {
    this.#byLeaseId.delete(leaseId);
    this.#byLeaseId.set(leaseId, lease);
    if (this.#byLeaseId.size > MAX_KNOWN) {
      const oldest = this.#byLeaseId.keys().next().value;
      if (oldest !== undefined) this.#byLeaseId.delete(oldest);
    }
  }

  /** Forgets one lease. */
  forget(leaseId: string): void {
    this.#byLeaseId.delete(leaseId);
  }

  /** Forgets every lease on `key` (after a break). */
  forgetKey(key: string): void {
    for (const [leaseId, lease] of this.#byLeaseId) if (lease.key === key) this.#byLeaseId.delete(leaseId);
  }

  /** Forgets everything. */
  clear(): void {
    this.#byLeaseId.clear();
  }
}

/** One version of a lease blob as this store instance last wrote or read it. */
export interface BlobVersion {
  /** The blob's ETag for this version: it changes with every write of content or metadata. */
  readonly etag: string;
  readonly meta: Metadata;
  /** The content (the fenced state's JSON text; empty for none). */
  readonly body: string;
}

/**
 * Bytes of content remembered at most, over all blobs (states are a few KB, at most
 * 64 KiB): the oldest versions are forgotten first. Forgetting one costs one read later,
 * nothing else.
 */
const MAX_VERSION_BYTES = 4 * 1024 * 1024;

/**
 * The last known version of each blob, by blob name, oldest first. A version is only
 * ever used when the service shows the same ETag, so a stale one costs a read, never a
 * wrong answer.
 */
export class BlobVersions {
  readonly #byName = new Map<string, BlobVersion>();
  #bytes = 0;

  /** The version remembered for `name` if its ETag is `etag`. */
  match(name: string, etag: string | undefined): BlobVersion | undefined {
    const version = this.#byName.get(name);
    return version && etag && version.etag === etag ? version : undefined;
  }

  /** Remembers a version as the newest; one without an ETag is forgotten instead. */
  remember(name: string, version: BlobVersion): void {
    this.forget(name);
    if (!version.etag) return;
    const { etag, meta, body } = version;
    this.#byName.set(name, { etag, meta, body });
    this.#bytes += body.length;
    for (const oldest of this.#byName.keys()) {
      if (this.#bytes <= MAX_VERSION_BYTES || oldest === name) break;
      this.forget(oldest);
    }
  }

  /** Forgets one blob. */
  forget(name: string): void {
    const version = this.#byName.get(name);
    if (!version) return;
    this.#bytes -= version.body.length;
    this.#byName.delete(name);
  }

  /** Forgets everything. */
  clear(): void {
    this.#byName.clear();
    this.#bytes = 0;
  }
}
