/**
 * The facade: leases on a store, and the schedules that run on them. The scheduler runs
 * on the narrow port this class hands it (src/scheduler/port.ts), never on the class.
 * @module
 */
import { systemClock, type Clock } from './clock.js';
import { DEFAULT_GRACE_MS, defaultPoll } from './defaults.js';
import { parseDuration, type Duration } from './duration.js';
import { AcquireTimeoutError, ConfigError, LeaseholdError, type LeaseLostError } from './errors.js';
import { SafeEmitter, safeLog, silentLogger, type Logger } from './events.js';
import { checkCallOptions, checkHolder, checkKey, checkTtl, defaultHolder, shownValue } from './internal.js';
import { Admin } from './admin/admin.js';
import { schedulerPort } from './facade-port.js';
import { placementTtl } from './placement-options.js';
import { Election, type ElectOptions } from './coordination/election.js';
import { Semaphore, type SemaphoreOptions } from './coordination/semaphore.js';
import { Attempts } from './attempts.js';
import { type AttemptFn, Handoff } from './handoff.js';
import { Lease, type LeaseInit } from './lease.js';
import { makeSchedule } from './scheduler/options.js';
import type { SchedulerPort } from './scheduler/port.js';
import { Scheduler } from './scheduler/scheduler.js';
import type { ScheduledJob } from './scheduler/job.js';
import type { JobHandler, JobOptions } from './scheduler/types.js';
import {
  ACQUIRE_OPTIONS,
  LEASEHOLD_OPTIONS,
  STOP_OPTIONS,
  TRY_ACQUIRE_OPTIONS,
  type AcquireOptions,
  type LeaseEvent,
  type LeaseholdEvents,
  type LeaseholdOptions,
  type TryAcquireOptions,
  type WithLeaseOptions,
} from './leasehold-types.js';
import type { AcquireResult, LeaseStore } from './store.js';
import { errorText } from './store-kit/index.js';
import { checkTelemetryOption, Telemetry } from './telemetry/telemetry.js';
import type { LeaseholdTelemetry } from './telemetry/types.js';

export type {
  AcquireOptions,
  LeaseEvent,
  LeaseholdEvents,
  LeaseholdOptions,
  PlacementOptions,
  TryAcquireOptions,
  WithLeaseOptions,
} from './leasehold-types.js';

/**
 * Leases on a shared store, renewed automatically, with fencing tokens; and schedules
 * that run each job once per slot across every process sharing the store.
 *
 * @example
 * ```ts
 * const lh = new Leasehold({ store: await openStore('file:.leasehold') });
 * await using lease = await lh.tryAcquire('nightly-report', { ttl: '30s' });
 * if (lease) await buildReport({ signal: lease.signal, fence: lease.token });
 * ```
 */
export class Leasehold extends SafeEmitter<LeaseholdEvents> {
  /** The store this instance uses. */
  readonly store: LeaseStore;
  /** This process's holder identity. */
  readonly holder: string;
  /** The logger given, or a silent one. */
  readonly logger: Logger;
  /** @internal */
  readonly clock: Clock;
  /**
   * This instance's metrics and run spans (docs/operating.md): `prometheus()` gives the
   * metrics as Prometheus text, for the status server's `metrics` hook.
   */
  readonly telemetry: LeaseholdTelemetry;
  readonly #telemetry: Telemetry;
  readonly #leases = new Set<Lease>();
  /** Acquisition attempts, with the L9 retry (src/attempts.ts). */
  readonly #attempts: Attempts;
  #scheduler: Scheduler | undefined;
  /** Recent releases and waiters' announcements, for bounded waiting (src/handoff.ts, src/waiters.ts). */
  #handoffs: Handoff | undefined;
  /** What this instance's leases report to it (made on first use). */
  #hooks: LeaseHooks | undefined;
  /** Campaigns not yet resigned: `stop()` resigns them. */
  readonly #elections = new Set<Election>();
  #admin: Admin | undefined;
  /** Placement's liveness TTL; undefined when placement is off. */
  readonly #placementTtlMs: number | undefined;

  constructor(options: LeaseholdOptions) {
    if (!options || typeof options !== 'object') {
      throw new ConfigError('Leasehold: options object with a store is required');
    }
    checkCallOptions('Leasehold', options, LEASEHOLD_OPTIONS);
    const store = options.store;
    if (!store || typeof store.acquire !== 'function') {
      throw new ConfigError('store: a LeaseStore is required (see openStore() or leasehold/file, leasehold/redis, …)');
    }
    const logger = options.logger ?? silentLogger;
    super((err, event) => safeLog(logger, 'error', { event, err: errorText(err) }, 'event listener threw'));
    const holder = options.holder === undefined ? defaultHolder() : checkHolder(options.holder);
    this.store = store;
    this.holder = holder;
    this.logger = logger;
    this.clock = options.clock ?? systemClock;
    this.#attempts = new Attempts(store, this.clock, holder, (key, leaseId, granted, ttlMs, tSent) =>
      this.#makeLease(key, leaseId, granted, ttlMs, tSent),
    );
    this.#placementTtlMs = placementTtl(options.placement, store);
    this.#telemetry = new Telemetry(checkTelemetryOption(options.telemetry), {
      events: this,
      jobs: () => this.#scheduler?.jobs.values() ?? [],
      isJob: (key) => this.#scheduler?.jobs.has(key) ?? false,
      storeClockOffsetMs: () => this.#scheduler?.storeClockOffsetMs,
    });
    this.telemetry = this.#telemetry;
  }

  /** Leases this instance currently holds. */
  get leases(): readonly Lease[] {
    return [...this.#leases];
  }

  /**
   * One attempt at the key. Resolves to a {@link Lease} when acquired, `null` when
   * someone else holds it. Rejects with `StoreUnavailableError` when the store cannot
   * be reached, `ConfigError` on an invalid key or TTL.
   */
  async tryAcquire(key: string, options: TryAcquireOptions): Promise<Lease | null> {
    checkKey(key);
    checkCallOptions('tryAcquire', options, TRY_ACQUIRE_OPTIONS, "{ ttl: '30s' }");
    const ttlMs = checkTtl(options?.ttl, this.store);
    const poll = defaultPoll(ttlMs);
    const handoff = this.#handoff();
    const attempt: AttemptFn = (unlessWaiter) =>
      this.#attempts.attempt(key, ttlMs, options.signal, undefined, unlessWaiter);
    const res = await handoff.attempt(key, poll, handoff.recentRelease(key, poll), false, options.signal, attempt);
    return res.lease;
  }

  /**
   * Acquires the key, waiting up to `wait` while someone else holds it (polling with
   * jitter). Rejects with {@link AcquireTimeoutError} when the wait runs out. Calls of
   * this instance waiting for one key queue in arrival order: only the first polls, and a
   * release by this instance hands the key to it at once (docs/guarantees.md, L11).
   */
  async acquire(key: string, options: AcquireOptions): Promise<Lease> {
    checkKey(key);
    checkCallOptions('acquire', options, ACQUIRE_OPTIONS, "{ ttl: '30s', wait: '10s' }");
    const ttlMs = checkTtl(options?.ttl, this.store);
    const waitMs = parseDuration(options.wait, 'wait', { allowZero: true });
    const poll =
      options.pollInterval === undefined ? defaultPoll(ttlMs) : parseDuration(options.pollInterval, 'pollInterval');
    const deadline = this.clock.now() + waitMs;
    const handoff = this.#handoff();
    const attempt: AttemptFn = (unlessWaiter, after) =>
      this.#attempts.attempt(key, ttlMs, options.signal, undefined, unlessWaiter, after);
    if (waitMs === 0) {
      // One attempt, as tryAcquire makes it: no queue to join.
      const res = await handoff.attempt(key, poll, handoff.recentRelease(key, poll), false, options.signal, attempt);
      if (res.lease) return res.lease;
      throw new AcquireTimeoutError(key, waitMs, res.holder);
    }
    const waiter = handoff.waiter(key, poll);
    let lease: Lease | null = null;
    try {
      for (;;) {
        const res = await waiter.attempt(deadline, options.signal, attempt);
        lease = res?.lease ?? null;
        if (lease) return lease;
        if (!res || deadline - this.clock.now() <= 0) {
          throw new AcquireTimeoutError(key, waitMs, res?.holder ?? waiter.lastHolder);
        }
        await waiter.pause(res, deadline, options.signal);
      }
    } finally {
      await waiter.leave(lease !== null);
    }
  }

  /**
   * Runs `fn(lease)` while holding the key, then releases it. Rejects with
   * {@link AcquireTimeoutError} when the key could not be had within `wait` (default: one
   * attempt). If the lease is lost while `fn` runs, `fn` sees `lease.signal` abort and,
   * once `fn` settles, `withLease` rejects with the {@link LeaseLostError}.
   */
  async withLease<T>(key: string, fn: (lease: Lease) => Promise<T> | T, options: WithLeaseOptions): Promise<T> {
    // Every argument before the lease is taken: a bad one found after would leave it held.
    checkKey(key);
    if (typeof fn !== 'function') throw new ConfigError(`withLease: expected a function, got ${shownValue(fn)}`);
    checkCallOptions('withLease', options, ACQUIRE_OPTIONS, "{ ttl: '30s' }");
    const lease = await this.acquire(key, { ...options, wait: options.wait ?? 0 });
    let result: T;
    try {
      result = await fn(lease);
    } finally {
      await lease[Symbol.asyncDispose]();
    }
    const reason = lease.signal.reason;
    if (reason instanceof LeaseholdError && reason.code === 'LEASE_LOST') throw reason;
    return result;
  }

  /**
   * Schedules `handler` every `interval` (epoch-aligned, plus `options.offset`): across
   * every process sharing the store, each slot runs once (S1, S2). Jobs start with
   * {@link Leasehold.start}; one added after `start()` starts at once.
   * @throws ConfigError on an invalid interval, key or option
   */
  every(interval: Duration, key: string, handler: JobHandler, options?: JobOptions): ScheduledJob {
    return this.#sched().add(key, makeSchedule('every', interval, options), handler, options);
  }

  /**
   * Schedules `handler` on a cron expression (5 fields, or 6 with seconds) in
   * `options.timezone` (IANA, default UTC), DST-correct; each slot runs once fleet-wide.
   * @throws ConfigError on an invalid expression, timezone, key or option
   */
  cron(expression: string, key: string, handler: JobHandler, options?: JobOptions): ScheduledJob {
    return this.#sched().add(key, makeSchedule('cron', expression, options), handler, options);
  }

  /**
   * Operator controls on scheduled jobs, fleet-wide through the store: pause, resume,
   * trigger, skip the next slot, backfill missed slots. Each is written under the job's
   * lease and recorded in the job's audit trail. See docs/operating.md.
   */
  get admin(): Admin {
    this.#admin ??= new Admin(this);
    return this.#admin;
  }

  /** The jobs scheduled on this instance. */
  get jobs(): readonly ScheduledJob[] {
    return [...(this.#scheduler?.jobs.values() ?? [])];
  }

  /** Starts the scheduled jobs. Reads the store's clock once to place slots by it (S3). */
  async start(): Promise<void> {
    // Runs get their spans from the first slot on: the OpenTelemetry API is loaded first.
    await this.#telemetry.ready;
    await this.#sched().start();
  }

  /**
   * Stops: takes no new slots, lets running handlers finish for up to `grace`, then
   * aborts their signals and waits for them, then releases every lease (S7). Idempotent.
   * Does not close the store.
   *
   * @example Stop cleanly on SIGTERM/SIGINT
   * ```ts
   * for (const sig of ['SIGTERM', 'SIGINT']) {
   *   process.once(sig, () => void lh.stop().then(() => process.exit(0)));
   * }
   * ```
   */
  async stop(options: { grace?: Duration } = {}): Promise<void> {
    checkCallOptions('stop', options, STOP_OPTIONS);
    const graceMs =
      options.grace === undefined ? DEFAULT_GRACE_MS : parseDuration(options.grace, 'grace', { allowZero: true });
    if (this.#scheduler) await this.#scheduler.stop(graceMs);
    await this.releaseAll();
  }

  /**
   * Campaigns for the leadership of `key` until `resign()`: at most one campaigner is
   * leader at any instant of the store's clock, each term with a higher token (E1).
   * See docs/election-and-semaphores.md.
   * @throws ConfigError on an invalid key or option, before any store request
   */
  elect(key: string, options: ElectOptions): Election {
    const election: Election = new Election(this.#port(), key, options, () => this.#elections.delete(election));
    this.#elections.add(election);
    return election;
  }

  /**
   * A semaphore of `permits` permits on `key`: at most `permits` holders at once, each
   * permit a lease with its own token (M1). See docs/election-and-semaphores.md.
   * @throws ConfigError on an invalid key or option, before any store request
   */
  semaphore(key: string, options: SemaphoreOptions): Semaphore {
    return new Semaphore(this.#port(), key, options);
  }

  /** `await using lh = new Leasehold(…)` stops it (default grace) at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #handoff(): Handoff {
    this.#handoffs ??= new Handoff(this.store, this.clock, this.holder);
    return this.#handoffs;
  }

  #sched(): Scheduler {
    this.#scheduler ??= new Scheduler(this.#port());
    return this.#scheduler;
  }

  /** What the scheduler may use of this instance: nothing more (see src/scheduler/port.ts). */
  #port(): SchedulerPort {
    return schedulerPort({
      store: this.store,
      clock: this.clock,
      holder: this.holder,
      logger: this.logger,
      placementTtlMs: this.#placementTtlMs,
      attemptAcquire: (key, ttlMs, mark) => this.#attempts.attempt(key, ttlMs, undefined, mark),
      startRunSpan: (event) => this.#telemetry.startRunSpan(event),
      // PortEvents is a subset of LeaseholdEvents, which TypeScript cannot relate through a generic key.
      emit: (event, ...args) => this.emit(event, ...(args as LeaseholdEvents[typeof event])),
    });
  }

  /**
   * Releases every lease this instance holds, and resigns every election it campaigns
   * in. Does not close the store (you opened it, you close it).
   */
  async releaseAll(): Promise<void> {
    await Promise.allSettled([...this.#elections].map((election) => election.resign()));
    await Promise.allSettled([...this.#leases].map((l) => l.release()));
  }

  /** Makes a grant into a lease of this instance: tracked, handed off, announced. */
  #makeLease(
    key: string,
    leaseId: string,
    granted: Extract<AcquireResult, { acquired: true }>,
    ttlMs: number,
    tSent: number,
  ): Lease {
    const hooks = this.#leaseHooks();
    const lease: Lease = new Lease({
      store: this.store,
      clock: this.clock,
      logger: this.logger,
      key,
      holder: this.holder,
      leaseId,
      token: granted.token,
      ttlMs,
      tSent,
      state: granted.state,
      mark: granted.mark,
      onRenewed: hooks.onRenewed,
      onLost: hooks.onLost,
      onReleased: hooks.onReleased,
      onRenewError: hooks.onRenewError,
      onReleasing: hooks.onReleasing,
    });
    this.#leases.add(lease);
    this.#handoff().acquired(key);
    const acquired = leaseEvent(lease);
    safeLog(this.logger, 'debug', acquired, 'lease acquired');
    this.emit('acquired', acquired);
    return lease;
  }

  /**
   * What every lease of this instance reports to it, made once: closures made per lease
   * were a quarter of the core's CPU time per acquire + release.
   */
  #leaseHooks(): LeaseHooks {
    this.#hooks ??= {
      onRenewed: (l, latencyMs) => {
        const event = { key: l.key, holder: l.holder, token: l.token, latencyMs };
        safeLog(this.logger, 'debug', event, 'lease renewed');
        this.emit('renewed', event);
      },
      onLost: (l, error) => {
        if (this.#leases.delete(l)) this.#handoff().ended(l.key, false);
        safeLog(this.logger, 'warn', { ...leaseEvent(l), err: error.message }, 'lease lost');
        this.emit('lost', { ...leaseEvent(l), error });
      },
      onReleased: (l, wasHeld) => {
        if (this.#leases.delete(l)) this.#handoff().ended(l.key, wasHeld);
        // A literal, not a spread of leaseEvent(l): the spread cost 2 µs per release (measured).
        const event = { key: l.key, holder: l.holder, token: l.token, wasHeld };
        safeLog(this.logger, 'debug', event, 'lease released');
        this.emit('released', event);
      },
      onReleasing: (l, answer) => {
        if (this.store.capabilities.ordered) this.#handoffs?.releasing(l.key, answer);
      },
      onRenewError: (l, error) => {
        safeLog(this.logger, 'warn', { ...leaseEvent(l), err: errorText(error) }, 'lease renewal failed; retrying');
        this.emit('error', { key: l.key, error, during: 'renew' });
      },
    };
    return this.#hooks;
  }
}

/** The callbacks a {@link Lease} reports through. */
type LeaseHooks = Pick<LeaseInit, 'onRenewed' | 'onLost' | 'onReleased' | 'onReleasing' | 'onRenewError'>;

/** A lease as events and log lines show it. */
function leaseEvent(lease: Lease): LeaseEvent {
  return { key: lease.key, holder: lease.holder, token: lease.token };
}
