/**
 * Parsing store URLs: every failure is a one-line `ConfigError` that shows the URL with
 * its credentials masked.
 * @module
 */
import { ConfigError } from '../errors.js';
import { redactUrl } from './redact.js';
import { closest } from './options.js';

/** A parsed store URL, with the masked form for messages. */
export interface StoreUrl {
  /** The WHATWG URL. */
  readonly url: URL;
  /** The URL with credentials masked, for messages. */
  readonly shown: string;
  /** The scheme, lower-case, without the colon. */
  readonly scheme: string;
}

/**
 * Parses `text` as a URL of one of `schemes`.
 * @param example - the expected shape, shown when the URL does not parse
 * @throws ConfigError naming the masked URL and the expected shape
 */
export function parseStoreUrl(text: string, schemes: readonly string[], example: string): StoreUrl {
  const shown = redactUrl(text);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`store: "${shown}" is not a valid URL; expected ${example}`);
  }
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  if (!schemes.includes(scheme)) {
    throw new ConfigError(
      `store: "${shown}" is not a ${schemes.map((s) => `${s}:`).join(' or ')} URL; expected ${example}`,
    );
  }
  return { url, shown, scheme };
}

/** Percent-decodes a URL part (user name, password, path segment). @throws ConfigError naming the masked URL. */
export function decodeUrlPart(part: string, shown: string, what = 'credentials'): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(`store: malformed percent-encoding in the ${what} of "${shown}"`);
  }
}

/**
 * The URL's query parameters as a map, refusing names not in `known` (with "did you
 * mean") and repeated names.
 * @throws ConfigError naming the parameter and the masked URL
 */
export function urlParams(url: URL, shown: string, known: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    if (!known.includes(name)) {
      const near = closest(name, known);
      const hint = near ? ` (did you mean "${near}"?)` : known.length ? `; known: ${known.join(', ')}` : '';
      throw new ConfigError(`store: unknown parameter "${name}" in "${shown}"${hint}`);
    }
    if (out.has(name)) throw new ConfigError(`store: parameter "${name}" is given twice in "${shown}"`);
    out.set(name, value);
  }
  return out;
}
