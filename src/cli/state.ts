/**
 * Reading a key's fenced state, as the scheduler writes it, for `leasehold status`.
 * @module
 */
import { parseJobState, type RunningRecord, timeOf } from '../scheduler/state.js';
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
}

/** Distils a key's fenced state; state the scheduler did not write yields an empty summary. */
export function summarizeState(state: JsonValue | null, mark: JsonValue | null = null): StateSummary {
  const st = parseJobState(state, mark);
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
  };
}

/** True when `state` was written by the scheduler (format version 1). */
export function isJobState(state: JsonValue | null): boolean {
  return typeof state === 'object' && state !== null && !Array.isArray(state) && state.v === 1;
}
