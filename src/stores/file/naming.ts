/**
 * Names in the folder store: a key's directory name, and the file names of its
 * numbered versions. Why these escapes: docs/stores/file.md ("What it assumes").
 * @module
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import { hasLoneSurrogate } from '../../store-kit/index.js';

/** Escaped keys longer than this are shortened with a hash (file names allow 255 bytes). */
const MAX_ENCODED = 180;
const VERSION = /^v(\d{12})\.json$/;

/**
 * Maps a key to a directory name that is valid and distinct on every file system,
 * including case-insensitive ones: percent-encoding, upper-case letters written as
 * `^` + lower-case, a leading dot escaped, and long names shortened with a hash.
 * @throws ConfigError for a key with a lone UTF-16 surrogate, which has no UTF-8 form
 * (the core refuses such keys; this keeps a direct caller from seeing "URI malformed"
 * as a store-unavailable error)
 */
export function keyToDirName(key: string): string {
  if (hasLoneSurrogate(key)) {
    throw new ConfigError(`key: must not contain a lone UTF-16 surrogate, got ${JSON.stringify(key)}`);
  }
  let encoded = encodeURIComponent(key)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%([0-9A-F]{2})/g, (_m, hex: string) => `%${hex.toLowerCase()}`)
    .replace(/[A-Z]/g, (c) => `^${c.toLowerCase()}`);
  if (encoded.startsWith('.')) encoded = `%2e${encoded.slice(1)}`;
  if (encoded.length > MAX_ENCODED) {
    encoded = `${encoded.slice(0, 100)}~${createHash('sha256').update(key).digest('hex')}`;
  }
  return encoded;
}

/** Inverse of {@link keyToDirName}; undefined for hashed (long) names. */
export function dirNameToKey(name: string): string | undefined {
  if (name.includes('~') || name.startsWith('.')) return undefined;
  try {
    return decodeURIComponent(name.replace(/\^([a-z])/g, (_m, c: string) => c.toUpperCase()));
  } catch {
    return undefined;
  }
}

/** The file name of version `seq` of a key's record (`v000000000042.json`). */
export function versionName(seq: number): string {
  return `v${String(seq).padStart(12, '0')}.json`;
}

/** The version number a file name stands for; undefined for other files. */
export function versionOf(name: string): number | undefined {
  const match = VERSION.exec(name);
  return match ? Number(match[1]) : undefined;
}
