/**
 * The fault harness's checker: a pure function from a recorded run (worker histories,
 * the fenced sink's record, the faults injected) to the figures of issue 7.
 *
 * Times are milliseconds on the machine's monotonic clock (`process.hrtime.bigint()` of
 * every process, shifted to the harness start). Slot instants are wall-clock epoch ms and
 * are placed on the monotonic axis with {@link CheckInput.wallAtZero}.
 *
 * What each figure means (see docs/reliability.md):
 * - `staleAccepted`: writes the sink accepted with a token lower than one it had already
 *   accepted for the key (recomputed from its record, in its decision order). Must be 0.
 * - `tokenRegressions`: pairs of granted acquisitions of one key where the first reply
 *   was received before the second request was sent, yet the second token is not
 *   greater (L2, judged only where real-time order is certain); and two different
 *   acquisitions holding the same token. Must be 0.
 * - `doubleRunsWithoutFault`: extra runs of a slot where no fault's influence window
 *   touched the time between the first run's start and the re-run. Must be 0.
 * - `lostSlots`: slots in the checked range that never ran, were not overlap-skipped
 *   (they came while a run that later recorded its end was still going: S5) and whose
 *   catch-up window left the fleet at least TTL + poll of time with a live worker, no
 *   store outage (restart / partition / delay) and the job not busy running earlier
 *   slots back to back, to run them (S4, S6). Must be 0.
 * - `unfencedOverlaps`: pairs of critical sections (handler start → its end, or the
 *   death of its process) of one key on two workers overlapping in time. Reported; each
 *   must coincide with a pause, partition, delay or clock fault (or an observed stall),
 *   else it counts in
 *   `unexplainedOverlaps` (must be 0).
 * - `failover`: after a kill or pause of a worker that was mid-run, the time until
 *   another worker started a run of that key; compared with TTL + poll.
 * @module
 */

/**
 * Fault kinds: the six the harness injects, and `stall` — observed, not injected: a
 * process (a worker, or with no `worker` the harness itself, standing for the whole
 * machine) whose timers fired late by more than the stall threshold, i.e. it was starved
 * of CPU. A worker's stall is treated as a pause of that worker; a machine stall as a
 * pause of everything, the store server included. `timeout` — observed too: a worker's
 * request to the store for `key` got no answer within the library's per-request timeout
 * (the store was unavailable to it: L10); it counts as a store outage for that key.
 */
export type FaultKind =
  | 'kill'
  | 'pause'
  | 'owner-pause'
  | 'restart'
  | 'partition'
  | 'delay'
  | 'clock'
  | 'stall'
  | 'timeout';

/** Every fault kind, in table order. */
export const FAULT_KINDS: readonly FaultKind[] = [
  'kill',
  'pause',
  'owner-pause',
  'restart',
  'partition',
  'delay',
  'clock',
];

/** One line of a worker's history. */
export interface HistEvent {
  /** Monotonic time (ms) of the line. */
  t: number;
  /** Worker id. */
  w: string;
  ev:
    | 'ready'
    | 'acq'
    | 'mark'
    | 'settle'
    | 'invoke'
    | 'ok'
    | 'fail'
    | 'lost'
    | 'skip'
    | 'sink'
    | 'stall'
    | 'error'
    | 'own'
    | 'stopped';
  /** Job key. */
  k?: string;
  /** Slot, ISO-8601. */
  s?: string;
  tok?: number;
  /** Lease id of an acquisition. */
  lid?: string;
  /** Request sent / reply received (monotonic ms) for `acq`, `mark`, `settle`. */
  sent?: number;
  recv?: number;
  /** Store's answer to a `mark` / `settle` write; the sink's answer to a `sink` line. */
  ok?: boolean;
  reason?: string;
  /** `own`: the jobs the worker owns from then on (placement). */
  keys?: string[];
}

/** One decision of the fenced sink, in decision order. */
export interface SinkRecord {
  t: number;
  k: string;
  tok: number;
  w: string;
  s: string;
  p: string;
  ok: boolean;
}

/** One injected fault. `end` is when it was healed (kill: the same as `start`). */
export interface FaultRecord {
  kind: FaultKind;
  start: number;
  end: number;
  /** The worker it hit (kill, pause, clock). */
  worker?: string;
  /** The worker was mid-run when hit (kill, pause). */
  holder?: boolean;
  /** Free text: offset, delay bound, … */
  detail?: string;
  /** The key it concerns (`timeout`); others concern every key. */
  key?: string;
}

/** When a worker process lived. `end` undefined: still alive when the run ended. */
export interface WorkerLife {
  w: string;
  start: number;
  end?: number;
}

/** Everything the checker needs. */
export interface CheckInput {
  periodMs: number;
  ttlMs: number;
  /**
   * Placement's liveness TTL, when the workers ran with placement: a job whose owner was
   * killed, paused or stalled has no other host trying it until the owner's liveness lease
   * expires and the others' next heartbeat (ttl/3) shows it gone.
   */
  placementTtlMs?: number;
  /**
   * The store forgets its leases when it restarts (the harness's Redis runs without
   * persistence, as the docs say production Redis often does; a Redis Cluster failover can
   * drop the last writes): after a restart a second holder may be granted the key while the
   * first still works, until its next renewal fails. Only fencing stops its writes then, so
   * a restart explains an overlap on such a store (never a stale write accepted).
   */
  restartLosesLeases?: boolean;
  catchUpMs: number;
  /** The scheduler's poll slack after a lease expires (wake jitter + one acquire). */
  pollMs: number;
  keys: string[];
  /** First and last slot (wall epoch ms, inclusive) whose fate is checked. */
  slotsFrom: number;
  slotsTo: number;
  /** Wall-clock epoch ms at monotonic 0. */
  wallAtZero: number;
  /** Monotonic end of the run. */
  endT: number;
  history: HistEvent[];
  sink: SinkRecord[];
  faults: FaultRecord[];
  workers: WorkerLife[];
}

/** A latency summary. */
export interface Latency {
  n: number;
  p50: number | null;
  max: number | null;
  /** Samples above TTL + poll. */
  overBudget: number;
}

/** The checker's verdict. */
export interface CheckResult {
  slots: number;
  runs: number;
  staleAccepted: number;
  staleRejected: number;
  tokenRegressions: number;
  doubleRunsWithoutFault: number;
  doubleRunsAfterFault: number;
  lostSlots: number;
  /** Slots not run and not lost: skipped as overlaps (S5). */
  overlapSkipped: number;
  /** Slots not run and not lost: their window had no TTL + poll of live worker and reachable store. */
  unrunnable: number;
  unfencedOverlaps: number;
  unexplainedOverlaps: number;
  /** Overlaps per fault kind they coincided with (an overlap may count for several). */
  overlapsByFault: Partial<Record<FaultKind, number>>;
  failover: { kill: Latency; pause: Latency; all: Latency; budgetMs: number };
  /** Human-readable findings, for the report (first few of each kind). */
  problems: string[];
  /** Every must-be-zero figure is zero. */
  ok: boolean;
}

const iso = (t: number) => new Date(t).toISOString();

/**
 * Store timeouts the workers observed (`error` lines whose message says the store did not
 * answer in time or could not be reached), as `timeout` faults on their key: the request
 * was in flight from `t − ttl/3` (the library's per-request timeout) to `t`.
 */
export function observedTimeouts(history: HistEvent[], ttlMs: number): FaultRecord[] {
  const out: FaultRecord[] = [];
  for (const e of history) {
    const msg = (e as { msg?: string }).msg ?? '';
    if (e.ev !== 'error' || !e.k || !/no answer within|cannot reach|unavailable|ECONN|timed? ?out/i.test(msg)) continue;
    out.push({ kind: 'timeout', start: e.t - ttlMs / 3, end: e.t, worker: e.w, key: e.k });
  }
  return out;
}

/** How long after a fault ends it may still explain what happens. */
export function influence(f: FaultRecord, ttlMs: number): [number, number] {
  const tail = f.kind === 'delay' ? 3 * ttlMs + 1000 : ttlMs + 1000;
  return [f.start, f.end + tail];
}

function intersects(a: [number, number], b: [number, number]): boolean {
  return a[0] <= b[1] && b[0] <= a[1];
}

function pct(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? null;
}

function latency(samples: number[], budget: number): Latency {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: pct(s, 0.5),
    max: s.length ? (s[s.length - 1] ?? null) : null,
    overBudget: s.filter((x) => x > budget).length,
  };
}

/** Merged, sorted union of intervals. */
function union(iv: [number, number][]): [number, number][] {
  const s = [...iv].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const i of s) {
    const last = out[out.length - 1];
    if (last && i[0] <= last[1]) last[1] = Math.max(last[1], i[1]);
    else out.push([i[0], i[1]]);
  }
  return out;
}

/** Longest stretch of [a, b) not covered by the merged intervals `u`. */
function longestFree(a: number, b: number, u: [number, number][]): number {
  let best = 0;
  let cur = a;
  for (const [x, y] of u) {
    if (y <= cur) continue;
    if (x >= b) break;
    best = Math.max(best, Math.min(x, b) - cur);
    cur = Math.max(cur, y);
    if (cur >= b) return best;
  }
  return Math.max(best, b - cur);
}

/** Checks a recorded run. Pure: no I/O, no clock. */
export function check(input: CheckInput): CheckResult {
  const { ttlMs, catchUpMs, pollMs, periodMs } = input;
  const problems: string[] = [];
  const note = (kind: string, msg: string) => {
    if (problems.filter((p) => p.startsWith(kind)).length < 5) problems.push(`${kind}: ${msg}`);
  };
  const slotT = (s: number) => s - input.wallAtZero;
  const byKind = (kinds: FaultKind[]) => input.faults.filter((f) => kinds.includes(f.kind));

  // 1. Stale writes accepted by the sink, in its decision order.
  let staleAccepted = 0;
  let staleRejected = 0;
  const maxTok = new Map<string, number>();
  for (const r of input.sink) {
    const m = maxTok.get(r.k);
    if (r.ok) {
      if (m !== undefined && r.tok < m) {
        staleAccepted++;
        note('stale', `${r.k} token ${r.tok} accepted after ${m} (${r.w}, slot ${r.s}, ${r.p})`);
      }
      maxTok.set(r.k, Math.max(m ?? r.tok, r.tok));
    } else if (m !== undefined && r.tok < m) {
      staleRejected++;
    } else {
      // A rejection of a token that was not stale is a sink fault: count it as stale too.
      staleAccepted++;
      note('stale', `${r.k} token ${r.tok} rejected while the highest was ${m ?? 'none'}`);
    }
  }

  // 2. Token order of granted acquisitions, where real-time order is certain.
  let tokenRegressions = 0;
  for (const key of input.keys) {
    const acqs = input.history.filter(
      (e) => e.ev === 'acq' && e.k === key && e.tok !== undefined && e.sent !== undefined && e.recv !== undefined,
    );
    const byTok = new Map<number, string>();
    for (const a of acqs) {
      const other = byTok.get(a.tok as number);
      if (other !== undefined && other !== a.lid) {
        tokenRegressions++;
        note('token', `${key} token ${a.tok} granted to two acquisitions`);
      }
      byTok.set(a.tok as number, a.lid ?? '');
    }
    const bySent = [...acqs].sort((a, b) => (a.sent as number) - (b.sent as number));
    const byRecv = [...acqs].sort((a, b) => (a.recv as number) - (b.recv as number));
    // Top two tokens (with distinct lease ids) among replies received so far.
    let top: { tok: number; lid: string } | undefined;
    let second: { tok: number; lid: string } | undefined;
    let j = 0;
    for (const y of bySent) {
      while (j < byRecv.length && (byRecv[j]?.recv as number) < (y.sent as number)) {
        const x = byRecv[j] as HistEvent;
        j++;
        const c = { tok: x.tok as number, lid: x.lid ?? '' };
        if (!top || c.tok > top.tok) {
          if (top && top.lid !== c.lid) second = top;
          top = c;
        } else if (c.lid !== top.lid && (!second || c.tok > second.tok)) second = c;
      }
      const ref = top && top.lid !== y.lid ? top : second;
      if (ref && (y.tok as number) <= ref.tok) {
        tokenRegressions++;
        note('token', `${key} token ${y.tok} granted after ${ref.tok} had been received`);
      }
    }
  }

  // Critical sections: invoke → the handler's end, or the death of its process.
  const deathOf = new Map<string, number>();
  for (const l of input.workers) if (l.end !== undefined) deathOf.set(l.w, l.end);
  interface Section {
    w: string;
    k: string;
    s: string;
    tok: number;
    start: number;
    end: number;
    ended: boolean;
  }
  const sections: Section[] = [];
  const open = new Map<string, Section>();
  const sorted = [...input.history].sort((a, b) => a.t - b.t);
  for (const e of sorted) {
    const id = `${e.w}|${e.k}|${e.s}|${e.tok}`;
    if (e.ev === 'invoke') {
      const sec: Section = {
        w: e.w,
        k: e.k as string,
        s: e.s as string,
        tok: e.tok as number,
        start: e.t,
        end: Number.POSITIVE_INFINITY,
        ended: false,
      };
      sections.push(sec);
      open.set(id, sec);
    } else if (e.ev === 'ok' || e.ev === 'fail' || e.ev === 'lost') {
      const sec = open.get(id);
      if (sec) {
        sec.end = e.t;
        sec.ended = true;
        open.delete(id);
      }
    }
  }
  for (const sec of open.values()) sec.end = deathOf.get(sec.w) ?? input.endT;

  // 3. Slots run more than once.
  let doubleRunsWithoutFault = 0;
  let doubleRunsAfterFault = 0;
  const marks = input.history.filter((e) => e.ev === 'mark');
  const markOf = new Map<string, HistEvent>();
  for (const m of marks)
    if (!markOf.has(`${m.w}|${m.k}|${m.s}|${m.tok}`)) markOf.set(`${m.w}|${m.k}|${m.s}|${m.tok}`, m);
  const settleOf = new Map<string, HistEvent>();
  for (const e of input.history) if (e.ev === 'settle' && e.ok) settleOf.set(`${e.k}|${e.s}|${e.tok}`, e);
  const invokes = new Map<string, Section[]>();
  for (const sec of sections) {
    const id = `${sec.k}|${sec.s}`;
    const l = invokes.get(id) ?? [];
    l.push(sec);
    invokes.set(id, l);
  }
  for (const [id, runs] of invokes) {
    if (runs.length < 2) continue;
    runs.sort((a, b) => a.start - b.start);
    for (let i = 1; i < runs.length; i++) {
      const a = runs[i - 1] as Section;
      const b = runs[i] as Section;
      const mark = markOf.get(`${a.w}|${a.k}|${a.s}|${a.tok}`);
      const span: [number, number] = [Math.min(mark?.sent ?? a.start, a.start), b.start];
      // An idle owner paused past its heartbeat (placement's fault) explains no second run:
      // when it wakes it still believes it owns the job, and the lease must stop it (P1).
      const excusing = input.faults.filter((f) => f.kind !== 'owner-pause' || f.holder);
      if (excusing.some((f) => intersects(influence(f, ttlMs), span))) doubleRunsAfterFault++;
      else {
        doubleRunsWithoutFault++;
        note('double', `${id} run by ${a.w} (token ${a.tok}) and again by ${b.w} (token ${b.tok}) with no fault near`);
      }
    }
  }

  // Placement: which worker owned which key when, from the workers' `own` lines.
  const ownLines = input.history.filter((e) => e.ev === 'own').sort((a, b) => a.t - b.t);
  const ownerAt = (w: string, key: string, t: number): boolean => {
    let owns = true; // before its first view of the fleet, a worker tries every job
    for (const e of ownLines) {
      if (e.t > t) break;
      if (e.w === w) owns = (e.keys ?? []).includes(key);
    }
    return owns;
  };
  // A key whose owner was killed, paused or stalled has nobody else trying it until the
  // owner's liveness lease expires and the others' next heartbeat shows it gone (P3), or
  // until the owner runs again (a pause or stall shorter than that).
  const ownerGone = (key: string): [number, number][] => {
    const ttl = input.placementTtlMs;
    if (ttl === undefined) return [];
    const takeover = ttl + ttl / 3 + pollMs;
    return input.faults
      .filter((f) => ['kill', 'pause', 'owner-pause', 'stall'].includes(f.kind) && f.worker !== undefined)
      .filter((f) => ownerAt(f.worker as string, key, f.start))
      .map((f) => [f.start, f.kind === 'kill' ? f.start + takeover : Math.min(f.end + pollMs, f.start + takeover)]);
  };

  // 4. Lost slots.
  const outages: [number, number][] = [
    ...byKind(['restart', 'partition', 'delay']),
    ...input.faults.filter((f) => f.kind === 'stall' && f.worker === undefined),
  ].map((f) => influence(f, ttlMs));
  // Times with no live worker (none started, or all dead or paused).
  const down: [number, number][] = [];
  {
    const pts: number[] = [0, input.endT];
    for (const l of input.workers) pts.push(l.start, l.end ?? input.endT);
    for (const f of byKind(['pause', 'owner-pause', 'stall'])) pts.push(f.start, f.end);
    const uniq = [...new Set(pts)].sort((a, b) => a - b);
    for (let i = 0; i + 1 < uniq.length; i++) {
      const a = uniq[i] as number;
      const b = uniq[i + 1] as number;
      const mid = (a + b) / 2;
      const alive = input.workers.filter(
        (l) =>
          l.start <= mid &&
          (l.end ?? input.endT) > mid &&
          !input.faults.some(
            (f) =>
              (f.kind === 'pause' || f.kind === 'owner-pause' || f.kind === 'stall') &&
              f.worker === l.w &&
              f.start <= mid &&
              f.end > mid,
          ),
      );
      if (alive.length === 0) down.push([a, b]);
    }
  }
  const unable = union([...outages, ...down]);
  const settledSections: [number, number, number][] = []; // [slot ms, from, to] per key below
  let lostSlots = 0;
  let overlapSkipped = 0;
  let unrunnable = 0;
  let slots = 0;
  const eps = 50;
  for (const key of input.keys) {
    settledSections.length = 0;
    for (const m of marks) {
      if (m.k !== key || !m.ok) continue;
      const st = settleOf.get(`${key}|${m.s}|${m.tok}`);
      if (st) settledSections.push([Date.parse(m.s as string), (m.sent as number) - eps, (st.recv as number) + eps]);
    }
    // Runs from their handler's start to their recorded end, for the runs no start record of their
    // own brackets: with the fused acquire the mark names the due slot only, so a catch-up run of an
    // older slot has none, yet a slot that came while it was going is an overlap all the same (S5).
    for (const sec of sections) {
      const st = sec.k === key ? settleOf.get(`${key}|${sec.s}|${sec.tok}`) : undefined;
      if (st) settledSections.push([Date.parse(sec.s), sec.start - eps, (st.recv as number) + eps]);
    }
    // Busy: one lease running slots back to back (a catch-up burst). The job runs one
    // slot at a time, so a slot whose window passes while its job is busy is skipped as
    // outside its window (S4), not lost. Runs of one token are chained while the gap
    // between one's end and the next's start is short (< period / 2) or covered by a stall
    // of that worker; an idle wait inside a lease never counts as busy.
    const busy: [number, number][] = [];
    const byTok = new Map<string, [number, number][]>();
    for (const m of marks) {
      if (m.k !== key || !m.ok) continue;
      const st = settleOf.get(`${key}|${m.s}|${m.tok}`);
      if (!st) continue;
      const id = `${m.w}|${m.tok}`;
      const l = byTok.get(id) ?? [];
      l.push([m.sent as number, st.recv as number]);
      byTok.set(id, l);
    }
    for (const [id, runs] of byTok) {
      const w = id.slice(0, id.indexOf('|'));
      const stalls = input.faults.filter((f) => f.kind === 'stall' && (f.worker === w || f.worker === undefined));
      runs.sort((a, b) => a[0] - b[0]);
      let cur: [number, number] | undefined;
      for (const r of runs) {
        const end = cur?.[1];
        const joins =
          end !== undefined &&
          (r[0] - end < periodMs / 2 || stalls.some((f) => f.start <= r[0] && f.end >= end - periodMs / 2));
        if (cur && joins) cur[1] = Math.max(cur[1], r[1]);
        else {
          if (cur) busy.push(cur);
          cur = [r[0], r[1]];
        }
      }
      if (cur) busy.push(cur);
    }
    const unableKey = union([
      ...unable,
      ...input.faults.filter((f) => f.kind === 'timeout' && f.key === key).map((f) => influence(f, ttlMs)),
    ]);
    // Gaps shorter than a poll between busy stretches are no chance to run a slot.
    const busyMerged: [number, number][] = [];
    for (const iv of union(busy)) {
      const last = busyMerged[busyMerged.length - 1];
      if (last && iv[0] - last[1] < pollMs) last[1] = Math.max(last[1], iv[1]);
      else busyMerged.push([iv[0], iv[1]]);
    }
    // A key whose holder was killed or paused mid-run stays leased to it until that lease
    // expires (at most a TTL after the fault): nobody may run the key then (L1).
    const heldByStopped: [number, number][] = byKind(['kill', 'pause', 'owner-pause'])
      .filter((f) => sections.some((x) => x.k === key && x.w === f.worker && x.start <= f.start && x.end >= f.start))
      .map((f) => [f.start, f.start + ttlMs]);
    const occupied = union([...unableKey, ...busyMerged, ...heldByStopped, ...ownerGone(key)]);
    const ran = new Set(sections.filter((s) => s.k === key).map((s) => s.s));
    const first = Math.ceil(input.slotsFrom / periodMs) * periodMs;
    for (let s = first; s <= input.slotsTo; s += periodMs) {
      slots++;
      const name = iso(s);
      if (ran.has(name)) continue;
      const at = slotT(s);
      if (settledSections.some(([slot, from, to]) => slot < s && from <= at && at < to)) {
        overlapSkipped++; // came while an earlier run was going (S5)
        continue;
      }
      // After an outage or a death the fleet needs TTL + poll to take over (S6); after a
      // run of its own job ends, one poll.
      if (
        longestFree(at, at + catchUpMs, unableKey) < ttlMs + pollMs ||
        longestFree(at, at + catchUpMs, occupied) < pollMs
      ) {
        unrunnable++; // no chance to run it inside its window
        continue;
      }
      lostSlots++;
      note('lost', `${key} slot ${name} never ran`);
    }
  }

  // 5. Overlapping critical sections on one key.
  let unfencedOverlaps = 0;
  let unexplainedOverlaps = 0;
  const overlapsByFault: Partial<Record<FaultKind, number>> = {};
  const explaining = byKind(
    input.restartLosesLeases
      ? ['pause', 'partition', 'delay', 'clock', 'stall', 'restart']
      : ['pause', 'partition', 'delay', 'clock', 'stall'],
  ).concat(byKind(['owner-pause']).filter((f) => f.holder));
  for (const key of input.keys) {
    const secs = sections.filter((s) => s.k === key).sort((a, b) => a.start - b.start);
    for (let i = 0; i < secs.length; i++) {
      const a = secs[i] as Section;
      for (let j = i + 1; j < secs.length; j++) {
        const b = secs[j] as Section;
        if (b.start >= a.end) break;
        if (a.w === b.w) continue;
        unfencedOverlaps++;
        const iv: [number, number] = [b.start, Math.min(a.end, b.end)];
        const by = explaining.filter((f) => intersects(influence(f, ttlMs), iv));
        for (const k of new Set(by.map((f) => f.kind))) overlapsByFault[k] = (overlapsByFault[k] ?? 0) + 1;
        if (by.length === 0) {
          unexplainedOverlaps++;
          note(
            'overlap',
            `${key}: ${a.w} (slot ${a.s}, token ${a.tok}) and ${b.w} (slot ${b.s}, token ${b.tok}) both in a run for ${Math.round(iv[1] - iv[0])} ms, no pause/partition/delay/clock fault near`,
          );
        }
      }
    }
  }

  // 6. Failover after killing or pausing a worker that was mid-run.
  const budgetMs = ttlMs + pollMs;
  const fo: Record<'kill' | 'pause', number[]> = { kill: [], pause: [] };
  for (const f of byKind(['kill', 'pause'])) {
    const keys = new Set(
      sections.filter((s) => s.w === f.worker && s.start <= f.start && s.end >= f.start).map((s) => s.k),
    );
    if (keys.size === 0) continue;
    let best = Number.POSITIVE_INFINITY;
    for (const key of keys) {
      const next = sections.find((s) => s.k === key && s.w !== f.worker && s.start > f.start);
      if (next) best = Math.min(best, next.start - f.start);
    }
    if (Number.isFinite(best)) fo[f.kind as 'kill' | 'pause'].push(best);
  }

  const result: CheckResult = {
    slots,
    runs: sections.length,
    staleAccepted,
    staleRejected,
    tokenRegressions,
    doubleRunsWithoutFault,
    doubleRunsAfterFault,
    lostSlots,
    overlapSkipped,
    unrunnable,
    unfencedOverlaps,
    unexplainedOverlaps,
    overlapsByFault,
    failover: {
      kill: latency(fo.kill, budgetMs),
      pause: latency(fo.pause, budgetMs),
      all: latency([...fo.kill, ...fo.pause], budgetMs),
      budgetMs,
    },
    problems,
    ok: false,
  };
  result.ok =
    staleAccepted === 0 &&
    tokenRegressions === 0 &&
    doubleRunsWithoutFault === 0 &&
    lostSlots === 0 &&
    unexplainedOverlaps === 0;
  return result;
}
