/**
 * `leasehold/etcd` — leases on etcd v3 (3.4 or later), through `etcd3` 1.x. Expiry is an
 * etcd lease counted down by the cluster's leader; acquire is a transaction on the key's
 * create revision; tokens are etcd revisions, which grow across the whole cluster and
 * survive restarts and compaction. Key layout, TTL limits, requests per operation and
 * the clock model: docs/stores/etcd.md.
 * @module
 */
import { ConfigError } from '../../errors.js';
import {
  checkCount,
  checkMs,
  requireOptions,
  checkPrefix,
  encodeMark,
  encodeState,
  redactUrl,
  secretsOf,
  toToken,
} from '../../store-kit/index.js';
import type * as contract from '../../store.js';
import { EtcdConnection, type EtcdSource, loadEtcd } from './client.js';
import { memberTime } from './clock.js';
import { etcdKeys, etcdLeaseId, keyOfMarker, markerPrefix, rangeEnd } from './keys.js';
import { grant, keepAliveOnce, revoke, timeLeft } from './leases.js';
import {
  acquireTxn,
  breakTxn,
  checkTxn,
  type FoundKeys,
  foundKeys,
  inspectAllTxn,
  readKeys,
  readTxn,
  releaseTxn,
  stateAt,
  writeStateTxn,
} from './txn.js';
import type { EtcdClientLike } from './rpc.js';
import { parseEtcdUrl, type ParsedEtcdUrl } from './url.js';

export type { EtcdClientLike } from './rpc.js';
export { parseEtcdUrl, type ParsedEtcdUrl } from './url.js';

/** Options of {@link EtcdStore}. */
export interface EtcdStoreOptions {
  /**
   * `etcd://[user:password@]host[:port][,host[:port]…][/prefix/]`, or `etcds://…` for TLS
   * (verified against Node's CA list). List several members of a cluster: a request
   * that fails to connect is tried on the next one. The store opens its own `etcd3`
   * client (imported on first use) and closes it in `close()`.
   */
  url: string;
  /**
   * Your `Etcd3` client (from `etcd3` 1.x) for the members of `url`, used instead of one
   * the store would open: for client certificates, a private CA or your own retry
   * policy. The store never closes it; credentials then belong in the client, not the URL.
   */
  client?: EtcdClientLike;
  /**
   * Prefix of every etcd key the store writes. The URL's path gives one too; giving two
   * different ones is an error.
   * @defaultValue `'leasehold/'`
   */
  prefix?: string;
  /**
   * Time budget of one request in ms, shared by its retries on other members; past it the
   * request fails with `StoreUnavailableError`. A caller's `signal` can end it sooner.
   * @defaultValue 5000
   */
  requestTimeoutMs?: number;
  /**
   * How many keys one range request of {@link EtcdStore.list} reads.
   * @defaultValue 1000
   */
  listPageSize?: number;
}

/** Options of {@link fromUrl}. */
export type EtcdFromUrlOptions = Omit<EtcdStoreOptions, 'url' | 'client'>;

const OPTION_NAMES: readonly (keyof EtcdStoreOptions)[] = [
  'url',
  'client',
  'prefix',
  'requestTimeoutMs',
  'listPageSize',
];

const DEFAULTS = {
  prefix: 'leasehold/',
  requestTimeoutMs: 5000,
  listPageSize: 1000,
} satisfies Required<EtcdFromUrlOptions>;

/**
 * Shortest TTL, in ms: etcd raises every lease to its minimum TTL, 1.5 election timeouts
 * rounded up to a second (2 s with the default 1 s election timeout). A shorter TTL would
 * be held longer than asked, so it is refused.
 */
const MIN_TTL_MS = 2000;

/** The prefix: the option's, the URL path's, or the default; two different ones are refused. */
function prefixOf(option: unknown, url: ParsedEtcdUrl, shown: string): string {
  const fromPath = url.prefix;
  if (option !== undefined && fromPath !== undefined && option !== fromPath) {
    throw new ConfigError(`etcd store: prefix ${JSON.stringify(option)} differs from the path of "${shown}"`);
  }
  return checkPrefix(option ?? fromPath, DEFAULTS.prefix, 256, 'etcd store: prefix');
}

/** Where the client comes from: yours (checked for the RPCs the store sends), or one opened from the URL. */
function sourceOf(client: EtcdClientLike | undefined, url: ParsedEtcdUrl, shown: string): EtcdSource {
  if (client === undefined) return { url };
  if (url.username !== undefined) {
    throw new ConfigError(`etcd store: with a client, give credentials to the client, not in "${shown}"`);
  }
  if (typeof client?.kv?.txn !== 'function' || typeof client.leaseClient?.leaseGrant !== 'function') {
    throw new ConfigError(
      'etcd store: client must be an Etcd3 client from the etcd3 package (it needs kv and leaseClient)',
    );
  }
  return { client };
}

/**
 * A {@link contract.LeaseStore} on etcd v3. See docs/stores/etcd.md for the key layout, the token
 * design and the requests each operation costs.
 *
 * @example
 * ```ts
 * import { EtcdStore } from 'leasehold/etcd';
 * const store = new EtcdStore({ url: 'etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379' });
 * ```
 */
export class EtcdStore implements contract.LeaseStore {
  readonly name = 'etcd';
  readonly capabilities: contract.StoreCapabilities = {
    clock: 'store',
    persistent: true,
    stateOnAcquire: true,
    minTtlMs: MIN_TTL_MS,
    ttlGranularityMs: 1000,
    clockResolutionMs: 1000,
  };
  /** Prefix of every etcd key this store writes. */
  readonly prefix: string;
  readonly #requestTimeoutMs: number;
  readonly #listPageSize: number;
  /** Member base URLs (`http://host:port`), for {@link now}. */
  readonly #members: readonly string[];
  readonly #connection: EtcdConnection;

  /** @throws ConfigError naming the option for an unknown option or a bad value (B1). */
  constructor(options: EtcdStoreOptions) {
    requireOptions('etcd store', options, OPTION_NAMES, 'with a url');
    if (typeof options.url !== 'string') {
      throw new ConfigError(`etcd store: url must be a string, got ${JSON.stringify(options.url)}`);
    }
    const url = parseEtcdUrl(options.url);
    const shown = redactUrl(options.url);
    this.prefix = prefixOf(options.prefix, url, shown);
    this.#requestTimeoutMs = checkMs(
      'etcd store: requestTimeoutMs',
      options.requestTimeoutMs,
      DEFAULTS.requestTimeoutMs,
    );
    this.#listPageSize = checkCount('etcd store: listPageSize', options.listPageSize, DEFAULTS.listPageSize);
    this.#members = url.hosts.map((host) => `${url.tls ? 'https' : 'http'}://${host}`);
    const secrets = [url.password, url.rawPassword, ...secretsOf(options.url)];
    const where = `etcd ${url.hosts.join(',')}`;
    this.#connection = new EtcdConnection(where, sourceOf(options.client, url, shown), secrets, this.#requestTimeoutMs);
  }

  /** A label for messages about `what` on `key`, starting with where the store is. */
  #label(what: string, key?: string): string {
    return `${this.#connection.where}: ${what}${key === undefined ? '' : ` "${key}"`}`;
  }

  /**
   * Two requests: a grant of the acquisition's etcd lease, then the transaction, which
   * writes the mark with the grant. On a busy key the unused lease is revoked in the
   * background (left alone, it would expire anyway).
   */
  async acquire(req: contract.AcquireRequest, options?: contract.StoreOpOptions): Promise<contract.AcquireResult> {
    const mark = req.mark === undefined ? undefined : encodeMark(req.mark);
    const keys = etcdKeys(this.prefix, req.key);
    const etcdLease = etcdLeaseId(req.leaseId);
    const label = this.#label('acquire', req.key);
    const signal = options?.signal;
    const call = this.#connection.call.bind(this.#connection);
    await call(label, signal, (client, callOptions) => grant(client, etcdLease, req.ttlMs, callOptions));
    const acquisition = { holder: req.holder, leaseId: req.leaseId, etcdLease, mark };
    const answer = await call(label, signal, (client, callOptions) =>
      client.kv.txn(acquireTxn(keys, acquisition), callOptions),
    );
    if (answer.succeeded) {
      // The branch's third and fourth operations read the state and the mark before it was written.
      const token = toToken(answer.header.revision, label);
      return { acquired: true, token, state: stateAt(answer, 2), mark: stateAt(answer, 3) };
    }
    const found = readKeys(answer);
    const lease = found.lease;
    if (lease && lease.value.toString('utf8') === req.leaseId && lease.lease === etcdLease) {
      // A retry whose first attempt landed (L9): the nested transaction wrote the mark again; extend that lease.
      const extended = await call(label, signal, (client, callOptions) =>
        keepAliveOnce(client, etcdLease, callOptions),
      );
      const token = toToken(lease.create_revision, label);
      if (extended) return { acquired: true, token, state: found.state, mark: found.mark };
    } else {
      void call(label, undefined, (client, callOptions) => revoke(client, etcdLease, callOptions)).catch(() => {});
    }
    const holder = found.marker?.value.toString('utf8');
    return { acquired: false, ...(holder === undefined ? {} : { holder }), state: found.state, mark: found.mark };
  }

  /**
   * Two requests: a check that the lease key is still this acquisition's, then one
   * keep-alive of its etcd lease. A transaction cannot touch a lease, and a keep-alive
   * cannot be guarded by a key; checking first means a wrong token extends nothing.
   */
  async renew(req: contract.RenewRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const keys = etcdKeys(this.prefix, req.key);
    const label = this.#label('renew', req.key);
    const signal = options?.signal;
    const leaseId = etcdLeaseId(req.leaseId);
    const check = await this.#connection.call(label, signal, (client, callOptions) =>
      client.kv.txn(checkTxn(keys, req), callOptions),
    );
    if (!check.succeeded) return false;
    return this.#connection.call(label, signal, (client, callOptions) => keepAliveOnce(client, leaseId, callOptions));
  }

  /**
   * One transaction: the lease key deleted and, with `state` (the fused release), the state
   * written and the mark cleared. The etcd lease, left without a key, is not revoked: it
   * runs out by itself within its TTL, and its renewal check fails from now on (the key is
   * gone). An explicit revoke would cost a request and the same Raft entry etcd's leader
   * writes when the lease runs out.
   */
  async release(req: contract.ReleaseRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const state = req.state === undefined ? undefined : encodeState(req.state);
    const keys = etcdKeys(this.prefix, req.key);
    const answer = await this.#connection.call(
      this.#label('release', req.key),
      options?.signal,
      (client, callOptions) => client.kv.txn(releaseTxn(keys, req, state), callOptions),
    );
    return answer.succeeded;
  }

  /** One transaction, guarded like release: the state written, the mark cleared. */
  async writeState(req: contract.WriteStateRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const state = encodeState(req.state);
    const keys = etcdKeys(this.prefix, req.key);
    const answer = await this.#connection.call(
      this.#label('write state', req.key),
      options?.signal,
      (client, callOptions) => client.kv.txn(writeStateTxn(keys, req, state), callOptions),
    );
    return answer.succeeded;
  }

  /** A read, a transaction deleting the lease key read, and a revoke of its etcd lease. */
  async forceRelease(key: string, options?: contract.StoreOpOptions): Promise<boolean> {
    const keys = etcdKeys(this.prefix, key);
    const label = this.#label('force release', key);
    const call = this.#connection.call.bind(this.#connection);
    const read = await call(label, options?.signal, (client, callOptions) =>
      client.kv.range({ key: keys.lease }, callOptions),
    );
    const lease = read.kvs[0];
    if (!lease) return false;
    const answer = await call(label, options?.signal, (client, callOptions) =>
      client.kv.txn(breakTxn(keys, lease.create_revision), callOptions),
    );
    if (!answer.succeeded) return false;
    await call(label, options?.signal, (client, callOptions) => revoke(client, lease.lease, callOptions)).catch(
      () => {},
    );
    return true;
  }

  /** One read of the four keys; when held, one more for the etcd lease's time left. */
  async inspect(key: string, options?: contract.StoreOpOptions): Promise<contract.LeaseRecord | null> {
    const keys = etcdKeys(this.prefix, key);
    const label = this.#label('inspect', key);
    const found = readKeys(
      await this.#connection.call(label, options?.signal, (client, callOptions) =>
        client.kv.txn(readTxn(keys), callOptions),
      ),
    );
    return found.marker ? this.#record({ ...found, key }, label, options?.signal) : null;
  }

  /**
   * One transaction reading the four namespaces' ranges under `prefix`, then one lease
   * time-to-live per held key (sent together): etcd reports a lease's time left only
   * through that call, never with a key.
   */
  async inspectAll(options: contract.StoreOpOptions & { prefix: string }): Promise<contract.LeaseRecord[]> {
    const label = this.#label('inspect all', options.prefix);
    const answer = await this.#connection.call(label, options.signal, (client, callOptions) =>
      client.kv.txn(inspectAllTxn(this.prefix, options.prefix), callOptions),
    );
    return Promise.all(foundKeys(this.prefix, answer).map((found) => this.#record(found, label, options.signal)));
  }

  /** The record of a key read with its marker; asks for the etcd lease's time left when its lease key exists. */
  async #record(found: FoundKeys, label: string, signal: AbortSignal | undefined): Promise<contract.LeaseRecord> {
    const { key, lease, marker, state, mark } = found;
    const left =
      lease &&
      (await this.#connection.call(label, signal, (client, callOptions) => timeLeft(client, lease.lease, callOptions)));
    const held = lease !== undefined && left !== null && left !== undefined;
    return {
      key,
      holder: held ? (marker?.value.toString('utf8') ?? null) : null,
      token: toToken(held ? lease.create_revision : marker?.mod_revision, label),
      expiresInMs: held ? left : null,
      state,
      mark,
    };
  }

  /** Reads the marker keys (one per key ever acquired), `listPageSize` per request. */
  async list(options?: contract.StoreOpOptions & { prefix?: string }): Promise<string[]> {
    const label = this.#label('list');
    const start = markerPrefix(this.prefix, options?.prefix ?? '');
    const end = rangeEnd(start);
    const found: string[] = [];
    let from = start;
    for (;;) {
      const page = await this.#connection.call(label, options?.signal, (client, callOptions) =>
        client.kv.range({ key: from, range_end: end, limit: this.#listPageSize, keys_only: true }, callOptions),
      );
      for (const kv of page.kvs) found.push(keyOfMarker(this.prefix, kv.key));
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || !last) return found;
      from = Buffer.concat([last.key, Buffer.from([0])]); // the next key after the last one read
    }
  }

  /** A member's wall clock, from the `Date` header of its HTTP endpoint (whole seconds). */
  async now(options?: contract.StoreOpOptions): Promise<number> {
    const timeout = AbortSignal.timeout(this.#requestTimeoutMs);
    const signal = options?.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    return memberTime(this.#label('read clock'), this.#members, signal);
  }

  /** Closes the client the store opened; a client you passed stays open. */
  async close(): Promise<void> {
    await this.#connection.close();
  }
}

/**
 * Opens `etcd://host[:port][,host[:port]…][/prefix/]` or `etcds://…` (TLS), e.g. for
 * `openStore('etcd://127.0.0.1:2379', { prefix: 'myapp/' })`. The store owns its
 * client: `close()` closes it.
 *
 * @throws ConfigError for a malformed URL, an unknown option, or when `etcd3` is not installed.
 */
export async function fromUrl(url: string, options: EtcdFromUrlOptions = {}): Promise<EtcdStore> {
  await loadEtcd(); // a missing etcd3 fails here, at open time, not on the first request
  return new EtcdStore({ ...options, url });
}
