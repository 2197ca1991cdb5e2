/**
 * What one KV entry holds and how it is named: the lease record's JSON form (holder,
 * lease id, token, TTL, lease start, fenced state, mark) and the escaping of lease keys into
 * KV keys. Why the record has these fields: docs/stores/nats.md ("How it keeps the contract").
 * @module
 */
import { ConfigError, StoreUnavailableError } from '../../errors.js';
import { checkPrefix, encodeMark, encodeState, hasLoneSurrogate } from '../../store-kit/index.js';
import type { JsonValue } from '../../store.js';

/**
 * One lease key's record, the value of its KV entry. `token` and `since` are 0 in the
 * write that starts a lease or a TTL: they are then that revision's own sequence number
 * and server timestamp, which the writer cannot know before the server assigns them.
 */
export interface LeaseEntry {
  /** The current holder; null when the key is free (released or broken). */
  readonly holder: string | null;
  /** The current lease's id; null when free. */
  readonly lease: string | null;
  /** The lease's token (the last one issued when free); 0: this revision's sequence. */
  readonly token: number;
  /** The TTL in ms counted from {@link since}. */
  readonly ttl: number;
  /** Server time (epoch ms) the TTL runs from; 0: this revision's server timestamp. */
  readonly since: number;
  /** The fenced state; null when none was written. */
  readonly state: JsonValue | null;
  /**
   * The last grant's mark (its start record); null when none, or a state write cleared it.
   * Records written before marks existed have no `mark` field: read as null.
   */
  readonly mark: JsonValue | null;
}

/** An entry as read: its record, revision (stream sequence) and server timestamp. */
export interface ReadEntry {
  /** The record; null when the key has no entry or its last operation is a delete or purge. */
  readonly entry: LeaseEntry | null;
  /** The entry's revision, the CAS condition of the next write; 0 when the subject has no message. */
  readonly revision: number;
  /** Server time (epoch ms) the revision was stored at; 0 when there is none. */
  readonly created: number;
}

/** The entry's token with "this revision" resolved. */
export function tokenOf(read: ReadEntry & { entry: LeaseEntry }): number {
  return read.entry.token || read.revision;
}

/** Server time (epoch ms) the entry's lease expires at. */
export function expiryOf(read: ReadEntry & { entry: LeaseEntry }): number {
  return (read.entry.since || read.created) + read.entry.ttl;
}

/** The record's JSON text; the state and mark must already have passed `encodeState` (64 KiB) and `encodeMark`. */
export function encodeEntry(entry: LeaseEntry): string {
  const { state, mark, ...rest } = entry;
  return `${JSON.stringify({ v: 1, ...rest }).slice(0, -1)},"state":${encodeState(state)},"mark":${encodeMark(mark)}}`;
}

/** Parses an entry's value. @throws StoreUnavailableError when it is not a record this store wrote. */
export function decodeEntry(text: string, key: string): LeaseEntry {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text) as Record<string, unknown>;
  } catch {
    value = {};
  }
  const { holder, lease, token, ttl, since, state, mark } = value;
  const nullableString = (field: unknown) => field === null || typeof field === 'string';
  const count = (field: unknown) => typeof field === 'number' && Number.isSafeInteger(field) && field >= 0;
  if (value.v !== 1 || !nullableString(holder) || !nullableString(lease) || !count(token) || !count(ttl)) {
    throw new StoreUnavailableError(`nats store: the entry of "${key}" is not a leasehold lease record`);
  }
  if (!count(since)) throw new StoreUnavailableError(`nats store: the entry of "${key}" has no lease start`);
  return {
    holder: holder as string | null,
    lease: lease as string | null,
    token: token as number,
    ttl: ttl as number,
    since: since as number,
    state: (state ?? null) as JsonValue | null,
    mark: (mark ?? null) as JsonValue | null,
  };
}

/** The bucket-wide key the server-time readings write; never the escaped form of a lease key. */
export const CLOCK_KEY = '=clock';

/** Longest KV key the store writes: a NATS protocol line (the subject inside) must stay under 4 KiB. */
const MAX_KV_KEY = 3000;
/** Characters a lease key keeps as they are; everything else is written `=XX` per UTF-8 byte. */
const PLAIN = /[-_/a-zA-Z0-9]/;
/** What the store's prefix may hold: KV key characters, dot-separated tokens, no `=` (escapes start with it). */
const PREFIX_SHAPE = /^(?:[-_/a-zA-Z0-9]+\.)*[-_/a-zA-Z0-9]*$/;

/** Checks the `prefix` option: KV key characters, `.` between non-empty tokens, no `=`. */
export function checkNatsPrefix(value: unknown, fallback: string): string {
  const prefix = checkPrefix(value, fallback, 256, 'nats store: prefix');
  if (!PREFIX_SHAPE.test(prefix)) {
    throw new ConfigError(
      `nats store: prefix must be letters, digits, "-", "_", "/" in "."-joined tokens, got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix;
}

/** The KV key of lease key `key`: `prefix` + the key with every other character escaped as `=XX`. */
export function kvKeyOf(prefix: string, key: string): string {
  if (hasLoneSurrogate(key)) throw new ConfigError(`nats store: key ${JSON.stringify(key)} is not well-formed Unicode`);
  let out = prefix;
  for (const char of key) {
    if (PLAIN.test(char)) out += char;
    else for (const byte of Buffer.from(char, 'utf8')) out += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length > MAX_KV_KEY) {
    throw new ConfigError(
      `nats store: key ${JSON.stringify(key.slice(0, 40))}… escapes to more than ${MAX_KV_KEY} characters`,
    );
  }
  return out;
}

/** The lease key of a KV key under `prefix`, or undefined when it is not one this store named. */
export function keyOfKvKey(prefix: string, kvKey: string): string | undefined {
  if (!kvKey.startsWith(prefix)) return undefined;
  const escaped = kvKey.slice(prefix.length);
  if (escaped === '' || !/^(?:[-_/a-zA-Z0-9]|=[0-9A-F]{2})+$/.test(escaped)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    if (escaped[i] === '=') {
      bytes.push(Number.parseInt(escaped.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(escaped.charCodeAt(i));
  }
  const key = Buffer.from(bytes).toString('utf8');
  return kvKeyOf('', key) === escaped ? key : undefined;
}
