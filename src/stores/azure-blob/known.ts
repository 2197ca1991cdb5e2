/**
 * What the Azure Blob store remembers about the leases it acquired or checked, so that
 * renew, release and fenced writes need one request instead of two.
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
