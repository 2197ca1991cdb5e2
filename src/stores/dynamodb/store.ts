/**
 * The DynamoDB store class: each operation one conditional request (docs/stores/dynamodb.md,
 * "Requests per operation"), expiry judged on bounds of the service's clock (`clock.ts`).
 * @module
 */
import type {
  GetItemCommandOutput,
  ScanCommandOutput,
  UpdateItemCommandInput,
  UpdateItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { ConfigError, StoreUnavailableError } from '../../errors.js';
import {
  decodeState,
  encodeMark,
  encodeState,
  hasLoneSurrogate,
  once,
  type Once,
  raceSignal,
  throwIfAborted,
  unavailable,
} from '../../store-kit/index.js';
import type * as contract from '../../store.js';
import { buildClient, ensureTable, loadSdk, type Outcome, type Sdk, send, type SendContext } from './client.js';
import { DATE_RESOLUTION_MS, hostNow, type ReplySeen, StoreClock } from './clock.js';
import {
  breakRequest,
  decodeItem,
  extendRequest,
  getRequest,
  grantedToken,
  grantRequest,
  type Item,
  type LeaseItem,
  regrantRequest,
  releaseRequest,
  scanRequest,
  type Target,
  writeStateRequest,
} from './items.js';
import { type CheckedOptions, checkOptions, type DynamoDbStoreOptions } from './options.js';

/**
 * Shortest TTL: below 1 s the `Date` header's 1 s resolution would make a lease last,
 * for the other hosts, more than twice its TTL (docs/stores/dynamodb.md, "TTL").
 */
export const MIN_TTL_MS = 1000;

/** Longest a partition key may be, in UTF-8 bytes (a DynamoDB limit). */
const MAX_KEY_BYTES = 2048;

/**
 * Bounds of the service's clock widen by 0.1 ms per second of age; an operation that
 * needs them after this long idle reads the clock first (one more request) to keep
 * leases from lasting needlessly long.
 */
const CLOCK_STALE_MS = 10 * 60_000;

/** The item `now()` reads for its reply's date: no lease key has a control character, so no lease's item. */
const CLOCK_ITEM = '\u0000clock';

/** The SDK and what sending needs, set up once per client. */
interface Link {
  readonly sdk: Sdk;
  readonly context: SendContext;
}

/** What this store can do (shared by every instance; frozen). */
const CAPABILITIES: contract.StoreCapabilities = Object.freeze({
  // Bounds of the service's clock from its replies' `Date` headers, whole seconds (clock.ts).
  clock: 'store',
  clockResolutionMs: DATE_RESOLUTION_MS,
  persistent: true,
  minTtlMs: MIN_TTL_MS,
  // A grant and a refusal both return the item as it was (ALL_OLD): state and mark included.
  stateOnAcquire: true,
});

/**
 * A {@link LeaseStore} on Amazon DynamoDB (or DynamoDB Local, dynalite). See
 * docs/stores/dynamodb.md for the table, the clock model and what each operation costs.
 *
 * @example
 * ```ts
 * import { DynamoDbStore } from 'leasehold/dynamodb';
 * const store = new DynamoDbStore({ table: 'leasehold', region: 'eu-west-1' });
 * ```
 */
export class DynamoDbStore implements contract.LeaseStore {
  readonly name = 'dynamodb';
  readonly capabilities: contract.StoreCapabilities = CAPABILITIES;
  /** Prefix of every item's partition key. */
  readonly prefix: string;
  /** Name of the table. */
  readonly table: string;

  readonly #options: CheckedOptions;
  readonly #where: string;
  readonly #clock = new StoreClock();
  readonly #link: Once<Link>;
  readonly #tableReady: Once<true>;

  /** @throws ConfigError naming the option for an unknown option or a bad value (B1). */
  constructor(options: DynamoDbStoreOptions) {
    this.#options = checkOptions(options);
    this.prefix = this.#options.prefix;
    this.table = this.#options.table;
    this.#where = `dynamodb table "${this.table}"`;
    this.#link = once(async () => {
      const sdk = await loadSdk();
      const client = this.#options.client ?? buildClient(sdk, this.#options);
      const { requestTimeoutMs: timeoutMs, secrets } = this.#options;
      return { sdk, context: { client, clock: this.#clock, timeoutMs, secrets } };
    });
    this.#tableReady = once(async (): Promise<true> => {
      const link = await this.#link();
      if (this.#options.createTable) await ensureTable(link.sdk, link.context, this.table);
      return true;
    });
  }

  /** The link, with the table created when asked; the wait honours `signal`. */
  async #ready(label: string, signal: AbortSignal | undefined): Promise<Link> {
    throwIfAborted(signal, label);
    try {
      const link = this.#link.value ?? (await raceSignal(this.#link(), signal, label));
      if (this.#tableReady.value === undefined) await raceSignal(this.#tableReady(), signal, label);
      return link;
    } catch (err) {
      throw unavailable(label, err, this.#options.secrets);
    }
  }

  /** {@link #ready}, and bounds of the service's clock no older than {@link CLOCK_STALE_MS}. */
  async #readyWithClock(label: string, signal: AbortSignal | undefined): Promise<Link> {
    const link = await this.#ready(label, signal);
    const sampled = this.#clock.sampledAt;
    if (sampled === undefined || hostNow() - sampled > CLOCK_STALE_MS) await this.#readClock(link, label, signal);
    return link;
  }

  #readClock(link: Link, label: string, signal: AbortSignal | undefined): Promise<Outcome<GetItemCommandOutput>> {
    const target = { table: this.table, pk: this.prefix + CLOCK_ITEM };
    const read = new link.sdk.GetItemCommand({ ...getRequest(target), ConsistentRead: false });
    return send(link.context, label, read, signal);
  }

  #target(key: string): Target {
    if (typeof key !== 'string' || key === '' || hasLoneSurrogate(key)) {
      throw new ConfigError(
        `dynamodb store: key must be a non-empty string of valid UTF-16, got ${JSON.stringify(key)}`,
      );
    }
    const pk = this.prefix + key;
    const bytes = Buffer.byteLength(pk);
    if (bytes > MAX_KEY_BYTES) {
      throw new ConfigError(
        `dynamodb store: key "${key.slice(0, 40)}…" is ${bytes} bytes with the prefix; ` +
          `DynamoDB allows ${MAX_KEY_BYTES}`,
      );
    }
    return { table: this.table, pk };
  }

  #update(link: Link, label: string, input: UpdateItemCommandInput, signal: AbortSignal | undefined) {
    return send<UpdateItemCommandOutput>(link.context, label, new link.sdk.UpdateItemCommand(input), signal);
  }

  /** The item as it is now (strongly consistent): for a refusal that did not carry it (DynamoDB Local, dynalite). */
  async #current(link: Link, label: string, target: Target, refused: Item | undefined, signal?: AbortSignal) {
    if (refused) return decodeItem(refused, label);
    const read = await send<GetItemCommandOutput>(
      link.context,
      label,
      new link.sdk.GetItemCommand(getRequest(target)),
      signal,
    );
    return read.passed ? decodeItem(read.output.Item, label) : undefined;
  }

  /** The store time of a reply: the lower bound of the service's clock when it arrived (never ahead of it). */
  #storeTime(seen: ReplySeen): { storeTime?: number } {
    return seen.receivedAt === undefined ? {} : { storeTime: Math.floor(this.#clock.lower(seen.receivedAt)) };
  }

  async acquire(req: contract.AcquireRequest, options?: contract.StoreOpOptions): Promise<contract.AcquireResult> {
    const label = `${this.#where}: acquire "${req.key}"`;
    const target = this.#target(req.key);
    const ttlMs = checkTtl(req.ttlMs);
    const mark = req.mark === undefined ? undefined : encodeMark(req.mark);
    const signal = options?.signal;
    const link = await this.#readyWithClock(label, signal);
    const sentAt = hostNow();
    // Others take the lease over only once their lower bound passes it: an upper bound plus the
    // TTL lasts past this holder's deadline by store time (docs, "Clock").
    const expiresAt = Math.ceil(this.#clock.upper(sentAt) + ttlMs);
    const now = Math.floor(this.#clock.lower(sentAt));
    const tokenBase = now * 1000;
    const lease = { holder: req.holder, leaseId: req.leaseId, expiresAt, mark };
    const granted = await this.#update(link, label, grantRequest(target, lease, now, tokenBase), signal);
    if (granted.passed) {
      const old = decodeItem(granted.output.Attributes, label);
      return this.#granted(grantedToken(old, tokenBase), old, granted.seen);
    }
    let current = await this.#current(link, label, target, granted.item, signal);
    let seen = granted.seen;
    if (current?.lease?.id === req.leaseId) {
      // A retry of an acquisition that reached the table (L9): same token, later expiry, the mark again.
      const ref = { leaseId: req.leaseId, token: current.token };
      const extended = await this.#update(link, label, regrantRequest(target, ref, lease), signal);
      if (extended.passed) {
        return this.#granted(ref.token, decodeItem(extended.output.Attributes, label), extended.seen);
      }
      current = await this.#current(link, label, target, extended.item, signal);
      seen = extended.seen;
    }
    return this.#busy(current, seen);
  }

  /** A grant's answer: `old` is the item as it was before the grant (its state, the mark it replaced). */
  #granted(token: number, old: LeaseItem | undefined, seen: ReplySeen): contract.AcquireResult {
    const [state, mark] = [decodeState(old?.state), decodeState(old?.mark)];
    return { acquired: true, token, ...this.#storeTime(seen), state, mark };
  }

  #busy(item: LeaseItem | undefined, seen: ReplySeen): contract.AcquireResult {
    const receivedAt = seen.receivedAt ?? hostNow();
    const expiresInMs = item?.lease ? Math.max(0, Math.ceil(item.lease.expiresAt - this.#clock.lower(receivedAt))) : 0;
    return {
      acquired: false,
      ...(item?.lease ? { holder: item.lease.holder } : {}),
      expiresInMs,
      ...this.#storeTime(seen),
      state: decodeState(item?.state),
      mark: decodeState(item?.mark),
    };
  }

  async renew(req: contract.RenewRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const label = `${this.#where}: renew "${req.key}"`;
    const target = this.#target(req.key);
    const ttlMs = checkTtl(req.ttlMs);
    const link = await this.#readyWithClock(label, options?.signal);
    const expiresAt = Math.ceil(this.#clock.upper(hostNow()) + ttlMs);
    return (await this.#update(link, label, extendRequest(target, req, expiresAt), options?.signal)).passed;
  }

  async release(req: contract.ReleaseRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const label = `${this.#where}: release "${req.key}"`;
    const target = this.#target(req.key);
    const state = req.state === undefined ? undefined : encodeState(req.state);
    const link = await this.#readyWithClock(label, options?.signal);
    const now = Math.floor(this.#clock.lower(hostNow()));
    return (await this.#update(link, label, releaseRequest(target, req, now, state), options?.signal)).passed;
  }

  async writeState(req: contract.WriteStateRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const label = `${this.#where}: writeState "${req.key}"`;
    const target = this.#target(req.key);
    const state = encodeState(req.state);
    const link = await this.#ready(label, options?.signal);
    return (await this.#update(link, label, writeStateRequest(target, req, state), options?.signal)).passed;
  }

  async forceRelease(key: string, options?: contract.StoreOpOptions): Promise<boolean> {
    const label = `${this.#where}: forceRelease "${key}"`;
    const target = this.#target(key);
    const link = await this.#readyWithClock(label, options?.signal);
    const now = Math.floor(this.#clock.lower(hostNow()));
    return (await this.#update(link, label, breakRequest(target, now), options?.signal)).passed;
  }

  async inspect(key: string, options?: contract.StoreOpOptions): Promise<contract.LeaseRecord | null> {
    const label = `${this.#where}: inspect "${key}"`;
    const target = this.#target(key);
    const link = await this.#ready(label, options?.signal);
    const read = await send<GetItemCommandOutput>(
      link.context,
      label,
      new link.sdk.GetItemCommand(getRequest(target)),
      options?.signal,
    );
    const item = read.passed ? decodeItem(read.output.Item, label) : undefined;
    return item ? this.#record(key, item, read.seen) : null;
  }

  /** One key's record from its item, judged by the lower bound of the store's clock when the reply came. */
  #record(key: string, item: LeaseItem, seen: ReplySeen): contract.LeaseRecord {
    const left = item.lease ? item.lease.expiresAt - this.#clock.lower(seen.receivedAt ?? hostNow()) : -1;
    const held = item.lease !== undefined && left >= 0;
    return {
      key,
      holder: held ? (item.lease?.holder ?? null) : null,
      token: item.token,
      expiresInMs: held ? Math.ceil(left) : null,
      state: decodeState(item.state),
      mark: decodeState(item.mark),
    };
  }

  /**
   * Every record under `prefix`: one strongly consistent `Scan` per 1 MB page of the
   * table, filtered by `begins_with(pk, …)`. The table has only a partition key, which a
   * `Query` can match only whole, so a prefix needs a scan; its cost follows the table's
   * size, not the prefix's (docs/stores/dynamodb.md, "inspectAll").
   */
  async inspectAll(options: contract.StoreOpOptions & { prefix: string }): Promise<contract.LeaseRecord[]> {
    const label = `${this.#where}: inspectAll ${JSON.stringify(options.prefix)}`;
    const records: contract.LeaseRecord[] = [];
    await this.#scan(label, options.prefix, true, options.signal, (key, item, seen) => {
      const decoded = decodeItem(item, label);
      if (decoded) records.push(this.#record(key, decoded, seen));
    });
    return records;
  }

  /**
   * Lists keys ever acquired with a strongly consistent `Scan` of the whole table, one
   * request per 1 MB page: meant for status output, not hot paths.
   */
  async list(options?: contract.StoreOpOptions & { prefix?: string }): Promise<string[]> {
    const keys: string[] = [];
    await this.#scan(`${this.#where}: list`, options?.prefix ?? '', false, options?.signal, (key) => keys.push(key));
    return keys;
  }

  /** Pages through the items whose key starts with `prefix` (in the user's key space), in one scan. */
  async #scan(
    label: string,
    prefix: string,
    records: boolean,
    signal: AbortSignal | undefined,
    onItem: (key: string, item: Item, seen: ReplySeen) => void,
  ): Promise<void> {
    const link = await this.#ready(label, signal);
    const fullPrefix = this.prefix + prefix;
    let start: Item | undefined;
    do {
      const request = scanRequest(this.table, fullPrefix, start, records);
      const page = await send<ScanCommandOutput>(link.context, label, new link.sdk.ScanCommand(request), signal);
      if (!page.passed) break;
      for (const item of page.output.Items ?? []) {
        const pk = item.pk?.S;
        if (pk?.startsWith(fullPrefix)) onItem(pk.slice(this.prefix.length), item, page.seen);
      }
      start = page.output.LastEvaluatedKey;
    } while (start);
  }

  /**
   * The service's time: a read of an item no lease uses, for its reply's `Date` header,
   * refined by the bounds earlier replies gave; never ahead of the service's clock.
   */
  async now(options?: contract.StoreOpOptions): Promise<number> {
    const label = `${this.#where}: read clock`;
    const link = await this.#ready(label, options?.signal);
    const read = await this.#readClock(link, label, options?.signal);
    const time = this.#storeTime(read.seen).storeTime;
    if (time === undefined) throw new StoreUnavailableError(`${label}: the reply had no Date header`);
    return time;
  }

  /**
   * Destroys the client the store built (a client you passed stays open); the next
   * operation builds a new one.
   */
  async close(): Promise<void> {
    const link = this.#link.value;
    this.#link.reset();
    this.#tableReady.reset();
    if (link && !this.#options.client) link.context.client.destroy();
  }
}

/** A TTL the store can write: finite and at least {@link MIN_TTL_MS}. @throws ConfigError naming it */
function checkTtl(ttlMs: number): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < MIN_TTL_MS) {
    throw new ConfigError(`dynamodb store: ttl must be at least ${MIN_TTL_MS}ms, got ${JSON.stringify(ttlMs)}`);
  }
  return ttlMs;
}
