/**
 * Counting semaphores (M1): `permits` permit keys `<key>#0` … `<key>#<permits−1>`, each
 * an ordinary lease, so at most `permits` holders by the store's view and every permit
 * has its own store-issued token. Built on the store contract only, so it works on
 * every store. Fairness: random order per attempt, no queue. See
 * docs/election-and-semaphores.md.
 * @module
 */
import { sleep } from '../clock.js';
import { parseDuration, type Duration } from '../duration.js';
import { AcquireTimeoutError, ConfigError } from '../errors.js';
import { checkCallOptions, checkKey, checkTtl } from '../internal.js';
import type { Lease } from '../lease.js';
import type { AcquireAnswer } from '../scheduler/port.js';
import { checkCount } from '../store-kit/index.js';
import { pollBase, pollPause, type CoordinationPort } from './port.js';

/** Most permits a semaphore may have: an attempt may cost one store request per permit. */
export const MAX_PERMITS = 256;

/** Options of {@link Leasehold.semaphore}. */
export interface SemaphoreOptions {
  /** How many holders at once, 1 to {@link MAX_PERMITS}. Every process must use the same number. Required. */
  permits: number;
  /** TTL of each permit's lease; it renews itself about every ttl/3. Required. */
  ttl: Duration;
}

/** Options of {@link Semaphore.tryAcquire}. */
export interface PermitTryOptions {
  /** Aborts the attempt between permit keys. */
  signal?: AbortSignal;
}

/** Options of {@link Semaphore.acquire}. */
export interface PermitAcquireOptions extends PermitTryOptions {
  /** How long to keep trying while every permit is held. `0` tries once. Required. */
  wait: Duration;
  /**
   * Pause between attempts (randomised ±25 %).
   * @defaultValue ttl / 10, between 50 ms and 1 s
   */
  pollInterval?: Duration;
}

/**
 * A permit of a semaphore: a {@link Lease} on one permit key (`<key>#<i>`), with its own
 * fencing token, renewal, loss signal, `release()` and `await using`.
 */
export type Permit = Lease;

const SEMAPHORE_OPTIONS = ['permits', 'ttl'] as const satisfies readonly (keyof SemaphoreOptions)[];
const TRY_OPTIONS = ['signal'] as const satisfies readonly (keyof PermitTryOptions)[];
const ACQUIRE_OPTIONS = ['wait', 'pollInterval', 'signal'] as const satisfies readonly (keyof PermitAcquireOptions)[];

/** The permit indexes in a fresh random order (Fisher–Yates), so no permit key is everyone's first try. */
function shuffled(count: number): number[] {
  const order = Array.from({ length: count }, (_, index) => index);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

/**
 * A semaphore from {@link Leasehold.semaphore}: lets at most `permits` holders in at
 * once across every process sharing the store (M1). Holds no state of its own besides
 * its options: permits are leases, released like any lease.
 */
export class Semaphore {
  /** The semaphore's key; its permit keys are `<key>#0` … `<key>#<permits−1>`. */
  readonly key: string;
  /** How many holders at once. */
  readonly permits: number;
  /** The permit keys, in index order. */
  readonly permitKeys: readonly string[];
  readonly #port: CoordinationPort;
  readonly #ttlMs: number;

  /** @internal Made by {@link Leasehold.semaphore}; checks every option before any store request. */
  constructor(port: CoordinationPort, key: string, options: SemaphoreOptions) {
    checkCallOptions('semaphore', options, SEMAPHORE_OPTIONS, "{ permits: 3, ttl: '30s' }");
    checkKey(key);
    const permits = options.permits === undefined ? 0 : checkCount('permits', options.permits, 0);
    if (permits < 1 || permits > MAX_PERMITS) {
      throw new ConfigError(
        `permits: must be an integer from 1 to ${MAX_PERMITS}, got ${JSON.stringify(options.permits)}`,
      );
    }
    this.#ttlMs = checkTtl(options.ttl, port.store);
    this.permitKeys = Array.from({ length: permits }, (_, index) => `${key}#${index}`);
    checkKey(this.permitKeys[permits - 1], 'key'); // the longest permit key must fit too
    this.key = key;
    this.permits = permits;
    this.#port = port;
  }

  /**
   * One attempt: tries every permit key once, in a random order, and resolves to the
   * first permit granted, or `null` when all are held. Rejects with
   * `StoreUnavailableError` when a permit key could not be asked and none was granted:
   * then it is unknown whether a permit was free.
   */
  async tryAcquire(options: PermitTryOptions = {}): Promise<Permit | null> {
    checkCallOptions('semaphore.tryAcquire', options, TRY_OPTIONS);
    return (await this.#attempt(options.signal)).permit;
  }

  /**
   * Takes a permit, waiting up to `wait` while all are held (polling with jitter, and
   * just after the soonest expiry the store reported). Rejects with
   * {@link AcquireTimeoutError} when the wait runs out. No queue: see the docs on fairness.
   */
  async acquire(options: PermitAcquireOptions): Promise<Permit> {
    checkCallOptions('semaphore.acquire', options, ACQUIRE_OPTIONS, "{ wait: '10s' }");
    const waitMs = parseDuration(options.wait, 'wait', { allowZero: true });
    const poll = pollBase(options.pollInterval, this.#ttlMs);
    const { clock } = this.#port;
    const start = clock.now();
    for (;;) {
      const { permit, answers } = await this.#attempt(options.signal);
      if (permit) return permit;
      const left = start + waitMs - clock.now();
      if (left <= 0) throw new AcquireTimeoutError(this.key, waitMs, `all ${this.permits} permits`);
      await sleep(clock, Math.min(pollPause(poll, answers), left), options.signal);
    }
  }

  async #attempt(signal: AbortSignal | undefined): Promise<{ permit: Permit | null; answers: AcquireAnswer[] }> {
    const answers: AcquireAnswer[] = [];
    let failure: unknown;
    let failed = false;
    for (const index of shuffled(this.permits)) {
      if (signal?.aborted) throw signal.reason; // as Leasehold.acquire does
      try {
        const answer = await this.#port.attemptAcquire(this.permitKeys[index] as string, this.#ttlMs);
        if (answer.lease) return { permit: answer.lease, answers };
        answers.push(answer);
      } catch (err) {
        // Keep asking the other permit keys: one of them may answer; report the first failure only if none does.
        if (!failed) failure = err;
        failed = true;
        this.#port.emit('error', { key: this.key, error: err, during: 'semaphore attempt' });
      }
    }
    if (failed) throw failure;
    return { permit: null, answers };
  }
}
