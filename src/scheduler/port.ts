/**
 * The narrow interface the scheduler runs on. The facade ({@link Leasehold}) implements
 * it; the scheduler never sees the facade, the store or their internals, only this.
 * @module
 */
import type { Clock } from '../clock.js';
import type { Logger, StoreErrorEvent } from '../events.js';
import type { Lease } from '../lease.js';
import type { JsonValue, LeaseRecord, LeaseStore } from '../store.js';
import type { TransactionalStore } from '../transaction.js';
import type { RunEvent, RunOutcome, SchedulerEvents } from './types.js';

/** What the scheduler may know of the store: its name (for messages) and its capabilities. */
export type StoreFacts = Pick<LeaseStore, 'name' | 'capabilities'>;

/** What the store said to one acquisition attempt. */
export interface AcquireAnswer {
  /** The lease, when acquired; null when someone else holds the key. */
  lease: Lease | null;
  /** Busy: who holds the key, when the store says. */
  holder?: string;
  /** Busy: when the holder's lease expires if not renewed, when the store says. */
  expiresInMs?: number;
  /** The store's clock when it answered, when the store says. */
  storeTime?: number;
  /** The key's fenced state, when the store returns it with the answer. */
  state?: JsonValue | null;
  /** The key's mark (granted: the one this grant replaced), when the store returns it with the answer. */
  mark?: JsonValue | null;
  /** Host wall clock when the reply arrived: the store read `storeTime` before this. */
  recvWall: number;
  /** Host wall clock before the request was sent: the store read `storeTime` after this. */
  sendWall?: number;
}

/** One try's span (telemetry): the handler runs in its context, and it ends with the try. */
export interface RunSpan {
  /** Calls `fn` with the span as the active context, so spans the handler starts are its children. */
  within<T>(fn: () => T): T;
  /** Ends the span with the try's outcome and, unless `ok`, its error. */
  end(outcome: RunOutcome, error?: unknown): void;
}

/** The events the scheduler emits: its own, and store errors. */
export interface PortEvents extends SchedulerEvents {
  /** A store request failed. */
  error: [StoreErrorEvent];
}

/** Everything the scheduler needs from the facade. */
export interface SchedulerPort {
  /** This process's holder identity. */
  readonly holder: string;
  /** Monotonic and wall clocks, and timers. */
  readonly clock: Clock;
  /** Where log lines go. */
  readonly logger: Logger;
  /** The store's name and capabilities. */
  readonly store: StoreFacts;
  /** Placement's liveness-lease TTL, or undefined when placement is off (every host tries every slot). */
  readonly placementTtlMs: number | undefined;
  /**
   * One acquisition attempt on `key` (retried once on no answer, as every acquire is; L9);
   * a grant writes `mark` with it (the fused acquire) when given.
   */
  attemptAcquire(key: string, ttlMs: number, mark?: JsonValue): Promise<AcquireAnswer>;
  /** The key's fenced state and mark, read within `timeoutMs`; null when it has none. */
  readState(key: string, timeoutMs: number): Promise<{ state: JsonValue | null; mark: JsonValue | null }>;
  /** Every record under `prefix` (one request where the store can), read within `timeoutMs`. */
  readRecords(prefix: string, timeoutMs: number): Promise<LeaseRecord[]>;
  /** The store's transactional runs (T1), when it has them (src/transaction.ts). */
  readonly runInTransaction?: TransactionalStore['runInTransaction'];
  /** The store's clock (epoch ms). */
  readStoreClock(signal: AbortSignal): Promise<number>;
  /** Starts the span of one try of a handler (telemetry); undefined when there is no tracing. Never throws. */
  startRunSpan?(event: RunEvent): RunSpan | undefined;
  /** Emits an event on the facade; never throws. */
  emit<K extends keyof PortEvents & string>(event: K, ...args: PortEvents[K]): void;
}
