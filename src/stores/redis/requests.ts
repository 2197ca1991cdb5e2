/**
 * The store's requests in flight and their timeout. Every request of one store has the same
 * timeout, so their deadlines come in the order they were sent: one timer, armed for the
 * oldest request still waiting, serves them all. A request costs a list node and no timer
 * of its own (a timer per request, set and cleared, was a measurable share of the store's
 * CPU time per operation; docs/stores/redis.md, "Performance").
 * @module
 */
import { StoreUnavailableError } from '../../errors.js';

/** One request waiting for its answer. */
interface Pending {
  /** Monotonic ms after which it is abandoned. */
  readonly deadline: number;
  /** Abandons it: rejects with a timeout error. */
  readonly expire: () => void;
  prev: Pending | undefined;
  next: Pending | undefined;
  /** Still in the list. */
  listed: boolean;
}

/** What a request reports back, besides its result. */
export interface RequestHooks {
  /** The request was answered (the connection is alive). */
  answered(): void;
  /** The request went unanswered: its timeout or the caller's signal came first. */
  unanswered(): void;
  /** The error the caller sees for a failure: one line, secrets masked. */
  failure(label: string, err: unknown): Error;
}

/** The requests in flight of one store, with their shared timeout. */
export class Requests {
  readonly #timeoutMs: number;
  readonly #hooks: RequestHooks;
  #first: Pending | undefined;
  #last: Pending | undefined;
  /** The one timer, armed while requests wait; it fires for the oldest and is re-armed for the next. */
  #timer: NodeJS.Timeout | undefined;
  #size = 0;

  constructor(timeoutMs: number, hooks: RequestHooks) {
    this.#timeoutMs = timeoutMs;
    this.#hooks = hooks;
  }

  /** How many requests are waiting for their answer. */
  get size(): number {
    return this.#size;
  }

  /**
   * Runs `work` as one request: settles with its answer, or rejects with a one-line
   * `StoreUnavailableError` when it fails, when `timeoutMs` passes first, or when `signal`
   * aborts first (the late answer is then ignored). `label` names the store and the operation.
   */
  run<T>(label: string, signal: AbortSignal | undefined, work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const hooks = this.#hooks;
      const fail = (err: unknown, unanswered: boolean) => {
        if (!this.#unlist(pending)) return;
        if (unanswered) hooks.unanswered();
        reject(hooks.failure(label, err));
      };
      const onAbort = () => {
        const reason = signal?.reason;
        fail(new StoreUnavailableError(`${label}: no answer before the request was aborted`, { cause: reason }), true);
      };
      const pending: Pending = {
        deadline: performance.now() + this.#timeoutMs,
        expire: () => {
          signal?.removeEventListener('abort', onAbort);
          fail(new StoreUnavailableError(`${label}: no answer within ${this.#timeoutMs}ms`), true);
        },
        prev: undefined,
        next: undefined,
        listed: false,
      };
      this.#list(pending);
      signal?.addEventListener('abort', onAbort, { once: true });
      work.then(
        (value) => {
          if (!this.#unlist(pending)) return;
          signal?.removeEventListener('abort', onAbort);
          hooks.answered();
          resolve(value);
        },
        (err: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          // The signal was not aborted when the request was sent: it fired while waiting.
          fail(err, signal?.aborted === true);
        },
      );
    });
  }

  #list(pending: Pending): void {
    pending.listed = true;
    this.#size++;
    pending.prev = this.#last;
    if (this.#last) this.#last.next = pending;
    else this.#first = pending;
    this.#last = pending;
    if (this.#timer === undefined) this.#arm(pending.deadline);
  }

  /** Takes `pending` off the list; false when it already was (settled before). */
  #unlist(pending: Pending): boolean {
    if (!pending.listed) return false;
    pending.listed = false;
    this.#size--;
    if (pending.prev) pending.prev.next = pending.next;
    else this.#first = pending.next;
    if (pending.next) pending.next.prev = pending.prev;
    else this.#last = pending.prev;
    pending.prev = undefined;
    pending.next = undefined;
    return true;
  }

  /** Arms the one timer for `at`; it is left running when requests settle, and re-armed when it fires. */
  #arm(at: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - performance.now()));
    // A request in flight keeps the process alive through its socket, not through this timer.
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (let pending = this.#first; pending && pending.deadline <= now; pending = this.#first) {
      pending.expire();
    }
    if (this.#first) this.#arm(this.#first.deadline);
  }
}
