/**
 * `leasehold/memory` — an in-process store for tests and examples. Processes do not
 * share it; instances in one process do when they use the same backend (the same
 * `memory:<name>` URL, or the same {@link MemoryStore} object).
 * @module
 */
import type { Clock } from '../../clock.js';
import { checkOptionNames, decodeState, encodeMark, encodeState, throwIfAborted } from '../../store-kit/index.js';
import type * as contract from '../../store.js';

interface Entry {
  holder: string | null;
  leaseId: string | null;
  token: number;
  expiresAt: number;
  state: string | null;
  /** The last grant's start record; cleared by a state write. */
  mark: string | null;
}

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Clock whose `wallNow()` is the store's clock (tests pass a fake one). @defaultValue a monotonic epoch clock */
  clock?: Pick<Clock, 'wallNow'>;
}

const OPTION_NAMES = ['clock'];
const monotonicEpoch = { wallNow: () => performance.timeOrigin + performance.now() };
const shared = new Map<string, Map<string, Entry>>();

/** An in-memory {@link LeaseStore}. Every method is synchronous inside, hence atomic. */
export class MemoryStore implements contract.LeaseStore {
  readonly name = 'memory';
  readonly capabilities: contract.StoreCapabilities = {
    clock: 'store',
    persistent: false,
    stateOnAcquire: true,
    checksWaiters: true,
    // Applied synchronously when called: in call order.
    ordered: true,
  };
  readonly #entries: Map<string, Entry>;
  readonly #clock: Pick<Clock, 'wallNow'>;

  constructor(options: MemoryStoreOptions = {}, entries: Map<string, Entry> = new Map()) {
    checkOptionNames('memory store', options, OPTION_NAMES);
    this.#clock = options.clock ?? monotonicEpoch;
    this.#entries = entries;
  }

  #live(entry: Entry | undefined, now: number): boolean {
    return !!entry && entry.leaseId !== null && entry.expiresAt > now;
  }

  async acquire(req: contract.AcquireRequest, options?: contract.StoreOpOptions): Promise<contract.AcquireResult> {
    const markText = req.mark === undefined ? undefined : encodeMark(req.mark);
    throwIfAborted(options?.signal, 'memory: acquire');
    const now = this.#clock.wallNow();
    let entry = this.#entries.get(req.key);
    // A retry of this very acquisition (L9) is recognised before any waiter is yielded to.
    const ours = !!entry && this.#live(entry, now) && entry.leaseId === req.leaseId;
    const announced = req.unlessWaiter === undefined ? undefined : this.#entries.get(req.unlessWaiter);
    if (!ours && announced && this.#live(announced, now) && announced.holder !== req.holder) {
      const waiter = announced.holder ?? '';
      const [state, mark] = [decodeState(entry?.state), decodeState(entry?.mark)];
      return { acquired: false, waiter, storeTime: now, state, mark };
    }
    if (entry && this.#live(entry, now) && entry.leaseId !== req.leaseId) {
      const expiresInMs = entry.expiresAt - now;
      const state = decodeState(entry.state);
      const mark = decodeState(entry.mark);
      const holder = entry.holder ?? undefined;
      return { acquired: false, holder, expiresInMs, storeTime: now, state, mark } as contract.AcquireResult;
    }
    if (!entry) {
      entry = { holder: null, leaseId: null, token: 0, expiresAt: 0, state: null, mark: null };
      this.#entries.set(req.key, entry);
    }
    if (entry.leaseId !== req.leaseId || !this.#live(entry, now)) entry.token += 1;
    entry.holder = req.holder;
    entry.leaseId = req.leaseId;
    entry.expiresAt = now + req.ttlMs;
    const previousMark = decodeState(entry.mark);
    if (markText !== undefined) entry.mark = markText;
    return { acquired: true, token: entry.token, storeTime: now, state: decodeState(entry.state), mark: previousMark };
  }

  #current(ref: contract.LeaseRef): Entry | undefined {
    const entry = this.#entries.get(ref.key);
    if (!entry || entry.leaseId !== ref.leaseId || entry.token !== ref.token) return undefined;
    if (!this.#live(entry, this.#clock.wallNow())) return undefined;
    return entry;
  }

  async renew(req: contract.RenewRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    throwIfAborted(options?.signal, 'memory: renew');
    const entry = this.#current(req);
    if (!entry) return false;
    entry.expiresAt = this.#clock.wallNow() + req.ttlMs;
    return true;
  }

  async release(req: contract.ReleaseRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const text = req.state === undefined ? undefined : encodeState(req.state);
    throwIfAborted(options?.signal, 'memory: release');
    const entry = this.#current(req);
    if (!entry) return false;
    if (text !== undefined) {
      entry.state = text;
      entry.mark = null;
    }
    free(entry);
    return true;
  }

  async writeState(req: contract.WriteStateRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const text = encodeState(req.state);
    throwIfAborted(options?.signal, 'memory: writeState');
    const entry = this.#current(req);
    if (!entry) return false;
    entry.state = text;
    entry.mark = null;
    return true;
  }

  async inspect(key: string, options?: contract.StoreOpOptions): Promise<contract.LeaseRecord | null> {
    throwIfAborted(options?.signal, 'memory: inspect');
    const entry = this.#entries.get(key);
    return entry ? this.#record(key, entry, this.#clock.wallNow()) : null;
  }

  async inspectAll(options: contract.StoreOpOptions & { prefix: string }): Promise<contract.LeaseRecord[]> {
    throwIfAborted(options?.signal, 'memory: inspectAll');
    const now = this.#clock.wallNow();
    const records: contract.LeaseRecord[] = [];
    for (const [key, entry] of this.#entries) {
      if (key.startsWith(options.prefix)) records.push(this.#record(key, entry, now));
    }
    return records;
  }

  #record(key: string, entry: Entry, now: number): contract.LeaseRecord {
    const live = this.#live(entry, now);
    return {
      key,
      holder: live ? entry.holder : null,
      token: entry.token,
      expiresInMs: live ? entry.expiresAt - now : null,
      state: decodeState(entry.state),
      mark: decodeState(entry.mark),
    };
  }

  async list(options?: contract.StoreOpOptions & { prefix?: string }): Promise<string[]> {
    throwIfAborted(options?.signal, 'memory: list');
    const prefix = options?.prefix ?? '';
    return [...this.#entries.keys()].filter((key) => key.startsWith(prefix));
  }

  async now(): Promise<number> {
    return this.#clock.wallNow();
  }

  async forceRelease(key: string, options?: contract.StoreOpOptions): Promise<boolean> {
    throwIfAborted(options?.signal, 'memory: forceRelease');
    const entry = this.#entries.get(key);
    if (!entry || !this.#live(entry, this.#clock.wallNow())) return false;
    free(entry);
    return true;
  }

  async close(): Promise<void> {}
}

/** Lets go of an entry's lease; its token and state stay. */
function free(entry: Entry): void {
  entry.holder = null;
  entry.leaseId = null;
  entry.expiresAt = 0;
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
