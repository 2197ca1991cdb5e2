/**
 * `leasehold/memory` — an in-process store for tests and examples. Processes do not
 * share it; instances in one process do when they use the same backend (the same
 * `memory:<name>` URL, or the same {@link MemoryStore} object).
 * @module
 */
import type { Clock } from '../../clock.js';
import type {
  AcquireRequest,
  AcquireResult,
  JsonValue,
  LeaseRecord,
  LeaseRef,
  LeaseStore,
  RenewRequest,
  StoreCapabilities,
  StoreOpOptions,
  WriteStateRequest,
} from '../../store.js';
import { decodeState, encodeState, throwIfAborted } from '../util.js';

interface Entry {
  holder: string | null;
  leaseId: string | null;
  token: number;
  expiresAt: number;
  state: string | null;
}

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Clock whose `wallNow()` is the store's clock (tests pass a fake one). @defaultValue a monotonic epoch clock */
  clock?: Pick<Clock, 'wallNow'>;
}

const monotonicEpoch = { wallNow: () => performance.timeOrigin + performance.now() };
const shared = new Map<string, Map<string, Entry>>();

/** An in-memory {@link LeaseStore}. Every method is synchronous inside, hence atomic. */
export class MemoryStore implements LeaseStore {
  readonly name = 'memory';
  readonly capabilities: StoreCapabilities = { clock: 'store', persistent: false, stateOnAcquire: true };
  readonly #entries: Map<string, Entry>;
  readonly #clock: Pick<Clock, 'wallNow'>;

  constructor(options: MemoryStoreOptions = {}, entries: Map<string, Entry> = new Map()) {
    this.#clock = options.clock ?? monotonicEpoch;
    this.#entries = entries;
  }

  #live(e: Entry | undefined, now: number): boolean {
    return !!e && e.leaseId !== null && e.expiresAt > now;
  }

  async acquire(req: AcquireRequest, options?: StoreOpOptions): Promise<AcquireResult> {
    throwIfAborted(options?.signal, 'memory: acquire');
    const now = this.#clock.wallNow();
    let e = this.#entries.get(req.key);
    if (e && this.#live(e, now) && e.leaseId !== req.leaseId) {
      return { acquired: false, holder: e.holder ?? undefined, expiresInMs: e.expiresAt - now, storeTime: now, state: decodeState(e.state) } as AcquireResult;
    }
    if (!e) {
      e = { holder: null, leaseId: null, token: 0, expiresAt: 0, state: null };
      this.#entries.set(req.key, e);
    }
    if (e.leaseId !== req.leaseId || !this.#live(e, now)) e.token += 1;
    e.holder = req.holder;
    e.leaseId = req.leaseId;
    e.expiresAt = now + req.ttlMs;
    return { acquired: true, token: e.token, storeTime: now, state: decodeState(e.state) };
  }

  #current(ref: LeaseRef): Entry | undefined {
    const e = this.#entries.get(ref.key);
    if (!e || e.leaseId !== ref.leaseId || e.token !== ref.token) return undefined;
    if (!this.#live(e, this.#clock.wallNow())) return undefined;
    return e;
  }

  async renew(req: RenewRequest, options?: StoreOpOptions): Promise<boolean> {
    throwIfAborted(options?.signal, 'memory: renew');
    const e = this.#current(req);
    if (!e) return false;
    e.expiresAt = this.#clock.wallNow() + req.ttlMs;
    return true;
  }

  async release(ref: LeaseRef, options?: StoreOpOptions): Promise<boolean> {
    throwIfAborted(options?.signal, 'memory: release');
    const e = this.#current(ref);
    if (!e) return false;
    e.holder = null;
    e.leaseId = null;
    e.expiresAt = 0;
    return true;
  }

  async writeState(req: WriteStateRequest, options?: StoreOpOptions): Promise<boolean> {
    const text = encodeState(req.state);
    throwIfAborted(options?.signal, 'memory: writeState');
    const e = this.#current(req);
    if (!e) return false;
    e.state = text;
    return true;
  }

  async inspect(key: string, options?: StoreOpOptions): Promise<LeaseRecord | null> {
    throwIfAborted(options?.signal, 'memory: inspect');
    const e = this.#entries.get(key);
    if (!e) return null;
    const now = this.#clock.wallNow();
    const live = this.#live(e, now);
    return {
      key,
      holder: live ? e.holder : null,
      token: e.token,
      expiresInMs: live ? e.expiresAt - now : null,
      state: decodeState(e.state) as JsonValue | null,
    };
  }

  async list(options?: StoreOpOptions & { prefix?: string }): Promise<string[]> {
    throwIfAborted(options?.signal, 'memory: list');
    const prefix = options?.prefix ?? '';
    return [...this.#entries.keys()].filter((k) => k.startsWith(prefix));
  }

  async now(): Promise<number> {
    return this.#clock.wallNow();
  }

  async forceRelease(key: string, options?: StoreOpOptions): Promise<boolean> {
    throwIfAborted(options?.signal, 'memory: forceRelease');
    const e = this.#entries.get(key);
    if (!e || !this.#live(e, this.#clock.wallNow())) return false;
    e.holder = null;
    e.leaseId = null;
    e.expiresAt = 0;
    return true;
  }

  async close(): Promise<void> {}
}

/**
 * Opens `memory:` (a fresh, private store) or `memory:<name>` (shared by every
 * `memory:<name>` store in this process).
 */
export function fromUrl(url: string): MemoryStore {
  const name = url.replace(/^memory:/i, '');
  if (!name) return new MemoryStore();
  let entries = shared.get(name);
  if (!entries) {
    entries = new Map();
    shared.set(name, entries);
  }
  return new MemoryStore({}, entries);
}
