/**
 * leasehold — leases with fencing tokens, and schedules that run each job once per
 * slot across a fleet, on the storage you already run.
 *
 * @module
 */
export { Leasehold, defaultPoll } from './leasehold.js';
export { ScheduledJob, parseJobState, HISTORY_LENGTH } from './scheduler.js';
export type { JobOptions, JobContext, JobHandler, JobState, JobStats, RunRecord, RunOutcome } from './scheduler.js';
export { IntervalSchedule, CronSchedule, checkTimezone, type Schedule } from './schedule.js';
export type { LeaseholdOptions, TryAcquireOptions, AcquireOptions, WithLeaseOptions, LeaseEvent, LeaseholdEvents } from './leasehold.js';
export { Lease, holderDeadline, deadlineMargin, abortLead, CLOCK_DRIFT } from './lease.js';
export {
  LeaseholdError,
  LeaseLostError,
  AcquireTimeoutError,
  StoreUnavailableError,
  ConfigError,
  isStoreUnavailable,
  type LeaseholdErrorCode,
} from './errors.js';
export { parseDuration, formatDuration, type Duration } from './duration.js';
export { openStore, registerStore, knownSchemes, type OpenStoreOptions, type StoreFactory } from './open.js';
export { redactUrl, redactText } from './store-kit/index.js';
export { systemClock, type Clock } from './clock.js';
export { silentLogger, type Logger } from './events.js';
export type {
  LeaseStore,
  StoreCapabilities,
  StoreOpOptions,
  AcquireRequest,
  AcquireResult,
  LeaseRef,
  RenewRequest,
  WriteStateRequest,
  LeaseRecord,
  JsonValue,
} from './store.js';
export type { SchedulerEvents, RunEvent, SkipReason } from './scheduler-types.js';
