/**
 * leasehold/nestjs — a NestJS module: fleet-wide `@Every` / `@Cron` jobs on provider
 * methods, `@Exclusive` calls under a lease, `@OncePerSlot` for existing
 * `@nestjs/schedule` jobs, and an injectable run context. `@nestjs/common` and
 * `@nestjs/core` are optional peers of leasehold, needed only by this entry point.
 * See docs/nestjs.md.
 * @module
 */
export { LeaseholdModule, type LeaseholdModuleOptions, type LeaseholdModuleAsyncOptions } from './module.js';
export {
  Every,
  Cron,
  Exclusive,
  LEASEHOLD_JOB,
  jobMetadataOf,
  type ScheduledMethodOptions,
  type ExclusiveOptions,
  type JobMetadata,
} from './decorators.js';
export { OncePerSlot, type OncePerSlotOptions } from './schedule.js';
export { LeaseholdJobContext } from './context.js';
