/**
 * Racing a promise against an `AbortSignal`: the one way every store and the core stop
 * waiting on a request whose signal has fired.
 * @module
 */
import { StoreUnavailableError } from '../errors.js';

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
  options: { onAbort?: () => void; reason?: (signalReason: unknown) => unknown } = {},
): Promise<T> {
  if (!signal) return work;
  const reason =
    options.reason ??
    ((cause: unknown) =>
      new StoreUnavailableError(`${what}: no answer before the request was aborted`, { cause }));
  if (signal.aborted) {
    work.catch(() => {});
    options.onAbort?.();
    return Promise.reject(reason(signal.reason));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      work.catch(() => {});
      options.onAbort?.();
      reject(reason(signal.reason));
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
