/**
 * Naming: the four etcd keys of one lease key, and the etcd lease id of one acquisition.
 * Layout and why: docs/stores/etcd.md ("Key layout").
 * @module
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import { hasLoneSurrogate } from '../../store-kit/index.js';

/** The etcd keys of one lease key under a prefix. */
export interface EtcdKeys {
  /** `<prefix>lease/<key>`: the leaseId, attached to the etcd lease; its create revision is the token. */
  readonly lease: Buffer;
  /** `<prefix>key/<key>`: the last holder, never expires; its mod revision is the last token issued. */
  readonly marker: Buffer;
  /** `<prefix>state/<key>`: the fenced state, never expires. */
  readonly state: Buffer;
  /** `<prefix>mark/<key>`: the last grant's mark (its start record), never expires; a state write deletes it. */
  readonly mark: Buffer;
}

/** The namespaces of a lease key's etcd keys, in the order {@link EtcdKeys} lists them. */
export const NAMESPACES = ['lease/', 'key/', 'state/', 'mark/'] as const;

/** The namespace of marker keys: one per key ever acquired, what `list()` reads. */
export function markerPrefix(prefix: string, keyPrefix = ''): Buffer {
  return Buffer.from(`${prefix}key/${keyPrefix}`);
}

/**
 * The etcd keys of `key`. No escaping is needed: etcd keys are any bytes, and the
 * namespace (`lease/`, `key/`, `state/`, `mark/`) comes before the key.
 * @throws ConfigError for a key with a lone surrogate (it has no UTF-8 form, so two keys could become one).
 */
export function etcdKeys(prefix: string, key: string): EtcdKeys {
  if (hasLoneSurrogate(key)) throw new ConfigError(`key: ${JSON.stringify(key)} is not valid Unicode (lone surrogate)`);
  return {
    lease: Buffer.from(`${prefix}lease/${key}`),
    marker: markerPrefix(prefix, key),
    state: Buffer.from(`${prefix}state/${key}`),
    mark: Buffer.from(`${prefix}mark/${key}`),
  };
}

/** The lease key a listed marker key names. */
export function keyOfMarker(prefix: string, name: Buffer): string {
  return keyIn(prefix, 'key/', name);
}

/** The lease key that etcd key `name`, in namespace `namespace` under `prefix`, belongs to. */
export function keyIn(prefix: string, namespace: (typeof NAMESPACES)[number], name: Buffer): string {
  return name.toString('utf8').slice(`${prefix}${namespace}`.length);
}

/** The end of the range of every key starting with `start` (etcd's `range_end`: the prefix plus one). */
export function rangeEnd(start: Buffer): Buffer {
  const end = Buffer.from(start);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // every byte 0xff: to the end of the key space
}

/**
 * The etcd lease id of one acquisition, derived from its `leaseId` (63 bits of its
 * SHA-256, never 0, which asks etcd to choose). A retry of the acquisition names the
 * same etcd lease, and renew and release find it without a read.
 */
export function etcdLeaseId(leaseId: string): string {
  const bits = createHash('sha256').update(leaseId).digest().readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
  return String(bits === 0n ? 1n : bits);
}
