/**
 * The fenced state the scheduler keeps under a job's key (L8): its format, with a version
 * field `v` so a later format can upgrade records written by this one, and the small pure
 * helpers that read it. See docs/architecture.md for how one slot flows through it.
 * @module
 */
import { HISTORY_LENGTH } from '../defaults.js';
import type { ScheduleSpec } from '../schedule.js';
import type { JsonValue } from '../store.js';
import type { RunOutcome, RunRecord } from './types.js';

export { HISTORY_LENGTH };

/** The fenced state the scheduler keeps under a job's key. */
export interface JobState {
  /** Format version. */
  v: 1;
  /** Last settled slot (finished; at-most-once: also runs recorded as lost), ISO-8601 UTC. */
  lastSlot: string | null;
  /** Outcome of the run of {@link JobState.lastSlot}. */
  lastOutcome: RunOutcome | null;
  /**
   * The run in progress (or the last one that never finished): the newer of a start
   * record written into the state and the key's mark (the start record a fused acquire
   * wrote, which carries no token: the store issues it in that same step).
   */
  running: RunningRecord | null;
  /** Most recent first; at most {@link HISTORY_LENGTH}. */
  runs: RunRecord[];
  /**
   * The job's schedule as its last runner had it, so readers (status, the status page) can
   * show the next slot without the job's code. Absent in records of older versions.
   */
  schedule?: ScheduleSpec;
  /** Operator controls in force or waiting for the job's next holder (docs/operating.md). */
  control?: JobControl;
  /** Every operator control asked for, newest first; at most {@link HISTORY_LENGTH}. */
  audit?: AuditRecord[];
}

/** Who asked for a control, and when (ISO-8601 UTC, the asking host's estimate of store time). */
export interface Asked {
  by: string;
  at: string;
}

/** Operator controls kept in a job's state; each is written under the job's lease. */
export interface JobControl {
  /** Slots are settled as skipped (`paused`) instead of run, until resumed. */
  paused?: Asked;
  /** The next slot that would run is settled as skipped (`skip-next`) instead. */
  skipNext?: Asked;
  /** Run once, now, under the job's lease (never alongside a scheduled run). */
  trigger?: Asked & { id: string };
  /** Run these missed slots (ISO-8601), oldest first, each recorded. */
  backfill?: Asked & { id: string; slots: string[] };
}

/** One operator control in the job's audit trail. */
export interface AuditRecord extends Asked {
  action: 'pause' | 'resume' | 'trigger' | 'skip-next' | 'backfill';
  /** What it did (e.g. the backfilled slots), or why it changed nothing. */
  detail?: string;
}

/** A start record: which slot a holder started, and when (ISO-8601 UTC). */
export interface RunningRecord {
  slot: string;
  holder: string;
  start: string;
  /** The run's token; absent in a mark (see {@link JobState.running}). */
  token?: number;
}

/** The format version this code reads and writes. */
export const JOB_STATE_VERSION = 1;

/** Longest error text kept in a run record: the state must stay small (64 KiB on some stores). */
export const MAX_RECORD_ERROR_LENGTH = 500;

/** Turns a record of one format version into one of the next version. */
export type JobStateMigration = (record: { [field: string]: unknown }) => { [field: string]: unknown };

/**
 * Upgrades of older formats, keyed by the version they read. Empty: v1 is the first
 * format. A new format raises {@link JOB_STATE_VERSION} and adds the step from the
 * previous one here, so records written by older hosts still read.
 */
const MIGRATIONS: ReadonlyMap<number, JobStateMigration> = new Map();

/**
 * Brings a stored record to {@link JOB_STATE_VERSION}, one version step at a time.
 * Undefined when no path leads there (no version field, or a version this code does not
 * know, such as one written by a newer release).
 */
export function migrateJobState(
  record: { [field: string]: unknown },
  migrations: ReadonlyMap<number, JobStateMigration> = MIGRATIONS,
): { [field: string]: unknown } | undefined {
  let current = record;
  // Each step must raise the version; the bound stops a table whose steps go in a circle.
  for (let steps = 0; current.v !== JOB_STATE_VERSION; steps++) {
    const migrate = typeof current.v === 'number' ? migrations.get(current.v) : undefined;
    if (!migrate || steps >= migrations.size) return undefined;
    current = migrate(current);
  }
  return current;
}

/** A job's state before its first run. */
export function emptyJobState(): JobState {
  return { v: 1, lastSlot: null, lastOutcome: null, running: null, runs: [] };
}

/**
 * Parses a job's fenced state and the key's mark, tolerating absence and unknown shapes.
 * A mark newer than the state's own start record becomes {@link JobState.running}.
 */
export function parseJobState(raw: JsonValue | null | undefined, mark?: JsonValue | null): JobState {
  const parsed = parseStateOnly(raw);
  const marked = parseMark(mark);
  if (marked && (!parsed.running || timeOf(marked.slot) > timeOf(parsed.running.slot))) parsed.running = marked;
  return parsed;
}

function parseStateOnly(raw: JsonValue | null | undefined): JobState {
  const empty = emptyJobState();
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return empty;
  const record = migrateJobState(raw);
  if (!record) return empty;
  const state = record as unknown as JobState;
  return { ...empty, ...state, runs: Array.isArray(state.runs) ? state.runs : [] };
}

/** The mark a scheduler's fused acquire writes for `slot`. */
export function markOf(slot: number, holder: string, start: number): RunningRecord {
  return { slot: slotIso(slot), holder, start: isoOf(start) };
}

/** A mark read back as a start record; undefined when it is not one (another client's, or none). */
function parseMark(mark: JsonValue | null | undefined): RunningRecord | undefined {
  if (!mark || typeof mark !== 'object' || Array.isArray(mark)) return undefined;
  const { slot, holder, start } = mark;
  if (typeof slot !== 'string' || Number.isNaN(Date.parse(slot))) return undefined;
  return {
    slot,
    holder: typeof holder === 'string' ? holder : 'unknown',
    start: typeof start === 'string' ? start : slot,
  };
}

// The jobs of one schedule are due at the same instant and read the same settled slot:
// a burst of thousands formats and parses the same few instants once per job, and
// `toISOString` and `Date.parse` were a visible share of a scheduled run's CPU time
// (docs/performance.md, "sixth look"). The last of each is kept.
let parsedIso = '';
let parsedTime = Number.NEGATIVE_INFINITY;
let slotTime = Number.NaN;
let slotText = '';

/** Epoch ms of an ISO instant in the state; none is before every slot. */
export function timeOf(iso: string | null | undefined): number {
  if (!iso) return Number.NEGATIVE_INFINITY;
  if (iso !== parsedIso) {
    parsedTime = Date.parse(iso);
    parsedIso = iso;
  }
  return parsedTime;
}

/** ISO-8601 UTC of epoch ms, as the state stores instants. */
export function isoOf(time: number): string {
  return new Date(time).toISOString();
}

/** {@link isoOf} of a slot instant: the last one is kept, as the jobs of a burst share it. */
export function slotIso(slot: number): string {
  if (slot !== slotTime) {
    slotText = isoOf(slot);
    slotTime = slot;
  }
  return slotText;
}

/** The history with `record` added as the newest run, at most {@link HISTORY_LENGTH} long. */
export function withRun(state: JobState, record: RunRecord): RunRecord[] {
  return [record, ...state.runs].slice(0, HISTORY_LENGTH);
}

/**
 * The newest slot the state shows settled: its last slot, and at-most-once also the slot
 * of a run that started (such a slot is never run again).
 */
export function settledThrough(state: JobState, atMostOnce: boolean): number {
  const last = timeOf(state.lastSlot);
  return atMostOnce && state.running ? Math.max(last, timeOf(state.running.slot)) : last;
}
