/**
 * Operator controls (`lh.admin`): pause, resume, trigger, skip-next and backfill on a fleet
 * of three Leasehold instances sharing a memory store under a fake clock, with placement
 * (the owner hears of a trigger through the roster's notice key) and without it; and
 * every refusal changes nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, Leasehold, parseJobState, type JobContext } from '../src/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { FakeClock } from '../src/testing/index.js';

const START = Date.UTC(2026, 0, 1);
const KEY = 'report';

interface Ran {
  slot: number;
  host: number;
  token: number;
  operator?: JobContext['operator'];
}

async function fleet(options: { placement?: boolean; workMs?: number } = {}) {
  const clock = new FakeClock(START);
  const store = new MemoryStore({ clock: { wallNow: () => clock.wallNow() } });
  const placement = options.placement === false ? false : { ttl: 3000 };
  const hosts = [0, 1, 2].map((index) => new Leasehold({ store, clock, holder: `host${index}`, placement }));
  const runs: Ran[] = [];
  hosts.forEach((lh, host) => {
    lh.every(
      1000,
      KEY,
      async (ctx) => {
        const run: Ran = { slot: ctx.slot.getTime() - START, host, token: ctx.token };
        if (ctx.operator) run.operator = ctx.operator;
        runs.push(run);
        if (options.workMs) await new Promise<void>((resolve) => clock.setTimeout(resolve, options.workMs ?? 0));
      },
      { ttl: 2000 },
    );
  });
  let started = false;
  const starting = Promise.all(hosts.map((lh) => lh.start())).then(() => {
    started = true;
  });
  await clock.advanceUntil(() => started, 10_000, 10);
  await starting;
  const admin = new Leasehold({ store, clock, holder: 'operator-console', placement: false });
  /** Runs an admin call while the fake clock moves (the call waits on the store's timers). */
  const control = async <T>(call: () => Promise<T>): Promise<T> => {
    let done = false;
    const result = call().finally(() => {
      done = true;
    });
    result.catch(() => {});
    await clock.advanceUntil(() => done, 60_000, 10);
    return result;
  };
  const stop = async () => {
    let done = false;
    const stopped = Promise.all([...hosts, admin].map((lh) => lh.stop())).finally(() => {
      done = true;
    });
    await clock.advanceUntil(() => done, 60_000, 50);
    await stopped;
  };
  const state = async () => parseJobState((await store.inspect(KEY))?.state ?? null);
  return { clock, store, hosts, admin, runs, control, stop, state };
}

const scheduled = (runs: Ran[]) => runs.filter((run) => !run.operator);

describe('operator controls (fake clock, memory store)', () => {
  it('pause stops runs fleet-wide from the next slot, resume restarts them from the slot after it', async () => {
    const f = await fleet();
    await f.clock.advance(3050);
    const paused = await f.control(() => f.admin.admin.pause(KEY, { by: 'alice' }));
    assert.equal(paused.detail, 'paused');
    const pausedAt = f.clock.now();
    await f.clock.advance(4000);
    const resumed = await f.control(() => f.admin.admin.resume(KEY, { by: 'bob' }));
    assert.match(resumed.detail, /resumed \(was paused by alice/);
    const resumedAt = f.clock.now();
    await f.clock.advance(3000);
    await f.stop();
    const ran = scheduled(f.runs).map((run) => run.slot);
    // Paused "within one slot": nothing after the slot that follows the pause.
    const firstAfterPause = Math.ceil(pausedAt / 1000) * 1000;
    assert.ok(
      ran.every((slot) => slot <= firstAfterPause || slot > resumedAt),
      `ran while paused: ${ran.join(',')}`,
    );
    for (let slot = Math.ceil(resumedAt / 1000) * 1000 + 1000; slot <= 10_000; slot += 1000) {
      assert.ok(ran.includes(slot), `slot +${slot} after the resume ran (${ran.join(',')})`);
    }
    const state = await f.state();
    const pausedSkips = state.runs.filter(
      (run) => run.outcome === 'skipped' && /paused by alice/.test(run.error ?? ''),
    );
    assert.ok(pausedSkips.length >= 3, `paused slots recorded as skipped: ${JSON.stringify(state.runs)}`);
    assert.deepEqual(
      state.audit?.map((record) => [record.action, record.by]),
      [
        ['resume', 'bob'],
        ['pause', 'alice'],
      ],
    );
    assert.equal(state.control, undefined);
  });

  it('trigger runs once, now, on the owner, with its own higher token, and is recorded', async () => {
    const f = await fleet();
    await f.clock.advance(2050);
    const before = Math.max(...f.runs.map((run) => run.token));
    const result = await f.control(() => f.admin.admin.trigger(KEY, { by: 'carol' }));
    assert.ok(result.id);
    const askedAt = f.clock.now();
    await f.clock.advance(3000);
    await f.stop();
    const triggered = f.runs.filter((run) => run.operator?.action === 'trigger');
    assert.equal(triggered.length, 1, `one triggered run: ${JSON.stringify(f.runs)}`);
    const run = triggered[0] as Ran;
    assert.deepEqual(run.operator, { action: 'trigger', id: result.id, by: 'carol' });
    assert.ok(run.token > before, 'its own, higher token');
    assert.ok(run.slot - askedAt <= 1000 + 100, `ran within one heartbeat: +${run.slot - askedAt} ms`);
    const state = await f.state();
    const record = state.runs.find((entry) => entry.operator?.action === 'trigger');
    assert.equal(record?.outcome, 'ok');
    assert.equal(record?.operator?.by, 'carol');
    assert.equal(state.control, undefined, 'the trigger is settled');
    // Scheduled slots still ran once each.
    const slots = scheduled(f.runs).map((entry) => entry.slot);
    assert.equal(new Set(slots).size, slots.length);
  });

  it('without placement a trigger runs at the job’s next slot', async () => {
    const f = await fleet({ placement: false });
    await f.clock.advance(2050);
    await f.control(() => f.admin.admin.trigger(KEY));
    await f.clock.advance(2000);
    await f.stop();
    assert.equal(f.runs.filter((run) => run.operator?.action === 'trigger').length, 1);
  });

  it('skip-next settles the next slot as skipped and then runs on', async () => {
    const f = await fleet();
    await f.clock.advance(2050);
    await f.control(() => f.admin.admin.skipNext(KEY, { by: 'dave' }));
    const askedAt = f.clock.now();
    await f.clock.advance(3000);
    await f.stop();
    const next = Math.ceil(askedAt / 1000) * 1000;
    const ran = scheduled(f.runs).map((run) => run.slot);
    assert.ok(!ran.includes(next), `slot +${next} was skipped (${ran.join(',')})`);
    assert.ok(ran.includes(next + 1000) && ran.includes(next + 2000));
    const state = await f.state();
    assert.ok(
      state.runs.some((run) => run.outcome === 'skipped' && /skipped on request of dave/.test(run.error ?? '')),
    );
  });

  it('backfill runs exactly the missed slots of the range, oldest first, once each', async () => {
    const f = await fleet();
    await f.clock.advance(2050);
    await f.control(() => f.admin.admin.pause(KEY));
    await f.clock.advance(4000);
    await f.control(() => f.admin.admin.resume(KEY));
    await f.clock.advance(2000);
    const state = await f.state();
    const missed = state.runs.filter((run) => run.outcome === 'skipped').map((run) => Date.parse(run.slot));
    assert.ok(missed.length >= 3, 'slots were missed while paused');
    const from = new Date(Math.min(...missed));
    const to = new Date(Math.max(...missed));
    const result = await f.control(() => f.admin.admin.backfill(KEY, { from, to, by: 'erin' }));
    assert.deepEqual(
      result.slots?.map((slot) => slot.getTime()),
      [...missed].sort((a, b) => a - b),
    );
    await f.clock.advance(3000);
    await f.stop();
    const backfilled = f.runs.filter((run) => run.operator?.action === 'backfill');
    assert.deepEqual(
      backfilled.map((run) => run.slot + START),
      [...missed].sort((a, b) => a - b),
      'exactly the missed slots, oldest first, once each',
    );
    const after = await f.state();
    assert.equal(after.control, undefined, 'the backfill is settled');
    await assert.rejects(
      f.control(() => f.admin.admin.backfill(KEY, { from, to })),
      /no missed slot/,
      'a second backfill of the range finds nothing missed',
    );
  });

  it('refuses bad input in one line, naming the value, and changes nothing', async () => {
    const f = await fleet();
    await f.clock.advance(3050);
    await f.control(async () => {
      const lease = await f.admin.tryAcquire('plain-lease', { ttl: '5s' });
      await lease?.release();
    });
    const before = JSON.stringify((await f.store.inspect(KEY))?.state);
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => f.admin.admin.pause('no-such-job'), /unknown key "no-such-job"/],
      [() => f.admin.admin.pause('plain-lease'), /"plain-lease" is not a scheduled job/],
      [
        () => f.admin.admin.backfill(KEY, { from: '2026-01-01T00:00:05Z', to: '2026-01-01T00:00:02Z' }),
        /is after --to/,
      ],
      [
        () => f.admin.admin.backfill(KEY, { from: '2025-12-31T00:00:00Z', to: '2026-01-01T00:00:01Z' }),
        /before the job's history/,
      ],
      [
        () => f.admin.admin.backfill(KEY, { from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' }),
        /after the job's last settled slot/,
      ],
      [
        () => f.admin.admin.backfill(KEY, { from: 'yesterday', to: '2026-01-01T00:00:02Z' }),
        /--from: expected an instant/,
      ],
      [() => f.admin.admin.pause(KEY, { by: 'eve\nforged line' }), /holder: must be/],
      [() => f.admin.admin.pause(KEY, { wiat: '5s' } as never), /did you mean "wait"/],
    ];
    for (const [call, message] of cases) {
      const error = await f.control(call).then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(error instanceof ConfigError, `${message}: got ${String(error)}`);
      assert.match(error.message, message);
      assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    }
    assert.equal(JSON.stringify((await f.store.inspect(KEY))?.state), before, 'nothing changed');
    await f.stop();
  });

  it('two operators at once both get a clear answer and nothing is lost', async () => {
    const f = await fleet({ workMs: 500 });
    await f.clock.advance(2050);
    const other = new Leasehold({ store: f.store, clock: f.clock, holder: 'second-console', placement: false });
    const [paused, triggered] = await f.control(() =>
      Promise.all([f.admin.admin.pause(KEY, { by: 'alice' }), other.admin.trigger(KEY, { by: 'bob' })]),
    );
    assert.equal(paused.detail, 'paused');
    assert.match(triggered.detail, /^triggered/);
    const state = await f.state();
    assert.deepEqual(
      new Set(state.audit?.map((record) => record.action)),
      new Set(['pause', 'trigger']),
      'both controls recorded',
    );
    await f.clock.advance(3000);
    await f.stop();
    assert.equal(f.runs.filter((run) => run.operator?.action === 'trigger').length, 1, 'the trigger ran while paused');
  });
});
