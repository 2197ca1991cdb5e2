/**
 * `leasehold/nats` — leases on a NATS JetStream KV bucket (nats-server 2.9 or later),
 * through the `@nats-io/transport-node`, `@nats-io/jetstream` and `@nats-io/kv` v3
 * packages. Acquire is a compare-and-set on the entry's revision, the token is the
 * revision that granted the lease, and expiry is judged on the server's timestamps.
 * The record, the clock model, the bucket and the requests per operation: docs/stores/nats.md.
 * @module
 */
import { loadNats } from './connection.js';
import { NatsKvStore, type NatsKvStoreOptions } from './store.js';

export { NatsKvStore, type NatsKvStoreOptions } from './store.js';
export { parseNatsUrl, type ParsedNatsUrl } from './url.js';

/** Options of {@link fromUrl}. */
export type NatsFromUrlOptions = Omit<NatsKvStoreOptions, 'url'>;

/**
 * Opens `nats://[user:password@|token@]host[:port][,host[:port]…][/bucket][?replicas=N]`,
 * e.g. for `openStore('nats://localhost:4222/leases', { prefix: 'myapp.' })`. The store
 * owns its connection: `close()` closes it.
 *
 * @throws ConfigError for a malformed URL, an unknown option, or when an SDK package is not installed.
 */
export async function fromUrl(url: string, options: NatsFromUrlOptions = {}): Promise<NatsKvStore> {
  const store = new NatsKvStore({ ...options, url });
  await loadNats(); // fail at open time, not on the first request, when a package is missing
  return store;
}
