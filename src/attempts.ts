/**
 * One acquisition attempt on the store, as the facade makes it for `tryAcquire`,
 * `acquire` and the scheduler: the request with its timeout, everything the store said,
 * and the retry that keeps an acquire safe to repeat (L9). The grant is made into a
 * lease by the facade.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from './clock.js';
import { requestTimeout } from './defaults.js';
import { LeaseholdError } from './errors.js';
import type { CheckedAnswer } from './handoff.js';
import { callStore } from './internal.js';
import type { Lease } from './lease.js';
import type { AcquireRequest, AcquireResult, JsonValue, LeaseStore } from './store.js';

/** Makes a granted answer into a lease (the facade's bookkeeping and `acquired` event). */
export type GrantFn = (
  key: string,
  leaseId: string,
  granted: Extract<AcquireResult, { acquired: true }>,
  ttlMs: number,
  tSent: number,
) => Lease;

/** Acquisition attempts for one facade: its store, clock and holder identity. */
export class Attempts {
  readonly #store: LeaseStore;
  readonly #clock: Clock;
  readonly #holder: string;
  readonly #grant: GrantFn;
  /** Per key, the lease id of the last acquire that got no answer, and until when it may be live. */
  readonly #unanswered = new Map<string, { leaseId: string; until: number }>();

  constructor(store: LeaseStore, clock: Clock, holder: string, grant: GrantFn) {
    this.#store = store;
    this.#clock = clock;
    this.#holder = holder;
    this.#grant = grant;
  }

  /**
   * One acquisition attempt with everything the store said (the scheduler gets it through
   * its port). With `unlessWaiter` (only for stores with `checksWaiters`), the store yields
   * to another holder's waiter announced on that key: the answer then names it in `waiter`.
   * With `after`, a grant waits for that release of this process to settle (see AttemptFn).
   */
  async attempt(
    key: string,
    ttlMs: number,
    signal: AbortSignal | undefined,
    mark?: JsonValue,
    unlessWaiter?: string,
    after?: Promise<void>,
  ): Promise<CheckedAnswer> {
    const clock = this.#clock;
    const store = this.#store;
    // L9 across attempts: an attempt that got no answer may still have been granted. Its
    // lease id is kept for one TTL and reused (once) by the next attempt on the key, so
    // the store hands that lease back instead of it blocking the key until it expires.
    const unanswered = this.#unanswered.get(key);
    this.#unanswered.delete(key);
    const leaseId = unanswered && unanswered.until > clock.now() ? unanswered.leaseId : randomUUID();
    const timeout = requestTimeout(ttlMs);
    // L9: if the first request reached the store but its reply was lost, the retry with
    // the same leaseId finds our own lease instead of waiting out the TTL.
    for (let attempt = 1; ; attempt++) {
      const tSent = clock.now();
      const sendWall = clock.wallNow();
      try {
        const request: { -readonly [K in keyof AcquireRequest]: AcquireRequest[K] } = {
          key,
          holder: this.#holder,
          leaseId,
          ttlMs,
        };
        if (mark !== undefined) request.mark = mark;
        if (unlessWaiter !== undefined) request.unlessWaiter = unlessWaiter;
        const res = await callStore(clock, `${store.name}: acquire "${key}"`, timeout, signal, (s) =>
          store.acquire(request, { signal: s }),
        );
        const out: CheckedAnswer = { lease: null, recvWall: clock.wallNow(), sendWall };
        if (res.storeTime !== undefined) out.storeTime = res.storeTime;
        if (res.state !== undefined) out.state = res.state;
        if (res.mark !== undefined) out.mark = res.mark;
        if (!res.acquired) {
          if (res.holder !== undefined) out.holder = res.holder;
          if (res.expiresInMs !== undefined) out.expiresInMs = res.expiresInMs;
          if (res.waiter !== undefined) out.waiter = res.waiter;
          return out;
        }
        if (after) await after;
        out.lease = this.#grant(key, leaseId, res, ttlMs, tSent);
        return out;
      } catch (err) {
        const unavailable = err instanceof LeaseholdError && err.code === 'STORE_UNAVAILABLE';
        if (unavailable || signal?.aborted) this.#unanswered.set(key, { leaseId, until: clock.now() + ttlMs });
        if (attempt >= 2 || signal?.aborted || !unavailable) throw err;
      }
    }
  }
}
