import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStore } from '../../src/open.js';
import { parseJobState } from '../../src/scheduler/state.js';

export interface Line {
  pid: number;
  t: bigint;
  ev: 'start' | 'end' | 'skip' | 'ready' | 'stopped';
  /** The job (sched-worker writes it; other workers run one job). */
  key?: string;
  /** A start an operator asked for: `trigger` or `backfill` (sched-worker). */
  operator?: string;
  slot?: string;
  token?: number;
  reason?: string;
}

export interface FleetOptions {
  url: string;
  processes: number;
  durationMs: number;
  interval: string;
  ttl: string;
  ttlMs: number;
  catchUp?: string;
  delivery?: 'at-least-once' | 'at-most-once';
  workMs: number;
  /** Kill -9 a process that is mid-run at this many ms into the run. */
  killAtMs?: number;
  /** The fleet member's script (same arguments and output lines). @defaultValue test/fixtures/sched-worker.ts */
  worker?: string;
  /** How long the members may take to report ready. @defaultValue 30 s */
  startMs?: number;
  /** Jobs per process (sched-worker: `key-0`, `key-1`, …). @defaultValue 1 */
  jobs?: number;
  /** Placement's liveness TTL, or false to have every process try every slot. @defaultValue the job TTL */
  placement?: string | false;
  /** Kill -9 this process (by pid) at `killAtMs` instead of one that is mid-run. */
  pickVictim?: (lines: Line[]) => number | undefined;
  /** Runs once every process is ready (e.g. operator commands); the run lasts at least until it resolves. */
  act?: (job: { key: string; events: () => Line[] }) => Promise<void>;
}

export interface FleetResult {
  lines: Line[];
  /** Slots fully inside the run (after every process started, before the end). */
  middle: string[];
  killed?: { pid: number; slot: string; at: bigint };
  key: string;
  /** The job's fenced state as the store holds it after every process stopped. */
  state: ReturnType<typeof parseJobState>;
}

function readLines(file: string): Line[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const o = JSON.parse(l) as Omit<Line, 't'> & { t: string };
      return { ...o, t: BigInt(o.t) };
    });
}

/** Starts a fleet of scheduler processes on one store, optionally kills one mid-run, stops the rest with SIGTERM. */
export async function runFleet(o: FleetOptions): Promise<FleetResult> {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-fleet-'));
  const out = join(dir, 'events.jsonl');
  const key = `fleet-${Math.random().toString(36).slice(2, 8)}`;
  const json = JSON.stringify({
    interval: o.interval,
    ttl: o.ttl,
    catchUp: o.catchUp,
    delivery: o.delivery,
    workMs: o.workMs,
    jobs: o.jobs,
    placement: o.placement,
  });
  const procs = new Map<number, ChildProcess>();
  const exits: Promise<number | null>[] = [];
  for (let i = 0; i < o.processes; i++) {
    const p = spawn(
      process.execPath,
      ['--import', 'tsx', o.worker ?? 'test/fixtures/sched-worker.ts', o.url, key, out, json],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    procs.set(p.pid as number, p);
    exits.push(new Promise((r) => p.on('exit', (code) => r(code))));
  }
  const deadline = performance.now() + (o.startMs ?? 30_000);
  while (readLines(out).filter((l) => l.ev === 'ready').length < o.processes) {
    assert.ok(performance.now() < deadline, 'workers did not start');
    await sleep(100);
  }
  const startedWall = Date.now();
  let killed: FleetResult['killed'];
  if (o.killAtMs !== undefined) {
    await sleep(o.killAtMs);
    // Find a run in progress: a start without an end (or the victim the caller picks).
    for (let tries = 0; tries < 200 && !killed; tries++) {
      const lines = readLines(out);
      const picked = o.pickVictim?.(lines);
      if (picked !== undefined && procs.has(picked)) {
        procs.get(picked)?.kill('SIGKILL');
        killed = { pid: picked, slot: '', at: process.hrtime.bigint() };
        procs.delete(picked);
        break;
      }
      const open = lines
        .filter((l) => l.ev === 'start' && !lines.some((e) => e.ev === 'end' && e.slot === l.slot && e.pid === l.pid))
        .pop();
      if (!o.pickVictim && open && procs.has(open.pid)) {
        procs.get(open.pid)?.kill('SIGKILL');
        killed = { pid: open.pid, slot: open.slot as string, at: process.hrtime.bigint() };
        procs.delete(open.pid);
      } else await sleep(20);
    }
    assert.ok(killed, 'found a run in progress to kill');
  }
  if (o.act) await o.act({ key, events: () => readLines(out) });
  const elapsed = Date.now() - startedWall;
  await sleep(Math.max(0, o.durationMs - elapsed));
  const endedWall = Date.now();
  for (const p of procs.values()) p.kill('SIGTERM');
  await Promise.all(exits);
  const lines = readLines(out);
  // Middle slots: from one slot after the fleet was up to two slots before the end.
  const period = o.ttlMs > 0 ? Number.parseInt(o.interval, 10) * 1000 : 1000;
  const middle: string[] = [];
  for (let t = Math.ceil(startedWall / period) * period + period; t <= endedWall - 2 * period; t += period)
    middle.push(new Date(t).toISOString());
  const store = await openStore(o.url);
  let state: FleetResult['state'] | undefined;
  const jobKeys = (o.jobs ?? 1) === 1 ? [key] : Array.from({ length: o.jobs ?? 1 }, (_, index) => `${key}-${index}`);
  try {
    for (const jobKey of jobKeys) {
      const rec = await store.inspect(jobKey);
      assert.equal(rec?.holder ?? null, null, `no lease is held on ${jobKey} after every process stopped (S7)`);
      state ??= parseJobState(rec?.state ?? null);
    }
  } finally {
    await store.close();
  }
  const res: FleetResult = { lines, middle, key, state: state ?? parseJobState(null) };
  if (killed) res.killed = killed;
  return res;
}

/** Counts per slot of `start` and `end` lines. */
export function perSlot(lines: Line[]): Map<string, { starts: Line[]; ends: Line[] }> {
  const m = new Map<string, { starts: Line[]; ends: Line[] }>();
  for (const l of lines) {
    if (!l.slot || (l.ev !== 'start' && l.ev !== 'end')) continue;
    const e = m.get(l.slot) ?? { starts: [], ends: [] };
    (l.ev === 'start' ? e.starts : e.ends).push(l);
    m.set(l.slot, e);
  }
  return m;
}

/** 3 processes, every 1 s: each slot in the run's middle runs exactly once, and no lease is left held. */
export async function checkOncePerSlot(
  url: string,
  opts: { ttl: string; ttlMs: number; durationMs?: number; worker?: string; startMs?: number },
): Promise<number> {
  const r = await runFleet({
    ...(opts.worker ? { worker: opts.worker } : {}),
    ...(opts.startMs ? { startMs: opts.startMs } : {}),
    url,
    processes: 3,
    durationMs: opts.durationMs ?? 20_000,
    interval: '1s',
    ttl: opts.ttl,
    ttlMs: opts.ttlMs,
    workMs: 200,
  });
  const slots = perSlot(r.lines);
  assert.ok(r.middle.length >= (opts.durationMs ?? 20_000) / 1000 - 4, `middle slots: ${r.middle.length}`);
  for (const slot of r.middle) {
    const e = slots.get(slot);
    const about = () =>
      `${url}: events of ${slot}: ${JSON.stringify(r.lines.filter((l) => l.slot === slot).map((l) => `${l.pid} ${l.ev} ${l.reason ?? l.token ?? ''}`))}`;
    assert.equal(e?.starts.length ?? 0, 1, `slot started ${e?.starts.length ?? 0} times; ${about()}`);
    assert.equal(e?.ends.length ?? 0, 1, `slot completed ${e?.ends.length ?? 0} times; ${about()}`);
  }
  return r.middle.length;
}

/**
 * 3 processes, every 1 s; the one running a slot is killed with SIGKILL mid-run: another
 * takes the slot over (higher token). Slots are never run twice otherwise, and a slot
 * not run is one the overlap policy skipped (it came while the re-run was going).
 */
export async function checkTakeover(
  url: string,
  opts: { ttl: string; ttlMs: number; catchUp: string; worker?: string; startMs?: number },
): Promise<{ takeoverMs: number }> {
  const r = await runFleet({
    ...(opts.worker ? { worker: opts.worker } : {}),
    ...(opts.startMs ? { startMs: opts.startMs } : {}),
    url,
    processes: 3,
    durationMs: 8000 + opts.ttlMs * 2,
    interval: '1s',
    ttl: opts.ttl,
    ttlMs: opts.ttlMs,
    catchUp: opts.catchUp,
    workMs: 300,
    killAtMs: 4000,
  });
  const slots = perSlot(r.lines);
  const killedSlot = r.killed?.slot;
  assert.ok(killedSlot && r.killed);
  for (const slot of r.middle) {
    const e = slots.get(slot);
    if (slot === killedSlot) continue;
    assert.ok((e?.starts.length ?? 0) <= 1, `slot ${slot} started ${e?.starts.length} times`);
    if (!e?.ends.length)
      assert.ok(
        r.lines.some((l) => l.ev === 'skip' && l.slot === slot && l.reason === 'overlap'),
        `slot ${slot} neither ran nor was skipped as an overlap`,
      );
  }
  const k = slots.get(killedSlot);
  const about = `${url}: events of ${killedSlot}: ${JSON.stringify(r.lines.filter((l) => l.slot === killedSlot).map((l) => `${l.pid} ${l.ev} ${l.reason ?? l.token ?? ''}`))}`;
  assert.equal(k?.starts.length, 2, `the killed slot was taken over; ${about}`);
  const rerun = k?.starts.find((s) => s.pid !== r.killed?.pid);
  assert.ok(
    rerun && rerun.token !== undefined && (k?.starts[0]?.token ?? 0) < rerun.token,
    `the re-run has a higher token; ${about}`,
  );
  // The re-run ended once. The killed run's handler may have returned in the instant
  // between the harness reading its open start and the SIGKILL landing (its `end` line is
  // written when the handler returns, before the end record goes to the store); the
  // fenced run history then shows that its end record never committed: the slot's one
  // entry is the re-run's, with the re-run's token.
  assert.equal(k?.ends.filter((l) => l.pid === rerun.pid).length, 1, `the re-run ended once; ${about}`);
  assert.ok((k?.ends.filter((l) => l.pid === r.killed?.pid).length ?? 0) <= 1, about);
  // (The history keeps the last entries only: on a long run the slot may have left it.)
  const recorded = r.state.runs.filter((x) => x.slot === killedSlot);
  const reaches = r.state.runs.some((x) => x.slot <= killedSlot);
  assert.deepEqual(
    recorded.map((x) => [x.token, x.outcome]),
    reaches ? [[rerun.token, 'ok']] : [],
    `the run history holds the slot once, as the re-run's: ${JSON.stringify(r.state.runs)}; ${about}`,
  );
  return { takeoverMs: Number((rerun.t - r.killed.at) / 1_000_000n) };
}

/**
 * 3 processes, every 1 s, `delivery: 'at-most-once'`; the one running a slot is killed
 * with SIGKILL mid-run: that slot is never started again, and both the survivors' events
 * and the job's fenced run history record it as lost.
 */
export async function checkAtMostOnceKill(
  url: string,
  opts: { ttl: string; ttlMs: number; catchUp: string; interval?: string },
): Promise<{ slot: string }> {
  // Long enough for the takeover and a few slots after it, short enough that the lost run
  // is still among the last HISTORY_LENGTH entries (every slot the dead holder's lease
  // covered is recorded as skipped, one entry each).
  const interval = opts.interval ?? '1s';
  const periodMs = Number.parseInt(interval, 10) * 1000;
  const r = await runFleet({
    url,
    processes: 3,
    // Two TTLs: with placement the dead runner's jobs move after its liveness TTL and a
    // heartbeat, which on a store whose minimum TTL is the job's (Azure) is 4/3 of it.
    durationMs: 4000 + 2 * opts.ttlMs + 4 * periodMs + 2000,
    interval,
    ttl: opts.ttl,
    ttlMs: opts.ttlMs,
    catchUp: opts.catchUp,
    delivery: 'at-most-once',
    workMs: 300,
    killAtMs: 4000,
  });
  const slot = r.killed?.slot as string;
  const e = perSlot(r.lines).get(slot);
  const about = `${url}: events of ${slot}: ${JSON.stringify(r.lines.filter((l) => l.slot === slot).map((l) => `${l.pid} ${l.ev} ${l.reason ?? l.token ?? ''}`))}`;
  assert.equal(e?.starts.length, 1, `never re-run; ${about}`);
  // The kill picks a run whose handler had not ended; it may end in the instant before the
  // SIGKILL lands, but its end record is never written: either way the slot is lost.
  assert.ok((e?.ends.length ?? 0) <= 1, about);
  assert.ok(
    r.lines.some((l) => l.ev === 'skip' && l.reason === 'lost' && l.slot === slot),
    `recorded as lost by a survivor; ${about}`,
  );
  const run = r.state?.runs.find((x) => x.slot === slot);
  assert.equal(run?.outcome, 'lost', `the fenced run history says lost: ${JSON.stringify(r.state?.runs)}`);
  // Slots after the lost one still ran: the schedule carried on.
  const later = r.middle.filter((s) => s > slot);
  assert.ok(
    later.some((s) => (perSlot(r.lines).get(s)?.ends.length ?? 0) === 1),
    'later slots ran',
  );
  for (const s of r.middle)
    assert.ok((perSlot(r.lines).get(s)?.starts.length ?? 0) <= 1, `slot ${s} started more than once`);
  return { slot };
}

/**
 * Placement (P3): 3 processes share 6 jobs every 1 s; after a few seconds the process that
 * owns the most jobs is killed with SIGKILL while idle or not. Its jobs' next slots run on
 * the others within TTL + one heartbeat (ttl/3) + 1 s, and no slot of any job starts twice.
 * Returns the worst takeover (kill to the first slot of a dead host's job run elsewhere).
 */
export async function checkPlacementTakeover(
  url: string,
  opts: { ttl: string; ttlMs: number; jobs?: number },
): Promise<{ takeoverMs: number; moved: number }> {
  const jobs = opts.jobs ?? 6;
  let victimJobs: string[] = [];
  const r = await runFleet({
    url,
    processes: 3,
    jobs,
    // The liveness TTL is the one given (the job leases use it too).
    placement: opts.ttl,
    durationMs: 6000 + opts.ttlMs * 3,
    interval: '1s',
    ttl: opts.ttl,
    ttlMs: opts.ttlMs,
    catchUp: '1s',
    workMs: 100,
    killAtMs: 3000 + opts.ttlMs,
    pickVictim: (lines) => {
      // The process that ran the most jobs in the last two seconds owns them now.
      const recent = lines.filter((l) => l.ev === 'start' && l.key !== undefined);
      const latest = recent.at(-1)?.t ?? 0n;
      const byPid = new Map<number, Set<string>>();
      for (const l of recent) {
        if (latest - l.t > 2_000_000_000n) continue;
        byPid.set(l.pid, (byPid.get(l.pid) ?? new Set()).add(l.key as string));
      }
      const [pid, owned] = [...byPid.entries()].sort((a, b) => b[1].size - a[1].size)[0] ?? [];
      victimJobs = [...(owned ?? [])];
      return pid;
    },
  });
  assert.ok(r.killed && victimJobs.length > 0, 'a victim owning jobs was killed');
  const killedAt = r.killed.at;
  const bound = BigInt(Math.round((opts.ttlMs + opts.ttlMs / 3 + 1000) * 1e6));
  let takeoverMs = 0;
  for (const jobKey of victimJobs) {
    const next = r.lines.find((l) => l.ev === 'start' && l.key === jobKey && l.t > killedAt);
    assert.ok(next, `${jobKey}: no slot ran after its owner was killed`);
    assert.notEqual(next.pid, r.killed.pid);
    assert.ok(next.t - killedAt <= bound, `${jobKey}: taken over after ${(next.t - killedAt) / 1_000_000n} ms`);
    takeoverMs = Math.max(takeoverMs, Number((next.t - killedAt) / 1_000_000n));
  }
  const starts = new Map<string, number>();
  for (const l of r.lines) {
    if (l.ev !== 'start') continue;
    const id = `${l.key}@${l.slot}`;
    starts.set(id, (starts.get(id) ?? 0) + 1);
  }
  for (const [id, count] of starts) assert.equal(count, 1, `${id} started ${count} times`);
  return { takeoverMs, moved: victimJobs.length };
}
