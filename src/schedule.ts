/**
 * Slot arithmetic: which instants a job is due at. Interval schedules are aligned to
 * the Unix epoch (plus an offset) so every host computes the same slots whenever it
 * started (S1); cron schedules use croner with an IANA timezone, DST-correct.
 * @module
 */
import { Cron } from 'croner';
import { parseDuration, type Duration } from './duration.js';
import { ConfigError } from './errors.js';

/** A sequence of slot instants (epoch ms). */
export interface Schedule {
  /** The latest slot at or before `t`, or undefined when there is none. */
  atOrBefore(t: number): number | undefined;
  /** The first slot strictly after `t`, or undefined when there is none. */
  after(t: number): number | undefined;
  /** Human description, e.g. `every 5m` or `cron "0 3 * * *" (Europe/Berlin)`. */
  readonly description: string;
  /**
   * The fixed gap between slots, when there is one (interval schedules); undefined when
   * the gaps vary (cron). With it, slots far in the past are counted without enumerating them.
   */
  readonly periodMs?: number;
  /** What rebuilds this schedule anywhere ({@link scheduleFromSpec}); the scheduler keeps it in the job's state. */
  readonly spec: ScheduleSpec;
}

/** A schedule as data: an epoch-aligned interval, or a cron expression in a timezone. */
export type ScheduleSpec =
  | { readonly every: number; readonly offset: number }
  | { readonly cron: string; readonly timezone: string };

/**
 * Rebuilds a schedule from its {@link ScheduleSpec} (as kept in a job's state), for
 * readers such as `leasehold status` that show a job's next slot.
 * @throws ConfigError when the spec is not a valid schedule
 */
export function scheduleFromSpec(spec: ScheduleSpec): Schedule {
  if ('every' in spec) return new IntervalSchedule(spec.every, spec.offset);
  return new CronSchedule(spec.cron, spec.timezone);
}

/** Slots at `offset + k × period` for every integer k (epoch ms). */
export class IntervalSchedule implements Schedule {
  /** The gap between slots. */
  readonly periodMs: number;
  /** The shift of every slot from the epoch-aligned grid. */
  readonly offsetMs: number;
  /** `every <period>`, with the offset when there is one. */
  readonly description: string;
  /** `{ every, offset }` in ms. */
  readonly spec: ScheduleSpec;

  /** @throws ConfigError on an invalid period or an offset not shorter than it. */
  constructor(period: Duration, offset: Duration = 0) {
    this.periodMs = parseDuration(period, 'interval');
    const off = parseDuration(offset, 'offset', { allowZero: true });
    if (off >= this.periodMs) {
      throw new ConfigError(`offset: ${JSON.stringify(offset)} must be shorter than the interval (${this.periodMs}ms)`);
    }
    this.offsetMs = off;
    this.spec = { every: this.periodMs, offset: off };
    const shown = typeof period === 'string' ? period : `${period}ms`;
    this.description = `every ${shown}${off ? ` (offset ${off}ms)` : ''}`;
  }

  /** The latest slot at or before `t`. */
  atOrBefore(t: number): number {
    return Math.floor((t - this.offsetMs) / this.periodMs) * this.periodMs + this.offsetMs;
  }

  /** The first slot strictly after `t`. */
  after(t: number): number {
    return this.atOrBefore(t) + this.periodMs;
  }
}

/** Checks an IANA timezone name. @throws ConfigError naming it. */
export function checkTimezone(tz: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new ConfigError(`timezone: unknown IANA timezone ${JSON.stringify(tz)} (e.g. "Europe/Berlin", "UTC")`);
  }
  return tz;
}

/** Slots of a cron expression (5 fields, or 6 with seconds) in an IANA timezone. */
export class CronSchedule implements Schedule {
  readonly #cron: Cron;
  /** `cron "<expression>" (<timezone>)`. */
  readonly description: string;
  /** `{ cron, timezone }`. */
  readonly spec: ScheduleSpec;

  /** @throws ConfigError on an invalid expression or timezone, or one that never fires. */
  constructor(expression: string, timezone = 'UTC') {
    checkTimezone(timezone);
    if (typeof expression !== 'string' || expression.trim() === '') {
      throw new ConfigError(`cron: expected an expression such as "*/5 * * * *", got ${JSON.stringify(expression)}`);
    }
    // croner reads a 7th field as a year and then never fires; we take 5 or 6 fields (or an @nickname).
    const fields = expression.trim().split(/\s+/).length;
    if (!expression.trim().startsWith('@') && fields !== 5 && fields !== 6) {
      throw new ConfigError(
        `cron: invalid expression ${JSON.stringify(expression)}: ${fields} fields; ` +
          'use 5 (minute hour day month weekday) or 6 (seconds first)',
      );
    }
    try {
      this.#cron = new Cron(expression, { timezone, paused: true });
    } catch (err) {
      const why = String((err as Error).message).replace(/\s*\n\s*/g, ' ');
      const message = `cron: invalid expression ${JSON.stringify(expression)}: ${why}`;
      throw new ConfigError(message, { cause: err });
    }
    if (this.#cron.nextRun(new Date(0)) === null && this.#cron.nextRun() === null) {
      throw new ConfigError(`cron: expression ${JSON.stringify(expression)} never fires`);
    }
    this.description = `cron "${expression}" (${timezone})`;
    this.spec = { cron: expression, timezone };
  }

  /** The latest slot at or before `t`, if any. */
  atOrBefore(t: number): number | undefined {
    // croner counts a run earlier in the same second as the reference: +1 ms makes t itself count.
    return this.#cron.previousRuns(1, new Date(t + 1))[0]?.getTime();
  }

  /** The first slot strictly after `t`, if any. */
  after(t: number): number | undefined {
    return this.#cron.nextRun(new Date(t))?.getTime() ?? undefined;
  }
}
