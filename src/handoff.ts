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
import { randomUUID } from 'node:crypto';
import { sleep, type Clock } from './clock.js';
import { EXPIRY_SLACK_MS, POLL_JITTER, releaseTimeout, requestTimeout, waiterAnnouncementTtl } from './defaults.js';
import { callStore, jitter } from './internal.js';
import type { AcquireAnswer } from './scheduler/port.js';
import type { LeaseStore } from './store.js';

/**
 * Appended to a key to name its waiters' announcement: printable, so every store can
 * name it and `status` shows it plainly; reserved (README, "Limits").
 */
export const WAITER_SUFFIX = '#leasehold-waiter';

/** Releases remembered at most: a process that touched many keys once keeps no more than this. */
const MAX_REMEMBERED_RELEASES = 1000;

/** Longest single timer a waiter sets; longer waits re-arm (Node's timers overflow past 2³¹−1 ms). */
const MAX_TIMER_MS = 3_600_000;

/** The key on which waiters for `key` announce themselves. */
export function waiterKey(key: string): string {
  return `${key}${WAITER_SUFFIX}`;
}

/** The TTL of an announcement: {@link waiterAnnouncementTtl}, within what the store accepts. */
function announcementTtl(store: LeaseStore, pollMs: number): number {
  const { minTtlMs = 1, maxTtlMs = Number.POSITIVE_INFINITY } = store.capabilities;
  return Math.min(Math.max(waiterAnnouncementTtl(pollMs), minTtlMs), maxTtlMs);
}

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

/** What a {@link Queue} needs to announce itself. */
interface QueueContext {
  readonly store: LeaseStore;
  readonly clock: Clock;
  readonly holder: string;
}

/** The waiting calls of one Leasehold on one key, in arrival order, and their one announcement. */
class Queue {
  readonly key: string;
  readonly #context: QueueContext;
  readonly #waiters: Waiter[] = [];
  readonly #ttlMs: number;
  /** The announcement's lease id, made on the first announcement. */
  #leaseId: string | undefined;
  /** The announcement held: its token. */
  #token: number | undefined;
  /** Monotonic time before which no announcement is tried. */
  #nextTry = Number.NEGATIVE_INFINITY;
  /** Who held the key at the head's last busy answer, for the timeout error. */
  lastHolder: string | undefined;

  constructor(context: QueueContext, key: string, pollMs: number) {
    this.#context = context;
    this.key = key;
    this.#ttlMs = announcementTtl(context.store, pollMs);
  }

  get size(): number {
    return this.#waiters.length;
  }

  get head(): Waiter | undefined {
    return this.#waiters[0];
  }

  join(waiter: Waiter): void {
    this.#waiters.push(waiter);
  }

  /** Removes `waiter`; a new head is woken to take its turn. Answers whether the queue is now empty. */
  leave(waiter: Waiter): boolean {
    const at = this.#waiters.indexOf(waiter);
    if (at < 0) return this.#waiters.length === 0;
    this.#waiters.splice(at, 1);
    if (at === 0) this.#waiters[0]?.wake();
    return this.#waiters.length === 0;
  }

  /**
   * After a busy answer naming another process: announces, or, holding the announcement
   * and past half its TTL, extends it (an acquire with the same lease id, L9). At most one
   * request; none while another process's announcement is live. Never throws: a failed
   * announcement only leaves the queue unprotected.
   */
  async announce(signal: AbortSignal | undefined): Promise<void> {
    const { store, clock, holder } = this.#context;
    if (clock.now() < this.#nextTry) return;
    this.#leaseId ??= randomUUID();
    const request = { key: waiterKey(this.key), holder, leaseId: this.#leaseId, ttlMs: this.#ttlMs };
    const what = `${store.name}: announce on "${request.key}"`;
    try {
      const answer = await callStore(clock, what, requestTimeout(this.#ttlMs), signal, (inner) =>
        store.acquire(request, { signal: inner }),
      );
      if (answer.acquired) {
        this.#token = answer.token;
        // Extended at half its TTL (every second poll or so): it never lapses between polls.
        this.#nextTry = clock.now() + this.#ttlMs / 2;
        return;
      }
      this.#nextTry = clock.now() + (answer.expiresInMs ?? this.#ttlMs);
    } catch {
      this.#nextTry = clock.now() + this.#ttlMs;
    }
    this.#token = undefined;
  }

  /** Gives the announcement back, best effort (one of ours got the key, or nobody waits any more). */
  async withdraw(): Promise<void> {
    const token = this.#token;
    const leaseId = this.#leaseId;
    if (token === undefined || leaseId === undefined) return;
    const { store, clock } = this.#context;
    this.#token = undefined;
    this.#nextTry = Number.NEGATIVE_INFINITY;
    const ref = { key: waiterKey(this.key), leaseId, token };
    const what = `${store.name}: withdraw "${ref.key}"`;
    try {
      await callStore(clock, what, releaseTimeout(this.#ttlMs), undefined, (inner) =>
        store.release(ref, { signal: inner }),
      );
    } catch {
      // It expires by its TTL; until then a releaser yields one poll it need not have.
    }
  }
}

/**
 * One waiting `acquire` call: it waits for its turn in its key's queue, makes attempts as
 * the head, and between them sleeps until its next poll or until woken (its turn came,
 * or this instance's lease on the key ended).
 */
export class Waiter {
  readonly #handoff: Handoff;
  readonly #queue: Queue;
  readonly #key: string;
  readonly #pollMs: number;
  /** Ends the current sleep early, while sleeping. */
  #wake: (() => void) | undefined;
  /** Set when woken with no sleep in progress: the next sleep returns at once. */
  #woken = false;
  /** The release of this instance whose re-take rule this waiter already applied. */
  #checkedRelease: number | undefined;
  /**
   * One timer for the call's deadline while it waits for its turn, armed once: waits for
   * a turn set no timer of their own (one per hand-off was a measurable share of its CPU).
   */
  #deadlineTimer: unknown;

  /** @internal */
  constructor(handoff: Handoff, queue: Queue, key: string, pollMs: number) {
    this.#handoff = handoff;
    this.#queue = queue;
    this.#key = key;
    this.#pollMs = pollMs;
  }

  /** Who held the key at the queue's last busy answer. */
  get lastHolder(): string | undefined {
    return this.#queue.lastHolder;
  }

  /** @internal Ends this waiter's sleep now (its turn came, or the key may be free). */
  wake(): void {
    if (this.#wake) this.#wake();
    else this.#woken = true;
  }

  /**
   * Waits until this waiter heads the queue and no lease of this instance holds the key,
   * then makes one attempt (under the re-take rule). Null when `deadline` (monotonic)
   * passed before its turn.
   */
  async attempt(deadline: number, signal: AbortSignal | undefined, attempt: AttemptFn): Promise<CheckedAnswer | null> {
    const clock = this.#handoff.clock;
    while (this.#queue.head !== this || this.#handoff.holds(this.#key)) {
      const left = deadline - clock.now();
      if (left <= 0) return null;
      if (this.#deadlineTimer === undefined) this.#armDeadline(deadline);
      await this.#sleep(Number.POSITIVE_INFINITY, signal);
    }
    let releasedAt = this.#handoff.recentRelease(this.#key, this.#pollMs);
    if (releasedAt === this.#checkedRelease) releasedAt = undefined;
    else this.#checkedRelease = releasedAt;
    const after = this.#handoff.releaseInFlight(this.#key);
    const run: AttemptFn = after === undefined ? attempt : (unlessWaiter) => attempt(unlessWaiter, after);
    const answer = await this.#handoff.attempt(this.#key, this.#pollMs, releasedAt, true, signal, run);
    if (!answer.lease) this.#queue.lastHolder = answer.holder;
    return answer;
  }

  /**
   * After a busy answer: when another process holds the key, announces and sleeps until the
   * next poll (jittered; sooner when the holder's lease expires). When this instance holds
   * it, returns at once: {@link attempt} then waits for the lease to end.
   */
  async pause(answer: CheckedAnswer, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#handoff.holds(this.#key)) return;
    const clock = this.#handoff.clock;
    await this.#queue.announce(signal);
    let pause = jitter(this.#pollMs * POLL_JITTER[0], this.#pollMs * POLL_JITTER[1]);
    if (answer.expiresInMs !== undefined && answer.expiresInMs >= 0) {
      pause = Math.min(pause, answer.expiresInMs + jitter(...EXPIRY_SLACK_MS));
    }
    const left = Math.max(deadline - clock.now(), 0);
    await this.#sleep(Math.min(pause, left), signal);
  }

  /**
   * The call ends (`granted`: with the key). Leaves the queue, handing the turn on; the
   * announcement is given back when the key is ours or nobody is left waiting.
   */
  async leave(granted: boolean): Promise<void> {
    this.#handoff.clock.clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    const empty = this.#queue.leave(this);
    if (empty) this.#handoff.drop(this.#queue);
    if (granted || empty) await this.#queue.withdraw();
  }

  /** Wakes this waiter at `deadline` (monotonic), re-armed in pieces of at most an hour. */
  #armDeadline(deadline: number): void {
    const clock = this.#handoff.clock;
    this.#deadlineTimer = clock.setTimeout(
      () => {
        if (clock.now() < deadline) this.#armDeadline(deadline);
        else this.wake();
      },
      Math.min(deadline - clock.now(), MAX_TIMER_MS),
    );
  }

  /**
   * Sleeps up to `ms` (at most an hour; the callers loop), or until woken or `signal`
   * aborts. An infinite `ms` sets no timer: the deadline timer or a wake ends it.
   */
  #sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    const clock = this.#handoff.clock;
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const finish = (error?: { reason: unknown }) => {
        clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#wake = undefined;
        if (error) reject(error.reason);
        else resolve();
      };
      const onAbort = () => finish({ reason: signal?.reason });
      const timer = Number.isFinite(ms) ? clock.setTimeout(() => finish(), Math.min(ms, MAX_TIMER_MS)) : undefined;
      this.#wake = () => finish();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
