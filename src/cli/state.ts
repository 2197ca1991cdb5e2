/**
 * Reading a key's fenced state, as the scheduler writes it, for `leasehold status`.
 * @module
 */
import { formatDuration } from '../duration.js';
import { type ScheduleSpec, scheduleFromSpec } from '../schedule.js';
import { type AuditRecord, type JobControl, parseJobState, type RunningRecord, timeOf } from '../scheduler/state.js';
import type { RunOutcome, RunRecord } from '../scheduler/types.js';
import type { JsonValue } from '../store.js';

/** One run, as `status` shows it: the scheduler's record plus its duration. */
export interface RunSummary extends RunRecord {
  /** `end − start`, in ms, when both are recorded. */
  durationMs?: number;
}

/** The scheduler's view of a key, distilled from its fenced state. */
export interface StateSummary {
  /** The last settled slot, ISO-8601 UTC; null for keys no schedule ran. */
  lastSlot: string | null;
  /** Outcome of the last settled slot: `ok`, `error`, `timeout`, `lost`, `skipped`. */
  lastOutcome: RunOutcome | null;
  /**
   * The run in progress (or one whose holder died before recording its end). Its token is
   * absent when the start record is the key's mark (the holder's token is then the key's).
   */
  running: RunningRecord | null;
  /** Recent runs, newest first. */
  recentRuns: RunSummary[];
  /**
   * The job's schedule as its last runner had it (`{ every, offset }` in ms, or `{ cron,
   * timezone }`); null for keys no schedule ran, and in records of versions before it was kept.
   */
  schedule: ScheduleSpec | null;
  /** The job's first slot after the read, by the reader's clock, ISO-8601 UTC; null without a schedule. */
  nextSlot: string | null;
  /**
   * Operator controls in force or waiting for the job's next holder (paused, skip-next, a
   * trigger, a backfill), each with who asked and when; null when there are none.
   */
  control: JobControl | null;
  /** The operator controls asked for, newest first (who, when, what, what it did). */
  audit: AuditRecord[];
}

/**
 * Distils a key's fenced state; state the scheduler did not write yields an empty summary.
 * `now` (epoch ms, the reader's clock) places the next slot.
 */
export function summarizeState(
  state: JsonValue | null,
  mark: JsonValue | null = null,
  now: number = Date.now(),
): StateSummary {
  const st = parseJobState(state, mark);
  const schedule = scheduleSpecOf(st.schedule);
  // A start record at or before the last settled slot is an old one (a mark stays after a
  // plain release), not a run in progress.
  const running = st.running && timeOf(st.running.slot) > timeOf(st.lastSlot) ? st.running : null;
  return {
    lastSlot: st.lastSlot,
    lastOutcome: st.lastOutcome,
    running,
    recentRuns: st.runs.map((r) => {
      const d = Date.parse(r.end) - Date.parse(r.start);
      return Number.isFinite(d) ? { ...r, durationMs: d } : { ...r };
    }),
    schedule,
    nextSlot: schedule ? nextSlotOf(schedule, now) : null,
    control: st.control && Object.keys(st.control).length > 0 ? st.control : null,
    audit: Array.isArray(st.audit) ? st.audit : [],
  };
}

/** True for a key the scheduler runs: it has a schedule, a history, or a run in progress. */
export function isJobSummary(summary: StateSummary): boolean {
  return (
    summary.schedule !== null || summary.recentRuns.length > 0 || summary.running !== null || summary.lastSlot !== null
  );
}

/** A stored schedule spec, checked field by field (the record may come from another version). */
function scheduleSpecOf(raw: unknown): ScheduleSpec | null {
  if (!raw || typeof raw !== 'object') return null;
  const spec = raw as { every?: unknown; offset?: unknown; cron?: unknown; timezone?: unknown };
  if (typeof spec.every === 'number' && typeof spec.offset === 'number') {
    return { every: spec.every, offset: spec.offset };
  }
  if (typeof spec.cron === 'string' && typeof spec.timezone === 'string') {
    return { cron: spec.cron, timezone: spec.timezone };
  }
  return null;
}

function nextSlotOf(spec: ScheduleSpec, now: number): string | null {
  try {
    const next = scheduleFromSpec(spec).after(now);
    return next === undefined ? null : new Date(next).toISOString();
  } catch {
    // A spec this version cannot rebuild (a timezone this runtime lacks): no next slot shown.
    return null;
  }
}

/** A schedule spec for people: `every 5m`, `every 1h (offset 10m)`, `cron "0 3 * * *" (Europe/Berlin)`. */
export function describeSchedule(spec: ScheduleSpec): string {
  if ('every' in spec) {
    const offset = spec.offset ? ` (offset ${formatDuration(spec.offset)})` : '';
    return `every ${formatDuration(spec.every)}${offset}`;
  }
  return `cron "${spec.cron}" (${spec.timezone})`;
}

/** True when `state` was written by the scheduler (format version 1). */
export function isJobState(state: JsonValue | null): boolean {
  return typeof state === 'object' && state !== null && !Array.isArray(state) && state.v === 1;
}
