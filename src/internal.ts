/**
 * Helpers shared by the core modules. Not exported from the package root.
 * @internal
 * @module
 */
import { randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Clock } from './clock.js';
import { ConfigError, LeaseholdError, StoreUnavailableError } from './errors.js';
import type { LeaseStore } from './store.js';
import { formatDuration, parseDuration } from './duration.js';

/** Longest key the core accepts. Stores with tighter limits check their own. */
export const MAX_KEY_LENGTH = 512;

/** The default holder identity: `hostname:pid:random`, unique per process and per Leasehold. */
export function defaultHolder(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** Validates a key. @throws ConfigError naming the value. */
export function checkKey(key: unknown, name = 'key'): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new ConfigError(`${name}: must be a non-empty string, got ${JSON.stringify(key)}`);
  }
  if (key.length > MAX_KEY_LENGTH) {
    throw new ConfigError(`${name}: at most ${MAX_KEY_LENGTH} characters, got ${key.length} ("${key.slice(0, 40)}…")`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
  if (/[\u0000-\u001f\u007f]/.test(key)) {
    throw new ConfigError(`${name}: must not contain control characters, got ${JSON.stringify(key)}`);
  }
  return key;
}

/** Parses a TTL and checks it against the store's limits. @throws ConfigError naming the value and the range. */
export function checkTtl(ttl: unknown, store: LeaseStore, name = 'ttl'): number {
  const ms = parseDuration(ttl, name);
  const { minTtlMs = 1, maxTtlMs = Number.POSITIVE_INFINITY } = store.capabilities;
  if (ms < minTtlMs || ms > maxTtlMs) {
    const range = Number.isFinite(maxTtlMs)
      ? maxTtlMs <= 120_000 && minTtlMs % 1000 === 0 && maxTtlMs % 1000 === 0
        ? `${minTtlMs / 1000}s–${maxTtlMs / 1000}s`
        : `${formatDuration(minTtlMs)}–${formatDuration(maxTtlMs)}`
      : `at least ${formatDuration(minTtlMs)}`;
    throw new ConfigError(
      `${name}: ${JSON.stringify(ttl)} is outside what the ${store.name} store allows (${range})`,
    );
  }
  return ms;
}

// AbortControllers are among the costliest objects a lease operation makes, and every
// store call needs one. One that was never aborted and has no listener left is as good
// as new, so it is reused.
const controllers: AbortController[] = [];

/** An unused AbortController, recycled when possible. Give it back with {@link recycleController}. */
export function borrowController(): AbortController {
  return controllers.pop() ?? new AbortController();
}

/** Returns a controller for reuse if it is clean: never aborted, no listener left on its signal. */
export function recycleController(ac: AbortController): void {
  if (controllers.length < 64 && !ac.signal.aborted && getEventListeners(ac.signal, 'abort').length === 0) controllers.push(ac);
}

/**
 * Runs one store call with its own timeout. The call gets a signal that aborts when
 * the timeout passes or `parent` aborts; the returned promise settles no later than
 * that even if the store ignores the signal. Errors that are not leasehold errors are
 * wrapped in `StoreUnavailableError`.
 */
export async function callStore<T>(
  clock: Clock,
  what: string,
  timeoutMs: number,
  parent: AbortSignal | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
  controller?: AbortController,
): Promise<T> {
  if (parent?.aborted) throw parent.reason;
  // A caller that already has a controller for this call (to abort it itself) lends it.
  const ac = controller ?? borrowController();
  let timer: unknown;
  let onParentAbort: (() => void) | undefined;
  let onLentAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    const fire = (reason: unknown) => {
      ac.abort(reason);
      reject(reason);
    };
    timer = clock.setTimeout(
      () => fire(new StoreUnavailableError(`${what}: no answer within ${formatDuration(timeoutMs)}`)),
      timeoutMs,
      { unref: true },
    );
    if (parent) {
      onParentAbort = () => fire(parent.reason);
      parent.addEventListener('abort', onParentAbort, { once: true });
    }
    if (controller) {
      onLentAbort = () => reject(controller.signal.reason);
      controller.signal.addEventListener('abort', onLentAbort, { once: true });
    }
  });
  aborted.catch(() => {});
  try {
    return await Promise.race([fn(ac.signal), aborted]);
  } catch (err) {
    if (err instanceof LeaseholdError || (parent?.aborted && err === parent.reason)) throw err;
    if (controller?.signal.aborted && err === controller.signal.reason) throw err;
    throw new StoreUnavailableError(`${what}: ${errorMessage(err)}`, { cause: err });
  } finally {
    clock.clearTimeout(timer);
    if (onParentAbort) parent?.removeEventListener('abort', onParentAbort);
    if (onLentAbort) controller?.signal.removeEventListener('abort', onLentAbort);
    if (!controller) recycleController(ac);
  }
}

/** The message of an unknown thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** Uniform random number in [min, max). Jitter only; not for secrets. */
export function jitter(min: number, max: number): number {
  return min + Math.random() * (max - min);
}
