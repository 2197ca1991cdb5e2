/**
 * A real store seen through `changes`: the methods and capabilities a test replaces (to
 * count, delay or fail requests); every other method is the store's own.
 */
import type { LeaseStore } from '../../src/store.js';

/** `inner` with `changes` laid over it; `inspectAll` is left out, so callers list and inspect. */
export function through(inner: LeaseStore, changes: Partial<LeaseStore>): LeaseStore {
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    acquire: (req, options) => inner.acquire(req, options),
    renew: (req, options) => inner.renew(req, options),
    release: (req, options) => inner.release(req, options),
    inspect: (key, options) => inner.inspect(key, options),
    writeState: (req, options) => inner.writeState(req, options),
    list: (options) => inner.list(options),
    now: () => inner.now(),
    forceRelease: (key, options) => inner.forceRelease(key, options),
    close: () => inner.close(),
    ...changes,
  };
}
