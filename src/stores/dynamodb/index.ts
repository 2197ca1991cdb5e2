/**
 * `leasehold/dynamodb` — leases on Amazon DynamoDB, through `@aws-sdk/client-dynamodb` v3.
 * Each key is one item; every operation is one conditional `UpdateItem` (or one read);
 * the fencing token is a counter on the item, which is never deleted. DynamoDB has no
 * clock to compare in a condition, so expiry is judged on bounds of the service's clock
 * read from its replies' `Date` headers. Table, IAM permissions, the clock model and its
 * reasoning, TTLs and limits: docs/stores/dynamodb.md.
 * @module
 */
import { loadSdk } from './client.js';
import { type DynamoDbUrlOptions, parseDynamoDbUrl } from './options.js';
import { DynamoDbStore } from './store.js';

export { DynamoDbStore, MIN_TTL_MS } from './store.js';
export type { DynamoDbStoreOptions, DynamoDbUrlOptions } from './options.js';
export { parseDynamoDbUrl } from './options.js';
export { tableDefinition } from './client.js';

/**
 * Opens `dynamodb://<table>?region=<region>[&endpoint=<url>][&createTable=true]…`, e.g.
 * `openStore('dynamodb://leasehold?region=eu-west-1', { prefix: 'myapp:' })`. Every
 * option of {@link DynamoDbStore} but `client` may be a query parameter; credentials come
 * from the SDK's default chain unless `accessKeyId` and `secretAccessKey` are given. The
 * store owns the client it builds: `close()` destroys it.
 *
 * @throws ConfigError for a malformed URL, an unknown parameter or option, or when
 *   `@aws-sdk/client-dynamodb` is not installed. Never echoes a secret.
 */
export async function fromUrl(url: string, options: DynamoDbUrlOptions = {}): Promise<DynamoDbStore> {
  const store = new DynamoDbStore(parseDynamoDbUrl(url, options));
  await loadSdk(); // fail at open time, not on the first request, when the SDK is missing
  return store;
}
