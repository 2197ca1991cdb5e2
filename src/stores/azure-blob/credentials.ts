/**
 * Credentials for the Azure Blob store: checking a connection string without ever
 * echoing a value from it (B2), and building the container clients the store owns
 * (from a connection string, a container SAS URL, or `DefaultAzureCredential`).
 * See docs/stores/azure-blob.md ("Quick start", "Timeouts and retries").
 * @module
 */
import type { ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import { ConfigError } from '../../errors.js';
import { closest, errorText, importPeer, redactUrl, secretsOf } from '../../store-kit/index.js';

type Sdk = typeof import('@azure/storage-blob');

/** The shape of an `@azure/identity` credential, as the SDK accepts it. */
interface TokenCredentialLike {
  getToken(scopes: string | string[], options?: object): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

/** Loads `@azure/storage-blob` (an optional peer), with the "install it" error when it is missing. */
export function storageSdk(): Promise<Sdk> {
  return importPeer<Sdk>(
    'azure-blob',
    '@azure/storage-blob',
    () => import('@azure/storage-blob'),
    (mod) => (typeof mod.ContainerClient === 'function' ? (mod as unknown as Sdk) : undefined),
  );
}

/** The retry policy of clients the store builds: `maxTries` tries, each hinted `requestTimeoutMs`. */
export function pipelineOptions(requestTimeoutMs: number, maxTries: number): StoragePipelineOptions {
  return { retryOptions: { maxTries, tryTimeoutInMs: requestTimeoutMs, retryDelayInMs: 200, maxRetryDelayInMs: 1000 } };
}

/** The names a storage connection string holds, as Azure documents them. */
const CONNECTION_STRING_NAMES = [
  'DefaultEndpointsProtocol',
  'AccountName',
  'AccountKey',
  'EndpointSuffix',
  'BlobEndpoint',
  'QueueEndpoint',
  'TableEndpoint',
  'FileEndpoint',
  'SharedAccessSignature',
  'UseDevelopmentStorage',
  'DevelopmentStorageProxyUri',
];

const MALFORMED = 'azure-blob store: connectionString is malformed';

/**
 * How a name found in a connection string may be shown: a known name as Azure spells
 * it; a near miss of one (`AcountName`) as typed, with the name it resembles. Anything
 * else may be a secret split at its base64 padding (`AccountKey <key>==`, a pasted key),
 * so it is only counted, never shown.
 */
function showName(name: string): string | undefined {
  const known = CONNECTION_STRING_NAMES.find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  if (known) return known;
  const near = /^[A-Za-z]{1,40}$/.test(name) ? closest(name, CONNECTION_STRING_NAMES) : undefined;
  return near ? `${name} (did you mean ${near}?)` : undefined;
}

/** The names of a parsed connection string, for a message: shown ones listed, the others counted. */
function describeNames(names: readonly string[]): string {
  const shown = names.map(showName).filter((name): name is string => name !== undefined);
  const hidden = names.length - shown.length;
  const parts = shown.length ? [`the keys ${shown.join(', ')}`] : [];
  if (hidden > 0) parts.push(`${hidden} unrecognised name${hidden === 1 ? '' : 's'} (not shown: it may be a secret)`);
  return parts.join(' and ') || 'no keys';
}

/** Parses a connection string into its `Name=Value` parts (names lower-cased), never echoing a part. */
function parseConnectionString(text: string): { parts: Map<string, string>; names: string[] } {
  const parts = new Map<string, string>();
  const names: string[] = [];
  const segments = text.split(';').filter((segment) => segment.trim() !== '');
  for (const [index, segment] of segments.entries()) {
    const eq = segment.indexOf('=');
    if (eq <= 0) {
      throw new ConfigError(
        `${MALFORMED}: part ${index + 1} of ${segments.length} is not Name=Value (its text is not shown); ` +
          'expected AccountName=…;AccountKey=…;BlobEndpoint=…, or UseDevelopmentStorage=true',
      );
    }
    const name = segment.slice(0, eq).trim();
    names.push(name);
    parts.set(name.toLowerCase(), segment.slice(eq + 1).trim());
  }
  return { parts, names };
}

/**
 * Checks a connection string's shape without loading the SDK, and returns it trimmed.
 * @throws ConfigError that names the keys found, never a value
 */
export function checkConnectionString(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError('azure-blob store: connectionString must be a non-empty string (or pass containerClient)');
  }
  const text = value.trim();
  const { parts, names } = parseConnectionString(text);
  if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') return text;
  const hasAuth = parts.has('accountkey') || parts.has('sharedaccesssignature');
  const hasTarget = parts.has('accountname') || parts.has('blobendpoint');
  if (!hasAuth || !hasTarget || (parts.has('accountkey') && !parts.has('accountname'))) {
    throw new ConfigError(
      `${MALFORMED}: it needs AccountName and AccountKey (or BlobEndpoint and SharedAccessSignature), ` +
        `or UseDevelopmentStorage=true; got ${describeNames(names)}`,
    );
  }
  const endpoint = parts.get('blobendpoint');
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/i.test(endpoint)) {
    throw new ConfigError(`${MALFORMED}: BlobEndpoint "${redactUrl(endpoint)}" is not an http(s) URL`);
  }
  return text;
}

/**
 * Builds a container client from a checked connection string.
 * @throws ConfigError when the SDK refuses it (its message masked)
 */
export async function connectionStringClient(
  connectionString: string,
  containerName: string,
  options: StoragePipelineOptions,
): Promise<ContainerClient> {
  const sdk = await storageSdk();
  try {
    return new sdk.ContainerClient(connectionString, containerName, options);
  } catch (err) {
    throw new ConfigError(`${MALFORMED}: ${errorText(err, secretsOf(connectionString))}`);
  }
}

/**
 * Builds a container client from a container URL: with its SAS query when it has one,
 * else with `DefaultAzureCredential` from `@azure/identity` (loaded only then).
 * @param shown - the URL as messages show it (credentials masked)
 * @throws ConfigError for a SAS the SDK refuses, or a missing `@azure/identity`
 */
export async function containerUrlClient(
  base: string,
  query: string,
  shown: string,
  loadIdentity: () => Promise<unknown> = () => import('@azure/identity' as string),
): Promise<ContainerClient> {
  const sdk = await storageSdk();
  const options = pipelineOptions(10_000, 1);
  if (query.length > 1) {
    try {
      return new sdk.ContainerClient(`${base}${query}`, new sdk.AnonymousCredential(), options);
    } catch (err) {
      throw new ConfigError(`store: "${shown}" is not a valid container SAS URL: ${errorText(err, secretsOf(query))}`);
    }
  }
  let identity: { DefaultAzureCredential: new () => unknown };
  try {
    identity = (await loadIdentity()) as typeof identity;
  } catch (err) {
    throw new ConfigError(
      `store: "${shown}" has no SAS token, so it needs @azure/identity for DefaultAzureCredential; ` +
        'install it with `npm install @azure/identity`, or append a SAS token',
      { cause: err },
    );
  }
  if (typeof identity?.DefaultAzureCredential !== 'function') {
    throw new ConfigError('store: the installed @azure/identity has no DefaultAzureCredential');
  }
  return new sdk.ContainerClient(base, new identity.DefaultAzureCredential() as TokenCredentialLike, options);
}
