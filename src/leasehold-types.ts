/**
 * The facade's public option and event types, and the option names each call takes.
 * @module
 */
import type { Clock } from './clock.js';
import type { Duration } from './duration.js';
import type { LeaseLostError } from './errors.js';
import type { Logger, StoreErrorEvent } from './events.js';
import type { SchedulerEvents } from './scheduler/types.js';
import type { LeaseStore } from './store.js';
import type { TelemetryOptions } from './telemetry/types.js';

/** Options of {@link Leasehold}. */
export interface LeaseholdOptions {
  /** Where leases live. See `openStore` or the store subpath exports. */
  store: LeaseStore;
  /**
   * This process's identity, shown to others in status output and "held by" messages.
   * @defaultValue `hostname:pid:random`
   */
  holder?: string;
  /**
   * Receives one line per lease and schedule event. pino and `console` both fit.
   * @defaultValue silent
   */
  logger?: Logger;
  /**
   * The clock leases and schedules run on: for tests, e.g. `FakeClock` from
   * `leasehold/testing`.
   * @defaultValue the process's monotonic clock and Node timers
   */
  clock?: Clock;
  /**
   * Fleet-aware placement of scheduled jobs (docs/placement.md). On: hosts publish their
   * liveness in the store (a lease each, under `leasehold#hosts/`), each job gets one owner
   * among the live hosts, and only the owner asks the store about the job's slots — a slot
   * costs the store two requests whatever the fleet's size, and the jobs spread evenly.
   * `false` keeps every host trying every slot (the race): for a fleet of one or two hosts,
   * for hosts that cannot write the reserved keys, or to compare. `{ ttl }` sets the
   * liveness lease's TTL: a dead host's jobs move within TTL + one heartbeat (ttl/3).
   * Safety never depends on it: the job's lease decides who runs a slot.
   * @defaultValue `true`, with a 15 s liveness TTL (clamped into the store's TTL bounds)
   */
  placement?: boolean | PlacementOptions;
  /**
   * Metrics and run spans (docs/operating.md): through `@opentelemetry/api`, an optional
   * peer dependency — without it, or without an SDK registered, they go nowhere at next to
   * no cost — and as Prometheus text from `lh.telemetry.prometheus()`, which needs no
   * package. `{ meterProvider, tracerProvider }` sends them to those providers instead of
   * the global ones; `false` records nothing.
   * @defaultValue `true`: the global meter and tracer providers
   */
  telemetry?: boolean | TelemetryOptions;
}

/** Options of placement (see {@link LeaseholdOptions.placement}). */
export interface PlacementOptions {
  /** TTL of this host's liveness lease; it renews (the heartbeat) every ttl/3. @defaultValue 15s */
  ttl?: Duration;
}

/** Option names of `placement`. */
export const PLACEMENT_OPTIONS = ['ttl'] as const satisfies readonly (keyof PlacementOptions)[];

/** Options of {@link Leasehold.tryAcquire}. */
export interface TryAcquireOptions {
  /** Lease time to live; the lease renews itself about every ttl/3. Required. */
  ttl: Duration;
  /** Aborts the attempt. */
  signal?: AbortSignal;
}

/** Options of {@link Leasehold.acquire}. */
export interface AcquireOptions extends TryAcquireOptions {
  /** How long to keep trying while someone else holds the key. `0` tries once. Required. */
  wait: Duration;
  /**
   * Pause between attempts while waiting (randomised ±25 % so contenders spread out).
   * @defaultValue ttl / 10, between 50 ms and 1 s
   */
  pollInterval?: Duration;
}

/** Options of {@link Leasehold.withLease}. */
export interface WithLeaseOptions extends TryAcquireOptions {
  /** How long to wait for the key. @defaultValue 0 (one attempt) */
  wait?: Duration;
  /** Pause between attempts while waiting. @defaultValue as in {@link AcquireOptions.pollInterval} */
  pollInterval?: Duration;
}

// The names each call takes: anything else is refused, a typo (`wiat`) with "did you mean" (B1).

/** Option names of `new Leasehold`. */
export const LEASEHOLD_OPTIONS = [
  'store',
  'holder',
  'logger',
  'clock',
  'placement',
  'telemetry',
] as const satisfies readonly (keyof LeaseholdOptions)[];
/** Option names of `tryAcquire`. */
export const TRY_ACQUIRE_OPTIONS = ['ttl', 'signal'] as const satisfies readonly (keyof TryAcquireOptions)[];
/** Option names of `acquire` and `withLease`. */
export const ACQUIRE_OPTIONS = [
  ...TRY_ACQUIRE_OPTIONS,
  'wait',
  'pollInterval',
] as const satisfies readonly (keyof AcquireOptions)[];
/** Option names of `stop`. */
export const STOP_OPTIONS = ['grace'] as const;

/** Payload of lease events. */
export interface LeaseEvent {
  key: string;
  holder: string;
  token: number;
}

/** Events a {@link Leasehold} emits. Listeners that throw are logged and ignored. */
export interface LeaseholdEvents extends SchedulerEvents {
  /** A lease was acquired. */
  acquired: [LeaseEvent];
  /** A lease was renewed; `latencyMs` is the renewal's round trip. */
  renewed: [LeaseEvent & { latencyMs?: number }];
  /** A lease was lost: its signal has just been aborted. */
  lost: [LeaseEvent & { error: LeaseLostError }];
  /** A lease was released; `wasHeld` is false when it had already been lost or the release failed. */
  released: [LeaseEvent & { wasHeld: boolean }];
  /** A store request failed (a renewal that will be retried, a release that did not reach the store…). */
  error: [StoreErrorEvent];
}
