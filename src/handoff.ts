/**
 * Bounded waiting for `acquire({ wait })`, on the store contract alone (L11; a liveness
 * aid, never a safety rule: the lease alone decides who holds a key).
 *
 * - **Within one Leasehold**, the calls waiting for a key form a queue in arrival order.
 *   Only its head asks the store. When a lease of this instance on the key ends, the head
 *   tries at once (a hand-off in one request, no poll to wait for); while this instance
 *   holds the key, nobody in the queue asks the store at all. A call that arrives while
 *   others wait queues behind them.
 * - **Across processes**, a head that finds the key held by another process announces
 *   itself with a short lease on a companion key, and an attempt this instance makes
 *   within one jittered poll of its own release of the key first checks for another
 *   process's announced waiter (in the acquire request itself when the store can,
 *   `checksWaiters`; else with one read) and, if there is one, yields that poll to it.
 *
 * docs/guarantees.md, "Bounded waiting".
 * @module
 */
import { sleep, type Clock } from './clock.js';
import { POLL_JITTER, requestTimeout } from './defaults.js';
import { callStore } from './internal.js';
import type { AcquireAnswer } from './scheduler/port.js';
import type { LeaseStore } from './store.js';
import { announcementTtl, Queue, Waiter, waiterKey } from './waiters.js';

export { WAITER_SUFFIX, waiterKey } from './waiters.js';

/** Releases remembered at most: a process that touched many keys once keeps no more than this. */
const MAX_REMEMBERED_RELEASES = 1000;

/** One attempt's answer; `waiter` is set when a checked attempt yielded to that announced waiter. */
export type CheckedAnswer = AcquireAnswer & { waiter?: string };

/**
 * Makes one acquisition attempt; with `unlessWaiter`, the store checks that announcement key
 * first. With `after` (a release of this process still in flight, see
 * {@link Handoff.releasing}), a grant is made into a lease only once that release settled, so
 * its `released` event comes before the new lease's `acquired`.
 */
export type AttemptFn = (unlessWaiter?: string, after?: Promise<void>) => Promise<CheckedAnswer>;

/** One Leasehold's side of the hand-off: its leases per key, its recent releases, its queues. */
export class Handoff {
  readonly #store: LeaseStore;
  readonly #clock: Clock;
  readonly #holder: string;
  /** Per key, the monotonic time this instance last released it. */
  readonly #released = new Map<string, number>();
  /** Per key, how many leases of this instance hold it. */
  readonly #held = new Map<string, number>();
  /** Per key, this instance's waiting calls. */
  readonly #queues = new Map<string, Queue>();
  /**
   * Per key, a release of this instance's one lease on it that was sent, on an ordered
   * store, with a waiter at the queue's head: it settles with that release's answer.
   */
  readonly #releases = new Map<string, Promise<void>>();

  /** The hand-off of one Leasehold on `store`. */
  constructor(store: LeaseStore, clock: Clock, holder: string) {
    this.#store = store;
    this.#clock = clock;
    this.#holder = holder;
  }

  /** A lease of this instance on `key` was granted. */
  acquired(key: string): void {
    this.#held.set(key, (this.#held.get(key) ?? 0) + 1);
  }

  /**
   * A lease of this instance on `key` ended: released (`released`: the store confirmed
   * it), lost, or its release failed. Once none is left, the queue's head tries at once.
   */
  ended(key: string, released: boolean): void {
    // The lease whose release was sent early is the one ending: a lease taken after it is
    // made only once that release settled (AttemptFn's `after`).
    this.#releases.delete(key);
    const left = (this.#held.get(key) ?? 1) - 1;
    if (left > 0) this.#held.set(key, left);
    else this.#held.delete(key);
    if (released) this.#remember(key);
    if (left <= 0) this.#queues.get(key)?.head?.wake();
  }

  /**
   * The release of this instance's lease on `key` was sent (`answer` settles with it), on a
   * store that applies requests in the order sent (`capabilities.ordered`). When that lease
   * is this instance's only one on the key and a call waits for it, the queue's head is woken
   * now: its acquire goes out right behind the release instead of one round trip later.
   * The release counts as done for the re-take rule (L11) from now on: the head's attempt
   * still checks for another process's announced waiter. Were the acquire applied first
   * anyway, it is only answered busy, and {@link ended} wakes the head again.
   */
  releasing(key: string, answer: Promise<unknown>): void {
    const head = this.#queues.get(key)?.head;
    if (head === undefined || this.#held.get(key) !== 1 || this.#releases.has(key)) return;
    this.#releases.set(
      key,
      answer.then(
        () => {},
        () => {},
      ),
    );
    this.#remember(key);
    head.wake();
  }

  /** The early release on `key` still counted as held ({@link releasing}), if any. */
  releaseInFlight(key: string): Promise<void> | undefined {
    return this.#releases.get(key);
  }

  /** True while a lease of this instance holds `key` (one whose release was sent early does not count). */
  holds(key: string): boolean {
    const held = this.#held.get(key) ?? 0;
    return held > (this.#releases.has(key) ? 1 : 0);
  }

  #remember(key: string): void {
    this.#released.delete(key);
    this.#released.set(key, this.#clock.now());
    if (this.#released.size <= MAX_REMEMBERED_RELEASES) return;
    // Oldest first in a Map: drop those beyond the bound (long past their window anyway).
    for (const old of this.#released.keys()) {
      if (this.#released.size <= MAX_REMEMBERED_RELEASES) break;
      this.#released.delete(old);
    }
  }

  /** When this instance released `key` less than one jittered poll (`pollMs` × the jitter's top) ago. */
  recentRelease(key: string, pollMs: number): number | undefined {
    const releasedAt = this.#released.get(key);
    if (releasedAt === undefined) return undefined;
    if (this.#clock.now() - releasedAt < pollMs * POLL_JITTER[1]) return releasedAt;
    this.#released.delete(key);
    return undefined;
  }

  /**
   * One attempt on `key` under the re-take rule (L11). When this instance released the key
   * at `releasedAt`, less than one jittered poll ago, another process's announced waiter
   * gets that poll first: checked in the attempt itself when the store can (no extra
   * request), else with one read before it; and a caller that is not one of this
   * instance's waiters also yields to them (they are handed the key at the release). If
   * it yields, it sleeps until that poll has passed since the release (plus the check's
   * round trip, so the waiter's request has time to land), then makes a plain attempt.
   */
  async attempt(
    key: string,
    pollMs: number,
    releasedAt: number | undefined,
    asWaiter: boolean,
    signal: AbortSignal | undefined,
    attempt: AttemptFn,
  ): Promise<CheckedAnswer> {
    if (releasedAt === undefined) return attempt();
    const sent = this.#clock.now();
    const localWaiters = !asWaiter && (this.#queues.get(key)?.size ?? 0) > 0;
    if (!localWaiters) {
      if (this.#store.capabilities.checksWaiters) {
        const answer = await attempt(waiterKey(key));
        if (answer.waiter === undefined) return answer;
      } else if (!(await this.#announcedElsewhere(key, pollMs, signal))) {
        return attempt();
      }
    }
    const left = releasedAt + pollMs * POLL_JITTER[1] - sent;
    if (left > 0) await sleep(this.#clock, left, signal);
    return attempt();
  }

  /** Reads `key`'s announcement: true when another instance's waiter is announced. A failed read says no. */
  async #announcedElsewhere(key: string, pollMs: number, signal: AbortSignal | undefined): Promise<boolean> {
    const timeout = requestTimeout(announcementTtl(this.#store, pollMs));
    const what = `${this.#store.name}: inspect "${waiterKey(key)}"`;
    try {
      const record = await callStore(this.#clock, what, timeout, signal, (inner) =>
        this.#store.inspect(waiterKey(key), { signal: inner }),
      );
      return !!record?.holder && record.holder !== this.#holder && (record.expiresInMs ?? 0) > 0;
    } catch (err) {
      if (signal?.aborted) throw err;
      return false;
    }
  }

  /** A waiter for one `acquire` call on `key` polling every `pollMs`: it joins the key's queue. */
  waiter(key: string, pollMs: number): Waiter {
    let queue = this.#queues.get(key);
    if (!queue) {
      queue = new Queue({ store: this.#store, clock: this.#clock, holder: this.#holder }, key, pollMs);
      this.#queues.set(key, queue);
    }
    const waiter = new Waiter(this, queue, key, pollMs);
    queue.join(waiter);
    return waiter;
  }

  /** The queue of `key` has no waiter left. */
  drop(queue: Queue): void {
    if (this.#queues.get(queue.key) === queue) this.#queues.delete(queue.key);
  }

  /** The clock, for the waiters. */
  get clock(): Clock {
    return this.#clock;
  }
}
