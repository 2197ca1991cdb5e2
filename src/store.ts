/**
 * The store contract: the few primitives a backend must perform atomically.
 *
 * Everything else — renewal, deadlines, waiting, scheduling — lives in the core and
 * is written once against this interface. A third party can implement a store from
 * these docs alone, then certify it with `runConformance` from `leasehold/testing`.
 *
 * ## Words
 *
 * - A **lease** on a key is identified by its `leaseId` (a random UUID the client
 *   chose for one acquisition) and its `token` (the fencing token the store issued).
 * - A lease is **current** when it is the last lease granted on the key, it has not
 *   been released or broken, and it has not expired by the store's clock.
 * - **Store time** is the store's own clock (SQL `now()`, Redis `TIME`, the Azure
 *   `Date` header, the kernel's file timestamps). Expiry is always judged on it, never
 *   on the caller's clock.
 *
 * ## Obligations common to every method
 *
 * - Each method is **one atomic step** at the store: its check and its write happen
 *   together or not at all, under any concurrency, from any number of processes.
 * - A method that cannot reach the store, or is not answered before `signal` aborts,
 *   rejects with `StoreUnavailableError` (with the original error as `cause`). It never
 *   reports an unreachable store as "busy" or "lost".
 * - A method honours `options.signal`: when it aborts, the method rejects promptly
 *   (with `StoreUnavailableError` or the signal's reason) rather than waiting on the
 *   network. The core also races every call against its own timeout.
 * - Errors, logs and messages never contain credentials.
 *
 * @module
 */

/** A JSON value, as stored in a key's fenced state. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Options every store method accepts. */
export interface StoreOpOptions {
  /** Aborts the request; the method must reject promptly once it fires. */
  signal?: AbortSignal;
}

/** What a store can and cannot do; the core and the conformance suite adapt to it. */
export interface StoreCapabilities {
  /**
   * Whose clock judges expiry: `'store'` when the store has its own (SQL, Redis, Azure,
   * the file system's timestamps), `'host'` when it is the caller's wall clock.
   */
  readonly clock: 'store' | 'host';
  /** True when keys, tokens and state survive a restart of the store. */
  readonly persistent: boolean;
  /** Shortest TTL the store accepts, in ms. Default 1. */
  readonly minTtlMs?: number;
  /** Longest TTL the store accepts, in ms. Default: unbounded. */
  readonly maxTtlMs?: number;
  /** TTLs are rounded to a multiple of this many ms by the store (Azure: 1000). Default 1. */
  readonly ttlGranularityMs?: number;
  /** True when {@link LeaseStore.acquire} returns the key's state, saving a read. */
  readonly stateOnAcquire?: boolean;
  /**
   * Resolution of the store times it reports (`now()`, `storeTime`), in ms, when they are
   * truncated (Azure: 1000, from the HTTP `Date` header). The scheduler then spreads a few
   * extra clock reads over different phases of that interval to pin the offset down.
   * Default 1.
   */
  readonly clockResolutionMs?: number;
  /**
   * True when {@link AcquireRequest.unlessWaiter} is honoured: bounded waiting's check for
   * an announced waiter (docs/guarantees.md, L11) rides in the acquire request itself.
   * Without it the core reads the announcement first, one request more. Default false.
   */
  readonly checksWaiters?: boolean;
  /**
   * True when the store applies one client's requests on a key in the order they were sent:
   * a request sent after another is never applied before it (one connection to one server,
   * or in-process). A queued `acquire` of this process is then sent right behind its release
   * of the key, without waiting for the release's answer, so a hand-off inside one process
   * takes one round trip instead of two (docs/guarantees.md, L11). Safety does not depend on
   * it: were the acquire applied first, it would only be answered busy and retried after the
   * release. Default false.
   */
  readonly ordered?: boolean;
}

/** Input of {@link LeaseStore.acquire}. */
export interface AcquireRequest {
  /** The key, already validated by the core (non-empty, at most 512 characters). */
  readonly key: string;
  /** Who asks, for display (`hostname:pid:random`). Never an ownership proof on its own. */
  readonly holder: string;
  /**
   * A random UUID chosen by the client for this acquisition. A retry of the same
   * acquisition reuses it: when the key's current lease already has this `leaseId`,
   * the store must answer `acquired: true` with that lease's token and extend its
   * expiry, instead of answering busy (L9).
   */
  readonly leaseId: string;
  /** Time to live in ms, within the store's capabilities. */
  readonly ttlMs: number;
  /**
   * A small record of what the new holder is starting (the scheduler's start record: the
   * slot, the holder, the start time), at most 1 KiB serialized (`MAX_MARK_BYTES` in the
   * store kit). When
   * given, a grant sets the key's mark to it in the same atomic step (a retry, L9, sets it
   * again); a busy answer writes nothing. When absent, the key's mark is left as it is.
   * This is the fused acquire: the grant and its start record cost one request.
   */
  readonly mark?: JsonValue;
  /**
   * Only for stores with `capabilities.checksWaiters` (others never receive it): the key
   * on which waiters for this key announce themselves (bounded waiting, L11). When that
   * key has a current lease whose holder is not this request's `holder`, the store grants
   * nothing, whether or not this key is free, and answers `acquired: false` with `waiter`
   * set to that holder; it writes nothing. Checked in the same atomic step as the acquire,
   * after the retry check: a key whose current lease has this `leaseId` is granted (L9).
   */
  readonly unlessWaiter?: string;
}

/** Result of {@link LeaseStore.acquire}. */
export type AcquireResult =
  | {
      readonly acquired: true;
      /** Fencing token: a safe integer strictly greater than every token ever issued for the key (L2). */
      readonly token: number;
      /** Store time (epoch ms) at which the acquisition took effect, when the store knows it. */
      readonly storeTime?: number;
      /** The key's fenced state, when `capabilities.stateOnAcquire` is set. */
      readonly state?: JsonValue | null;
      /**
       * The key's mark as it was before this grant wrote its own (null: none), when
       * `capabilities.stateOnAcquire` is set. On a retry (L9) it is the retried grant's mark.
       */
      readonly mark?: JsonValue | null;
    }
  | {
      readonly acquired: false;
      /** The current holder, when the store knows it. */
      readonly holder?: string;
      /** Time until the current lease expires by the store's clock, when known. */
      readonly expiresInMs?: number;
      /** Store time (epoch ms) of the answer, when the store knows it. */
      readonly storeTime?: number;
      /**
       * The key's fenced state, when `capabilities.stateOnAcquire` is set and the refusal
       * carries it (Azure Blob's refused Acquire Lease does not: state and mark are then
       * undefined, and a caller that needs them reads the key).
       */
      readonly state?: JsonValue | null;
      /** The key's current mark (the holder's start record; null: none), whenever `state` is given. */
      readonly mark?: JsonValue | null;
      /**
       * Set only when the answer is a yield to an announced waiter ({@link AcquireRequest.unlessWaiter}):
       * that waiter's holder. The key itself may be free.
       */
      readonly waiter?: string;
    };

/** Identifies one lease: the key, the acquisition's `leaseId` and the token the store issued. */
export interface LeaseRef {
  readonly key: string;
  readonly leaseId: string;
  readonly token: number;
}

/** Input of {@link LeaseStore.renew}. */
export interface RenewRequest extends LeaseRef {
  /** New time to live from now, by the store's clock. */
  readonly ttlMs: number;
}

/** Input of {@link LeaseStore.release}. */
export interface ReleaseRequest extends LeaseRef {
  /**
   * The final state (the scheduler's end record). When given, it replaces the key's state
   * and clears the key's mark in the same atomic step as the release, and only if the
   * lease is still current: a stale holder's release-with-state writes nothing. Same
   * limits as {@link WriteStateRequest.state}. This is the fused release: the end record
   * and the release cost one request.
   */
  readonly state?: JsonValue;
}

/** Input of {@link LeaseStore.writeState}. */
export interface WriteStateRequest extends LeaseRef {
  /** The new state; replaces the old one. JSON, at most 64 KiB serialized. */
  readonly state: JsonValue;
}

/** What {@link LeaseStore.inspect} reports about one key. */
export interface LeaseRecord {
  readonly key: string;
  /** The holder of the current lease, or null when the key is free (released, broken or expired). */
  readonly holder: string | null;
  /** The last token issued for the key (0 if none); the holder's token when held. */
  readonly token: number;
  /** Time until the current lease expires by the store's clock; null when free. */
  readonly expiresInMs: number | null;
  /** The last committed fenced state, or null if none was ever written. */
  readonly state: JsonValue | null;
  /**
   * The mark the last grant wrote ({@link AcquireRequest.mark}), or null when none was
   * written or a later state write (writeState, release with state) cleared it. A mark
   * that is still there after its lease ended is a start with no end record.
   */
  readonly mark: JsonValue | null;
}

/**
 * A lease backend. See the module docs for the obligations every method shares.
 */
export interface LeaseStore {
  /** Short name for messages and status output, e.g. `'redis'`. Never contains credentials. */
  readonly name: string;
  /** What this store can do. */
  readonly capabilities: StoreCapabilities;

  /**
   * Acquires `key` for `holder` for `ttlMs`, in one atomic step judged by the store's clock.
   *
   * Grants when the key has no current lease (never leased, released, broken, or
   * expired by store time), or when its current lease has the same `leaseId` (a retry,
   * L9: answer with that lease's token, extend expiry to now + ttl, issue no new token).
   * A grant issues a token strictly greater than every token ever issued for the key —
   * across releases, expiries, breaks, restarts of a persistent store, and record
   * clean-up (L2), and sets the key's mark to `req.mark` when given. Otherwise answers
   * `acquired: false` and changes nothing. One request wherever the engine allows.
   */
  acquire(req: AcquireRequest, options?: StoreOpOptions): Promise<AcquireResult>;

  /**
   * Extends the lease identified by `key`, `leaseId` and `token` to now + `ttlMs` by store
   * time, atomically with checking that it is still the key's lease. Answers `false`
   * (changing nothing) when another lease was granted since, or the lease was released
   * or broken. Renewing a lease that expired while nobody else acquired the key MAY
   * succeed; callers must not depend on either answer. Never changes the token.
   */
  renew(req: RenewRequest, options?: StoreOpOptions): Promise<boolean>;

  /**
   * Ends the lease if — atomically — it is still the key's current lease; the key's
   * token counter is kept, and so are its state and mark unless `req.state` is given
   * (then the state is replaced and the mark cleared, in the same step). Idempotent:
   * answers `false` and changes nothing when the lease was already released, broken,
   * taken over or expired. One request wherever the engine allows.
   */
  release(req: ReleaseRequest, options?: StoreOpOptions): Promise<boolean>;

  /**
   * Replaces the key's fenced state and clears its mark if — atomically with the write —
   * the lease is still the key's lease (L8; same rule as {@link renew}). Answers `false`
   * and writes nothing otherwise. The state outlives the lease: it stays after release
   * and expiry and is returned by {@link inspect}. Does not change the lease's expiry.
   */
  writeState(req: WriteStateRequest, options?: StoreOpOptions): Promise<boolean>;

  /** Reads one key's record, or null when the key was never acquired. Read-only. */
  inspect(key: string, options?: StoreOpOptions): Promise<LeaseRecord | null>;

  /** Lists keys ever acquired (optionally those starting with `prefix`), in any order. */
  list(options?: StoreOpOptions & { prefix?: string }): Promise<string[]>;

  /**
   * Optional. Reads the record of every key starting with `prefix` (as {@link inspect}
   * would, each consistent in itself), in as few requests as the store allows — one
   * where it can. The core uses it for placement's roster of live hosts, a read every
   * host makes once per heartbeat; without it, the core falls back to {@link list} and
   * one {@link inspect} per key.
   */
  inspectAll?(options: StoreOpOptions & { prefix: string }): Promise<LeaseRecord[]>;

  /** The store's current time, epoch ms (its own clock, or the host's when `capabilities.clock` is `'host'`). */
  now(options?: StoreOpOptions): Promise<number>;

  /**
   * Administrative break: ends the key's current lease whoever holds it, keeping the
   * token counter and state, so the next acquisition gets a higher token. Answers
   * whether a lease was ended.
   */
  forceRelease(key: string, options?: StoreOpOptions): Promise<boolean>;

  /** Frees what the store opened itself (connections it created from a URL). Never closes a client the user passed. */
  close(): Promise<void>;
}
