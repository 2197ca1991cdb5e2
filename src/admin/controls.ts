/**
 * Operator controls as pure changes of a job's fenced state: pause, resume, trigger,
 * skip-next and backfill. No I/O: `Admin` (admin.ts) reads the state under the job's lease,
 * applies one of these, and writes the result back under the same lease. The scheduler
 * reads the controls when it next holds the job (classify.ts, job.ts).
 * See docs/operating.md.
 * @module
 */
import { HISTORY_LENGTH } from '../defaults.js';
import { ConfigError } from '../errors.js';
import { scheduleFromSpec } from '../schedule.js';
import type { AuditRecord, JobControl, JobState } from '../scheduler/state.js';
import { isoOf, timeOf } from '../scheduler/state.js';

/** The controls an operator can ask for. */
export type ControlAction = AuditRecord['action'];

/** Most slots one backfill may run: the length of the run history, so each run stays on record. */
export const MAX_BACKFILL_SLOTS = HISTORY_LENGTH;

/** What asking for a control needs. */
export interface ControlRequest {
  action: ControlAction;
  /** Who asks (shown in the audit trail and on the status page). */
  by: string;
  /** When, epoch ms. */
  at: number;
  /** A fresh id for a trigger or backfill. */
  id: string;
  /** Backfill: the range of slots, inclusive, epoch ms. */
  from?: number;
  to?: number;
}

/** The state after the control, and what to tell the operator. */
export interface ControlOutcome {
  state: JobState;
  /** One line: what changed (or that nothing needed to). */
  detail: string;
  /** Backfill: the slots that will run. */
  slots?: number[];
}

/**
 * Applies one control to `state` (the job's state as its lease holder read it). Returns a
 * new state with the control in force and recorded in the audit trail.
 * @throws ConfigError naming the value when the control cannot apply (then nothing changes)
 */
export function applyControl(key: string, state: JobState, request: ControlRequest): ControlOutcome {
  const asked = { by: request.by, at: isoOf(request.at) };
  const control: JobControl = { ...state.control };
  let detail: string;
  let slots: number[] | undefined;
  switch (request.action) {
    case 'pause':
      detail = control.paused ? `already paused by ${control.paused.by} at ${control.paused.at}` : 'paused';
      control.paused ??= asked;
      break;
    case 'resume':
      detail = control.paused ? `resumed (was paused by ${control.paused.by} at ${control.paused.at})` : 'not paused';
      delete control.paused;
      break;
    case 'skip-next':
      detail = control.skipNext
        ? `the next slot was already to be skipped (${control.skipNext.by})`
        : 'next slot skipped';
      control.skipNext ??= asked;
      break;
    case 'trigger':
      if (control.trigger) {
        detail = `a trigger by ${control.trigger.by} at ${control.trigger.at} is already waiting to run`;
      } else {
        control.trigger = { ...asked, id: request.id };
        detail = 'triggered: runs once, as soon as a host running the job holds its lease';
      }
      break;
    case 'backfill':
      slots = missedSlots(key, state, request.from, request.to);
      if (control.backfill) {
        throw new ConfigError(
          `backfill of "${key}": a backfill by ${control.backfill.by} at ${control.backfill.at} ` +
            `(${control.backfill.slots.length} slots) has not finished yet`,
        );
      }
      control.backfill = { ...asked, id: request.id, slots: slots.map(isoOf) };
      detail = `${slots.length} missed slot${slots.length === 1 ? '' : 's'} to run, oldest first`;
      break;
  }
  const record: AuditRecord = { action: request.action, ...asked, detail };
  const audit = [record, ...(state.audit ?? [])].slice(0, HISTORY_LENGTH);
  const next: JobState = { ...state, control, audit };
  if (Object.keys(control).length === 0) delete next.control;
  return slots === undefined ? { state: next, detail } : { state: next, detail, slots };
}

/**
 * The slots of `[from, to]` that never ran (skipped for any reason, or not on record
 * between recorded slots), oldest first. The range must lie inside what the job's history
 * covers and be settled already.
 * @throws ConfigError naming the value when it does not, or when it holds too many slots
 */
export function missedSlots(key: string, state: JobState, from: number | undefined, to: number | undefined): number[] {
  const what = `backfill of "${key}"`;
  if (from === undefined || to === undefined || !Number.isFinite(from) || !Number.isFinite(to)) {
    throw new ConfigError(`${what}: --from and --to must both be instants (ISO-8601, e.g. 2026-12-06T10:00:00Z)`);
  }
  if (from > to) throw new ConfigError(`${what}: --from ${isoOf(from)} is after --to ${isoOf(to)}`);
  if (!state.schedule) {
    throw new ConfigError(`${what}: its state names no schedule yet (no host of this version has run it)`);
  }
  const schedule = scheduleFromSpec(state.schedule);
  const oldest = state.runs.at(-1);
  const lastSlot = timeOf(state.lastSlot);
  if (!oldest || !Number.isFinite(lastSlot)) throw new ConfigError(`${what}: the job has no run history yet`);
  if (from < timeOf(oldest.slot)) {
    throw new ConfigError(`${what}: --from ${isoOf(from)} is before the job's history, which starts at ${oldest.slot}`);
  }
  if (to > lastSlot) {
    throw new ConfigError(`${what}: --to ${isoOf(to)} is after the job's last settled slot, ${state.lastSlot}`);
  }
  const ran = new Set(state.runs.filter((run) => run.outcome !== 'skipped').map((run) => timeOf(run.slot)));
  const slots: number[] = [];
  for (let slot = schedule.after(from - 1); slot !== undefined && slot <= to; slot = schedule.after(slot)) {
    if (ran.has(slot)) continue;
    slots.push(slot);
    if (slots.length > MAX_BACKFILL_SLOTS) {
      throw new ConfigError(
        `${what}: more than ${MAX_BACKFILL_SLOTS} missed slots in the range; backfill fewer at once`,
      );
    }
  }
  if (slots.length === 0) throw new ConfigError(`${what}: no missed slot between ${isoOf(from)} and ${isoOf(to)}`);
  return slots;
}
