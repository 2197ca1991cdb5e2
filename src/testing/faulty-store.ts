import { StoreUnavailableError } from '../errors.js';
import type { LeaseStore, StoreOpOptions } from '../store.js';

/** What {@link FaultyStore} does to each call. */
export type FaultMode =
  /** Pass calls through. */
  | 'pass'
  /** Hold each call until its signal aborts (a black-holed connection). */
  | 'stall'
  /** Reject each call at once with `StoreUnavailableError` (a refused connection). */
  | 'fail';

type Method =
  | 'acquire'
  | 'renew'
  | 'release'
  | 'writeState'
  | 'inspect'
  | 'inspectAll'
  | 'list'
  | 'now'
  | 'forceRelease';

/**
 * Wraps a real store and lets a test stall or fail its calls, per method, to drive
 * lease-loss and store-down paths deterministically. Counts calls per method.
 */
export class FaultyStore implements LeaseStore {
  readonly inner: LeaseStore;
  /** Mode per method; methods not listed use {@link FaultyStore.mode}. */
  readonly modes: Partial<Record<Method, FaultMode>> = {};
  /** Mode of methods not listed in {@link FaultyStore.modes}. */
  mode: FaultMode = 'pass';
  /** Calls seen, per method. */
  readonly calls: Record<Method, number> = {
    acquire: 0,
    renew: 0,
    release: 0,
    writeState: 0,
    inspect: 0,
    inspectAll: 0,
    list: 0,
    now: 0,
    forceRelease: 0,
  };

  /** Wraps `inner`; every call passes through until a mode says otherwise. */
  constructor(inner: LeaseStore) {
    this.inner = inner;
    // Only when the wrapped store has it: callers fall back to list + inspect otherwise.
    if (inner.inspectAll) {
      const inspectAll = inner.inspectAll.bind(inner);
      this.inspectAll = (o) => this.#call('inspectAll', o, () => inspectAll(o));
    }
  }

  /** The wrapped store's `inspectAll`, counted and subject to its mode, when it has one. */
  declare inspectAll?: NonNullable<LeaseStore['inspectAll']>;

  /** The wrapped store's name. */
  get name(): string {
    return this.inner.name;
  }

  /** The wrapped store's capabilities. */
  get capabilities() {
    return this.inner.capabilities;
  }

  async #call<T>(method: Method, options: StoreOpOptions | undefined, fn: () => Promise<T>): Promise<T> {
    this.calls[method]++;
    const mode = this.modes[method] ?? this.mode;
    if (mode === 'fail') throw new StoreUnavailableError(`${this.name}: ${method}: connection refused (injected)`);
    if (mode === 'stall') {
      await new Promise<never>((_, reject) => {
        const signal = options?.signal;
        if (!signal) return; // stalls forever, like a black hole without a timeout
        const abort = () => {
          reject(new StoreUnavailableError(`${this.name}: ${method}: aborted`, { cause: signal.reason }));
        };
        if (signal.aborted) abort();
        signal.addEventListener('abort', abort, { once: true });
      });
    }
    return fn();
  }

  // The store's methods, each counted and subject to its mode.
  acquire: LeaseStore['acquire'] = (req, o) => this.#call('acquire', o, () => this.inner.acquire(req, o));
  renew: LeaseStore['renew'] = (req, o) => this.#call('renew', o, () => this.inner.renew(req, o));
  release: LeaseStore['release'] = (ref, o) => this.#call('release', o, () => this.inner.release(ref, o));
  writeState: LeaseStore['writeState'] = (req, o) => this.#call('writeState', o, () => this.inner.writeState(req, o));
  inspect: LeaseStore['inspect'] = (key, o) => this.#call('inspect', o, () => this.inner.inspect(key, o));
  list: LeaseStore['list'] = (o) => this.#call('list', o, () => this.inner.list(o));
  now: LeaseStore['now'] = (o) => this.#call('now', o, () => this.inner.now(o));
  forceRelease: LeaseStore['forceRelease'] = (key, o) =>
    this.#call('forceRelease', o, () => this.inner.forceRelease(key, o));
  /** Closes the wrapped store (never faulted: a test's cleanup must work). */
  close(): Promise<void> {
    return this.inner.close();
  }
}
