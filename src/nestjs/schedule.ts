/**
 * `@OncePerSlot()`: makes an existing `@nestjs/schedule` `@Cron()` method run once per
 * fire across the fleet. Each host's cron still fires; the wrapper claims the fire's slot
 * under a lease keyed by the job's name (the claim is kept in the key's fenced state) and
 * skips when another host has it. `@nestjs/schedule` is not imported: its metadata key
 * is read by name. See docs/nestjs.md#existing-nestjsschedule-jobs.
 * @module
 */
import type { Duration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { safeLog } from '../events.js';
import { claimSlot, finishSlot } from '../node-cron/claim.js';
import { CronSchedule } from '../schedule.js';
import { leaseholdFor, runInScope } from './context.js';
import { wrapMethod } from './decorators.js';

/** The Reflect-metadata key under which `@nestjs/schedule` keeps a `@Cron()`'s options. */
const SCHEDULE_CRON_OPTIONS = 'SCHEDULE_CRON_OPTIONS';
/** Marks a method wrapped by `@OncePerSlot`, so the module can check it at startup. */
const ONCE_PER_SLOT = Symbol('leasehold:once-per-slot');

/** Options of `@OncePerSlot`. */
export interface OncePerSlotOptions {
  /** Lease TTL while a run goes; renewed every ttl/3. @defaultValue 30s */
  ttl?: Duration;
  /** The lease key. @defaultValue the `@Cron()`'s `name`, else `ClassName.methodName` */
  name?: string;
}

/** What `@Cron()` of `@nestjs/schedule` records (the part used here). */
interface NestCronOptions {
  cronTime?: unknown;
  name?: string;
  timeZone?: string;
  utcOffset?: number;
}

/** A wrapped job's lease key and the schedule its fires follow. */
interface CronJobOf {
  key: string;
  schedule: CronSchedule | Date;
}

interface Wrapped {
  [ONCE_PER_SLOT]?: () => CronJobOf;
}

/** The key (`name`, else the `@Cron()`'s name, else `fallback`) and schedule of the `@Cron()` on `method`. */
function readCronJob(method: object, name: string | undefined, fallback: string, what: string): CronJobOf {
  const cron = Reflect.getMetadata(SCHEDULE_CRON_OPTIONS, method) as NestCronOptions | undefined;
  if (!cron) throw new ConfigError(`${what}: needs @Cron() from @nestjs/schedule on the same method`);
  const key = name ?? cron.name ?? fallback;
  if (cron.cronTime instanceof Date) return { key, schedule: cron.cronTime };
  if (typeof cron.cronTime !== 'string') throw new ConfigError(`${what}: cronTime must be a cron expression or a Date`);
  return { key, schedule: new CronSchedule(cron.cronTime, timezoneOf(cron, what)) };
}

/**
 * The cron package `@nestjs/schedule` runs on uses the host's timezone unless told;
 * a whole-hour `utcOffset` (minutes) maps to the IANA zone `Etc/GMT∓h`.
 */
function timezoneOf(options: NestCronOptions, what: string): string {
  if (options.timeZone !== undefined) return options.timeZone;
  if (options.utcOffset === undefined) return Intl.DateTimeFormat().resolvedOptions().timeZone;
  const hours = options.utcOffset / 60;
  if (!Number.isInteger(hours)) {
    throw new ConfigError(`${what}: utcOffset ${options.utcOffset} is not whole hours; give timeZone instead`);
  }
  return hours === 0 ? 'UTC' : `Etc/GMT${hours > 0 ? '-' : '+'}${Math.abs(hours)}`;
}

/** The slot a fire at `now` belongs to: the nearest instant of the schedule (fires may be a little early or late). */
function nearestSlot(schedule: CronSchedule | Date, now: number): Date {
  if (schedule instanceof Date) return schedule;
  const before = schedule.atOrBefore(now);
  const after = schedule.after(now);
  if (before === undefined) return new Date(after ?? now);
  return new Date(after !== undefined && after - now < now - before ? after : before);
}

/**
 * Wraps a `@nestjs/schedule` `@Cron()` method (decorator order does not matter) so that
 * each fire runs on one host of the fleet: the host that claims the fire's slot. The
 * other hosts' calls resolve to `undefined`. The lease is readable through
 * `LeaseholdJobContext.lease` (token, signal). Needs `LeaseholdModule` in the app.
 *
 * @example
 * ```ts
 * @Cron('0 3 * * *', { name: 'nightly', timeZone: 'Europe/Berlin' })
 * @OncePerSlot({ ttl: '1m' })
 * async nightly() { … }
 * ```
 */
export function OncePerSlot(options: OncePerSlotOptions = {}): MethodDecorator {
  const ttl = options.ttl ?? '30s';
  return (target, property, descriptor) => {
    const fallback = `${target.constructor.name}.${String(property)}`;
    const what = `@OncePerSlot on ${fallback}`;
    return wrapMethod(descriptor, what, (original) => {
      let job: CronJobOf | undefined;
      // Read on first use: `@Cron()` may be applied after this decorator, onto the wrapper.
      const jobOf = (): CronJobOf => {
        job ??= readCronJob(wrapped, options.name, fallback, what);
        return job;
      };
      const wrapped: Wrapped & ((this: unknown, ...args: unknown[]) => Promise<unknown>) = async function oncePerSlot(
        this: unknown,
        ...args: unknown[]
      ) {
        const lh = leaseholdFor(this, what);
        const { key, schedule } = jobOf();
        const slot = nearestSlot(schedule, Date.now());
        const lease = await claimSlot(lh, key, slot, ttl);
        if (!lease) {
          safeLog(lh.logger, 'debug', { key, slot }, `${what}: slot taken elsewhere or overlapping`);
          return undefined;
        }
        let ok = false;
        try {
          const result = await runInScope({ lease }, () => original.apply(this, args));
          ok = true;
          return result;
        } finally {
          await finishSlot(lh, lease, slot, ok);
        }
      };
      wrapped[ONCE_PER_SLOT] = jobOf;
      return wrapped;
    }) as never;
  };
}

/**
 * Checks a `@OncePerSlot` method's `@Cron()` at startup (the module calls it for every
 * method it scans), so a missing `@Cron()` or a bad expression fails the app's start.
 * @throws ConfigError
 */
export function checkOncePerSlot(method: unknown): void {
  if (typeof method === 'function') (method as Wrapped)[ONCE_PER_SLOT]?.();
}

/** True when the method was wrapped by `@OncePerSlot`. */
export function isOncePerSlot(method: unknown): boolean {
  return typeof method === 'function' && ONCE_PER_SLOT in method;
}
