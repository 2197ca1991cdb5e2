// Unit tests of the scheduler's pure decisions (src/scheduler/classify.ts): no store, no
// timers, no clock — inputs in, decision out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CronSchedule, IntervalSchedule, type Schedule } from '../src/schedule.js';
import {
  catchUpWindow,
  decideBusy,
  decideStoreDown,
  isOutsideWindow,
  isTooEarly,
  planPending,
  type PendingInput,
  type SlotPolicy,
} from '../src/scheduler/classify.js';
import { emptyJobState, type JobState, migrateJobState, parseJobState } from '../src/scheduler/state.js';

const START = Date.UTC(2026, 0, 1);
/** Slot n of a 1 s interval schedule. */
const t = (n: number) => START + n * 1000;
const iso = (time: number) => new Date(time).toISOString();
const every1s = new IntervalSchedule(1000);

function policy(over: Partial<SlotPolicy> = {}): SlotPolicy {
  return { schedule: every1s, catchUpMs: undefined, overlap: 'skip', atMostOnce: false, ...over };
}

function input(over: Partial<PendingInput> & { due: number; now: number }): PendingInput {
  return {
    state: emptyJobState(),
    knownSettled: Number.NEGATIVE_INFINITY,
    firstSlot: Number.NEGATIVE_INFINITY,
    holder: 'me',
    ...over,
  };
}

function stateWith(over: Partial<JobState>): JobState {
  return { ...emptyJobState(), ...over };
}

/** A finished run of slot `n` that lasted from `start` to `end`. */
function ran(n: number, start: number, end: number) {
  return {
    slot: iso(t(n)),
    holder: 'other',
    token: 7,
    attempts: 1,
    start: iso(start),
    end: iso(end),
    outcome: 'ok' as const,
  };
}

describe('catch-up window (S4)', () => {
  it('is half-open: the default one-period window closes as the next slot opens', () => {
    assert.equal(catchUpWindow(policy(), t(3)), 1000);
    assert.equal(isOutsideWindow(policy(), t(3), t(3)), false);
    assert.equal(isOutsideWindow(policy(), t(3), t(4) - 1), false);
    assert.equal(isOutsideWindow(policy(), t(3), t(4)), true);
  });

  it('takes the catchUp option, and a zero window allows the slot instant only', () => {
    const half = policy({ catchUpMs: 500 });
    assert.equal(isOutsideWindow(half, t(3), t(3) + 499), false);
    assert.equal(isOutsideWindow(half, t(3), t(3) + 500), true);
    const zero = policy({ catchUpMs: 0 });
    assert.equal(isOutsideWindow(zero, t(3), t(3)), false);
    assert.equal(isOutsideWindow(zero, t(3), t(3) + 1), true);
  });

  it('a cron schedule has the gap to its next slot as its default window', () => {
    const hourly = policy({ schedule: new CronSchedule('0 * * * *') });
    assert.equal(catchUpWindow(hourly, START), 3_600_000);
    assert.equal(isOutsideWindow(hourly, START, START + 3_599_999), false);
    assert.equal(isOutsideWindow(hourly, START, START + 3_600_000), true);
  });

  it('a new holder runs a late slot inside its window and counts one whose window closed', () => {
    const state = stateWith({ lastSlot: iso(t(1)), lastOutcome: 'ok' });
    const late = planPending(policy(), input({ state, due: t(2), now: t(3) - 1 }));
    assert.deepEqual(late.run, [t(2)]);
    assert.deepEqual(late.skips, []);
    const missed = planPending(policy(), input({ state, due: t(3), now: t(3) + 10 }));
    assert.deepEqual(missed.run, [t(3)]);
    assert.deepEqual(
      missed.skips.map((skip) => [skip.reason, skip.slot, skip.count]),
      [['outside-catch-up', t(2), 1]],
    );
    assert.equal(
      missed.state.lastSlot,
      iso(t(2)),
      'the missed slot is recorded as settled, so no host counts it again',
    );
    assert.equal(missed.state.runs[0]?.outcome, 'skipped');
    assert.equal(missed.dirty, true);
  });
});

describe('overlap and the uncertainty of a recorded start (S5)', () => {
  // The run of slot 0 started late, recorded at 0.9 s by a lower-bound clock estimate that
  // may be up to 300 ms behind: slot 1 (at 1 s) may have come before the run began.
  const late = (startWithinMs: number | undefined) => {
    const run = { ...ran(0, t(0) + 900, t(1) + 400), ...(startWithinMs ? { startWithinMs } : {}) };
    return stateWith({ lastSlot: iso(t(0)), lastOutcome: 'ok', runs: [run] });
  };
  const wide = { catchUpMs: 10_000 };

  it('a slot that came within the start’s uncertainty is run, not skipped as an overlap', () => {
    const plan = planPending(policy(wide), input({ state: late(300), due: t(1), now: t(1) + 500 }));
    assert.deepEqual(plan.run, [t(1)]);
    assert.deepEqual(plan.skips, []);
  });

  it('a slot surely after the start is an overlap', () => {
    const plan = planPending(policy(wide), input({ state: late(50), due: t(1), now: t(1) + 500 }));
    assert.deepEqual(plan.run, []);
    assert.deepEqual(
      plan.skips.map((skip) => skip.reason),
      ['overlap'],
    );
    const unknown = planPending(policy(wide), input({ state: late(undefined), due: t(1), now: t(1) + 500 }));
    assert.deepEqual(unknown.run, [], 'no uncertainty recorded: the recorded start is taken as it is');
  });
});

describe('overlap (S5)', () => {
  // The last run, of slot 0, went on until 3.5 s: slots 1, 2 and 3 came while it ran.
  // A window of ten slots, so none of them is simply missed.
  const state = stateWith({ lastSlot: iso(t(0)), lastOutcome: 'ok', runs: [ran(0, t(0), t(3) + 500)] });
  const wide = { catchUpMs: 10_000 };

  it("'skip' drops every slot that came during the run, and records them", () => {
    const plan = planPending(policy(wide), input({ state, due: t(3), now: t(3) + 600 }));
    assert.deepEqual(plan.run, []);
    assert.deepEqual(
      plan.skips.map((skip) => [skip.reason, skip.slot]),
      [
        ['overlap', t(1)],
        ['overlap', t(2)],
        ['overlap', t(3)],
      ],
    );
    assert.match(plan.skips[0]?.detail ?? '', /came while the run of .* by other was still going/);
    assert.equal(plan.state.lastSlot, iso(t(3)));
    assert.equal(state.lastSlot, iso(t(0)), 'the input state is not changed');
  });

  it("'buffer-one' runs the newest of them right after, if its window is still open", () => {
    const buffer = policy({ ...wide, overlap: 'buffer-one' });
    const plan = planPending(buffer, input({ state, due: t(3), now: t(3) + 600 }));
    assert.deepEqual(plan.run, [t(3)]);
    assert.deepEqual(
      plan.skips.map((skip) => skip.slot),
      [t(1), t(2)],
    );
    const closed = planPending(buffer, input({ state, due: t(3), now: t(13) }));
    assert.deepEqual(closed.run, [], 'its window closed: skipped like the others');
    // Slots older than the window are counted as missed without being looked at one by one.
    assert.deepEqual(
      closed.skips.map((skip) => [skip.reason, skip.slot, skip.count]),
      [
        ['outside-catch-up', t(2), 2],
        ['overlap', t(3), 1],
      ],
    );
  });

  it("'buffer-one' keeps slot order: an owed slot older than the buffered one runs first", () => {
    // The run of slot 0 started late, after slot 1 (which it did not overlap: slot 1 is
    // owed), and went on past slot 2 (an overlap, buffered). Running slot 2 first would
    // record it as the last slot, then slot 1's run would move the record back.
    const lateRun = stateWith({ lastSlot: iso(t(0)), lastOutcome: 'ok', runs: [ran(0, t(1) + 400, t(2) + 500)] });
    const buffer = policy({ ...wide, overlap: 'buffer-one' });
    const plan = planPending(buffer, input({ state: lateRun, due: t(2), now: t(2) + 600 }));
    assert.deepEqual(plan.run, [t(1), t(2)]);
  });

  it('a busy answer while an older run holds the key waits, and reports the overlap when the window closes', () => {
    const running = { slot: iso(t(2)), holder: 'other', token: 9, start: iso(t(2)) };
    const busy = { state: stateWith({ lastSlot: iso(t(1)), running }), expiresInMs: 20_000, storeTime: t(3) + 100 };
    const jitter = { pollFactor: 1, slackMs: 10 };
    const open = decideBusy(policy(), t(3), t(3) + 100, 3000, busy, jitter);
    assert.deepEqual(open, { kind: 'wait', wakeAt: t(3) + 100 + 300, overlap: true }, 'polls soon: ttl/10');
    const closed = decideBusy(policy(), t(3), t(4), 3000, busy, jitter);
    assert.equal(closed.kind, 'closed');
    assert.match(
      closed.kind === 'closed' ? (closed.overlapDetail ?? '') : '',
      /the run of .* by other was still going/,
    );
  });
});

describe('dead runs (S2, S6)', () => {
  // Slot 2 was started by a holder that died before recording its end.
  const running = { slot: iso(t(2)), holder: 'dead-host', token: 5, start: iso(t(2)) };
  const state = stateWith({ lastSlot: iso(t(1)), lastOutcome: 'ok', running });

  it('at-least-once: the next holder re-runs the slot inside its window', () => {
    const plan = planPending(policy(), input({ state, due: t(2), now: t(2) + 900 }));
    assert.deepEqual(plan.run, [t(2)]);
    assert.deepEqual(plan.skips, []);
    assert.equal(plan.state.running, null);
    assert.equal(plan.dirty, true);
  });

  it('at-most-once: the slot is recorded as lost and never re-run', () => {
    const plan = planPending(policy({ atMostOnce: true }), input({ state, due: t(2), now: t(2) + 900 }));
    assert.deepEqual(plan.run, []);
    assert.deepEqual(
      plan.skips.map((skip) => [skip.reason, skip.slot]),
      [
        ['lost', t(2)],
        ['done-elsewhere', t(2)],
      ],
    );
    assert.equal(plan.state.lastSlot, iso(t(2)));
    assert.equal(plan.state.lastOutcome, 'lost');
    assert.deepEqual(
      [plan.state.runs[0]?.outcome, plan.state.runs[0]?.token, plan.state.runs[0]?.end],
      ['lost', 5, iso(t(2) + 900)],
    );
  });

  it('at-most-once: a busy answer showing the slot started counts it as settled', () => {
    const busy = { state, expiresInMs: 1000, storeTime: t(2) + 10 };
    const jitter = { pollFactor: 1, slackMs: 10 };
    assert.deepEqual(decideBusy(policy({ atMostOnce: true }), t(2), t(2) + 10, 3000, busy, jitter), {
      kind: 'settled',
    });
    assert.equal(decideBusy(policy(), t(2), t(2) + 10, 3000, busy, jitter).kind, 'wait');
  });
});

describe('no history, and a store that lost data', () => {
  it('a job with no history owes the slots since this host started it, each inside its window', () => {
    const owed = planPending(policy({ catchUpMs: 10_000 }), input({ due: t(5), now: t(5) + 100, firstSlot: t(3) }));
    assert.deepEqual(owed.run, [t(3), t(4), t(5)]);
    const fresh = planPending(policy({ catchUpMs: 10_000 }), input({ due: t(5), now: t(5) + 100 }));
    assert.deepEqual(fresh.run, [t(5)], 'a host that never started the job owes only the due slot');
  });

  it('a state older than this host saw settled is corrected, not re-run (known settled)', () => {
    const plan = planPending(policy(), input({ due: t(5), now: t(5) + 100, knownSettled: t(4) }));
    assert.deepEqual(plan.lostData, { stored: null, seen: iso(t(4)) });
    assert.deepEqual(plan.run, [t(5)]);
    assert.equal(plan.state.lastSlot, iso(t(4)));
    const done = planPending(policy(), input({ due: t(4), now: t(4) + 100, knownSettled: t(4) }));
    assert.deepEqual(done.run, []);
    assert.deepEqual(
      done.skips.map((skip) => skip.reason),
      ['done-elsewhere'],
    );
    assert.equal(done.dirty, true, 'the corrected state is written back');
  });

  it('a known-settled slot also clears a stale start marker up to it', () => {
    const running = { slot: iso(t(3)), holder: 'old', token: 2, start: iso(t(3)) };
    const state = stateWith({ lastSlot: iso(t(1)), running });
    const plan = planPending(policy(), input({ state, due: t(5), now: t(5) + 1, knownSettled: t(4) }));
    assert.equal(plan.state.running, null);
    assert.deepEqual(plan.run, [t(5)]);
  });
});

describe('big gaps', () => {
  it('slots far outside the window are counted without being enumerated', () => {
    let calls = 0;
    const counted: Schedule = {
      description: 'every 1s, counted',
      spec: every1s.spec,
      periodMs: 1000,
      atOrBefore: (time) => {
        calls++;
        return every1s.atOrBefore(time);
      },
      after: (time) => {
        calls++;
        return every1s.after(time);
      },
    };
    const years = 30 * 365 * 86_400; // thirty years of one-second slots
    const state = stateWith({ lastSlot: iso(t(0)), lastOutcome: 'ok' });
    const plan = planPending(policy({ schedule: counted }), input({ state, due: t(years), now: t(years) + 10 }));
    assert.deepEqual(plan.run, [t(years)]);
    assert.deepEqual(
      plan.skips.map((skip) => [skip.reason, skip.slot, skip.count]),
      [['outside-catch-up', t(years - 1), years - 1]],
    );
    assert.ok(calls < 20, `${calls} schedule calls`);
  });
});

describe('other decisions', () => {
  it('a busy answer without state: on this slot waits for the lease to expire, on an older one polls', () => {
    const jitter = { pollFactor: 1, slackMs: 10 };
    // The lease began after the slot's instant (ttl 3000, 2500 left at t(2) + 600): its holder is on this slot.
    const onThis = { state: undefined, expiresInMs: 2500, storeTime: t(2) + 600 };
    assert.deepEqual(decideBusy(policy({ catchUpMs: 10_000 }), t(2), t(2) + 600, 3000, onThis, jitter), {
      kind: 'wait',
      wakeAt: t(2) + 600 + 2500 + 10,
      overlap: false,
    });
    // It began before: the holder finishes an older slot; look again after a poll.
    const older = { state: undefined, expiresInMs: 500, storeTime: t(2) + 600 };
    const wait = decideBusy(policy({ catchUpMs: 10_000 }), t(2), t(2) + 600, 3000, older, jitter);
    assert.deepEqual(wait, { kind: 'wait', wakeAt: t(2) + 600 + 300, overlap: false });
    // Never past the window's end.
    const late = decideBusy(policy(), t(2), t(2) + 900, 3000, onThis, jitter);
    assert.deepEqual(late, { kind: 'wait', wakeAt: t(3) + 1, overlap: false });
  });

  it('a busy answer with neither expiry nor a running marker for this slot polls until the window closes', () => {
    const jitter = { pollFactor: 1, slackMs: 10 };
    // Azure, or a key held by another kind of client: nothing says the holder is on this slot.
    const unknown = { state: undefined, expiresInMs: undefined, storeTime: t(2) + 50 };
    assert.deepEqual(decideBusy(policy(), t(2), t(2) + 50, 3000, unknown, jitter), {
      kind: 'wait',
      wakeAt: t(2) + 50 + 300,
      overlap: false,
    });
    const jittered = decideBusy(policy(), t(2), t(2) + 50, 3000, unknown, { pollFactor: 0.8, slackMs: 10 });
    assert.deepEqual(jittered, { kind: 'wait', wakeAt: t(2) + 50 + 240, overlap: false });
    // A state read without a running marker (another client's key) says no more: poll.
    const read = { ...unknown, state: stateWith({ lastSlot: iso(t(1)), lastOutcome: 'ok' }) };
    assert.deepEqual(decideBusy(policy(), t(2), t(2) + 600, 3000, read, jitter), {
      kind: 'wait',
      wakeAt: t(2) + 900,
      overlap: false,
    });
    // The last poll comes as the window closes, and after it the slot is closed.
    assert.deepEqual(decideBusy(policy(), t(2), t(2) + 900, 3000, unknown, jitter), {
      kind: 'wait',
      wakeAt: t(3) + 1,
      overlap: false,
    });
    assert.deepEqual(decideBusy(policy(), t(2), t(3), 3000, unknown, jitter), { kind: 'closed' });
    // A holder of ours that marked this slot running is waited for until its lease would expire (S6).
    const running = { slot: iso(t(2)), holder: 'other', token: 4, start: iso(t(2)) };
    const marked = { ...unknown, state: stateWith({ lastSlot: iso(t(1)), running }) };
    const wait = decideBusy(policy({ catchUpMs: 10_000 }), t(2), t(2) + 50, 3000, marked, jitter);
    assert.deepEqual(wait, { kind: 'wait', wakeAt: t(2) + 50 + 3000 + 10, overlap: false });
  });

  it('store down: wait a little inside the window, give up outside it; too-early leases are let go', () => {
    assert.deepEqual(decideStoreDown(policy(), t(2), t(2) + 100, 3000), { kind: 'wait', wakeAt: t(2) + 400 });
    assert.deepEqual(decideStoreDown(policy(), t(2), t(3), 3000), { kind: 'give-up' });
    assert.equal(isTooEarly(t(2), t(2) - 751, 3000), true);
    assert.equal(isTooEarly(t(2), t(2) - 750, 3000), false);
    assert.equal(isTooEarly(t(2), undefined, 3000), false);
  });
});

describe('job state format', () => {
  it('has a version field and a migrate hook for later formats', () => {
    const v0 = { v: 0, last: '2026-01-01T00:00:00.000Z' };
    const steps = new Map([[0, (old: { [field: string]: unknown }) => ({ v: 1, lastSlot: old.last, runs: [] })]]);
    assert.deepEqual(migrateJobState(v0, steps), { v: 1, lastSlot: '2026-01-01T00:00:00.000Z', runs: [] });
    assert.equal(migrateJobState(v0), undefined, 'no step from v0 in this release');
    assert.equal(migrateJobState({ v: 2 }), undefined, 'a newer format than this release knows');
    assert.deepEqual(parseJobState({ v: 2, lastSlot: 'x' }), emptyJobState());
    assert.deepEqual(parseJobState({ v: 1, lastSlot: 'x', runs: 'bad' }), { ...emptyJobState(), lastSlot: 'x' });
  });
});

describe('operator controls in the plan', () => {
  const asked = { by: 'alice', at: iso(t(0)) };

  it('a paused job settles every slot it owes as paused, runs none, and the plan must be written', () => {
    const state = stateWith({ lastSlot: iso(t(1)), lastOutcome: 'ok', control: { paused: asked } });
    const plan = planPending(policy({ catchUpMs: 5000 }), input({ state, due: t(3), now: t(3) + 10 }));
    assert.deepEqual(plan.run, []);
    assert.equal(plan.dirty, true);
    assert.deepEqual(
      plan.skips.map((skip) => [skip.slot, skip.reason]),
      [
        [t(2), 'paused'],
        [t(3), 'paused'],
      ],
    );
    assert.equal(plan.state.lastSlot, iso(t(3)));
    assert.match(plan.state.runs[0]?.error ?? '', /paused by alice/);
    assert.deepEqual(plan.state.control, { paused: asked }, 'a pause stays until resumed');
  });

  it('skip-next settles the first slot it would run, runs the rest, and clears itself', () => {
    const state = stateWith({ lastSlot: iso(t(1)), lastOutcome: 'ok', control: { skipNext: asked } });
    const plan = planPending(policy({ catchUpMs: 5000 }), input({ state, due: t(3), now: t(3) + 10 }));
    assert.deepEqual(plan.run, [t(3)]);
    assert.equal(plan.dirty, true);
    assert.deepEqual(
      plan.skips.map((skip) => [skip.slot, skip.reason]),
      [[t(2), 'skip-next']],
    );
    assert.equal(plan.state.control, undefined);
    assert.equal(state.control?.skipNext, asked, 'the input state is not changed');
  });
});
