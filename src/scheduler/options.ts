/**
 * A job's options: checked once, at registration, into a frozen object (B1), and the
 * schedule made from `lh.every` / `lh.cron` arguments.
 * @module
 */
import {
  DEFAULT_MAX_RETRY_BACKOFF_MS,
  DEFAULT_RETRY_BACKOFF_MS,
  DEFAULT_TTL_MS,
  MAX_RETRY_ATTEMPTS,
} from '../defaults.js';
import { parseDuration, type Duration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { checkTtl } from '../internal.js';
import { CronSchedule, IntervalSchedule, type Schedule } from '../schedule.js';
import { checkOptionNames } from '../store-kit/index.js';
import type { StoreFacts } from './port.js';
import type { JobOptions } from './types.js';

/** A job's options, checked, in milliseconds. */
export interface ResolvedOptions {
  /** Lease TTL of a run. */
  readonly ttlMs: number;
  /** Upper bound of the random delay before trying a slot. */
  readonly jitterMs: number;
  /** The catch-up window; undefined: one period (the gap to the next slot). */
  readonly catchUpMs: number | undefined;
  /** Overlap policy (S5). */
  readonly overlap: 'skip' | 'buffer-one';
  /** Delivery `at-most-once`. */
  readonly atMostOnce: boolean;
  /** Longest a run may take. */
  readonly timeoutMs: number | undefined;
  /** Tries per slot. */
  readonly attempts: number;
  /** Pause before the second try. */
  readonly backoffMs: number;
  /** Longest pause between tries. */
  readonly maxBackoffMs: number;
}

function optionalMs(value: Duration | undefined, name: string, fallback: number): number {
  return value === undefined ? fallback : parseDuration(value, name, { allowZero: true });
}

/** Checks a job's options against the store. @throws ConfigError naming the option and the value. */
export function resolveOptions(key: string, options: JobOptions, store: StoreFacts): ResolvedOptions {
  if (options === null || typeof options !== 'object')
    throw new ConfigError(`options for "${key}": expected an object`);
  const caps = store.capabilities;
  const ttlMs =
    options.ttl === undefined
      ? Math.min(Math.max(DEFAULT_TTL_MS, caps.minTtlMs ?? 1), caps.maxTtlMs ?? Number.POSITIVE_INFINITY)
      : checkTtl(options.ttl, store);
  const overlap = options.overlap ?? 'skip';
  if (overlap !== 'skip' && overlap !== 'buffer-one') {
    throw new ConfigError(`overlap: expected "skip" or "buffer-one", got ${JSON.stringify(overlap)}`);
  }
  const delivery = options.delivery ?? 'at-least-once';
  if (delivery !== 'at-least-once' && delivery !== 'at-most-once') {
    throw new ConfigError(`delivery: expected "at-least-once" or "at-most-once", got ${JSON.stringify(delivery)}`);
  }
  const attempts = options.retry?.attempts ?? 1;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > MAX_RETRY_ATTEMPTS) {
    throw new ConfigError(
      `retry.attempts: expected an integer from 1 to ${MAX_RETRY_ATTEMPTS}, got ${JSON.stringify(attempts)}`,
    );
  }
  return Object.freeze({
    ttlMs,
    jitterMs: optionalMs(options.jitter, 'jitter', 0),
    catchUpMs:
      options.catchUp === undefined ? undefined : parseDuration(options.catchUp, 'catchUp', { allowZero: true }),
    overlap,
    atMostOnce: delivery === 'at-most-once',
    timeoutMs: options.timeout === undefined ? undefined : parseDuration(options.timeout, 'timeout'),
    attempts,
    backoffMs: optionalMs(options.retry?.backoff, 'retry.backoff', DEFAULT_RETRY_BACKOFF_MS),
    maxBackoffMs: optionalMs(options.retry?.maxBackoff, 'retry.maxBackoff', DEFAULT_MAX_RETRY_BACKOFF_MS),
  });
}

// The names a job takes: anything else is refused, a typo (`timout`) with "did you mean" (B1).
const JOB_OPTIONS = [
  'ttl',
  'timezone',
  'offset',
  'jitter',
  'catchUp',
  'overlap',
  'delivery',
  'timeout',
  'retry',
] as const satisfies readonly (keyof JobOptions)[];
const RETRY_OPTIONS = [
  'attempts',
  'backoff',
  'maxBackoff',
] as const satisfies readonly (keyof Required<JobOptions>['retry'])[];

/**
 * The schedule of `lh.every(spec)` or `lh.cron(spec)`, after the options' names are checked.
 * @throws ConfigError on an unknown option or an option of the other kind.
 */
export function makeSchedule(kind: 'every' | 'cron', spec: Duration, options: JobOptions | undefined): Schedule {
  checkOptionNames(kind, options, JOB_OPTIONS);
  checkOptionNames(`${kind}: retry`, options?.retry, RETRY_OPTIONS);
  if (kind === 'every') {
    if (options?.timezone !== undefined) {
      throw new ConfigError('timezone: only cron jobs take a timezone; interval slots are epoch-aligned');
    }
    return new IntervalSchedule(spec, options?.offset ?? 0);
  }
  if (options?.offset !== undefined) throw new ConfigError('offset: only interval jobs take an offset');
  return new CronSchedule(spec as string, options?.timezone ?? 'UTC');
}
