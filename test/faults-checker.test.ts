/**
 * The fault harness's checker (faults/checker.ts) on synthetic histories: a clean one
 * passes, and for each must-be-zero figure a history that must fail it does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { check, type CheckInput, type FaultRecord, type HistEvent, type SinkRecord } from '../faults/checker.js';

const ZERO = 1_000_000; // wall ms at monotonic 0 (a multiple of the period)
const PERIOD = 100;
const KEY = 'job';
const iso = (wall: number) => new Date(wall).toISOString();

/** A fleet of two workers taking turns: every slot from 100 to 2000 ms runs once, with increasing tokens. */
function clean(): CheckInput {
  const history: HistEvent[] = [];
  const sink: SinkRecord[] = [];
  let tok = 0;
  for (let at = 100; at <= 2500; at += PERIOD) {
    const w = (at / PERIOD) % 2 === 0 ? 'w1' : 'w2';
    const s = iso(ZERO + at);
    tok++;
    history.push(
      { t: at + 1, w, ev: 'acq', k: KEY, tok, lid: `l${tok}`, sent: at, recv: at + 1 },
      { t: at + 3, w, ev: 'mark', k: KEY, s, tok, sent: at + 2, recv: at + 3, ok: true },
      { t: at + 4, w, ev: 'invoke', k: KEY, s, tok },
      { t: at + 30, w, ev: 'ok', k: KEY, s, tok },
      { t: at + 32, w, ev: 'settle', k: KEY, s, tok, sent: at + 31, recv: at + 32, ok: true },
    );
    sink.push(
      { t: at + 5, k: KEY, tok, w, s, p: 'begin', ok: true },
      { t: at + 29, k: KEY, tok, w, s, p: 'commit', ok: true },
    );
  }
  return {
    periodMs: PERIOD,
    ttlMs: 500,
    catchUpMs: 1200,
    pollMs: 50,
    keys: [KEY],
    slotsFrom: ZERO + 100,
    slotsTo: ZERO + 2000,
    wallAtZero: ZERO,
    endT: 4000,
    history,
    sink,
    faults: [],
    workers: [
      { w: 'w1', start: 0 },
      { w: 'w2', start: 0 },
    ],
  };
}

/** Removes every event of one slot's run. */
function dropSlot(input: CheckInput, at: number): void {
  const s = iso(ZERO + at);
  input.history = input.history.filter((e) => e.s !== s && !(e.ev === 'acq' && e.sent === at));
  input.sink = input.sink.filter((r) => r.s !== s);
}

describe('faults checker', () => {
  it('passes a clean history', () => {
    const r = check(clean());
    assert.equal(r.ok, true, r.problems.join('\n'));
    assert.equal(r.slots, 20);
    assert.equal(r.runs, 25);
    assert.deepEqual(
      [
        r.staleAccepted,
        r.tokenRegressions,
        r.doubleRunsWithoutFault,
        r.lostSlots,
        r.unfencedOverlaps,
        r.unexplainedOverlaps,
      ],
      [0, 0, 0, 0, 0, 0],
    );
  });

  it('fails a sink that accepted a stale token, and counts stale rejections', () => {
    const bad = clean();
    bad.sink.push({ t: 3000, k: KEY, tok: 3, w: 'w1', s: iso(ZERO + 300), p: 'commit', ok: true });
    const r = check(bad);
    assert.equal(r.staleAccepted, 1);
    assert.equal(r.ok, false);

    const good = clean();
    good.sink.push({ t: 3000, k: KEY, tok: 3, w: 'w1', s: iso(ZERO + 300), p: 'commit', ok: false });
    const g = check(good);
    assert.equal(g.staleAccepted, 0);
    assert.equal(g.staleRejected, 1);
    assert.equal(g.ok, true);
  });

  it('fails a sink that rejected a token that was not stale', () => {
    const bad = clean();
    bad.sink.push({ t: 3000, k: KEY, tok: 99, w: 'w1', s: iso(ZERO + 300), p: 'commit', ok: false });
    assert.equal(check(bad).staleAccepted, 1);
  });

  it('fails a token granted after a higher one had been received', () => {
    const bad = clean();
    bad.history = bad.history.filter((e) => e.lid !== 'l7');
    bad.history.push({ t: 3001, w: 'w1', ev: 'acq', k: KEY, tok: 7, lid: 'late', sent: 3000, recv: 3001 });
    const r = check(bad);
    assert.equal(r.tokenRegressions, 1);
    assert.equal(r.ok, false);
  });

  it('accepts a lower token on an acquisition concurrent with a higher one, but not a token granted twice', () => {
    const input = clean();
    // Sent before token 25 (sent 2500, received 2501) came back: their order is unknown.
    input.history.push({ t: 2600, w: 'w1', ev: 'acq', k: KEY, tok: 24, lid: 'l24', sent: 2499, recv: 2600 });
    assert.equal(check(input).tokenRegressions, 0);
    input.history.push(
      { t: 2700, w: 'w2', ev: 'acq', k: KEY, tok: 26, lid: 'x', sent: 2650, recv: 2700 },
      { t: 2700, w: 'w1', ev: 'acq', k: KEY, tok: 26, lid: 'y', sent: 2651, recv: 2700 },
    );
    assert.equal(check(input).tokenRegressions, 1);
  });

  it('fails a slot run twice with no fault near, and excuses it after a kill', () => {
    const bad = clean();
    const s = iso(ZERO + 1000);
    bad.history.push(
      { t: 1100, w: 'w2', ev: 'invoke', k: KEY, s, tok: 50 },
      { t: 1120, w: 'w2', ev: 'ok', k: KEY, s, tok: 50 },
    );
    const r = check(bad);
    assert.equal(r.doubleRunsWithoutFault, 1);
    assert.equal(r.ok, false);

    bad.faults.push({ kind: 'kill', start: 1010, end: 1010, worker: 'w3' });
    const g = check(bad);
    assert.equal(g.doubleRunsWithoutFault, 0);
    assert.equal(g.doubleRunsAfterFault, 1);
  });

  it('placement: an idle owner paused past its heartbeat explains no second run when it wakes', () => {
    const bad = clean();
    const s = iso(ZERO + 1000);
    bad.history.push(
      { t: 1300, w: 'w1', ev: 'invoke', k: KEY, s, tok: 50 },
      { t: 1320, w: 'w1', ev: 'ok', k: KEY, s, tok: 50 },
    );
    bad.faults.push({ kind: 'owner-pause', start: 900, end: 1290, worker: 'w1', holder: false });
    const r = check(bad);
    assert.equal(r.doubleRunsWithoutFault, 1, 'the woken owner ran a slot the new owner had run');
    assert.equal(r.ok, false);
    bad.faults[0] = { kind: 'owner-pause', start: 900, end: 1290, worker: 'w1', holder: true };
    assert.equal(check(bad).doubleRunsWithoutFault, 0, 'a paused holder loses its lease: its re-run is explained');
  });

  it('placement: slots of a killed owner’s jobs are not lost until its liveness TTL and a heartbeat have passed', () => {
    const build = (placementTtlMs: number | undefined) => {
      const input = clean();
      input.catchUpMs = 700; // more than TTL + poll (550), less than the placement takeover (850)
      // w2 owns the job from t=50 on; it is killed at 950 and nobody runs slots 1000 and 1100.
      input.history.push({ t: 50, w: 'w2', ev: 'own', keys: [KEY] }, { t: 50, w: 'w1', ev: 'own', keys: [] });
      for (const at of [1000, 1100]) dropSlot(input, at);
      input.faults.push({ kind: 'kill', start: 950, end: 950, worker: 'w2' });
      if (placementTtlMs !== undefined) input.placementTtlMs = placementTtlMs;
      return input;
    };
    assert.equal(check(build(undefined)).lostSlots, 2, 'without placement another worker could have run them');
    const r = check(build(600));
    assert.equal(r.lostSlots, 0, r.problems.join('\n'));
    assert.ok(r.unrunnable >= 2);
    // w1 never owned the job: its death does not excuse the job's slots.
    const other = build(600);
    other.faults[0] = { kind: 'kill', start: 950, end: 950, worker: 'w1' };
    assert.equal(check(other).lostSlots, 2);
  });

  it('fails a slot that never ran while workers were alive and the store reachable', () => {
    const bad = clean();
    dropSlot(bad, 1000);
    const r = check(bad);
    assert.equal(r.lostSlots, 1);
    assert.equal(r.ok, false);
    assert.match(r.problems.join('\n'), /never ran/);
  });

  it('counts a slot lost when one worker was paused but another was alive', () => {
    const bad = clean();
    dropSlot(bad, 1000);
    bad.faults.push({ kind: 'pause', start: 900, end: 2500, worker: 'w1' });
    assert.equal(check(bad).lostSlots, 1);
  });

  it('does not count a slot whose window the key spent leased to a killed, then a paused holder; does count it when the paused worker held nothing', () => {
    const build = (pausedWorker: string) => {
      const input = clean();
      input.catchUpMs = 850;
      // w3 runs every slot but 900, 1000 and 1100.
      for (const e of input.history) e.w = 'w3';
      for (const r of input.sink) r.w = 'w3';
      input.workers = [
        { w: 'w1', start: 0 },
        { w: 'w2', start: 0, end: 910 },
        { w: 'w3', start: 0 },
      ];
      for (const at of [900, 1000, 1100]) dropSlot(input, at);
      // w2 runs slot 900 and is killed mid-run; its lease holds the key until 1410.
      const s900 = iso(ZERO + 900);
      input.history.push(
        { t: 901, w: 'w2', ev: 'acq', k: KEY, tok: 900, lid: 'l900', sent: 900, recv: 901 },
        { t: 903, w: 'w2', ev: 'mark', k: KEY, s: s900, tok: 900, sent: 902, recv: 903, ok: true },
        { t: 904, w: 'w2', ev: 'invoke', k: KEY, s: s900, tok: 900 },
      );
      input.faults.push({ kind: 'kill', start: 910, end: 910, worker: 'w2' });
      // w1 takes the key when that lease expires, runs slot 1000, and is paused mid-run;
      // its lease is taken from it, so the run never records its end.
      const s1000 = iso(ZERO + 1000);
      input.history.push(
        { t: 1411, w: 'w1', ev: 'acq', k: KEY, tok: 1000, lid: 'l1000', sent: 1410, recv: 1411 },
        { t: 1433, w: 'w1', ev: 'mark', k: KEY, s: s1000, tok: 1000, sent: 1432, recv: 1433, ok: true },
        { t: 1434, w: 'w1', ev: 'invoke', k: KEY, s: s1000, tok: 1000 },
        { t: 2401, w: 'w1', ev: 'ok', k: KEY, s: s1000, tok: 1000 },
      );
      input.faults.push({ kind: 'pause', start: 1435, end: 2400, worker: pausedWorker });
      return input;
    };
    const held = check(build('w1'));
    assert.equal(held.lostSlots, 0, held.problems.join('\n'));
    assert.ok(held.unrunnable >= 1);
    // The same, but the paused worker held nothing: slot 1100 could have run after 1410.
    const free = check(build('w3'));
    assert.equal(free.lostSlots, 1, free.problems.join('\n'));
    assert.match(free.problems.join('\n'), /never ran/);
  });

  it('does not count a slot whose whole window had no reachable store, or no live worker', () => {
    const a = clean();
    dropSlot(a, 1000);
    a.faults.push({ kind: 'partition', start: 950, end: 2100 });
    const ra = check(a);
    assert.equal(ra.lostSlots, 0);
    assert.equal(ra.unrunnable, 1);

    const b = clean();
    dropSlot(b, 1000);
    b.workers = [
      { w: 'w1', start: 0, end: 990 },
      { w: 'w2', start: 0, end: 990 },
      { w: 'w3', start: 2300 },
    ];
    assert.equal(check(b).lostSlots, 0);
  });

  it('does not count a slot that came while an earlier run was still going (overlap skip)', () => {
    const input = clean();
    dropSlot(input, 1000);
    // The run of slot 900 lasted until 1050 and recorded its end.
    const s900 = iso(ZERO + 900);
    for (const e of input.history)
      if (e.s === s900 && (e.ev === 'ok' || e.ev === 'settle')) Object.assign(e, { t: 1050, recv: 1050 });
    const r = check(input);
    assert.equal(r.lostSlots, 0);
    assert.equal(r.overlapSkipped, 1);
  });

  it('does not count a slot whose window passed while its job ran earlier slots back to back', () => {
    const gone = (e: HistEvent) => (e.s ? Date.parse(e.s) - ZERO : (e.sent ?? 0)) >= 900;
    const input = clean();
    // One lease (token 9, w2) runs slots 900..1300 back to back, 500 ms each, from 1000
    // to 3500 (a slow catch-up burst): slots 1400..2000 (windows end by 3200) pass meanwhile.
    input.history = input.history.filter((e) => !gone(e));
    input.sink = [];
    let t = 1000;
    for (let at = 900; at <= 1300; at += PERIOD) {
      const s = iso(ZERO + at);
      input.history.push(
        { t: t + 1, w: 'w2', ev: 'mark', k: KEY, s, tok: 9, sent: t, recv: t + 1, ok: true },
        { t: t + 2, w: 'w2', ev: 'invoke', k: KEY, s, tok: 9 },
        { t: t + 490, w: 'w2', ev: 'ok', k: KEY, s, tok: 9 },
        { t: t + 495, w: 'w2', ev: 'settle', k: KEY, s, tok: 9, sent: t + 492, recv: t + 495, ok: true },
      );
      t += 500;
    }
    const r = check(input);
    assert.equal(r.lostSlots, 0, r.problems.join('\n'));
    assert.equal(r.overlapSkipped + r.unrunnable, 7);

    // With the lease idle instead (nothing ran from 900 on), they are lost.
    const idle = clean();
    idle.history = idle.history.filter((e) => !gone(e));
    assert.equal(check(idle).lostSlots, 12);
  });

  it('a slot that came while a catch-up run without a start record of its own was going is an overlap', () => {
    // The fused acquire: the mark names the due slot only; an older slot's run, late, has no mark.
    const late = clean();
    dropSlot(late, 1000);
    const s900 = iso(ZERO + 900);
    late.history = late.history.filter((e) => !(e.s === s900 && (e.ev === 'mark' || e.ev === 'invoke')));
    late.history.push({ t: 990, w: 'w2', ev: 'invoke', k: KEY, s: s900, tok: 9 });
    for (const e of late.history) if (e.s === s900 && e.ev === 'ok') e.t = 1040;
    for (const e of late.history) if (e.s === s900 && e.ev === 'settle') e.recv = 1042;
    const r = check(late);
    assert.equal(r.lostSlots, 0, r.problems.join('\n'));
    assert.equal(r.overlapSkipped, 1);
  });

  it('a slot skipped as an overlap of a run that never recorded its end is lost', () => {
    const bad = clean();
    dropSlot(bad, 1000);
    const s900 = iso(ZERO + 900);
    bad.history = bad.history.filter((e) => !(e.s === s900 && (e.ev === 'ok' || e.ev === 'settle')));
    bad.history.push({ t: 1050, w: 'w2', ev: 'fail', k: KEY, s: s900, tok: 9 });
    assert.equal(check(bad).lostSlots, 1);
  });

  it('a store restart explains an overlap only on a store that forgets its leases when it restarts', () => {
    const input = clean();
    input.history.push(
      { t: 1010, w: 'w3', ev: 'invoke', k: KEY, s: iso(ZERO + 1010), tok: 60 },
      { t: 1020, w: 'w3', ev: 'fail', k: KEY, s: iso(ZERO + 1010), tok: 60 },
    );
    input.faults.push({ kind: 'restart', start: 1005, end: 1008 });
    assert.equal(check(input).unexplainedOverlaps, 1, 'a persistent store keeps its leases across a restart');
    input.restartLosesLeases = true;
    const r = check(input);
    assert.equal(r.unexplainedOverlaps, 0);
    assert.equal(r.overlapsByFault.restart, 1);
  });

  it('fails overlapping critical sections with no fault near, and explains them by a pause', () => {
    const bad = clean();
    const s = iso(ZERO + 1000);
    // w1 runs slot 1000 from 1004 to 1030; w3 enters a run of the same key at 1010.
    bad.history.push(
      { t: 1010, w: 'w3', ev: 'invoke', k: KEY, s: iso(ZERO + 1010), tok: 60 },
      { t: 1020, w: 'w3', ev: 'fail', k: KEY, s: iso(ZERO + 1010), tok: 60 },
    );
    void s;
    const r = check(bad);
    assert.equal(r.unfencedOverlaps, 1);
    assert.equal(r.unexplainedOverlaps, 1);
    assert.equal(r.ok, false);

    bad.faults.push({ kind: 'pause', start: 200, end: 800, worker: 'w3' });
    const g = check(bad);
    assert.equal(g.unfencedOverlaps, 1);
    assert.equal(g.unexplainedOverlaps, 0);
    assert.equal(g.overlapsByFault.pause, 1);
    assert.equal(g.ok, true);
  });

  it('a kill does not explain an overlap; a run without an end lasts until its process died', () => {
    const bad = clean();
    // w9 invoked at 1005 and never ended; it died at 1500; every run in between overlaps it.
    bad.history.push({ t: 1005, w: 'w9', ev: 'invoke', k: KEY, s: iso(ZERO + 1000), tok: 70 });
    bad.workers.push({ w: 'w9', start: 0, end: 1500 });
    const f: FaultRecord = { kind: 'kill', start: 1500, end: 1500, worker: 'w9', holder: true };
    bad.faults.push(f);
    const r = check(bad);
    assert.equal(r.unfencedOverlaps, 5); // slots 1000 (w1, from 1004), 1100, 1200, 1300, 1400
    assert.equal(r.unexplainedOverlaps, 5);
  });

  it('measures failover after killing a holder', () => {
    const input = clean();
    // w1 is killed mid-run of slot 1000 at 1010; w2's next run of the key starts at 1104.
    const f: FaultRecord = { kind: 'kill', start: 1010, end: 1010, worker: 'w1', holder: true };
    input.faults.push(f);
    input.workers[0] = { w: 'w1', start: 0, end: 1010 };
    input.history = input.history.filter((e) => !(e.w === 'w1' && e.t > 1010));
    const r = check(input);
    assert.equal(r.failover.kill.n, 1);
    assert.equal(r.failover.kill.p50, 94);
    assert.equal(r.failover.kill.max, 94);
    assert.equal(r.failover.budgetMs, 550);
  });
});
