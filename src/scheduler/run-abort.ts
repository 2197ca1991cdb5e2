/**
 * One try's abort, with the handler's AbortSignal made on demand, and the race of the
 * handler against it (see docs/architecture.md, "One slot").
 * @module
 */
/** What a scheduler's `stop()` aborts when its grace runs out: a run in progress. */
export interface Abortable {
  abort(reason: unknown): void;
}

/**
 * One try's abort (lease lost, timeout, shutdown). The handler's `AbortSignal` is made
 * only when something reads {@link RunAbort.signal}: an `AbortController` and its
 * signal cost a few kilobytes and an event-target listener per run, and a burst of
 * thousands of runs whose handlers never look at the signal paid for them all.
 */
export class RunAbort implements Abortable {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;
  #listener: ((reason: unknown) => void) | undefined;

  /** True once aborted. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Why it was aborted (undefined before). */
  get reason(): unknown {
    return this.#reason;
  }

  /** The signal the handler sees; made on first read, already aborted if the run was. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Aborts once; later calls do nothing. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason ?? new DOMException('This operation was aborted', 'AbortError');
    this.#controller?.abort(this.#reason);
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.(this.#reason);
  }

  /** Calls `listener` with the reason on abort (one listener: the handler's race). */
  onAbort(listener: (reason: unknown) => void): void {
    this.#listener = listener;
  }
}

/**
 * Awaits the handler, but settles as soon as the run aborts (a handler that ignores its
 * signal is abandoned, and its late rejection is not unhandled). A run already aborted
 * does not call the handler at all.
 */
export function raceHandler(handler: () => unknown, run: RunAbort): Promise<void> {
  if (run.aborted) return Promise.reject(run.reason);
  return new Promise<void>((resolve, reject) => {
    run.onAbort(reject);
    Promise.resolve()
      .then(handler)
      .then(() => resolve(), reject);
  });
}
