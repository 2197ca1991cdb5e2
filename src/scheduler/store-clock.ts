/**
 * The store-clock estimator: a lower bound of the store's time, so a slot is never taken
 * to be due before it is by the store's clock (S3), at the price of starting a little late.
 * @module
 */
import {
  CLOCK_BOUND_DECAY,
  CLOCK_READ_TIMEOUT_MS,
  CLOCK_REFINE_STEPS,
  CLOCK_REFRESH_MS,
  CLOCK_RETRY_MS,
  CLOCK_SYNC_READS,
} from '../defaults.js';
import { safeLog } from '../events.js';
import { errorText } from '../store-kit/index.js';
import type { SchedulerPort } from './port.js';

/** What the estimator needs of its scheduler: to know it is stopping, and to sleep until then. */
export interface ClockHost {
  /** True once `stop()` began. */
  readonly stopping: boolean;
  /** Aborts when `stop()` begins. */
  readonly stopSignal: AbortSignal;
  /** Sleeps `ms`, waking early on `stop()`. */
  nap(ms: number): Promise<unknown>;
}

/** The store's clock as this host estimates it from the times the store reports. */
export class StoreClock {
  readonly #port: SchedulerPort;
  readonly #host: ClockHost;
  /**
   * A lower bound of the store clock minus the host wall clock: the largest of the
   * samples' bounds, less a drift allowance for its age; see {@link StoreClock.observe}.
   * Undefined until the first sample (the host clock is used until then).
   */
  #lowerSkewMs: number | undefined;
  /** Monotonic time of the sample that gave it. */
  #sampledAt = 0;
  /**
   * An upper bound of the same offset: the smallest of the samples' upper bounds (the
   * store read its clock after the request was sent, and its times are truncated by at
   * most its resolution), raised with its age. Undefined until a sample with a send time.
   */
  #upperSkewMs: number | undefined;
  /** Monotonic time of the sample that gave the upper bound. */
  #upperAt = 0;
  /** Monotonic time of the last sample seen, kept or not (freshness, not the bound). */
  #lastSeenAt = Number.NEGATIVE_INFINITY;

  /** An estimator reading the store through `port`. */
  constructor(port: SchedulerPort, host: ClockHost) {
    this.#port = port;
    this.#host = host;
  }

  /**
   * A lower bound of the store's time (epoch ms): the host wall clock plus the measured
   * lower bound of the offset.
   */
  now(): number {
    return this.#port.clock.wallNow() + this.#currentSkew();
  }

  /**
   * The estimated offset of the store's clock from the host's wall clock (ms, store minus
   * host: a lower bound, lowered with its age); undefined until the first sample.
   */
  get offsetMs(): number | undefined {
    return this.#lowerSkewMs === undefined ? undefined : this.#currentSkew();
  }

  /**
   * How far the store's time may be ahead of {@link StoreClock.now} (ms): the width of the
   * interval the samples pin the offset to (their round trips and the store's clock
   * resolution). Undefined while no upper bound is known.
   */
  get uncertaintyMs(): number | undefined {
    if (this.#upperSkewMs === undefined || this.#lowerSkewMs === undefined) return undefined;
    const upper = this.#upperSkewMs + (this.#port.clock.now() - this.#upperAt) * CLOCK_BOUND_DECAY;
    return Math.max(0, upper - this.#currentSkew());
  }

  #currentSkew(): number {
    if (this.#lowerSkewMs === undefined) return 0;
    // Clocks drift apart: an old bound is lowered with its age, so it stays a bound;
    // every acquisition brings a fresh one.
    return this.#lowerSkewMs - (this.#port.clock.now() - this.#sampledAt) * CLOCK_BOUND_DECAY;
  }

  /**
   * Records a store time and the host wall clock when its reply arrived. Whenever the
   * store read its clock, it was before the reply arrived, so `storeTime - recvWall`
   * is a lower bound of the offset, however slow the round trip; the largest bound seen
   * is kept. A slow first request (connect, TLS, auth) gives a loose bound that the next
   * fast one replaces; a store whose times are truncated (Azure's `Date` header) gives
   * bounds up to its resolution low, and the reads {@link StoreClock.refine} spreads
   * over the phases of that resolution bring the bound to within a tenth of it. `force`
   * replaces the bound even when lower: for a sample that proves the kept one wrong (the
   * host's clock stepped). With `sendWall` (the host wall clock before the request was
   * sent), the sample also gives an upper bound, `storeTime + resolution - sendWall`: the
   * smallest is kept, so {@link StoreClock.uncertaintyMs} says how good the estimate is.
   */
  observe(storeTime: number, recvWall: number, sendWall?: number, force = false): void {
    const at = this.#port.clock.now();
    this.#lastSeenAt = at;
    if (sendWall !== undefined) {
      const resolution = this.#port.store.capabilities.clockResolutionMs ?? 1;
      const upper = storeTime + resolution - sendWall;
      const kept =
        this.#upperSkewMs === undefined ? undefined : this.#upperSkewMs + (at - this.#upperAt) * CLOCK_BOUND_DECAY;
      if (force || kept === undefined || upper < kept) {
        this.#upperSkewMs = upper;
        this.#upperAt = at;
      }
    } else if (force) {
      this.#upperSkewMs = undefined;
    }
    const bound = storeTime - recvWall;
    if (!force && this.#lowerSkewMs !== undefined && bound <= this.#currentSkew()) return;
    this.#lowerSkewMs = bound;
    this.#sampledAt = at;
  }

  /** Reads the store's clock once and records the sample with its send and receive times. */
  async #read(signal: AbortSignal): Promise<void> {
    const { clock } = this.#port;
    const sendWall = clock.wallNow();
    const time = await this.#port.readStoreClock(signal);
    this.observe(time, clock.wallNow(), sendWall);
  }

  /**
   * Measures the store clock's offset from the host's (S3): a few reads, the largest
   * lower bound kept (the first one also opens the connection and is often slow, so its
   * bound is loose). Failure leaves the last estimate; every acquisition refines it.
   */
  async sync(): Promise<void> {
    const { logger } = this.#port;
    try {
      for (let i = 0; i < CLOCK_SYNC_READS; i++) await this.#read(AbortSignal.timeout(CLOCK_READ_TIMEOUT_MS));
    } catch (err) {
      const message = 'could not read the store clock; using the host clock until the store answers';
      safeLog(logger, 'warn', { err: errorText(err) }, message);
    }
  }

  /**
   * Keeps the estimate fresh until `stop()`: when no sample came for
   * {@link CLOCK_REFRESH_MS} (a store whose answers carry no time, or a host with few
   * acquisitions), reads the store's clock once. A failed read is retried after
   * {@link CLOCK_RETRY_MS}, doubled per failure — so a host whose first reads failed
   * (the store was restarting) does not keep the host clock for its life.
   */
  async keepFresh(): Promise<void> {
    const host = this.#host;
    const { clock } = this.#port;
    let retry = CLOCK_RETRY_MS;
    while (!host.stopping) {
      const age = clock.now() - this.#lastSeenAt;
      if (this.#lowerSkewMs !== undefined && age < CLOCK_REFRESH_MS) {
        await host.nap(CLOCK_REFRESH_MS - age);
        continue;
      }
      try {
        const signal = AbortSignal.any([AbortSignal.timeout(CLOCK_READ_TIMEOUT_MS), host.stopSignal]);
        await this.#read(signal);
        retry = CLOCK_RETRY_MS;
      } catch {
        if (host.stopping) return;
        await host.nap(retry);
        retry = Math.min(retry * 2, CLOCK_REFRESH_MS);
      }
    }
  }

  /**
   * For a store with coarse times (`capabilities.clockResolutionMs` > 1): more clock
   * reads, spread over one resolution, so one of them lands just after the store's clock
   * ticks over and {@link StoreClock.observe} keeps a bound within a tenth of the
   * resolution (plus a round trip). Takes about one resolution (1 s on Azure). Runs in the
   * background from `start()`; ends early on `stop()`; failures are ignored (acquisitions
   * keep sampling).
   */
  async refine(): Promise<void> {
    const resolution = this.#port.store.capabilities.clockResolutionMs ?? 1;
    if (resolution <= 1) return;
    const host = this.#host;
    for (let i = 0; i < CLOCK_REFINE_STEPS && !host.stopping; i++) {
      await host.nap(resolution / CLOCK_REFINE_STEPS);
      if (host.stopping) return;
      try {
        const signal = AbortSignal.any([AbortSignal.timeout(CLOCK_READ_TIMEOUT_MS), host.stopSignal]);
        await this.#read(signal);
      } catch {
        // The store is busy or down: acquisitions keep sampling.
      }
    }
  }
}
