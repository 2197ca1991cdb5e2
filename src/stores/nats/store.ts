/**
 * The NATS JetStream KV store: each operation reads the key's entry, decides, and writes
 * with a compare-and-set on the entry's revision. Expiry is judged on the server's
 * timestamps (a revision's own, and a reading the store writes); the clock model, the
 * requests per operation and the bucket it expects: docs/stores/nats.md.
 * @module
 */
import { CLOCK_DRIFT } from '../../defaults.js';
import { StoreUnavailableError } from '../../errors.js';
import { checkMs, encodeMark, encodeState, raceSignal, requireOptions, throwIfAborted } from '../../store-kit/index.js';
import type {
  AcquireRequest,
  AcquireResult,
  JsonValue,
  LeaseRecord,
  LeaseRef,
  LeaseStore,
  ReleaseRequest,
  RenewRequest,
  StoreCapabilities,
  StoreOpOptions,
  WriteStateRequest,
} from '../../store.js';
import { isConflict, NatsConnection, type KvLike } from './connection.js';
import {
  CLOCK_KEY,
  checkNatsPrefix,
  decodeEntry,
  encodeEntry,
  expiryOf,
  keyOfKvKey,
  kvKeyOf,
  tokenOf,
  type LeaseEntry,
  type ReadEntry,
} from './entry.js';
import { parseNatsUrl } from './url.js';

/** Options of {@link NatsKvStore}. */
export interface NatsKvStoreOptions {
  /** `nats://[user:password@|token@]host[:port][,host[:port]…][/bucket][?replicas=N]`. */
  url: string;
  /**
   * Prefix of every KV key the store writes: letters, digits, `-`, `_`, `/`, in tokens
   * joined by `.`. Ending it with `.` lets `list()` filter on the server.
   * @defaultValue `'leasehold.'`
   */
  prefix?: string;
  /** Longest one request may wait for its answer. @defaultValue 5000 */
  requestTimeoutMs?: number;
  /** Longest opening the connection may take. @defaultValue 5000 */
  connectTimeoutMs?: number;
}

const OPTION_NAMES = [
  'url',
  'prefix',
  'requestTimeoutMs',
  'connectTimeoutMs',
] as const satisfies readonly (keyof NatsKvStoreOptions)[];

const DEFAULTS = { prefix: 'leasehold.', requestTimeoutMs: 5000, connectTimeoutMs: 5000 } as const;

/** Reads and writes of one operation before it gives up on an entry that keeps changing under it. */
const MAX_TRIES = 10;
/** Entries remembered for one-request renewals and releases; the oldest is forgotten first. */
const MAX_KNOWN = 1000;
/** A server-time reading older than this is not used to skip a fresh one. */
const READING_LIFETIME_MS = 60_000;

/** An entry this store wrote last, as it wrote it: the basis of a CAS without a read. */
interface Known {
  readonly revision: number;
  /** With `token` resolved. */
  readonly entry: LeaseEntry;
  /** Monotonic ms before the write that started the lease's current TTL, when this store sent it. */
  readonly ttlSentAt: number | undefined;
}

/** What an operation does with the entry it found: write (CAS on its revision), answer, or read it first. */
type Step<R> = { write: LeaseEntry; startsTtl: boolean; result: (revision: number) => R } | { answer: R } | 'read';

/** What this store can do (shared by every instance; frozen). */
const CAPABILITIES: StoreCapabilities = Object.freeze({
  clock: 'store',
  persistent: true,
  stateOnAcquire: true,
  minTtlMs: 1000,
});

/**
 * A {@link LeaseStore} on a NATS JetStream KV bucket (nats-server 2.9 or later). See
 * docs/stores/nats.md for the record, the clock model and the request counts.
 *
 * @example
 * ```ts
 * import { NatsKvStore } from 'leasehold/nats';
 * const store = new NatsKvStore({ url: 'nats://nats-1:4222,nats-2:4222/leases' });
 * ```
 */
export class NatsKvStore implements LeaseStore {
  readonly name = 'nats';
  readonly capabilities: StoreCapabilities = CAPABILITIES;
  /** Prefix of every KV key this store writes. */
  readonly prefix: string;
  readonly #where: string;
  readonly #connection: NatsConnection;
  readonly #known = new Map<string, Known>();
  /** The last server-time reading: the server's time and the monotonic ms before it was asked for. */
  #reading: { time: number; sentAt: number } | undefined;

  /** @throws ConfigError naming the option for an unknown option, a bad value or a malformed URL (B1). */
  constructor(options: NatsKvStoreOptions) {
    requireOptions('nats store', options, OPTION_NAMES, 'with a url');
    const url = parseNatsUrl(options.url);
    this.prefix = checkNatsPrefix(options.prefix, DEFAULTS.prefix);
    const requestTimeoutMs = checkMs(
      'nats store: requestTimeoutMs',
      options.requestTimeoutMs,
      DEFAULTS.requestTimeoutMs,
    );
    const connectTimeoutMs = checkMs(
      'nats store: connectTimeoutMs',
      options.connectTimeoutMs,
      DEFAULTS.connectTimeoutMs,
    );
    this.#connection = new NatsConnection({ url, requestTimeoutMs, connectTimeoutMs });
    this.#where = this.#connection.where;
  }

  /** Runs one operation's requests against the caller's signal; every failure is one line. */
  async #call<T>(label: string, signal: AbortSignal | undefined, work: (kv: KvLike) => Promise<T>): Promise<T> {
    const what = `${this.#where}: ${label}`;
    throwIfAborted(signal, what);
    try {
      return await raceSignal(
        this.#connection.kv().then((kv) => work(kv)),
        signal,
        what,
      );
    } catch (err) {
      throw this.#connection.failure(what, err);
    }
  }

  async #read(kv: KvLike, kvKey: string, key: string): Promise<ReadEntry> {
    const found = await kv.get(kvKey);
    if (!found) return { entry: null, revision: 0, created: 0 };
    const created = found.created.getTime();
    if (found.operation !== 'PUT') return { entry: null, revision: found.revision, created };
    return { entry: decodeEntry(found.string(), key), revision: found.revision, created };
  }

  /**
   * The server's time now: a write to the bucket's clock key, then a read of that key,
   * whose revision the server stamped after the write arrived (2 requests).
   */
  async #serverTime(kv: KvLike): Promise<number> {
    const sentAt = performance.now();
    await kv.put(CLOCK_KEY, '');
    const found = await kv.get(CLOCK_KEY);
    if (!found) throw new StoreUnavailableError(`${this.#where}: the clock entry vanished after it was written`);
    const time = found.created.getTime();
    this.#reading = { time, sentAt };
    return time;
  }

  /**
   * Whether `read`'s lease has expired by the server's clock. A fresh reading decides
   * "expired". "Not yet" may also come from the last reading plus the monotonic time since
   * it was asked for (a bound on the server's time that errs late): that costs no request
   * and can only make a waiter wait, never take a lease early.
   */
  async #judge(kv: KvLike, read: ReadEntry & { entry: LeaseEntry }) {
    const expiry = expiryOf(read);
    const reading = this.#reading;
    const elapsed = reading ? performance.now() - reading.sentAt : Number.POSITIVE_INFINITY;
    const latest = reading && elapsed < READING_LIFETIME_MS ? reading.time + elapsed * (1 + CLOCK_DRIFT) : undefined;
    if (latest !== undefined && latest < expiry) {
      return { expired: false, remainingMs: Math.ceil(expiry - latest), storeTime: undefined };
    }
    const now = await this.#serverTime(kv);
    return { expired: now >= expiry, remainingMs: Math.max(0, expiry - now), storeTime: now };
  }

  #remember(kvKey: string, known: Known): void {
    this.#known.delete(kvKey);
    this.#known.set(kvKey, known);
    if (this.#known.size > MAX_KNOWN) this.#known.delete(this.#known.keys().next().value as string);
  }

  /**
   * The read–decide–CAS loop every writing operation is: `decide` sees the entry this
   * store last wrote (`known`, no request) or a fresh read; a decision not to write is
   * only ever taken on a fresh read. A CAS that loses to another writer reads again.
   */
  async #change<R>(
    label: string,
    key: string,
    signal: AbortSignal | undefined,
    decide: (read: ReadEntry, kv: KvLike, known: Known | undefined) => Promise<Step<R>> | Step<R>,
  ): Promise<R> {
    return this.#call(`${label} "${key}"`, signal, async (kv) => {
      const kvKey = kvKeyOf(this.prefix, key);
      let known = this.#known.get(kvKey);
      for (let tries = 0; tries < MAX_TRIES; tries++) {
        const read = known
          ? { entry: known.entry, revision: known.revision, created: 0 }
          : await this.#read(kv, kvKey, key);
        const step = await decide(read, kv, known);
        if (step === 'read' || (known && 'answer' in step)) {
          known = undefined;
          continue;
        }
        if ('answer' in step) return step.answer;
        throwIfAborted(signal, `${this.#where}: ${label} "${key}"`);
        const sentAt = performance.now();
        let revision: number;
        try {
          revision = await kv.put(kvKey, encodeEntry(step.write), { previousSeq: read.revision });
        } catch (err) {
          if (!isConflict(err)) throw err;
          this.#known.delete(kvKey);
          known = undefined;
          continue;
        }
        const entry = { ...step.write, token: step.write.token || revision };
        const ttlSentAt = step.startsTtl ? sentAt : known?.ttlSentAt;
        this.#remember(kvKey, { revision, entry, ttlSentAt: entry.holder === null ? undefined : ttlSentAt });
        return step.result(revision);
      }
      throw new StoreUnavailableError(
        `${this.#where}: ${label} "${key}": the entry kept changing (${MAX_TRIES} tries)`,
      );
    });
  }

  /** Writes the mark in the record the grant's CAS writes: the fused acquire costs no more than a plain one. */
  async acquire(req: AcquireRequest, options?: StoreOpOptions): Promise<AcquireResult> {
    if (req.mark !== undefined) encodeMark(req.mark); // a bad mark fails before any request
    const ttl = Math.max(1, Math.ceil(req.ttlMs));
    return this.#change('acquire', req.key, options?.signal, async (read, kv, known): Promise<Step<AcquireResult>> => {
      const { entry } = read;
      const state = entry?.state ?? null;
      const mark = entry?.mark ?? null;
      const lease = { holder: req.holder, lease: req.leaseId, ttl, since: 0, state, mark: req.mark ?? mark };
      // `storeTime`: a server-time reading taken during this acquire, before its CAS (a takeover), so
      // the scheduler's store-clock estimate gets a sample; other grants carry none (no timestamp in a
      // publish acknowledgement).
      const grant = (token: number, storeTime?: number): Step<AcquireResult> => ({
        write: { ...lease, token },
        startsTtl: true,
        result: (revision) => ({
          acquired: true,
          token: token || revision,
          state,
          mark,
          ...(storeTime === undefined ? {} : { storeTime }),
        }),
      });
      if (!entry || entry.holder === null) return grant(0);
      if (entry.lease === req.leaseId) return grant(tokenOf({ ...read, entry }));
      if (known) return 'read';
      const judged = await this.#judge(kv, { ...read, entry });
      if (judged.expired) return grant(0, judged.storeTime);
      const busy = { acquired: false, holder: entry.holder, expiresInMs: judged.remainingMs, state, mark } as const;
      return { answer: judged.storeTime === undefined ? busy : { ...busy, storeTime: judged.storeTime } };
    });
  }

  async renew(req: RenewRequest, options?: StoreOpOptions): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(req.ttlMs));
    return this.#change('renew', req.key, options?.signal, (read): Step<boolean> => {
      const entry = ownEntry(read, req);
      if (!entry) return { answer: false };
      return { write: { ...entry, token: req.token, ttl, since: 0 }, startsTtl: true, result: () => true };
    });
  }

  /**
   * One CAS writing the free record (with `state`, the final state and no mark) when this
   * store wrote the last revision and the lease is unexpired by the monotonic bound.
   */
  async release(req: ReleaseRequest, options?: StoreOpOptions): Promise<boolean> {
    const final = req.state === undefined ? undefined : { state: req.state };
    if (final) encodeState(final.state); // a bad state fails before any request
    return this.#change('release', req.key, options?.signal, async (read, kv, known): Promise<Step<boolean>> => {
      const entry = ownEntry(read, req);
      if (!entry) return { answer: false };
      if (known) {
        // Unexpired by the monotonic time since this store sent the write that started the TTL.
        const sentAt = known.ttlSentAt;
        if (sentAt === undefined || (performance.now() - sentAt) * (1 + CLOCK_DRIFT) >= entry.ttl) return 'read';
      } else if ((await this.#judge(kv, { ...read, entry })).expired) {
        return { answer: false };
      }
      return { write: freed(entry, req.token, final), startsTtl: false, result: () => true };
    });
  }

  /** A read and a CAS: the state replaced, the mark cleared, the lease's start copied from the revision read. */
  async writeState(req: WriteStateRequest, options?: StoreOpOptions): Promise<boolean> {
    encodeState(req.state); // a bad state fails before any request
    return this.#change('write state', req.key, options?.signal, (read, _kv, known): Step<boolean> => {
      // The new revision must carry the lease's start, the server timestamp only a read returns.
      if (known) return 'read';
      const entry = ownEntry(read, req);
      if (!entry) return { answer: false };
      const since = entry.since || read.created;
      const write = { ...entry, token: req.token, since, state: req.state, mark: null };
      return { write, startsTtl: false, result: () => true };
    });
  }

  async forceRelease(key: string, options?: StoreOpOptions): Promise<boolean> {
    return this.#change('break', key, options?.signal, async (read, kv, known): Promise<Step<boolean>> => {
      if (known) return 'read';
      const { entry } = read;
      if (!entry || entry.holder === null) return { answer: false };
      if ((await this.#judge(kv, { ...read, entry })).expired) return { answer: false };
      return { write: freed(entry, tokenOf({ ...read, entry })), startsTtl: false, result: () => true };
    });
  }

  async inspect(key: string, options?: StoreOpOptions): Promise<LeaseRecord | null> {
    return this.#call(`inspect "${key}"`, options?.signal, async (kv) => {
      const read = await this.#read(kv, kvKeyOf(this.prefix, key), key);
      const { entry } = read;
      if (!entry) return null;
      if (entry.holder === null) return recordOf(key, { ...read, entry }, undefined);
      return recordOf(key, { ...read, entry }, await this.#judge(kv, { ...read, entry }));
    });
  }

  /**
   * The last revision of every key under the store's prefix (filtered by the server when
   * the prefix ends with `.`), through one ordered consumer: one request on the way
   * (its creation), values pushed, one deletion in the background. Expiry is judged on
   * the server time the read itself carries (the consumer's creation time), so no clock
   * reading is needed.
   */
  async inspectAll(options: StoreOpOptions & { prefix: string }): Promise<LeaseRecord[]> {
    const wanted = options.prefix;
    return this.#call(`inspect all "${wanted}"`, options.signal, async () => {
      const { values, serverTime } = await this.#connection.lastValues(this.#filter());
      const records: LeaseRecord[] = [];
      for (const value of values) {
        const key = keyOfKvKey(this.prefix, value.key);
        if (key === undefined || !key.startsWith(wanted) || value.operation !== 'PUT') continue;
        const read = { entry: decodeEntry(value.value, key), revision: value.revision, created: value.created };
        const expiry = expiryOf(read);
        const judged = { expired: serverTime >= expiry, remainingMs: Math.max(0, expiry - serverTime) };
        records.push(recordOf(key, read, read.entry.holder === null ? undefined : judged));
      }
      return records;
    });
  }

  /** The KV key pattern of every key this store names: its prefix's subjects when it ends with `.`, else all. */
  #filter(): string {
    return this.prefix === '' || !this.prefix.endsWith('.') ? '>' : `${this.prefix}>`;
  }

  /**
   * Lists keys ever acquired: the bucket's keys under the store's prefix (filtered by the
   * server when the prefix ends with `.`), through one short-lived ordered consumer.
   */
  async list(options?: StoreOpOptions & { prefix?: string }): Promise<string[]> {
    const wanted = options?.prefix ?? '';
    return this.#call('list', options?.signal, async (kv) => {
      const names = await kv.keys(this.#filter());
      const found = new Set<string>();
      try {
        for await (const name of names) {
          const key = keyOfKvKey(this.prefix, name);
          if (key?.startsWith(wanted)) found.add(key);
        }
      } finally {
        names.stop();
      }
      return [...found];
    });
  }

  /** The server's time: a write to the bucket's clock key and a read of its timestamp (2 requests). */
  async now(options?: StoreOpOptions): Promise<number> {
    return this.#call('read clock', options?.signal, (kv) => this.#serverTime(kv));
  }

  /** Closes the store's connection. */
  async close(): Promise<void> {
    this.#known.clear();
    await this.#connection.close();
  }
}

/** What {@link LeaseRecord} a read entry makes: free, or held unless `judged` says it expired. */
function recordOf(
  key: string,
  read: ReadEntry & { entry: LeaseEntry },
  judged: { expired: boolean; remainingMs: number } | undefined,
): LeaseRecord {
  const { entry } = read;
  const free = { key, holder: null, token: tokenOf(read), expiresInMs: null, state: entry.state, mark: entry.mark };
  if (entry.holder === null || !judged || judged.expired) return free;
  return { ...free, holder: entry.holder, expiresInMs: judged.remainingMs };
}

/** The entry when it is `ref`'s lease (same lease id and token), else undefined. */
function ownEntry(read: ReadEntry, ref: LeaseRef): LeaseEntry | undefined {
  const { entry } = read;
  if (!entry || entry.lease !== ref.leaseId || tokenOf({ ...read, entry }) !== ref.token) return undefined;
  return entry;
}

/**
 * The record of a key whose lease ended: no holder, the last token kept, and the state and
 * mark kept — or, with `final` (the fused release), the final state and no mark.
 */
function freed(entry: LeaseEntry, token: number, final?: { state: JsonValue }): LeaseEntry {
  const kept = final ? { state: final.state, mark: null } : { state: entry.state, mark: entry.mark };
  return { holder: null, lease: null, token, ttl: 0, since: 0, ...kept };
}
