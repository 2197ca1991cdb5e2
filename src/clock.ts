/**
 * The clock the core reads and the timers it sets. The default is the process's
 * monotonic clock; tests pass a fake one.
 *
 * Wall-clock time (`Date.now()`) is never used for lease validity: a holder's
 * deadline is measured on {@link Clock.now}, which only moves forward.
 */
export interface Clock {
  /** Monotonic milliseconds (e.g. `performance.now()`); only differences are meaningful. */
  now(): number;
  /** Wall-clock epoch milliseconds, used for schedule slots when the store has no clock. */
  wallNow(): number;
  /** Runs `fn` after `ms`. The returned handle is passed to {@link Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number, opts?: { unref?: boolean }): unknown;
  /** Cancels a timer from {@link Clock.setTimeout}; unknown handles are ignored. */
  clearTimeout(handle: unknown): void;
}

/** The real clock: `performance.now()` and Node timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout(fn, ms, opts) {
    const t = setTimeout(fn, Math.max(0, ms));
    if (opts?.unref) t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/**
 * Resolves after `ms` on `clock`, or rejects with `signal.reason` when `signal` aborts.
 * Never leaves a timer or listener behind.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal, opts?: { unref?: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      ms,
      opts,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
