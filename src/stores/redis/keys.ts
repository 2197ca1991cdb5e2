/**
 * Naming: the two Redis keys of one lease key, `<prefix>{<key>}` and `<prefix>{<key>}:lease`,
 * sharing a hash tag so they live in one Cluster slot. Layout: docs/stores/redis.md ("Key layout").
 * @module
 */
import { ConfigError } from '../../errors.js';
import { hasLoneSurrogate } from '../../store-kit/index.js';

/** The two Redis keys of one lease key: the state hash (never expires) and the lease hash (PEXPIRE). */
export type LeaseKeys = readonly [state: string, lease: string];

/** Writes a key so that it cannot end the hash tag: `%`, `{`, `}` percent-encoded. */
function encodeKey(key: string): string {
  return key.replace(/[%{}]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D'));
}

function decodeKey(name: string): string {
  return name.replace(/%(25|7B|7D)/g, (_match, hex: string) => (hex === '25' ? '%' : hex === '7B' ? '{' : '}'));
}

/** Escapes Redis glob metacharacters for `SCAN MATCH`. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Refuses a prefix with `{` or `}`: it would break the hash tag that keeps a key's Redis keys in one slot. */
export function checkBraces(option: string, prefix: string): string {
  if (/[{}]/.test(prefix)) {
    throw new ConfigError(`${option}: must be a string without "{" or "}", got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

/**
 * The Redis keys of `key` under `prefix`.
 * @throws ConfigError for a key with a lone surrogate: Redis keys are bytes, and it would be
 *   written as U+FFFD, so two keys could become one.
 */
export function leaseKeys(prefix: string, key: string): LeaseKeys {
  if (hasLoneSurrogate(key)) throw new ConfigError(`key: ${JSON.stringify(key)} is not valid Unicode (lone surrogate)`);
  const base = `${prefix}{${encodeKey(key)}}`;
  return [base, `${base}:lease`];
}

/**
 * How many lease keys' Redis names a {@link KeyNames} keeps: enough for a process that
 * schedules ten thousand jobs (at 1,024, a process owning 3,333 jobs emptied it every few
 * acquires and encoded every name again); about 150 bytes a key.
 */
const MAX_CACHED_NAMES = 16_384;

/**
 * The Redis names of lease keys under one prefix, remembered for the keys used lately:
 * acquire, renew and release of one lease name the same keys, and encoding them (two
 * regular-expression passes) was a visible share of each request's CPU time.
 */
export class KeyNames {
  readonly #prefix: string;
  readonly #cache = new Map<string, Named>();

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** {@link leaseKeys} of `key`. @throws ConfigError as it does. */
  of(key: string): LeaseKeys {
    return this.#named(key).names;
  }

  /**
   * {@link leaseKeys} of `key` followed by `index` (the store's index of its keys, the same
   * for every call): an acquire's keys on one server, made once per key, not per acquire.
   */
  withIndex(key: string, index: string): readonly string[] {
    const named = this.#named(key);
    if (named.withIndex === undefined) named.withIndex = [named.names[0], named.names[1], index];
    return named.withIndex;
  }

  #named(key: string): Named {
    let named = this.#cache.get(key);
    if (named === undefined) {
      named = { names: leaseKeys(this.#prefix, key), withIndex: undefined };
      // Dropped wholesale when full: a process on many keys re-encodes, one on a few never does.
      if (this.#cache.size >= MAX_CACHED_NAMES) this.#cache.clear();
      this.#cache.set(key, named);
    }
    return named;
  }
}

/** What {@link KeyNames} remembers of one key. */
interface Named {
  readonly names: LeaseKeys;
  withIndex: readonly string[] | undefined;
}

/**
 * The index of a store's lease keys on one server, and the key that says it is complete:
 * `<prefix>{}index`, a sorted set of the state hashes' Redis names (all at score 0, so
 * ordered by name and read by prefix with `ZRANGEBYLEX`), and `<prefix>{}index:scanned`,
 * present (with an expiry) while the index is known to hold every key. A lease key's names
 * always have a key between the braces and end with `}` or `}:lease`, and a prefix has no
 * brace, so neither can be another store's or another key's name.
 * docs/stores/redis.md ("inspectAll").
 */
export function indexKeys(prefix: string): readonly [index: string, scanned: string] {
  return [`${prefix}{}index`, `${prefix}{}index:scanned`];
}

/** What the Redis name of every state hash under `prefix` whose key starts with `keyPrefix` starts with. */
export function namePrefix(prefix: string, keyPrefix: string): string {
  return `${prefix}{${encodeKey(keyPrefix)}`;
}

/** The `SCAN MATCH` pattern of every state hash under `prefix` whose key starts with `keyPrefix`. */
export function scanPattern(prefix: string, keyPrefix: string): string {
  return `${globEscape(prefix)}{${globEscape(encodeKey(keyPrefix))}*}`;
}

/** The lease key a scanned Redis key names, or undefined for a key that is not a state hash under `prefix`. */
export function keyOfName(prefix: string, name: string): string | undefined {
  const head = `${prefix}{`;
  return name.startsWith(head) && name.endsWith('}') ? decodeKey(name.slice(head.length, -1)) : undefined;
}
