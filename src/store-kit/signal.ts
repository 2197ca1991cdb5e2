/**
 * Racing a promise against an `AbortSignal`: the one way every store and the core stop
 * waiting on a request whose signal has fired.
 * @module
 */
import { StoreUnavailableError } from '../errors.js';

const NO_OPTIONS: RaceOptions = {};

/** Options of {@link raceSignal}. */
export interface RaceOptions {
  /** Runs once when the signal aborts first: cancel the request, return a connection… */
  onAbort?: () => void;
  /** The rejection on abort, from the signal's reason. Default: a `StoreUnavailableError` naming `what`. */
  reason?: (signalReason: unknown) => unknown;
}

function abortedError(what: string, options: RaceOptions, signalReason: unknown): unknown {
  if (options.reason) return options.reason(signalReason);
  return new StoreUnavailableError(`${what}: no answer before the request was aborted`, { cause: signalReason });
}

/**
 * Settles like `work`, or rejects as soon as `signal` aborts, whichever is first. On
 * abort, `onAbort` runs (to cancel the request, return a connection…), `work`'s late
 * rejection is swallowed, and the rejection is `reason(signal.reason)` (default: a
 * `StoreUnavailableError` naming `what`). The listener is always removed.
 */
export function raceSignal<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
  options: RaceOptions = NO_OPTIONS,
): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    options.onAbort?.();
    return Promise.reject(abortedError(what, options, signal.reason));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      work.catch(() => {});
      options.onAbort?.();
      reject(abortedError(what, options, signal.reason));
    };
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}
