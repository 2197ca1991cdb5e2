/**
 * The scheduler's public types: a job's options, what its handler receives, its counters,
 * its run records, and the events the scheduler emits on the {@link Leasehold} instance.
 * @module
 */
import type { Duration } from '../duration.js';
import type { Logger } from '../events.js';

/** Options of a scheduled job (`lh.every` / `lh.cron`). */
export interface JobOptions {
  /**
   * Lease TTL while the job runs; renewed about every ttl/3. Failover after a holder
   * dies takes about this long.
   * @defaultValue 30s, clamped into what the store allows
   */
  ttl?: Duration;
  /** IANA timezone of a cron expression (`lh.cron` only). @defaultValue `'UTC'` */
  timezone?: string;
  /** Shift of interval slots from the epoch-aligned grid (`lh.every` only). @defaultValue 0 */
  offset?: Duration;
  /**
   * Each host waits a random delay in [0, jitter) after a slot's instant before trying,
   * spreading load on the store. The slot instant itself is unchanged.
   * @defaultValue 0
   */
  jitter?: Duration;
  /**
   * How late a slot may still start. Slots that no host started within this window are
   * skipped and counted (`outside-catch-up`), never run in a burst — unless you set a
   * window spanning several periods, in which case missed slots run in order.
   * @defaultValue one period (the gap to the next slot)
   */
  catchUp?: Duration;
  /**
   * What happens when a slot comes while the previous run is still going anywhere in the
   * fleet: `'skip'` drops the new slot (counted); `'buffer-one'` runs it as soon as the
   * previous run ends, keeping only the newest waiting slot.
   * @defaultValue `'skip'`
   */
  overlap?: 'skip' | 'buffer-one';
  /**
   * `'at-least-once'`: a slot whose run died or lost its lease before recording its end
   * is re-run (with a higher token) inside the catch-up window. `'at-most-once'`: a
   * slot is recorded as started before its handler runs and is never re-run; a run that
   * died is recorded as `lost`.
   * @defaultValue `'at-least-once'`
   */
  delivery?: 'at-least-once' | 'at-most-once';
  /** Longest a run may take; then its signal aborts and the run counts as failed. @defaultValue none */
  timeout?: Duration;
  /** Retries inside the slot, while still holding the lease. */
  retry?: {
    /** Total tries per slot, including the first. @defaultValue 1 */
    attempts?: number;
    /** Pause before the second try; doubled for each further try. @defaultValue 1s */
    backoff?: Duration;
    /** Longest pause between tries. @defaultValue 30s */
    maxBackoff?: Duration;
  };
}

/** What a handler receives for one run. */
export interface JobContext {
  /** The job's key. */
  key: string;
  /** The slot's scheduled instant (a trigger: the instant it was run for). */
  slot: Date;
  /** Set when an operator asked for this run (`trigger`, `backfill`) rather than the schedule. */
  operator?: OperatorRun;
  /** Fencing token of this run: pass it to what you write to. */
  token: number;
  /** This process's holder identity. */
  holder: string;
  /** Aborts on lease loss, timeout, or shutdown after the grace period. */
  signal: AbortSignal;
  /** 1 for the first try in this slot, 2+ for retries. */
  attempt: number;
  /** The Leasehold logger with key, slot and token added to every line. */
  log: Logger;
  /**
   * On the PostgreSQL and MySQL/MariaDB stores (and any store implementing
   * `TransactionalStore`): runs `work(client)` in a transaction of the store's own database
   * — `client` is that transaction's `pg` client or `mysql2` connection — and commits it
   * together with this slot's end record, after checking inside the transaction that this
   * run's lease is still current (T1). A lost lease rolls it back and rejects with a
   * `LeaseLostError`; so does a death before commit (the slot is then re-run). Resolves to
   * what `work` resolved to. Once per run; a second call is a `ConfigError`. Isolation: on
   * PostgreSQL READ COMMITTED (its default) — under REPEATABLE READ or SERIALIZABLE a
   * renewal during the transaction makes the check fail; on MySQL/MariaDB any level (the
   * check's UPDATE reads the latest row). It holds one pooled connection until it commits.
   * See docs/fencing.md ("Transactional runs"). Undefined on other stores.
   */
  transaction?: <T, Client = unknown>(work: (client: Client) => Promise<T>) => Promise<T>;
}

/** A job's handler. Its result is ignored; a throw or rejection is a failed run (S8). */
export type JobHandler = (ctx: JobContext) => unknown;

/** How a run ended. */
export type RunOutcome = 'ok' | 'error' | 'timeout' | 'lost' | 'aborted' | 'skipped';

/** One entry of a job's run history, kept in the store's fenced state. */
export interface RunRecord {
  /** Slot instant, ISO-8601 UTC. */
  slot: string;
  /** Who ran it. */
  holder: string;
  /** Fencing token of the run (0 for a slot recorded as skipped). */
  token: number;
  /** Tries made. */
  attempts: number;
  /** Start, ISO-8601 UTC, by the store's clock as estimated by the runner. */
  start: string;
  /** End, ISO-8601 UTC, likewise. */
  end: string;
  /** How it ended. */
  outcome: RunOutcome;
  /** Error message of the last failed try, or why the slot was skipped (never a stack). */
  error?: string;
  /** Set when an operator asked for this run (trigger, backfill): the control's id and who asked. */
  operator?: OperatorRun;
  /**
   * The run began between `start` and this many ms after it, by the store's clock: `start`
   * is the runner's lower bound of store time, and this the width of its estimate (round
   * trips, the store clock's resolution). A slot is an overlap of this run only if it came
   * after both (S5). Absent: 0.
   */
  startWithinMs?: number;
}

/** Why a slot did not run here. */
export type SkipReason =
  /** Another host already ran (or, at-most-once, started) this slot. */
  | 'done-elsewhere'
  /** The previous run of the job was still going when the slot came (overlap policy `skip`). */
  | 'overlap'
  /** The slot is older than the catch-up window. */
  | 'outside-catch-up'
  /** The store could not be reached while the slot was open. */
  | 'store-unavailable'
  /** At-most-once: the run that started this slot died or lost its lease; it is not re-run. */
  | 'lost'
  /** An operator paused the job (`leasehold pause`, `lh.admin.pause`); the slot is settled without a run. */
  | 'paused'
  /** An operator asked to skip the job's next slot (`leasehold skip-next`, `lh.admin.skipNext`). */
  | 'skip-next';

/** Counters of one job on this host. */
export interface JobStats {
  /** Runs started here (tries counted once per slot). */
  runs: number;
  /** Runs that succeeded (on any try). */
  succeeded: number;
  /** Runs that failed, timed out, were aborted or lost their lease. */
  failed: number;
  /** Slots not run here, per reason. */
  skipped: Record<SkipReason, number>;
}

/** Who asked for a run that is not a scheduled slot's: an operator's trigger or backfill. */
export interface OperatorRun {
  /** `trigger`: run once now; `backfill`: a missed slot run on request. */
  action: 'trigger' | 'backfill';
  /** The control's id (also in the run's history record). */
  id: string;
  /** Who asked (the operator's name). */
  by: string;
}

/** Facts about one run of a scheduled job. */
export interface RunEvent {
  /** The job's key. */
  key: string;
  /** The slot's scheduled instant (a trigger: the instant the run was due, i.e. now). */
  slot: Date;
  /** Set when an operator asked for this run (trigger, backfill) rather than the schedule. */
  operator?: OperatorRun;
  /** Fencing token of this run. */
  token: number;
  /** Who runs it. */
  holder: string;
  /** 1 for the first try in this slot, 2+ for retries. */
  attempt: number;
}

/** Payload of `slot:skipped`. */
export interface SlotSkippedEvent {
  /** The job's key. */
  key: string;
  /** The slot not run here (for a count of several, the newest of them). */
  slot: Date;
  /** Why. */
  reason: SkipReason;
  /** This host's holder identity. */
  holder: string;
  /** More about why, when there is more to say. */
  detail?: string;
}

/** Payload of `placement:changed`: this host's view of the fleet changed, and which jobs moved. */
export interface PlacementEvent {
  /** This host's holder identity. */
  holder: string;
  /** Live hosts running the same jobs as this one (this one included). */
  hosts: number;
  /** Hosts that appeared since the last view. */
  joined: string[];
  /** Hosts gone since the last view, and why (it stopped, or its liveness lease expired). */
  left: { holder: string; reason: string }[];
  /** Jobs this host owns now. */
  owned: number;
  /** Jobs that moved to this host. */
  gained: string[];
  /** Jobs that moved away from this host. */
  lost: string[];
}

/** Scheduler events. */
export interface SchedulerEvents {
  /** This host's view of the fleet changed (placement): who joined or left, which jobs moved here or away. */
  'placement:changed': [PlacementEvent];
  /**
   * A handler is about to run. `lateMs`: how long after the slot's instant it starts, by
   * the store's clock as this host estimates it.
   */
  'run:start': [RunEvent & { lateMs?: number }];
  /** A handler resolved. */
  'run:success': [RunEvent & { durationMs: number }];
  /**
   * A handler threw, timed out or was aborted (after its last retry when `final`);
   * `outcome` says which (`error`, `timeout`, `lost` or `aborted`).
   */
  'run:error': [RunEvent & { durationMs: number; error: unknown; final: boolean; outcome?: RunOutcome }];
  /** A slot was not run here, and why. */
  'slot:skipped': [SlotSkippedEvent];
  /** The lease of a running job was lost; its handler's signal has been aborted. */
  'lease:lost': [RunEvent & { error: unknown }];
}
