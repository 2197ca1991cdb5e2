/**
 * Names and metadata of lease blobs: how a key becomes a blob name, which prefixes and
 * container names are accepted, and the metadata fields a lease blob carries.
 * Layout: docs/stores/azure-blob.md ("Blob layout").
 * @module
 */
import { createHash } from 'node:crypto';
import type { Metadata } from '@azure/storage-blob';
import { ConfigError } from '../../errors.js';
import { decodeState } from '../../store-kit/index.js';
import type { JsonValue } from '../../store.js';

/** Metadata names (lower case, as the service returns them). */
export const META = {
  token: 'leaseholdtoken',
  lease: 'leaseholdlease',
  holder: 'leaseholdholder',
  ttl: 'leaseholdttl',
  key: 'leaseholdkey',
  mark: 'leaseholdmark',
} as const;

/** Azure's limit on a blob's metadata, names and values together, in bytes. */
export const MAX_METADATA_BYTES = 8 * 1024;

/** Prefix of lease blob names when none is given. */
export const DEFAULT_PREFIX = 'leasehold/';
/** Escaped keys longer than this are shortened with a hash (blob names allow 1024 characters). */
const MAX_ENCODED = 480;

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
  let encoded: string;
  try {
    encoded = encodeURIComponent(key).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch (err) {
    throw new ConfigError(
      `azure-blob store: key ${JSON.stringify(key)} cannot be mapped to a blob name (it is not valid UTF-16)`,
      { cause: err },
    );
  }
  if (encoded === '') throw new ConfigError('azure-blob store: key must be a non-empty string');
  if (encoded.startsWith('.')) encoded = `%2E${encoded.slice(1)}`;
  if (encoded.endsWith('.')) encoded = `${encoded.slice(0, -1)}%2E`;
  if (encoded.length > MAX_ENCODED) {
    const head = encoded.slice(0, 200).replace(/%[0-9A-F]?$/, '');
    encoded = `${head}~${createHash('sha256').update(key).digest('hex')}`;
  }
  return encoded;
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

/**
 * The metadata of a lease blob whose lease `leaseId` was given `token`. Hashed names
 * also carry the key, so `list()` can return it.
 */
export function leaseMetadata(key: string, token: number, leaseId: string, holder: string, ttlMs: number): Metadata {
  const meta: Metadata = {
    [META.token]: String(token),
    [META.lease]: leaseId,
    [META.holder]: encodeURIComponent(holder),
    [META.ttl]: String(ttlMs),
  };
  if (keyToBlobName(key).includes('~')) meta[META.key] = encodeURIComponent(key);
  return meta;
}

/**
 * A metadata value for a mark's JSON text: percent-encoded, `!'()*~` included, so the
 * value is plain ASCII that every HTTP stack and Azurite's listings carry unchanged
 * (Azurite re-escapes quotes and backslashes in listed metadata).
 */
export function encodeMarkMeta(markText: string): string {
  return encodeURIComponent(markText).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The mark's JSON text in metadata; undefined when there is none (or it is not one this store wrote). */
export function markTextOf(meta: Metadata): string | undefined {
  const value = meta[META.mark];
  if (value === undefined || value === '') return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** The mark in metadata; null when there is none, or it is not JSON this store wrote. */
export function markOf(meta: Metadata): JsonValue | null {
  try {
    return decodeState(markTextOf(meta));
  } catch {
    return null;
  }
}

/**
 * The metadata of the grant's version of the blob: `lease`'s fields, and the mark —
 * the new one when given, else the one `previous` carries (a grant without a mark
 * keeps it).
 */
export function grantMetadata(lease: Metadata, previous: Metadata, markText: string | undefined): Metadata {
  const mark = markText === undefined ? previous[META.mark] : encodeMarkMeta(markText);
  return mark === undefined || mark === '' ? lease : { ...lease, [META.mark]: mark };
}

/**
 * Checks, before any request, that a grant's metadata with this mark stays within
 * Azure's 8 KiB: the mark's escaped JSON, beside the escaped holder (and, for a hashed
 * name, the escaped key). @throws ConfigError naming the sizes
 */
export function checkMarkFits(
  req: { key: string; leaseId: string; holder: string; ttlMs: number },
  markText: string,
): void {
  const lease = leaseMetadata(req.key, Number.MAX_SAFE_INTEGER, req.leaseId, req.holder, req.ttlMs);
  const bytes = metadataBytes(grantMetadata(lease, {}, markText));
  if (bytes > MAX_METADATA_BYTES) {
    throw new ConfigError(
      `mark: the blob's metadata would be ${bytes} bytes with this mark, holder and key (escaped); ` +
        `Azure allows ${MAX_METADATA_BYTES}`,
    );
  }
}

/** Metadata with the mark removed (a state write clears it). */
export function withoutMark(meta: Metadata): Metadata {
  const { [META.mark]: _mark, ...rest } = meta;
  return rest;
}

/** Bytes of metadata as Azure counts them (names and values). */
export function metadataBytes(meta: Metadata): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(meta)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

/** The token recorded in metadata; 0 when none (or not one this store wrote). */
export function parseToken(value: string | undefined): number {
  if (value === undefined || !/^\d{1,16}$/.test(value)) return 0;
  const token = Number(value);
  return Number.isSafeInteger(token) ? token : 0;
}

/** A percent-encoded metadata value (holder, key); null when empty, as stored when it does not decode. */
export function decodeMeta(value: string | undefined): string | null {
  if (value === undefined || value === '') return null;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Checks a container name against Azure's rules. @throws ConfigError naming the value */
export function checkContainerName(name: unknown): string {
  if (typeof name !== 'string' || !/^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$/.test(name)) {
    throw new ConfigError(
      'azure-blob store: containerName must be 3–63 lower-case letters, digits and single hyphens, ' +
        `got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/**
 * Checks a blob-name prefix: stricter than the kit's `checkPrefix`, because a blob
 * name with a backslash, a leading `/` or a dot segment is shown differently by tools.
 * @throws ConfigError naming the value
 */
export function checkBlobPrefix(prefix: unknown): string {
  if (prefix === undefined) return DEFAULT_PREFIX;
  if (
    typeof prefix !== 'string' ||
    prefix.length > 256 ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
    /[\u0000-\u001f\u007f\\]/.test(prefix) ||
    prefix.startsWith('/') ||
    /(^|\/)\.\.?(\/|$)/.test(prefix)
  ) {
    throw new ConfigError(
      'azure-blob store: prefix must be at most 256 characters, without control characters, backslashes, ' +
        `a leading "/" or "."/".." segments; got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix;
}
