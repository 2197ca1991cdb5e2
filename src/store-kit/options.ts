/**
 * Checking a store's options once, at construction: unknown names refused (with the
 * closest known name suggested), each value checked and named in the error (B1).
 * @module
 */
import { ConfigError } from '../errors.js';

/** Edit distance between two short strings (names of options), for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return row[b.length] as number;
}

/** The known name closest to `name`, when it is close enough to be a typo. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Refuses an options object with a name not in `known`, naming it and the closest known
 * name: `"<what>: unknown option "timout" (did you mean "timeout"?)"`. Also refuses a
 * value that is not a plain object. `undefined` passes (no options).
 * @throws ConfigError
 */
export function checkOptionNames(what: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(`${what}: options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const near = closest(name, known);
    throw new ConfigError(
      `${what}: unknown option ${JSON.stringify(name)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ''}`,
    );
  }
}

/**
 * A store constructor's first check: `options` must be an object (`"<what>: options
 * <needs> are required"` otherwise, e.g. needs = "with a url"), with no unknown name
 * ({@link checkOptionNames}).
 * @throws ConfigError
 */
export function requireOptions<T extends object>(
  what: string,
  options: T | null | undefined,
  known: readonly string[],
  needs: string,
): asserts options is T {
  if (!options || typeof options !== 'object') throw new ConfigError(`${what}: options ${needs} are required`);
  checkOptionNames(what, options, known);
}

/** Checks a positive number of milliseconds; `fallback` when undefined. */
export function checkMs(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 2_147_483_647) {
    throw new ConfigError(
      `${option}: must be a positive number of milliseconds up to 2147483647, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Checks a positive safe integer; `fallback` when undefined. */
export function checkCount(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(`${option}: must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks a boolean; `fallback` when undefined. */
export function checkBoolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new ConfigError(`${option}: must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `text` has a UTF-16 surrogate without its pair (it has no UTF-8 form). */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

/**
 * Checks a key prefix (the option every store calls `prefix`): a string of at most
 * `max` characters, without control characters or lone surrogates; '' when undefined
 * unless `fallback` is given.
 */
export function checkPrefix(value: unknown, fallback = '', max = 256, option = 'prefix'): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length > max || CONTROL.test(value) || hasLoneSurrogate(value)) {
    throw new ConfigError(
      `${option}: must be a string of at most ${max} characters without control characters, ` +
        `got ${JSON.stringify(value)}`,
    );
  }
  return value;
}
