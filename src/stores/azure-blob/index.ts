/**
 * `leasehold/azure-blob` — leases on Azure Blob Storage, using the service's own blob
 * leases: the store the project grew from. Each key is one block blob; the lease is an
 * Azure blob lease with the acquisition's proposed id, the fencing token a counter in
 * the blob's metadata, the fenced state its content. How it keeps the contract, what
 * each operation costs and its limits (TTLs of 15–60 s, a `Date`-header clock):
 * docs/stores/azure-blob.md.
 * @module
 */
import { ConfigError } from '../../errors.js';
import { redactUrl } from '../../store-kit/index.js';
import { containerUrlClient } from './credentials.js';
import { checkContainerName } from './naming.js';
import { AzureBlobStore } from './store.js';

export { AzureBlobStore } from './store.js';
export type { AzureBlobStoreOptions } from './options.js';
export { blobNameToKey, keyToBlobName } from './naming.js';

/** Options of {@link fromUrl}. */
export interface AzureBlobUrlOptions {
  /** The prefix when the URL's path names none. @defaultValue `'leasehold/'` */
  prefix?: string;
  /** Where `AZURE_STORAGE_CONNECTION_STRING` is read from. @defaultValue `process.env` */
  env?: NodeJS.ProcessEnv;
  /** Loads `@azure/identity` (tests pass a fake). @defaultValue `import('@azure/identity')` */
  loadIdentity?: () => Promise<unknown>;
}

const URL_SHAPE = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i;
/** Hosts that put the account in the path (Azurite: http://127.0.0.1:10000/devstoreaccount1/<container>). */
const PATH_STYLE_HOST = /^(localhost|127\.0\.0\.1|\[::1\]|[0-9.]+)(:\d+)?$/i;

/** The blob prefix a URL path names, percent-decoded; undefined for none. */
function pathPrefix(path: string, shown: string): string | undefined {
  if (path === '' || path === '/') return undefined;
  try {
    return decodeURIComponent(path.replace(/^\//, ''));
  } catch {
    throw new ConfigError(`store: "${shown}" has a malformed prefix (bad percent-encoding)`);
  }
}

/** `azure-blob://<container>[/<prefix>]`, with the connection string from the environment. */
async function fromConnectionStringUrl(
  host: string,
  path: string,
  shown: string,
  options: AzureBlobUrlOptions,
): Promise<AzureBlobStore> {
  const containerName = checkContainerName(decodeURIComponent(host));
  const connectionString = (options.env ?? process.env).AZURE_STORAGE_CONNECTION_STRING;
  if (!connectionString) {
    throw new ConfigError(
      `store: "${shown}" needs the AZURE_STORAGE_CONNECTION_STRING environment variable ` +
        '(UseDevelopmentStorage=true for Azurite)',
    );
  }
  const prefix = pathPrefix(path, shown) ?? options.prefix;
  const store = new AzureBlobStore({ connectionString, containerName, ...(prefix === undefined ? {} : { prefix }) });
  await store.ready();
  return store;
}

/**
 * Opens a store from a URL:
 *
 * - `azure-blob://<container>[/<prefix>]` — credentials from the
 *   `AZURE_STORAGE_CONNECTION_STRING` environment variable (`UseDevelopmentStorage=true`
 *   for Azurite on its default port).
 * - `https://<account>.blob.core.windows.net/<container>[/<prefix>]?<sas>` — a SAS URL.
 * - the same URL without a query — `DefaultAzureCredential` from `@azure/identity`
 *   (install it; it is loaded only then).
 *
 * The prefix defaults to `leasehold/` (or `options.prefix`). The store owns the client
 * it builds.
 *
 * @throws ConfigError for a malformed URL or connection string, a missing package or
 *   environment variable. Never echoes a key or SAS signature.
 */
export async function fromUrl(url: string, options: AzureBlobUrlOptions = {}): Promise<AzureBlobStore> {
  const shown = redactUrl(url);
  const match = URL_SHAPE.exec(url.trim());
  if (!match) {
    throw new ConfigError(
      `store: "${shown}" is not a valid Azure Blob URL; ` +
        'use azure-blob://<container> or https://<account>.blob.core.windows.net/<container>?<sas>',
    );
  }
  const scheme = (match[1] as string).toLowerCase();
  const host = match[2] as string;
  const path = match[3] ?? '';
  const query = match[4] ?? '';
  if (scheme === 'azure-blob') {
    // Everything comes from the connection string: a parameter here is a typo or a misplaced SAS.
    if (query !== '')
      throw new ConfigError(`store: "${shown}" takes no parameters (${query}); see docs/stores/azure-blob.md`);
    return fromConnectionStringUrl(host, path, shown, options);
  }
  if (scheme !== 'https' && scheme !== 'http') throw new ConfigError(`store: "${shown}" is not an Azure Blob URL`);
  if (host === '') throw new ConfigError(`store: "${shown}" names no account host`);
  const segments = path.split('/').filter((segment) => segment !== '');
  const accountSegments = PATH_STYLE_HOST.test(host) ? 1 : 0;
  const container = segments[accountSegments];
  if (!container) {
    const expected = 'use https://<account>.blob.core.windows.net/<container>';
    throw new ConfigError(`store: "${shown}" names no container; ${expected}`);
  }
  checkContainerName(container);
  const base = `${scheme}://${host}/${segments.slice(0, accountSegments + 1).join('/')}`;
  const rest = segments.slice(accountSegments + 1).join('/');
  const prefix = rest ? pathPrefix(`/${rest}${path.endsWith('/') ? '/' : ''}`, shown) : options.prefix;
  const containerClient = await containerUrlClient(base, query, shown, options.loadIdentity);
  return new AzureBlobStore({ containerClient, ...(prefix === undefined ? {} : { prefix }) });
}
