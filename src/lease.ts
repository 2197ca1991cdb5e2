/**
 * A held lease: its renewal (L5), its holder-side deadline and loss signal (L3, L4), its
 * fenced writes (L8) and its release (L7). The timing rules are in src/defaults.ts.
 * @module
 */
import type { Clock } from './clock.js';
import {
  abortLead,
  holderDeadline,
  releaseTimeout,
  renewInterval,
  renewRetryDelay,
  requestTimeout,
} from './defaults.js';
import { LeaseholdError, LeaseLostError } from './errors.js';
import { safeLog, type Logger } from './events.js';
import { borrowController, callStore, checkCallOptions, recycleController } from './internal.js';
import { encodeState } from './store-kit/state.js';

/** The options {@link Lease.writeState} takes. */
const WRITE_STATE_OPTIONS = ['signal'] as const;
/** The options {@link Lease.release} takes. */
const RELEASE_OPTIONS = ['state'] as const;
import type { JsonValue, LeaseStore } from './store.js';
import { errorText } from './store-kit/index.js';

// Where the timing rules used to be declared; kept for code that imported them from here.
export { abortLead, CLOCK_DRIFT, deadlineMargin, holderDeadline } from './defaults.js';

/** A LeaseholdError without a captured stack: a normal release is not an exceptional event. */
function quietError(message: string): LeaseholdError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new LeaseholdError(message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** @internal What the core hands a new Lease. */
export interface LeaseInit {
  store: LeaseStore;
  clock: Clock;
  logger: Logger;
  key: string;
  holder: string;
  leaseId: string;
  token: number;
  ttlMs: number;
  /** Monotonic time read before the acquire request that succeeded was sent. */
  tSent: number;
  /** State returned by the acquire, when the store returns it. */
  state?: JsonValue | null | undefined;
  /** The mark the acquire replaced, when the store returns it. */
  mark?: JsonValue | null | undefined;
  /** `latencyMs`: the renewal's round trip. */
  onRenewed(lease: Lease, latencyMs: number): void;
  onLost(lease: Lease, error: LeaseLostError): void;
  onReleased(lease: Lease, wasHeld: boolean): void;
  /**
   * The release of a held lease was sent; `answer` settles with it (after this call, before
   * `onReleased`). For the hand-off: a waiter of this process may send its acquire now.
   */
  onReleasing(lease: Lease, answer: Promise<unknown>): void;
  onRenewError(lease: Lease, error: unknown): void;
}

type LeaseStatus = 'held' | 'lost' | 'released';

/**
 * A held lease. Its renewal timers keep the process alive until it is released or
 * lost, like an open connection would. It renews itself about every ttl/3 until released
 * or lost.
 *
 * Check {@link Lease.signal} (or pass it to your I/O) to stop work when the lease is
 * lost: it aborts, with a {@link LeaseLostError} as its reason, before the holder-side
 * deadline — the instant after which the store may give the key to someone else.
 *
 * Use {@link Lease.token} as a fencing token: pass it to the resource you write to and
 * have the resource reject tokens lower than the highest it has seen.
 */
export class Lease implements AsyncDisposable {
  /** The key this lease is on. */
  readonly key: string;
  /** This process's holder identity. */
  readonly holder: string;
  /** The fencing token: strictly greater than any token issued before for this key. */
  readonly token: number;
  /** The TTL in ms, as given to the store on each acquire and renew. */
  readonly ttlMs: number;

  readonly #init: LeaseInit;
  // Created on first use of `signal`: an AbortController is one of the costliest
  // allocations of a lease, and code that never reads the signal does not need one.
  #controller: AbortController | undefined;
  /** Why the lease ended (lost or released), once it has. */
  #endReason: unknown;
  #status: LeaseStatus = 'held';
  #deadline: number;
  #renewTimer: unknown;
  #lossTimer: unknown;
  #inflight: AbortController | undefined;
  #lastError: unknown;
  #state: JsonValue | null | undefined;
  #mark: JsonValue | null | undefined;
  /** The release in flight or done, once `release()` was called. */
  #releasing: Promise<boolean> | undefined;
  /** Called once when the lease ends (see {@link Lease.onEnd}); an array, as there is rarely more than one. */
  #onEnd: ((reason: unknown) => void)[] | undefined;

  /** @internal Created by {@link Leasehold}; not constructed by users. */
  constructor(init: LeaseInit) {
    this.#init = init;
    this.key = init.key;
    this.holder = init.holder;
    this.token = init.token;
    this.ttlMs = init.ttlMs;
    this.#state = init.state;
    this.#mark = init.mark;
    this.#deadline = holderDeadline(init.tSent, init.ttlMs);
    this.#armLossTimer();
    this.#scheduleRenew(init.tSent + renewInterval(init.ttlMs));
  }

  /** Aborts when the lease is lost (reason: {@link LeaseLostError}) or released. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#status !== 'held') this.#controller.abort(this.#reason());
    }
    return this.#controller.signal;
  }

  /**
   * @internal True once the lease was lost or released: what `signal.aborted` says, without
   * making the signal (an AbortController per lease is a visible share of a scheduled
   * run's CPU time when thousands run at once).
   */
  get ended(): boolean {
    return this.#status !== 'held';
  }

  /** @internal Why the lease ended (what `signal.reason` is), once it has; undefined while held. */
  get endReason(): unknown {
    return this.#status === 'held' ? undefined : this.#reason();
  }

  /**
   * @internal Calls `listener` with the reason (as `signal` would abort with it) when the
   * lease ends, at once if it has; the function returned removes it. The scheduler's
   * runs use it instead of a listener on `signal`.
   */
  onEnd(listener: (reason: unknown) => void): () => void {
    if (this.#status !== 'held') {
      listener(this.#reason());
      return () => {};
    }
    let listeners = this.#onEnd;
    if (listeners === undefined) {
      listeners = [];
      this.#onEnd = listeners;
    }
    listeners.push(listener);
    return () => {
      const at = listeners.indexOf(listener);
      if (at >= 0) listeners.splice(at, 1);
    };
  }

  /** True while the lease is held: not lost, not released, deadline not passed. */
  get held(): boolean {
    return this.#status === 'held' && this.#init.clock.now() < this.#deadline;
  }

  /** The holder-side deadline, in monotonic ms (same clock as `performance.now()`). */
  get deadline(): number {
    return this.#deadline;
  }

  /** Milliseconds left before the holder-side deadline (negative once passed). */
  get remainingMs(): number {
    return this.#deadline - this.#init.clock.now();
  }

  /** @internal The acquisition's lease id; needed by stores, never shown. */
  get leaseId(): string {
    return this.#init.leaseId;
  }

  /** @internal State returned with the acquisition, if the store returned it. */
  get acquiredState(): JsonValue | null | undefined {
    return this.#state;
  }

  /** @internal The mark the acquisition replaced, if the store returned it. */
  get acquiredMark(): JsonValue | null | undefined {
    return this.#mark;
  }

  /** Throws the loss reason if the lease is no longer held. Call before each step of long work. */
  throwIfLost(): void {
    if (this.#status === 'lost') throw this.#reason();
    if (this.#status === 'released') throw new LeaseholdError(`lease on "${this.key}" was released`);
  }

  /**
   * Replaces the key's fenced state, atomically checked against this lease by the store
   * (L8). Answers false when the store says the lease is no longer ours — the lease is
   * then marked lost.
   */
  async writeState(state: JsonValue, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    checkCallOptions('writeState', options, WRITE_STATE_OPTIONS);
    // A state the store could not take (a cycle, a BigInt, over 64 KiB) is refused here,
    // before any request (B1), with the store's own encoding rule.
    encodeState(state);
    return this.writeOwnState(state, options.signal);
  }

  /**
   * @internal {@link Lease.writeState} for a state leasehold built itself (the scheduler's
   * records: JSON by construction, bounded in size), without the check: the store encodes
   * it anyway, and a second `JSON.stringify` of a job's history on every slot is waste.
   */
  async writeOwnState(state: JsonValue, parent?: AbortSignal): Promise<boolean> {
    this.throwIfLost();
    const { store, clock } = this.#init;
    const timeout = Math.max(1, Math.min(requestTimeout(this.ttlMs), this.#deadline - clock.now()));
    const ok = await callStore(clock, `${store.name}: writeState "${this.key}"`, timeout, parent, (signal) =>
      store.writeState({ key: this.key, leaseId: this.#init.leaseId, token: this.token, state }, { signal }),
    );
    if (!ok) this.#lose('the store rejected a fenced write: another holder has the key');
    return ok;
  }

  /**
   * Releases the lease. Idempotent. Resolves true when this call ended a held lease,
   * false when it was already released or lost (L7). Rejects with
   * `StoreUnavailableError` when the store cannot be reached (the lease then expires
   * by its TTL).
   *
   * With `state`, the key's fenced state is replaced in the same atomic step, only if the
   * lease is still ours (one request: the end record and the release together). A lost
   * lease writes nothing and resolves false.
   */
  async release(options: { state?: JsonValue } = {}): Promise<boolean> {
    checkCallOptions('release', options, RELEASE_OPTIONS);
    // Checked before any request, with the store's own encoding rule (B1).
    if (options.state !== undefined) encodeState(options.state);
    return this.releaseWith(options.state);
  }

  /**
   * @internal {@link Lease.release} with a state leasehold built itself (see
   * {@link Lease.writeOwnState}), or none: no option check, no pre-encoding.
   */
  async releaseWith(state: JsonValue | undefined): Promise<boolean> {
    // A release already under way: wait for it, so `stop()` and `releaseAll()` never return
    // (and a process never exits) while a release is still in flight (S7). This call ended nothing.
    if (this.#releasing) {
      await this.#releasing.catch(() => {});
      return false;
    }
    if (this.#status === 'released') return false;
    this.#releasing = this.#release(state);
    return this.#releasing;
  }

  async #release(state: JsonValue | undefined): Promise<boolean> {
    const wasLost = this.#status === 'lost';
    this.#stopTimers();
    this.#inflight?.abort(quietError('released'));
    const { store, clock } = this.#init;
    if (!wasLost) {
      this.#status = 'released';
      this.#end(undefined);
    }
    let ok = false;
    try {
      const base = { key: this.key, leaseId: this.#init.leaseId, token: this.token };
      // A lost lease sends no state: the store would refuse it anyway (L6).
      const ref = state === undefined || wasLost ? base : { ...base, state };
      const what = `${store.name}: release "${this.key}"`;
      const answer = callStore(clock, what, releaseTimeout(this.ttlMs), undefined, (signal) =>
        store.release(ref, { signal }),
      );
      if (!wasLost) this.#init.onReleasing(this, answer);
      ok = await answer;
    } catch (err) {
      if (wasLost) {
        this.#status = 'released';
        return false;
      }
      this.#init.onReleased(this, false);
      throw err;
    }
    this.#status = 'released';
    this.#init.onReleased(this, ok && !wasLost);
    return ok && !wasLost;
  }

  /** `await using lease = await lh.acquire(…)` releases it at the end of the block; errors are logged, not thrown. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.release();
    } catch (err) {
      const fields = { key: this.key, token: this.token, err: errorText(err) };
      safeLog(this.#init.logger, 'warn', fields, 'lease release failed; it will expire');
    }
  }

  #armLossTimer(): void {
    const { clock } = this.#init;
    clock.clearTimeout(this.#lossTimer);
    const fireAt = this.#deadline - abortLead(this.ttlMs);
    this.#lossTimer = clock.setTimeout(() => {
      if (this.#status !== 'held') return;
      if (clock.now() < this.#deadline - abortLead(this.ttlMs)) {
        this.#armLossTimer(); // a renewal moved the deadline
        return;
      }
      const last = this.#lastError ? ` (last error: ${errorText(this.#lastError)})` : '';
      this.#lose(`no successful renewal before the holder-side deadline${last}`, this.#lastError);
    }, fireAt - clock.now());
  }

  #scheduleRenew(at: number): void {
    const { clock } = this.#init;
    clock.clearTimeout(this.#renewTimer);
    this.#renewTimer = clock.setTimeout(
      () => {
        void this.#renew().catch((err) => {
          // #renew handles its own errors; this is a last line so no rejection escapes a timer.
          safeLog(this.#init.logger, 'error', { key: this.key, err: errorText(err) }, 'unexpected renewal failure');
        });
      },
      Math.max(0, at - clock.now()),
    );
  }

  async #renew(): Promise<void> {
    if (this.#status !== 'held') return;
    const { store, clock } = this.#init;
    const lossAt = this.#deadline - abortLead(this.ttlMs);
    const tSent = clock.now();
    // No renewal outlives the next one's turn, nor the loss timer.
    const timeout = Math.min(renewInterval(this.ttlMs), lossAt - tSent);
    if (timeout <= 0) return; // the loss timer will fire
    const ac = borrowController();
    this.#inflight = ac;
    try {
      const ok = await callStore(
        clock,
        `${store.name}: renew "${this.key}"`,
        timeout,
        undefined,
        (signal) =>
          store.renew({ key: this.key, leaseId: this.#init.leaseId, token: this.token, ttlMs: this.ttlMs }, { signal }),
        ac,
      );
      if (this.#status !== 'held') return;
      if (!ok) {
        this.#lose('the store says another holder has the key');
        return;
      }
      this.#lastError = undefined;
      this.#deadline = holderDeadline(tSent, this.ttlMs);
      this.#armLossTimer();
      this.#scheduleRenew(tSent + renewInterval(this.ttlMs));
      this.#init.onRenewed(this, clock.now() - tSent);
    } catch (err) {
      if (this.#status !== 'held') return;
      this.#lastError = err;
      this.#init.onRenewError(this, err);
      // Retry soon: two quick failures in a row must still leave time for a third try.
      const retryIn = renewRetryDelay(this.ttlMs);
      if (clock.now() + retryIn < this.#deadline - abortLead(this.ttlMs)) this.#scheduleRenew(clock.now() + retryIn);
    } finally {
      if (this.#inflight === ac) this.#inflight = undefined;
      recycleController(ac);
    }
  }

  #lose(detail: string, cause?: unknown): void {
    if (this.#status !== 'held') return;
    this.#status = 'lost';
    this.#stopTimers();
    this.#inflight?.abort(quietError('lease lost'));
    const error = new LeaseLostError(this.key, this.token, detail, cause === undefined ? undefined : { cause });
    this.#end(error);
    this.#init.onLost(this, error);
  }

  /** Aborts the signal (if anyone has it yet) with the loss error, or a release reason. */
  #end(error: LeaseLostError | undefined): void {
    this.#endReason = error;
    this.#controller?.abort(this.#reason());
    const listeners = this.#onEnd;
    if (listeners === undefined || listeners.length === 0) return;
    this.#onEnd = undefined;
    const reason = this.#reason();
    for (const listener of listeners) listener(reason);
  }

  #reason(): unknown {
    this.#endReason ??= quietError(`lease on "${this.key}" was released`);
    return this.#endReason;
  }

  #stopTimers(): void {
    const { clock } = this.#init;
    clock.clearTimeout(this.#renewTimer);
    clock.clearTimeout(this.#lossTimer);
    this.#renewTimer = undefined;
    this.#lossTimer = undefined;
  }
}
