/**
 * The waiting side of bounded waiting (L11): one {@link Queue} per key and Leasehold, of
 * {@link Waiter}s in arrival order, and its announcement to other processes. The
 * {@link Handoff} (`./handoff.ts`) owns the queues and wakes their heads.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from './clock.js';
import { EXPIRY_SLACK_MS, POLL_JITTER, releaseTimeout, requestTimeout, waiterAnnouncementTtl } from './defaults.js';
import type { AttemptFn, CheckedAnswer, Handoff } from './handoff.js';
import { callStore, jitter } from './internal.js';
import type { LeaseStore } from './store.js';

/**
 * Appended to a key to name its waiters' announcement: printable, so every store can
 * name it and `status` shows it plainly; reserved (README, "Limits").
 */
export const WAITER_SUFFIX = '#leasehold-waiter';

/** Longest single timer a waiter sets; longer waits re-arm (Node's timers overflow past 2³¹−1 ms). */
const MAX_TIMER_MS = 3_600_000;

/** The key on which waiters for `key` announce themselves. */
export function waiterKey(key: string): string {
  return `${key}${WAITER_SUFFIX}`;
}

/** The TTL of an announcement: {@link waiterAnnouncementTtl}, within what the store accepts. */
export function announcementTtl(store: LeaseStore, pollMs: number): number {
  const { minTtlMs = 1, maxTtlMs = Number.POSITIVE_INFINITY } = store.capabilities;
  return Math.min(Math.max(waiterAnnouncementTtl(pollMs), minTtlMs), maxTtlMs);
}

/** What a {@link Queue} needs to announce itself. */
interface QueueContext {
  readonly store: LeaseStore;
  readonly clock: Clock;
  readonly holder: string;
}

/** The waiting calls of one Leasehold on one key, in arrival order, and their one announcement. */
export class Queue {
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
