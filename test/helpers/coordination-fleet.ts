/**
 * Leader election and semaphores across real processes (test/fixtures/coordination-worker.ts):
 * the checks that test/fleet.election*.test.ts run on each store.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readStatus } from '../../src/cli/admin.js';
import { openStore } from '../../src/open.js';
import type { LeaseStore } from '../../src/store.js';

/** One line a campaigner or semaphore loop wrote (test/fixtures/coordination-worker.ts). */
export interface Line {
  pid: number;
  t: bigint;
  ev: 'ready' | 'elected' | 'renewed' | 'abort' | 'work' | 'demoted' | 'stopped' | 'section' | 'done';
  token?: number;
  deadline?: string;
  /** On `work` lines: the lease's deadline at that tick (diagnostics). */
  leaseDeadline?: string;
  code?: string;
  reason?: string;
  key?: string;
  start?: string;
  end?: string;
  held?: boolean;
  longestWaitMs?: number;
  storeErrors?: number;
}

/** A store to run on: its URL, and a key prefix when it needs one to be isolated. */
export interface Target {
  url: string;
  prefix?: string;
}

const now = () => process.hrtime.bigint();
const ms = (ns: bigint) => Number(ns) / 1e6;

/** Worker processes on one store and key, and their shared output file. */
class Workers {
  readonly key = `coord-${randomUUID().slice(0, 8)}`;
  readonly #file = join(mkdtempSync(join(tmpdir(), 'leasehold-coord-')), 'events.jsonl');
  readonly #procs = new Map<number, ChildProcess>();
  readonly #exits = new Map<number, Promise<number | null>>();
  readonly #ended = new Set<number>();

  constructor(target: Target, count: number, options: object) {
    const json = JSON.stringify({ ...options, ...(target.prefix ? { prefix: target.prefix } : {}) });
    for (let i = 0; i < count; i++) {
      const args = ['--import', 'tsx', 'test/fixtures/coordination-worker.ts', target.url, this.key, this.#file, json];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
      const pid = child.pid as number;
      this.#procs.set(pid, child);
      this.#exits.set(pid, new Promise((resolve) => child.once('exit', (code) => resolve(code))));
    }
  }

  lines(): Line[] {
    let text = '';
    try {
      text = readFileSync(this.#file, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const parsed = JSON.parse(line) as Omit<Line, 't'> & { t: string };
        return { ...parsed, t: BigInt(parsed.t) };
      });
  }

  /** Polls the output until `find` returns a line. */
  async waitFor(what: string, find: (lines: Line[]) => Line | undefined, timeoutMs: number): Promise<Line> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const found = find(this.lines());
      if (found) return found;
      assert.ok(performance.now() < end, `timed out waiting for ${what}`);
      await sleep(10);
    }
  }

  async ready(): Promise<void> {
    const count = this.#procs.size;
    await this.waitFor(
      'every worker ready',
      (l) => (l.filter((x) => x.ev === 'ready').length >= count ? l[0] : undefined),
      60_000,
    );
  }

  signal(pid: number, signal: NodeJS.Signals): bigint {
    const at = now();
    this.#procs.get(pid)?.kill(signal);
    // A second SIGTERM would kill a worker in the middle of its graceful stop.
    if (signal === 'SIGTERM' || signal === 'SIGKILL') this.#ended.add(pid);
    return at;
  }

  /** Waits for every worker to exit (SIGTERM first when `terminate`); answers their exit codes by pid. */
  async exited(terminate: boolean): Promise<Map<number, number | null>> {
    if (terminate) {
      for (const [pid, child] of this.#procs) if (!this.#ended.has(pid)) child.kill('SIGTERM');
    }
    const codes = new Map<number, number | null>();
    for (const [pid, exit] of this.#exits) codes.set(pid, await exit);
    return codes;
  }

  killAll(): void {
    for (const child of this.#procs.values()) child.kill('SIGKILL');
  }
}

/** One term as the holders saw it: from `elected` to the abort or the last holder-side deadline, whichever is first. */
function terms(lines: Line[]) {
  return lines
    .filter((l) => l.ev === 'elected')
    .map((e) => {
      const mine = lines.filter((l) => l.pid === e.pid && l.token === e.token);
      const deadlines = mine.filter((l) => l.deadline !== undefined).map((l) => BigInt(l.deadline as string));
      let end = deadlines.at(-1) as bigint; // lines are in the order the process wrote them
      const abort = mine.find((l) => l.ev === 'abort');
      if (abort && abort.t < end) end = abort.t;
      return { pid: e.pid, token: e.token as number, start: e.t, end };
    })
    .sort((a, b) => (a.start < b.start ? -1 : 1));
}

/**
 * E1 over a whole run: terms never overlap (each starts after the last one's end as its
 * holder saw it), tokens rise from term to term, and every leader work tick lies inside
 * its own term (5 ms of slack for the tick's own write). Answers the number of terms.
 */
export function checkTerms(lines: Line[]): number {
  const all = terms(lines);
  for (let i = 1; i < all.length; i++) {
    const [before, term] = [all[i - 1], all[i]] as [(typeof all)[0], (typeof all)[0]];
    assert.ok(
      term.start > before.end,
      `two leaders: token ${before.token} until ${before.end}, ${term.token} from ${term.start}`,
    );
    assert.ok(term.token > before.token, `token ${term.token} after ${before.token}`);
  }
  for (const work of lines.filter((l) => l.ev === 'work')) {
    const term = all.find((x) => x.pid === work.pid && x.token === work.token);
    assert.ok(
      term && work.t >= term.start && work.t <= term.end + 5_000_000n,
      `work of token ${work.token} outside its term; the lines of ${work.pid} for that token, ms after its election: ${tokenLines(lines, work)}`,
    );
  }
  return all.length;
}

/** A worker's lines for one token, times in ms after its `elected` line (diagnostics). */
function tokenLines(lines: Line[], of: Line): string {
  const mine = lines.filter((l) => l.pid === of.pid && l.token === of.token);
  const t0 = mine.find((l) => l.ev === 'elected')?.t ?? mine[0]?.t ?? 0n;
  const rel = (v: bigint | string) => (Number(BigInt(v) - t0) / 1e6).toFixed(1);
  return mine
    .map((l) => {
      const at = [`${l.ev}@${rel(l.t)}`];
      if (l.deadline !== undefined) at.push(`deadline ${rel(l.deadline)}`);
      if (l.leaseDeadline !== undefined) at.push(`lease deadline ${rel(l.leaseDeadline)}`);
      if (l.code !== undefined) at.push(String(l.code));
      return at.join(' ');
    })
    .join('; ');
}

/** `leasehold status --key` (the same read, `readStatus`) names `leader` as the key's holder, with its token. */
async function checkStatusNames(store: LeaseStore, key: string, leader: Line): Promise<void> {
  const status = (await readStatus(store, key)).keys[0];
  assert.deepEqual(
    [status?.held, status?.holder, status?.token],
    [true, `worker-${leader.pid}`, leader.token],
    'status shows the leader as the holder of the election key',
  );
}

/** Kill -9, pause past the TTL, graceful stop: E1 throughout; answers the measured handovers. */
async function checkElection(target: Target, ttlMs: number) {
  const workers = new Workers(target, 3, { mode: 'elect', ttlMs });
  const store = await openStore(target.url, target.prefix ? { prefix: target.prefix } : {});
  try {
    await workers.ready();
    const elected = (after: bigint, pid?: number) => (l: Line[]) =>
      l.find((x) => x.ev === 'elected' && x.t > after && (pid === undefined || x.pid === pid));
    const first = await workers.waitFor('a first leader', elected(0n), 10_000);
    await sleep(ttlMs / 3 + 500); // just past the first renewal (every ttl/3)
    const killedAt = workers.signal(first.pid, 'SIGKILL');
    const second = await workers.waitFor('a leader after kill -9', elected(killedAt), ttlMs + 5000);
    const killMs = ms(second.t - killedAt);

    const pausedAt = workers.signal(second.pid, 'SIGSTOP');
    const third = await workers.waitFor('a leader after the pause', elected(pausedAt), ttlMs + 5000);
    const pauseMs = ms(third.t - pausedAt);
    await sleep(Math.max(0, ttlMs + 500 - ms(now() - pausedAt))); // paused well past its TTL
    const resumedAt = workers.signal(second.pid, 'SIGCONT');
    const find = (l: Line[]) => l.find((x) => x.ev === 'abort' && x.pid === second.pid && x.token === second.token);
    const abort = await workers.waitFor('the paused leader told of its loss', find, 5000);
    assert.ok(abort.t >= resumedAt, 'the paused leader was told after it woke');
    assert.equal(abort.code, 'LEASE_LOST');
    await checkStatusNames(store, workers.key, third);

    const stoppedAt = workers.signal(third.pid, 'SIGTERM');
    const fourth = await workers.waitFor('a leader after a graceful stop', elected(stoppedAt, second.pid), 5000);
    const gracefulMs = ms(fourth.t - stoppedAt);
    await sleep(300); // the re-elected old leader works a few ticks
    const codes = await workers.exited(true);
    assert.equal(codes.get(third.pid), 0);
    assert.equal(codes.get(second.pid), 0);

    const lines = workers.lines();
    const count = checkTerms(lines);
    assert.ok(count >= 4, `${count} terms`);
    assert.ok(
      lines.some((l) => l.ev === 'work' && l.pid === second.pid && l.token === fourth.token),
      'the old leader led again',
    );
    assert.equal((await store.inspect(workers.key))?.holder ?? null, null, 'resigned leaders leave no lease');
    return { killMs, pauseMs, gracefulMs };
  } finally {
    workers.killAll();
    await store.close();
  }
}

/**
 * M1 over a whole run: critical sections (timed on the host's monotonic clock) never
 * number more than `permits` at once, yet overlapped (the permits were used together);
 * every permit was held through its section; no (permit key, token) repeats.
 * Answers the most sections seen at once.
 */
export function checkSections(sections: Line[], permits: number): number {
  assert.ok(
    sections.every((s) => s.held),
    'every permit was held through its section',
  );
  const edges = sections.flatMap((s) => [
    { t: BigInt(s.start as string), step: 1 },
    { t: BigInt(s.end as string), step: -1 },
  ]);
  edges.sort((a, b) => (a.t === b.t ? a.step - b.step : a.t < b.t ? -1 : 1));
  let inside = 0;
  let most = 0;
  for (const edge of edges) {
    inside += edge.step;
    most = Math.max(most, inside);
  }
  assert.ok(most <= permits, `${most} holders at once`);
  assert.ok(most >= 2, `the permits were used at once (at most ${most} holders seen)`);
  const seen = new Set(sections.map((s) => `${s.key}:${s.token}`));
  assert.equal(seen.size, sections.length, 'a permit key never handed out a token twice');
  assert.equal(new Set(sections.map((s) => s.key)).size, permits, `${permits} permit keys`);
  return most;
}

/** 4 processes looping on a semaphore of 3 for 2.5 s (10 holds each at least): {@link checkSections}. */
async function checkSemaphore(target: Target, ttlMs: number) {
  const workers = new Workers(target, 4, { mode: 'semaphore', ttlMs, permits: 3, durationMs: 2500 });
  try {
    const codes = await workers.exited(false);
    for (const [pid, code] of codes) assert.equal(code, 0, `worker ${pid} exited with ${code}`);
    const lines = workers.lines();
    const sections = lines.filter((l) => l.ev === 'section');
    assert.ok(sections.length >= 40, `${sections.length} sections`);
    const most = checkSections(sections, 3);
    const longestWaitMs = Math.max(...lines.map((l) => l.longestWaitMs ?? 0));
    const storeErrors = lines.reduce((sum, l) => sum + (l.storeErrors ?? 0), 0);
    return { sections: sections.length, most, longestWaitMs, storeErrors };
  } finally {
    workers.killAll();
  }
}

/** How one store's fleet runs are set up. */
export interface StoreRun {
  /** The leases' TTL (elections and permits). */
  ttlMs: number;
}

/**
 * Registers the election and semaphore fleet tests on one store. Issue 17's bounds: a new
 * leader within TTL + 1 s of a kill -9 and within 1 s of a graceful stop.
 */
export function storeTests(name: string, target: () => Target, run: StoreRun): void {
  const { ttlMs } = run;
  const killBoundMs = ttlMs + 1000;
  it(`${name}: kill -9, pause past the TTL, graceful stop: one leader at a time, rising tokens, timely handovers`, async () => {
    const { killMs, pauseMs, gracefulMs } = await checkElection(target(), ttlMs);
    console.log(
      `${name} election (ttl ${ttlMs}ms): kill -9 → ${killMs.toFixed(0)}ms, ` +
        `pause → ${pauseMs.toFixed(0)}ms, graceful → ${gracefulMs.toFixed(0)}ms`,
    );
    assert.ok(killMs <= killBoundMs, `new leader ${killMs}ms after kill -9`);
    assert.ok(gracefulMs <= 1000, `new leader ${gracefulMs}ms after a graceful stop`);
  });
  it(`${name}: 4 processes on a semaphore of 3 permits: never more than 3 holders, tokens never repeat`, async () => {
    const { sections, most, longestWaitMs, storeErrors } = await checkSemaphore(target(), ttlMs);
    console.log(
      `${name} semaphore: ${sections} sections, at most ${most} at once, longest wait ${longestWaitMs}ms, ` +
        `${storeErrors} store errors`,
    );
  });
}
