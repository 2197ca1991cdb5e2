/**
 * A lazily started, shared promise that forgets a failure: the shape of "connect once,
 * create the table once", where a failed attempt must not poison every later call.
 * @module
 */

/** A memoised async step. See {@link once}. */
export interface Once<T> {
  /** Starts the step on first call; later calls share its promise until it rejects. */
  (): Promise<T>;
  /** The settled value, once the step has succeeded. */
  readonly value: T | undefined;
  /** Forgets the shared promise, so the next call starts the step again. */
  reset(): void;
}

/**
 * Memoises `step`: concurrent and later callers share one run; a run that rejects is
 * forgotten (every waiter sees the rejection), so the next call tries again.
 */
export function once<T>(step: () => Promise<T>): Once<T> {
  let pending: Promise<T> | undefined;
  let settled: { value: T } | undefined;
  const run = (() => {
    if (pending) return pending;
    const attempt = step().then(
      (value) => {
        if (pending === attempt) settled = { value };
        return value;
      },
      (err: unknown) => {
        if (pending === attempt) pending = undefined;
        throw err;
      },
    );
    pending = attempt;
    return attempt;
  }) as Once<T>;
  Object.defineProperty(run, 'value', { get: () => settled?.value });
  run.reset = () => {
    pending = undefined;
    settled = undefined;
  };
  return run;
}
