/**
 * leasehold — leases with fencing tokens, and schedules that run each job once per
 * slot across a fleet, on the storage you already run.
 *
 * @module
 */
export { Leasehold } from './leasehold.js';
export type {
  LeaseholdOptions,
  PlacementOptions,
  TryAcquireOptions,
  AcquireOptions,
  WithLeaseOptions,
  LeaseEvent,
  LeaseholdEvents,
} from './leasehold.js';
export { ScheduledJob } from './scheduler/job.js';
export { parseJobState, HISTORY_LENGTH, type JobState, type RunningRecord } from './scheduler/state.js';
export { HOSTS_PREFIX } from './scheduler/placement.js';
export { assignOwners } from './scheduler/rendezvous.js';
export type {
  JobOptions,
  JobContext,
  JobHandler,
  JobStats,
  RunRecord,
  RunOutcome,
  SchedulerEvents,
  RunEvent,
  SkipReason,
  SlotSkippedEvent,
  PlacementEvent,
  OperatorRun,
} from './scheduler/types.js';
export {
  IntervalSchedule,
  CronSchedule,
  checkTimezone,
  scheduleFromSpec,
  type Schedule,
  type ScheduleSpec,
} from './schedule.js';
export { Lease } from './lease.js';
export type {
  LeaseholdTelemetry,
  MeterProviderLike,
  TelemetryOptions,
  TracerProviderLike,
} from './telemetry/types.js';
export { isTransactional, type TransactionalStore } from './transaction.js';
export { Election, type ElectOptions, type LeaderContext, type Demotion } from './coordination/election.js';
export {
  Semaphore,
  MAX_PERMITS,
  type SemaphoreOptions,
  type Permit,
  type PermitTryOptions,
  type PermitAcquireOptions,
} from './coordination/semaphore.js';
export { holderDeadline, deadlineMargin, abortLead, CLOCK_DRIFT, defaultPoll } from './defaults.js';
export {
  LeaseholdError,
  LeaseLostError,
  AcquireTimeoutError,
  StoreUnavailableError,
  ConfigError,
  StaleTokenError,
  isStoreUnavailable,
  type LeaseholdErrorCode,
} from './errors.js';
export { parseDuration, formatDuration, type Duration } from './duration.js';
export { openStore, registerStore, knownSchemes, type OpenStoreOptions, type StoreFactory } from './open.js';
export { redactUrl, redactText } from './store-kit/index.js';
export { systemClock, type Clock } from './clock.js';
export { silentLogger, type Logger, type StoreErrorEvent } from './events.js';
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
