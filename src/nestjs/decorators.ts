/**
 * Method decorators: `@Every` and `@Cron` mark a provider method as a fleet-wide
 * scheduled job (registered by the module's explorer); `@Exclusive` wraps a method in a
 * lease. Metadata is kept with Reflect metadata, as Nest's own decorators keep theirs.
 * See docs/nestjs.md.
 * @module
 */
import { SetMetadata } from '@nestjs/common';
import type { Duration } from '../duration.js';
import { AcquireTimeoutError, ConfigError } from '../errors.js';
import { safeLog } from '../events.js';
import type { JobOptions } from '../scheduler/types.js';
import { leaseholdFor, runInScope } from './context.js';

/** Reflect-metadata key of a scheduled method's {@link JobMetadata}. */
export const LEASEHOLD_JOB = 'leasehold:job';

/** Options of `@Every` and `@Cron`: a job's options, and the name of its lease key. */
export interface ScheduledMethodOptions extends JobOptions {
  /** The job's key, the same on every host. @defaultValue `ClassName.methodName` */
  name?: string;
}

/** What `@Every` / `@Cron` record on a method. */
export interface JobMetadata {
  /** Interval (`every`) or cron expression (`cron`). */
  kind: 'every' | 'cron';
  /** The interval or the expression. */
  spec: Duration;
  /** The options given, `name` included. */
  options: ScheduledMethodOptions;
}

/**
 * Runs the method every `interval` (epoch-aligned), once per slot across the fleet. The
 * method receives the run's `JobContext` (`slot`, `token`, `signal`, …).
 *
 * @example
 * ```ts
 * @Every('5m', { ttl: '1m' })
 * async refresh(ctx: JobContext) { await this.cache.rebuild({ signal: ctx.signal }); }
 * ```
 */
export function Every(interval: Duration, options: ScheduledMethodOptions = {}): MethodDecorator {
  return SetMetadata<string, JobMetadata>(LEASEHOLD_JOB, { kind: 'every', spec: interval, options });
}

/**
 * Runs the method on a cron expression (5 fields, or 6 with seconds) in
 * `options.timezone` (IANA, default UTC), once per slot across the fleet.
 */
export function Cron(expression: string, options: ScheduledMethodOptions = {}): MethodDecorator {
  return SetMetadata<string, JobMetadata>(LEASEHOLD_JOB, { kind: 'cron', spec: expression, options });
}

/** The `@Every` / `@Cron` metadata of a method, if it has any. */
export function jobMetadataOf(method: unknown): JobMetadata | undefined {
  if (typeof method !== 'function') return undefined;
  return Reflect.getMetadata(LEASEHOLD_JOB, method) as JobMetadata | undefined;
}

/** Options of `@Exclusive`. */
export interface ExclusiveOptions {
  /** Lease TTL; renewed every ttl/3 while the method runs. Required. */
  ttl: Duration;
  /** How long to wait while another holder has the key. @defaultValue 0 (one attempt) */
  wait?: Duration;
  /** Pause between attempts while waiting. @defaultValue ttl / 10, between 50 ms and 1 s */
  pollInterval?: Duration;
  /**
   * When the key stays held: `'skip'` resolves to `undefined` and logs; `'throw'`
   * rejects with the `AcquireTimeoutError`.
   * @defaultValue `'skip'`
   */
  onBusy?: 'skip' | 'throw';
}

type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Replaces a method by `wrap(original)`, keeping every Reflect metadata of the original
 * (Nest's and ours), so decorators above and below the wrapper both still see them.
 */
export function wrapMethod(
  descriptor: PropertyDescriptor,
  what: string,
  wrap: (original: AnyMethod) => AnyMethod,
): PropertyDescriptor {
  const original = descriptor.value as unknown;
  if (typeof original !== 'function') throw new ConfigError(`${what}: decorates methods only`);
  const wrapped = wrap(original as AnyMethod);
  for (const key of Reflect.getMetadataKeys(original)) {
    Reflect.defineMetadata(key, Reflect.getMetadata(key, original), wrapped);
  }
  Object.defineProperty(wrapped, 'name', { value: original.name });
  return { ...descriptor, value: wrapped };
}

/**
 * Runs each call of the method while holding the lease on `key` (`withLease`). When
 * another holder has the key (after `wait`), the call is skipped: it resolves to
 * `undefined` and logs (or rejects, with `onBusy: 'throw'`). The method becomes async;
 * its lease is readable through `LeaseholdJobContext.lease`. If the lease is lost while
 * the method runs, the call rejects with the `LeaseLostError` once the method settles.
 */
export function Exclusive(key: string, options: ExclusiveOptions): MethodDecorator {
  const { onBusy = 'skip', ...leaseOptions } = options;
  return (target, property, descriptor) => {
    const what = `@Exclusive on ${target.constructor.name}.${String(property)}`;
    return wrapMethod(descriptor, what, (original) => {
      return async function exclusive(this: unknown, ...args: unknown[]) {
        const lh = leaseholdFor(this, what);
        let entered = false;
        try {
          return await lh.withLease(
            key,
            (lease) => {
              entered = true;
              return runInScope({ lease }, () => original.apply(this, args));
            },
            leaseOptions,
          );
        } catch (err) {
          if (entered || !(err instanceof AcquireTimeoutError) || onBusy === 'throw') throw err;
          safeLog(lh.logger, 'info', { key, heldBy: err.currentHolder }, `${what}: skipped, the key is held elsewhere`);
          return undefined;
        }
      };
    }) as never;
  };
}
