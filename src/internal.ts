/**
 * Helpers shared by the core modules. Not exported from the package root.
 * @internal
 * @module
 */
import { randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Clock } from './clock.js';
import { MAX_HOLDER_LENGTH, MAX_KEY_LENGTH } from './defaults.js';
import { formatDuration, parseDuration } from './duration.js';
import { ConfigError, LeaseholdError, StoreUnavailableError } from './errors.js';
import type { LeaseRecord, LeaseStore } from './store.js';
import { checkOptionNames, errorText, hasLoneSurrogate } from './store-kit/index.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
const CONTROL = /[\u0000-\u001f\u007f]/;

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
  if (CONTROL.test(key)) {
    throw new ConfigError(`${name}: must not contain control characters, got ${JSON.stringify(key)}`);
  }
  // A lone surrogate has no UTF-8 form: stores would mangle it, or map two such keys to one.
  if (hasLoneSurrogate(key)) {
    throw new ConfigError(`${name}: must not contain a lone UTF-16 surrogate, got ${JSON.stringify(key)}`);
  }
  return key;
}

/**
 * Validates a holder identity: it is shown in one-line messages and status output, so
 * no control characters (a newline would forge a line) and no lone surrogates.
 * @throws ConfigError naming the value.
 */
export function checkHolder(holder: unknown): string {
  if (
    typeof holder !== 'string' ||
    holder.length === 0 ||
    holder.length > MAX_HOLDER_LENGTH ||
    CONTROL.test(holder) ||
    hasLoneSurrogate(holder)
  ) {
    throw new ConfigError(
      `holder: must be a non-empty string of at most ${MAX_HOLDER_LENGTH} characters without control characters, ` +
        `got ${JSON.stringify(holder)}`,
    );
  }
  return holder;
}

/**
 * Parses a TTL and checks it against the store's limits.
 * @throws ConfigError naming the value and the range, both with their units.
 */
export function checkTtl(ttl: unknown, store: Pick<LeaseStore, 'name' | 'capabilities'>, name = 'ttl'): number {
  const ms = parseDuration(ttl, name);
  const { minTtlMs = 1, maxTtlMs = Number.POSITIVE_INFINITY } = store.capabilities;
  if (ms < minTtlMs || ms > maxTtlMs) {
    const range = Number.isFinite(maxTtlMs)
      ? `${formatDuration(minTtlMs)} to ${formatDuration(maxTtlMs)}`
      : `at least ${formatDuration(minTtlMs)}`;
    // A bare number is milliseconds: say so, and say it in a readable unit too.
    const readable = formatDuration(ms);
    const shown =
      typeof ttl !== 'number' ? JSON.stringify(ttl) : readable === `${ttl}ms` ? readable : `${ttl}ms (${readable})`;
    throw new ConfigError(`${name}: ${shown} is outside what the ${store.name} store allows (${range})`);
  }
  return ms;
}

/** A value as an error message shows it: JSON for plain values, the kind for the rest. */
export function shownValue(value: unknown): string {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return String(typeof value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object' && value !== null) {
    const kind = Object.getPrototypeOf(value)?.constructor?.name;
    if (kind && kind !== 'Object' && kind !== 'Array') return `a ${kind}`;
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return 'an object';
  }
}

/** True for an AbortSignal, including one from another realm or a polyfill with the same shape. */
function isAbortSignal(value: unknown): value is AbortSignal {
  if (value instanceof AbortSignal) return true;
  const signal = value as Partial<AbortSignal> | null;
  return (
    typeof signal === 'object' &&
    signal !== null &&
    typeof signal.aborted === 'boolean' &&
    typeof signal.addEventListener === 'function' &&
    typeof signal.removeEventListener === 'function'
  );
}

/**
 * Checks a call's options object before any store request (B1): present when `example`
 * says it is required, an object, no unknown name (with "did you mean"), and its
 * `signal`, when given, an AbortSignal — a bad signal used to fail only after the lease
 * was granted, leaving the key held for its TTL.
 *
 * @param what - the call, as the error names it (`acquire`)
 * @param example - options to show when they are missing; omit when the options are optional
 * @throws ConfigError naming the call and the offending option or value
 */
export function checkCallOptions(what: string, options: unknown, known: readonly string[], example?: string): void {
  if (options === undefined && example !== undefined) {
    throw new ConfigError(`${what}: an options object is required, e.g. ${example}`);
  }
  checkOptionNames(what, options, known);
  const signal = (options as { signal?: unknown } | undefined)?.signal;
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw new ConfigError(`${what}: signal must be an AbortSignal, got ${shownValue(signal)}`);
  }
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
  if (controllers.length < 64 && !ac.signal.aborted && getEventListeners(ac.signal, 'abort').length === 0) {
    controllers.push(ac);
  }
}

/**
 * Runs one store call with its own timeout. The call gets a signal that aborts when
 * the timeout passes or `parent` aborts; the returned promise settles no later than
 * that even if the store ignores the signal. Errors that are not leasehold errors are
 * wrapped in `StoreUnavailableError`.
 */
export function callStore<T>(
  clock: Clock,
  what: string,
  timeoutMs: number,
  parent: AbortSignal | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
  controller?: AbortController,
): Promise<T> {
  if (parent?.aborted) return Promise.reject(parent.reason);
  // A caller that already has a controller for this call (to abort it itself) lends it.
  const ac = controller ?? borrowController();
  // One promise, one timer and at most two listeners per call: this is the hot path of
  // every store request (the kit's raceSignal, or a race of two promises, measured slower).
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clock.clearTimeout(timer);
      if (parent) parent.removeEventListener('abort', onParentAbort);
      if (controller) controller.signal.removeEventListener('abort', onLentAbort);
      else recycleController(ac);
      return true;
    };
    const fire = (reason: unknown) => {
      if (settled) return;
      // Aborted before settle() looks at it, so it is never handed out again.
      ac.abort(reason);
      settle();
      reject(reason);
    };
    const onParentAbort = () => fire(parent?.reason);
    const onLentAbort = () => {
      if (settle()) reject(controller?.signal.reason);
    };
    const onError = (err: unknown) => {
      if (!settle()) return;
      const passThrough =
        err instanceof LeaseholdError ||
        (parent?.aborted && err === parent.reason) ||
        (controller?.signal.aborted && err === controller.signal.reason);
      reject(passThrough ? err : new StoreUnavailableError(`${what}: ${errorText(err)}`, { cause: err }));
    };
    const timer = clock.setTimeout(
      () => fire(new StoreUnavailableError(`${what}: no answer within ${formatDuration(timeoutMs)}`)),
      timeoutMs,
      { unref: true },
    );
    if (parent) parent.addEventListener('abort', onParentAbort, { once: true });
    if (controller) controller.signal.addEventListener('abort', onLentAbort, { once: true });
    let work: Promise<T>;
    try {
      work = fn(ac.signal);
    } catch (err) {
      onError(err);
      return;
    }
    work.then((value) => {
      if (settle()) resolve(value);
    }, onError);
  });
}

/** Uniform random number in [min, max). Jitter only; not for secrets. */
export function jitter(min: number, max: number): number {
  return min + Math.random() * (max - min);
}

/** Inspects in flight at once when a store has no inspectAll. */
const READ_RECORDS_CONCURRENCY = 16;

/**
 * Every record under `prefix`: `store.inspectAll` when the store has it (one request where
 * it can), otherwise `list` and one `inspect` per key. Each call has `timeoutMs`.
 */
export async function readRecords(
  store: LeaseStore,
  clock: Clock,
  prefix: string,
  timeoutMs: number,
): Promise<LeaseRecord[]> {
  if (store.inspectAll) {
    const what = `${store.name}: inspectAll "${prefix}"`;
    return callStore(clock, what, timeoutMs, undefined, (signal) =>
      (store.inspectAll as NonNullable<LeaseStore['inspectAll']>).call(store, { prefix, signal }),
    );
  }
  const keys = await callStore(clock, `${store.name}: list "${prefix}"`, timeoutMs, undefined, (signal) =>
    store.list({ prefix, signal }),
  );
  // A few at a time: a store without inspectAll may be reached over one connection.
  const records: (LeaseRecord | null)[] = [];
  for (let from = 0; from < keys.length; from += READ_RECORDS_CONCURRENCY) {
    const batch = keys.slice(from, from + READ_RECORDS_CONCURRENCY);
    const read = batch.map((key) =>
      callStore(clock, `${store.name}: inspect "${key}"`, timeoutMs, undefined, (signal) =>
        store.inspect(key, { signal }),
      ),
    );
    records.push(...(await Promise.all(read)));
  }
  return records.filter((record): record is LeaseRecord => record !== null);
}
