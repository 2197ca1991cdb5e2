import type { LeaseStore } from './store.js';
import { ConfigError } from './errors.js';
import { checkOptionNames } from './store-kit/options.js';
import { redactUrl } from './store-kit/redact.js';
import { STORES, type OpenStoreOptions, type StoreFactory } from './stores/registry.js';

export type { OpenStoreOptions, StoreFactory } from './stores/registry.js';

type Loader = () => Promise<StoreFactory>;

// Built-in stores are loaded on demand, so the core never imports a store (or its SDK)
// until a URL asks for it.
const registry = new Map<string, Loader>(
  STORES.flatMap((entry) =>
    entry.schemes.map((scheme): [string, Loader] => [scheme, () => entry.load().then((m) => m.fromUrl)]),
  ),
);

/**
 * Registers a store for a URL scheme (without the colon), so that `openStore` can
 * open it. A later registration for the same scheme replaces the earlier one.
 */
export function registerStore(
  scheme: string,
  factory: StoreFactory | (() => Promise<StoreFactory>),
  opts: { lazy?: boolean } = {},
): void {
  const s = scheme.toLowerCase().replace(/:$/, '');
  if (!/^[a-z][a-z0-9+.-]*$/.test(s)) throw new ConfigError(`registerStore: invalid scheme ${JSON.stringify(scheme)}`);
  registry.set(s, opts.lazy ? (factory as () => Promise<StoreFactory>) : async () => factory as StoreFactory);
}

/** The URL schemes `openStore` knows, sorted. */
export function knownSchemes(): string[] {
  return [...registry.keys()].sort();
}

/**
 * Opens a store from a URL: `memory:`, `file:<dir>`, and every scheme a store module
 * registered (`redis://`, `postgres://`, `mysql://`, `azure-blob://`, …). The store
 * opened here owns its connections: close it with `store.close()`.
 *
 * @throws ConfigError for a malformed URL or an unknown scheme (listing the known
 *   ones). Credentials in the URL never appear in the message.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<LeaseStore> {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new ConfigError(
      `store: expected a store URL such as "file:.leasehold" or "redis://localhost:6379", got ${JSON.stringify(url)}`,
    );
  }
  checkOptionNames('openStore', options, ['prefix'] satisfies (keyof OpenStoreOptions)[]);
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(url.trim());
  if (!m) {
    throw new ConfigError(
      `store: "${redactUrl(url)}" has no scheme; known schemes: ${knownSchemes()
        .map((s) => `${s}:`)
        .join(', ')}`,
    );
  }
  const scheme = (m[1] as string).toLowerCase();
  const loader = registry.get(scheme);
  if (!loader) {
    throw new ConfigError(
      `store: unknown scheme "${scheme}:" in "${redactUrl(url)}"; known schemes: ${knownSchemes()
        .map((s) => `${s}:`)
        .join(', ')}`,
    );
  }
  const factory = await loader();
  return factory(url.trim(), options);
}
