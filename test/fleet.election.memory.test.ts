/**
 * Leader election and semaphores on the memory store. Its data lives in one process, so
 * there is no fleet of processes: several Leasehold instances share `memory:<name>` in
 * this process, on the real clock, and the process-level faults have in-process stand-ins:
 *
 * - **kill -9** → the leader's store calls stall from then on (its FaultyStore, as a
 *   black-holed connection): it can neither renew nor release, as a dead process cannot;
 * - **a pause past the TTL** → this whole process is blocked (`Atomics.wait`) past the
 *   TTL: every instance in it stops, as SIGSTOP stops a process, and wakes together;
 * - **a graceful stop** → `resign()`.
 *
 * The same checks as the process fleets judge the run (test/helpers/coordination-fleet.ts).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LeaderContext } from '../src/coordination/election.js';
import { Leasehold } from '../src/leasehold.js';
import type { Lease } from '../src/lease.js';
import { openStore } from '../src/open.js';
import { FaultyStore } from '../src/testing/index.js';
import { checkSections, checkTerms, type Line } from './helpers/coordination-fleet.js';

const TTL = 2000;
const now = () => process.hrtime.bigint();
const ms = (ns: bigint) => Number(ns) / 1e6;

/** A lease's holder-side deadline (performance.now() ms) on the hrtime clock, in ns. */
const deadlineNs = (lease: Lease) => String(now() - BigInt(Math.round((performance.now() - lease.deadline) * 1e6)));

/** One Leasehold instance on the shared memory store, behind its own FaultyStore. */
interface Member {
  readonly id: number;
  readonly store: FaultyStore;
  readonly lh: Leasehold;
}

async function members(url: string, count: number): Promise<Member[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const store = new FaultyStore(await openStore(url));
      return { id: index + 1, store, lh: new Leasehold({ store, holder: `member-${index + 1}` }) };
    }),
  );
}

/** A campaigner that writes the coordination worker's lines (elected, renewed, abort, work, demoted). */
function campaign(member: Member, key: string, lines: Line[]) {
  const log = (ev: Omit<Line, 'pid' | 't'>) => {
    lines.push({ pid: member.id, t: now(), ...ev });
  };
  let term: LeaderContext | undefined;
  member.lh.on('renewed', (e) => {
    if (term && e.token === term.token) log({ ev: 'renewed', token: e.token, deadline: deadlineNs(term.lease) });
  });
  const election = member.lh.elect(key, {
    ttl: TTL,
    onElected: (ctx) => {
      term = ctx;
      log({ ev: 'elected', token: ctx.token, deadline: deadlineNs(ctx.lease) });
      ctx.signal.addEventListener('abort', () => {
        log({ ev: 'abort', token: ctx.token, code: (ctx.signal.reason as { code?: string }).code ?? '' });
      });
    },
    onDemoted: (d) => log({ ev: 'demoted', token: d.token, reason: d.reason }),
  });
  const ticks = setInterval(() => {
    if (term?.held) log({ ev: 'work', token: term.token });
  }, 20);
  return { member, election, ticks, term: () => term };
}

/** Polls `lines` until `find` returns one. */
async function waitFor(what: string, lines: Line[], find: (l: Line) => boolean, timeoutMs: number): Promise<Line> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const found = lines.find(find);
    if (found) return found;
    assert.ok(performance.now() < end, `timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Blocks this process (every instance in it) for `durationMs`, as SIGSTOP would. */
function pauseProcess(durationMs: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, durationMs);
}

it('memory store, 3 instances in one process: leader cut off, process paused past the TTL, resign: one leader at a time', async () => {
  const lines: Line[] = [];
  const key = `coord-${randomUUID().slice(0, 8)}`;
  const all = (await members(`memory:${key}`, 3)).map((m) => campaign(m, key, lines));
  const by = (id: number) => all.find((c) => c.member.id === id) as (typeof all)[0];
  const elected = (after: bigint, id?: number) => (l: Line) =>
    l.ev === 'elected' && l.t > after && (id === undefined || l.pid === id);
  try {
    const first = await waitFor('a first leader', lines, elected(0n), 5000);
    await sleep(TTL / 2);
    const cutAt = now();
    by(first.pid).member.store.mode = 'stall'; // stands for kill -9: no renewal, no release from now on
    const second = await waitFor('a leader after the cut', lines, elected(cutAt), TTL + 5000);
    const cutMs = ms(second.t - cutAt);

    const secondTerm = by(second.pid).term() as LeaderContext;
    const pausedAt = now();
    pauseProcess(TTL + 500);
    const resumedAt = now();
    // Before any timer of the woken process has run: the term reads as lost at once.
    assert.equal(secondTerm.held, false, 'the paused leader knows on waking');
    assert.equal(secondTerm.signal.aborted, true, "its signal fired as it woke (the held check's own abort)");
    assert.equal((secondTerm.signal.reason as { code?: string }).code, 'LEASE_LOST');
    const third = await waitFor('a leader after the pause', lines, elected(resumedAt), 5000);
    assert.notEqual(third.pid, first.pid, 'the cut-off instance is never elected');
    const wokeMs = ms(third.t - resumedAt);

    const stoppedAt = now();
    await by(third.pid).election.resign();
    const fourth = await waitFor('a leader after resign()', lines, elected(stoppedAt), 5000);
    const gracefulMs = ms(fourth.t - stoppedAt);
    await sleep(200); // the new leader works a few ticks

    const count = checkTerms(lines);
    assert.ok(count >= 4, `${count} terms`);
    assert.ok(pausedAt < resumedAt);
    console.log(
      `memory election (ttl ${TTL}ms, one process): cut off → ${cutMs.toFixed(0)}ms, ` +
        `after waking from a ${TTL + 500}ms pause → ${wokeMs.toFixed(0)}ms, resign → ${gracefulMs.toFixed(0)}ms`,
    );
    assert.ok(cutMs <= TTL + 1000, `new leader ${cutMs}ms after the leader was cut off`);
    assert.ok(gracefulMs <= 1000, `new leader ${gracefulMs}ms after resign()`);
  } finally {
    // The cut-off instance's stalled calls end by their timeouts, whose timers do not keep
    // a process alive (a real connection would): the work ticks do, until every stop is done.
    await Promise.all(all.map((c) => c.member.lh.stop()));
    for (const c of all) clearInterval(c.ticks);
  }
  const store = await openStore(`memory:${key}`);
  assert.equal((await store.inspect(key))?.holder ?? null, null, 'stopped campaigners leave no leader');
});

/** Loops on the semaphore for `durationMs` (at least 10 holds), writing a `section` line per hold. */
async function semaphoreLoop(member: Member, key: string, lines: Line[], durationMs: number): Promise<void> {
  const semaphore = member.lh.semaphore(key, { permits: 3, ttl: TTL });
  const end = performance.now() + durationMs;
  for (let holds = 0; holds < 10 || performance.now() < end; holds++) {
    const permit = await semaphore.acquire({ wait: '30s', pollInterval: 20 });
    const start = now();
    await sleep(5 + Math.random() * 25);
    const stop = now();
    const section = { ev: 'section', key: permit.key, token: permit.token, held: permit.held } as const;
    lines.push({ pid: member.id, t: stop, ...section, start: String(start), end: String(stop) });
    await permit.release();
  }
}

it('memory store, 4 instances in one process on a semaphore of 3: never more than 3 holders, tokens never repeat', async () => {
  const lines: Line[] = [];
  const key = `coord-${randomUUID().slice(0, 8)}`;
  const fleet = await members(`memory:${key}`, 4);
  await Promise.all(fleet.map((m) => semaphoreLoop(m, key, lines, 2000)));
  await Promise.all(fleet.map((m) => m.lh.stop()));
  assert.ok(lines.length >= 40, `${lines.length} sections`);
  const most = checkSections(lines, 3);
  console.log(`memory semaphore (one process): ${lines.length} sections, at most ${most} at once`);
});
