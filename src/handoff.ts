/**
 * Bounded waiting for `acquire({ wait })`, on the store contract alone: a waiter
 * announces itself with a short lease on a companion key, and a process that just
 * released a key and asks for it again at once first checks that key, and if a waiter
 * is there, yields one poll so the waiter's poll lands first. A liveness aid, never a
 * safety rule (the lease alone decides who holds a key): docs/guarantees.md, "Bounded waiting".
 * @module
 */
import { randomUUID } from 'node:crypto';
import { sleep, type Clock } from './clock.js';
import { POLL_JITTER, releaseTimeout, requestTimeout, waiterAnnouncementTtl } from './defaults.js';
import { callStore } from './internal.js';
import type { LeaseStore } from './store.js';

/**
 * Appended to a key to name its waiters' announcement: printable, so every store can
 * name it and `status` shows it plainly; reserved (README, "Limits").
 */
export const WAITER_SUFFIX = '#leasehold-waiter';

/** Releases remembered at most: a process that touched many keys once keeps no more than this. */
const MAX_REMEMBERED_RELEASES = 1000;

/** The key on which waiters for `key` announce themselves. */
export function waiterKey(key: string): string {
  return `${key}${WAITER_SUFFIX}`;
}

/** The TTL of an announcement: {@link waiterAnnouncementTtl}, within what the store accepts. */
function announcementTtl(store: LeaseStore, pollMs: number): number {
  const { minTtlMs = 1, maxTtlMs = Number.POSITIVE_INFINITY } = store.capabilities;
  return Math.min(Math.max(waiterAnnouncementTtl(pollMs), minTtlMs), maxTtlMs);
}

/** One Leasehold's side of the hand-off: its recent releases and its announcements. */
export class Handoff {
  readonly #store: LeaseStore;
  readonly #clock: Clock;
  readonly #holder: string;
  /** Per key, the monotonic time this instance last released it. */
  readonly #released = new Map<string, number>();
  /** Per key, the waiter of this instance that announces for all of its waiters on the key. */
  readonly #announcers = new Map<string, Waiter>();

  /** The hand-off of one Leasehold on `store`. */
  constructor(store: LeaseStore, clock: Clock, holder: string) {
    this.#store = store;
    this.#clock = clock;
    this.#holder = holder;
  }

  /** Remembers that this instance released `key` now. */
  released(key: string): void {
    this.#released.delete(key);
    this.#released.set(key, this.#clock.now());
    // Oldest first in a Map: drop those beyond the bound (long past their window anyway).
    for (const old of this.#released.keys()) {
      if (this.#released.size <= MAX_REMEMBERED_RELEASES) break;
      this.#released.delete(old);
    }
  }

  /**
   * Before an attempt on `key`: if this instance released it less than one jittered
   * poll (`pollMs` × the jitter's top) ago, reads the announcement key once, and if a
   * waiter is announced, sleeps until that poll has passed since the release (plus the
   * read's round trip, so the waiter's request has time to land). Costs one read, and
   * only then. A failed read yields nothing; an abort of `signal` rejects.
   */
  async yieldToWaiters(key: string, pollMs: number, signal: AbortSignal | undefined): Promise<void> {
    const releasedAt = this.#released.get(key);
    if (releasedAt === undefined) return;
    this.#released.delete(key);
    const window = pollMs * POLL_JITTER[1];
    const sent = this.#clock.now();
    if (sent - releasedAt >= window) return;
    const timeout = requestTimeout(announcementTtl(this.#store, pollMs));
    const what = `${this.#store.name}: inspect "${waiterKey(key)}"`;
    let announced = false;
    try {
      const record = await callStore(this.#clock, what, timeout, signal, (inner) =>
        this.#store.inspect(waiterKey(key), { signal: inner }),
      );
      announced = !!record?.holder && (record.expiresInMs ?? 0) > 0;
    } catch (err) {
      if (signal?.aborted) throw err;
    }
    if (!announced) return;
    const roundTrip = this.#clock.now() - sent;
    const left = releasedAt + window + roundTrip - this.#clock.now();
    if (left > 0) await sleep(this.#clock, left, signal);
  }

  /** A waiter for one `acquire` call on `key` polling every `pollMs`. */
  waiter(key: string, pollMs: number): Waiter {
    const context = { store: this.#store, clock: this.#clock, holder: this.#holder, announcers: this.#announcers };
    return new Waiter(context, key, pollMs);
  }
}

/** What a {@link Waiter} shares with its {@link Handoff}. */
interface WaiterContext {
  readonly store: LeaseStore;
  readonly clock: Clock;
  readonly holder: string;
  readonly announcers: Map<string, Waiter>;
}

/**
 * One waiting `acquire` call's announcement. One waiter per key and instance announces
 * for all of that instance's waiters; the others try again when the announcement they
 * saw would expire. Never throws: a failed announcement only makes the call unprotected.
 */
export class Waiter {
  readonly #context: WaiterContext;
  readonly #key: string;
  readonly #ttlMs: number;
  readonly #leaseId = randomUUID();
  /** The announcement this waiter holds: its token. */
  #token: number | undefined;
  /** Monotonic time before which this waiter does not try to announce. */
  #nextTry = Number.NEGATIVE_INFINITY;

  /** @internal */
  constructor(context: WaiterContext, key: string, pollMs: number) {
    this.#context = context;
    this.#key = key;
    this.#ttlMs = announcementTtl(context.store, pollMs);
  }

  /**
   * After a busy answer: announces, or, holding the announcement and past half its TTL,
   * extends it (an acquire with the same lease id, L9). At most one request; none while
   * another waiter of this instance announces or another process's announcement is live.
   */
  async announce(signal: AbortSignal | undefined): Promise<void> {
    const { store, clock, holder, announcers } = this.#context;
    const owner = announcers.get(this.#key);
    if ((owner !== undefined && owner !== this) || clock.now() < this.#nextTry) return;
    const key = waiterKey(this.#key);
    const request = { key, holder, leaseId: this.#leaseId, ttlMs: this.#ttlMs };
    const what = `${store.name}: announce on "${key}"`;
    try {
      const answer = await callStore(clock, what, requestTimeout(this.#ttlMs), signal, (inner) =>
        store.acquire(request, { signal: inner }),
      );
      if (answer.acquired) {
        this.#token = answer.token;
        announcers.set(this.#key, this);
        // Extended at half its TTL (every second poll or so): it never lapses between polls.
        this.#nextTry = clock.now() + this.#ttlMs / 2;
        return;
      }
      this.#nextTry = clock.now() + (answer.expiresInMs ?? this.#ttlMs);
    } catch {
      this.#nextTry = clock.now() + this.#ttlMs;
    }
    this.#token = undefined;
    if (announcers.get(this.#key) === this) announcers.delete(this.#key);
  }

  /** When the call ends (key acquired, wait over, aborted): gives the announcement back, best effort. */
  async withdraw(): Promise<void> {
    const { store, clock, announcers } = this.#context;
    if (announcers.get(this.#key) === this) announcers.delete(this.#key);
    const token = this.#token;
    if (token === undefined) return;
    this.#token = undefined;
    const ref = { key: waiterKey(this.#key), leaseId: this.#leaseId, token };
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
