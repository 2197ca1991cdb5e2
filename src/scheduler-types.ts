/**
 * Event payloads of the scheduler, emitted on the {@link Leasehold} instance.
 * @module
 */

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
  | 'lost';

/** Facts about one run of a scheduled job. */
export interface RunEvent {
  /** The job's key. */
  key: string;
  /** The slot's scheduled instant. */
  slot: Date;
  /** Fencing token of this run. */
  token: number;
  /** Who runs it. */
  holder: string;
  /** 1 for the first try in this slot, 2+ for retries. */
  attempt: number;
}

/** Scheduler events. */
export interface SchedulerEvents {
  /** A handler is about to run. */
  'run:start': [RunEvent];
  /** A handler resolved. */
  'run:success': [RunEvent & { durationMs: number }];
  /** A handler threw, timed out or was aborted (after its last retry when `final`). */
  'run:error': [RunEvent & { durationMs: number; error: unknown; final: boolean }];
  /** A slot was not run here, and why. */
  'slot:skipped': [{ key: string; slot: Date; reason: SkipReason; holder: string; detail?: string }];
  /** The lease of a running job was lost; its handler's signal has been aborted. */
  'lease:lost': [RunEvent & { error: unknown }];
}
