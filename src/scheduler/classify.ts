/**
 * The scheduler's decisions, as pure functions: which slots a new lease holder owes and
 * what becomes of each (run, overlap, missed), what a busy answer means for the due slot,
 * and when to look again. No I/O, no timers, no clock reads: the caller passes the
 * store's time and the random draws in. GUARANTEES S2, S4, S5, S6; docs/architecture.md.
 * @module
 */
import { defaultPoll, earlyReleaseThreshold, storeDownRetry } from '../defaults.js';
import type { Schedule } from '../schedule.js';
import { isoOf, type JobState, settledThrough, timeOf, withRun } from './state.js';
import type { SkipReason } from './types.js';

/** What a decision needs of a job. */
export interface SlotPolicy {
  readonly schedule: Schedule;
  /** The catch-up window; undefined: one period (the gap to the next slot). */
  readonly catchUpMs: number | undefined;
  readonly overlap: 'skip' | 'buffer-one';
  readonly atMostOnce: boolean;
}

/** Slots enumerated at most per decision: a bound for schedules without a period (cron). */
const MAX_ENUMERATED_SLOTS = 100_000;

/** The catch-up window of `slot`: the option, or the gap to the next slot (0 when none). */
export function catchUpWindow(policy: SlotPolicy, slot: number): number {
  if (policy.catchUpMs !== undefined) return policy.catchUpMs;
  const next = policy.schedule.after(slot);
  return next === undefined ? 0 : next - slot;
}

/**
 * True when `slot` may no longer start at store time `now`. The window is [slot,
 * slot + catchUp): half-open, so with the default one-period window a slot closes as the
 * next one opens; a zero window allows the slot's instant only.
 */
export function isOutsideWindow(policy: SlotPolicy, slot: number, now: number): boolean {
  const window = catchUpWindow(policy, slot);
  return window > 0 ? now - slot >= window : now > slot;
}

/**
 * True when a lease taken for `due` came too early by the store's own answer (S3): the
 * host's clock estimate was far ahead, so it should let go until the slot is due rather
 * than keep the key from everyone.
 */
export function isTooEarly(due: number, storeTime: number | undefined, ttlMs: number): boolean {
  const early = storeTime === undefined ? 0 : due - storeTime;
  return early > earlyReleaseThreshold(ttlMs);
}

/** What to do when the store could not be reached while `due` is open. */
export function decideStoreDown(
  policy: SlotPolicy,
  due: number,
  now: number,
  ttlMs: number,
): { kind: 'give-up' } | { kind: 'wait'; wakeAt: number } {
  if (isOutsideWindow(policy, due, now)) return { kind: 'give-up' };
  return { kind: 'wait', wakeAt: now + storeDownRetry(ttlMs) };
}

/** What a busy answer said. */
export interface BusyAnswer {
  /** The key's state from the answer, parsed; undefined when the answer carried none. */
  readonly state: JobState | undefined;
  /** When the holder's lease expires if not renewed, when the store says. */
  readonly expiresInMs: number | undefined;
  /** The store's clock at the answer, when the store says. */
  readonly storeTime: number | undefined;
}

/** Random draws for {@link decideBusy}: a poll factor in POLL_JITTER and a slack in SLOT_EXPIRY_SLACK_MS. */
export interface BusyJitter {
  readonly pollFactor: number;
  readonly slackMs: number;
}

/** What a busy answer means for the due slot. */
export type BusyDecision =
  /** The state shows the slot settled elsewhere. */
  | { kind: 'settled' }
  /** The slot's window closed while the key was busy; `overlapDetail` when that was an older run (S5). */
  | { kind: 'closed'; overlapDetail?: string }
  /** Look again at `wakeAt`; `overlap` when an older run still holds the key. */
  | { kind: 'wait'; wakeAt: number; overlap: boolean };

/**
 * Decides about slot `due` when someone else holds its key, at store time `now`.
 * Without an expiry in the answer (Azure; a key held by another kind of client) and
 * without a running marker for this slot in the state, nothing tells whether the holder
 * is on this slot: poll, so the slot still starts if the holder lets go inside the window.
 */
export function decideBusy(
  policy: SlotPolicy,
  due: number,
  now: number,
  ttlMs: number,
  answer: BusyAnswer,
  jitter: BusyJitter,
): BusyDecision {
  if (answer.state !== undefined && settledThrough(answer.state, policy.atMostOnce) >= due) return { kind: 'settled' };
  const running = answer.state?.running ?? null;
  const lastSlot = timeOf(answer.state?.lastSlot);
  const known = answer.expiresInMs;
  // An older run still holds the lease: it is still going, or its holder died and the
  // lease has not expired yet. Either way this slot waits: the overlap policy is applied
  // by whoever gets the lease next (it knows when that run ended), and if the holder
  // died, that next holder re-runs its slot inside the window (S5, S6).
  const overlap = running !== null && timeOf(running.slot) < due && timeOf(running.slot) > lastSlot;
  if (isOutsideWindow(policy, due, now)) {
    if (!overlap) return { kind: 'closed' };
    const detail = `the run of ${running.slot} by ${running.holder} was still going when the window closed`;
    return { kind: 'closed', overlapDetail: detail };
  }
  // Is the holder on this slot? Yes if it marked it running, or if its lease began after
  // the slot's instant by the answer's expiry (a holder that acquires after a slot's
  // instant always handles it; all hosts of a job are expected to use one TTL). Then
  // look again when the lease would expire if the holder stopped renewing (failover,
  // S6). Otherwise, or when the answer has no expiry to tell, poll soon, so this slot
  // starts as soon as the holder lets go.
  const onThisSlot = running
    ? timeOf(running.slot) >= due
    : known !== undefined && (answer.storeTime ?? now) + known - ttlMs >= due;
  const poll = defaultPoll(ttlMs) * jitter.pollFactor;
  const untilExpiry = (known ?? ttlMs) + jitter.slackMs;
  const wake = onThisSlot ? now + untilExpiry : now + (known === undefined ? poll : Math.min(poll, untilExpiry));
  return { kind: 'wait', wakeAt: Math.min(wake, due + catchUpWindow(policy, due) + 1), overlap };
}

/** What a new lease holder knows when it plans. */
export interface PendingInput {
  /** The key's state as the store has it. Not changed: the plan has its own copy. */
  readonly state: JobState;
  /** The slot the lease was taken for. */
  readonly due: number;
  /** Store time now. */
  readonly now: number;
  /** The newest slot this host saw settled in the key's state (it outlives a store that lost data). */
  readonly knownSettled: number;
  /** The first slot this host owes: the one due when its loop started (-Infinity: none). */
  readonly firstSlot: number;
  /** This host's identity, for the records of slots settled without a run. */
  readonly holder: string;
}

/** A slot (or, with `count`, slots up to it) not run, to report. */
export interface PlannedSkip {
  readonly slot: number;
  readonly reason: SkipReason;
  readonly detail?: string;
  readonly count: number;
}

/** What a new lease holder does. */
export interface PendingPlan {
  /** The state to run from: repaired, a dead run settled, skipped slots recorded. */
  readonly state: JobState;
  /** Set when the store's state was older than this host saw it: the store lost data. */
  readonly lostData?: { readonly stored: string | null; readonly seen: string };
  /** Slots not run, in the order to report them. */
  readonly skips: readonly PlannedSkip[];
  /** Slots to run, oldest first. */
  readonly run: readonly number[];
  /** The state changed: write it even if no slot runs. */
  readonly dirty: boolean;
}

/** Records in `state` that slots up to `slot` were decided without a run, so no host counts them again. */
function settleSkipped(state: JobState, slot: number, why: string, holder: string, now: number): void {
  if (timeOf(state.lastSlot) >= slot) return;
  const at = isoOf(now);
  const record = { slot: isoOf(slot), holder, token: 0, attempts: 0, start: at, end: at, outcome: 'skipped' as const };
  state.runs = withRun(state, { ...record, error: why });
  state.lastSlot = isoOf(slot);
  state.lastOutcome = 'skipped';
}

/**
 * Settles what the state says before anything runs: a store that lost data (its state
 * older than this host saw) is corrected from what this host knows; a run that started
 * and never recorded its end (its holder died or lost the lease) is re-run at-least-once
 * or recorded as lost at-most-once. Returns the slot settled through.
 */
function settleHistory(policy: SlotPolicy, input: PendingInput, state: JobState, out: Draft): number {
  let base = timeOf(state.lastSlot);
  if (input.knownSettled > settledThrough(state, policy.atMostOnce)) {
    out.lostData = { stored: state.lastSlot, seen: isoOf(input.knownSettled) };
    base = input.knownSettled;
    state.lastSlot = isoOf(base);
    if (state.running && timeOf(state.running.slot) <= base) state.running = null;
    out.dirty = true;
  }
  if (state.running && timeOf(state.running.slot) > base) {
    const dead = state.running;
    if (policy.atMostOnce) {
      const error = 'the run died or lost its lease before recording its end; not re-run (at-most-once)';
      const { slot, holder, token = 0, start } = dead;
      const end = isoOf(input.now);
      state.runs = withRun(state, { slot, holder, token, attempts: 1, start, end, outcome: 'lost', error });
      state.lastSlot = dead.slot;
      state.lastOutcome = 'lost';
      base = timeOf(dead.slot);
      const detail = `started by ${holder}${token ? ` (token ${token})` : ''} and never finished`;
      out.skips.push({ slot: base, reason: 'lost', detail, count: 1 });
    }
    state.running = null;
    out.dirty = true;
  }
  return base;
}

interface Draft {
  lostData?: { stored: string | null; seen: string };
  skips: PlannedSkip[];
  dirty: boolean;
}

/**
 * Plans the slots a holder of the lease owes, up to `due`: every unsettled slot inside
 * its catch-up window, oldest first (S4). A slot that came while the last run was going
 * is an overlap (S5: `skip` drops it, `buffer-one` keeps the newest such slot if its
 * window is still open); other slots whose window closed were missed by every host and
 * are counted, not run. Slots far outside the window of a periodic schedule are counted
 * without being enumerated.
 */
export function planPending(policy: SlotPolicy, input: PendingInput): PendingPlan {
  const state: JobState = { ...input.state };
  const out: Draft = { skips: [], dirty: false };
  let base = settleHistory(policy, input, state, out);
  const { due, now } = input;
  const { schedule } = policy;
  if (due <= base) {
    out.skips.push({ slot: due, reason: 'done-elsewhere', count: 1 });
    return { ...out, state, run: [] };
  }
  // No history at all (a new job, or a store that lost it and a host that never saw
  // it): the slots owed are those since this host started the job, each inside its
  // catch-up window, so none is dropped without being counted (S4).
  if (!Number.isFinite(base)) base = (Number.isFinite(input.firstSlot) ? Math.min(input.firstSlot, due) : due) - 1;
  let slot = schedule.after(base);
  let outside = 0;
  let lastOutside = 0;
  const window = policy.catchUpMs ?? schedule.periodMs ?? 0;
  if (schedule.periodMs !== undefined && slot !== undefined && window > 0) {
    // Jump over slots that are certainly outside the window without enumerating them
    // (this one is the newest of them, or the oldest inside: the loop decides).
    const firstInWindow = schedule.atOrBefore(now - window);
    if (firstInWindow !== undefined && firstInWindow > slot) {
      outside = Math.round((firstInWindow - slot) / schedule.periodMs);
      lastOutside = firstInWindow - schedule.periodMs;
      slot = firstInWindow;
    }
  }
  // Runs still on record (scheduled, triggered or backfilled): a slot that came while one
  // of them was going is an overlap (S5), whichever of them it was.
  const recent = state.runs.filter((run) => run.outcome !== 'skipped');
  const last = recent[0];
  // A run's recorded start is a lower bound of store time: a slot is an overlap only if it
  // surely came after the run began (the record says by how much it may have been later).
  // Each run's instants are read once, not once per slot enumerated; a run that ended
  // before the first slot looked at cannot hold any of them.
  const spans: { slot: number; from: number; to: number }[] = [];
  for (const run of recent) {
    const to = timeOf(run.end);
    if (slot === undefined || to <= slot) continue;
    spans.push({ slot: timeOf(run.slot), from: timeOf(run.start) + (run.startWithinMs ?? 0), to });
  }
  const during = (time: number) => spans.some((span) => time > span.slot && time >= span.from && time < span.to);
  const overlapped: number[] = [];
  const run: number[] = [];
  for (let count = 0; slot !== undefined && slot <= due && count < MAX_ENUMERATED_SLOTS; count++) {
    if (during(slot)) overlapped.push(slot);
    else if (isOutsideWindow(policy, slot, now)) {
      outside++;
      lastOutside = slot;
    } else run.push(slot);
    slot = schedule.after(slot);
  }
  const newest = overlapped[overlapped.length - 1];
  if (policy.overlap === 'buffer-one' && newest !== undefined && !isOutsideWindow(policy, newest, now)) {
    overlapped.pop();
    // In slot order, like every run: a run records its slot as the job's last, so running
    // it before an older owed slot would move the record back, and the next holder would
    // run it again (found by test/transaction.faults.test.ts: one slot committed twice).
    run.push(newest);
    run.sort((a, b) => a - b);
  }
  if (outside > 0) {
    const detail = outside > 1 ? `${outside} slots missed by every host` : 'missed by every host';
    out.skips.push({ slot: lastOutside, reason: 'outside-catch-up', detail, count: outside });
    settleSkipped(state, lastOutside, `outside catch-up: ${detail}`, input.holder, now);
    out.dirty = true;
  }
  for (const time of overlapped) {
    const detail = `came while the run of ${last?.slot} by ${last?.holder} was still going`;
    out.skips.push({ slot: time, reason: 'overlap', detail, count: 1 });
    settleSkipped(state, time, `overlap: ${detail}`, input.holder, now);
    out.dirty = true;
  }
  // Before the spread below: the operator's skips make the plan dirty.
  const toRun = applyOperatorSkips(state, run, input, out);
  return { ...out, state, run: toRun };
}

/**
 * Operator controls that settle slots without a run: a paused job settles every slot it
 * owes as `paused`; skip-next settles the first one it would run, then clears itself.
 * Returns the slots still to run.
 */
function applyOperatorSkips(state: JobState, run: number[], input: PendingInput, out: Draft): number[] {
  const control = state.control;
  if (!control || run.length === 0) return run;
  if (control.paused) {
    const detail = `paused by ${control.paused.by} at ${control.paused.at}`;
    for (const slot of run) {
      out.skips.push({ slot, reason: 'paused', detail, count: 1 });
      settleSkipped(state, slot, detail, input.holder, input.now);
    }
    out.dirty = true;
    return [];
  }
  if (control.skipNext) {
    const [slot, ...rest] = run as [number, ...number[]];
    const detail = `skipped on request of ${control.skipNext.by} at ${control.skipNext.at}`;
    out.skips.push({ slot, reason: 'skip-next', detail, count: 1 });
    settleSkipped(state, slot, detail, input.holder, input.now);
    const { skipNext: _done, ...others } = control;
    if (Object.keys(others).length > 0) state.control = others;
    else delete state.control;
    out.dirty = true;
    return rest;
  }
  return run;
}
