import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, Leasehold, parseJobState, type JobContext, type JobOptions } from '../src/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import type { AcquireResult, LeaseStore } from '../src/store.js';
import { FakeClock, FaultyStore } from '../src/testing/index.js';
import { MAX_SLOT_ACQUIRES_IN_FLIGHT } from '../src/defaults.js';

const START = Date.UTC(2026, 0, 1); // FakeClock's wall time at monotonic 0: a slot instant
const iso = (t: number) => new Date(t).toISOString();

/**
 * `n` hosts on one memory store. Placement is off unless asked for: these tests are about
 * the slot rules every host applies (placement's own are in test/placement.test.ts).
 */
function fleet(n: number, opts: { storeSkewMs?: number; placementTtlMs?: number } = {}) {
  const clock = new FakeClock(START);
  const skew = opts.storeSkewMs ?? 0;
  const inner = new MemoryStore({ clock: { wallNow: () => clock.wallNow() + skew } });
  const stores = Array.from({ length: n }, () => new FaultyStore(inner));
  const placement = opts.placementTtlMs === undefined ? false : { ttl: opts.placementTtlMs };
  const hosts = stores.map((store, i) => new Leasehold({ store, clock, holder: `host${i}`, placement }));
  return { clock, inner, stores, hosts };
}

interface Run {
  slot: string;
  holder: string;
  token: number;
  attempt: number;
  at: number;
  storeAt: number;
}

function every(
  hosts: Leasehold[],
  interval: number,
  opts: JobOptions,
  body?: (ctx: JobContext) => Promise<void> | void,
) {
  const runs: Run[] = [];
  for (const h of hosts) {
    h.every(
      interval,
      'job',
      async (ctx) => {
        runs.push({
          slot: iso(ctx.slot.getTime()),
          holder: ctx.holder,
          token: ctx.token,
          attempt: ctx.attempt,
          at: h.clock.wallNow(),
          storeAt: await h.store.now(),
        });
        await body?.(ctx);
      },
      opts,
    );
  }
  return runs;
}

describe('scheduler (fake clock)', () => {
  it('three hosts run each slot exactly once, with increasing tokens (S2)', async () => {
    const { clock, hosts } = fleet(3);
    const runs = every(hosts, 1000, { ttl: 3000 });
    await Promise.all(hosts.map((h) => h.start()));
    // (Slot 10 is at exactly +10 s; the clock estimate's drift allowance starts it a
    // fraction of a millisecond after its instant, never before.)
    await clock.advance(10_050);
    await stopAll(clock, hosts);
    const slots = runs.map((r) => r.slot);
    assert.equal(new Set(slots).size, slots.length, `duplicates in ${slots.join(' ')}`);
    for (let i = 0; i <= 10; i++) assert.ok(slots.includes(iso(START + i * 1000)), `slot ${i} ran`);
    for (let i = 1; i < runs.length; i++) assert.ok((runs[i]?.token ?? 0) > (runs[i - 1]?.token ?? 0));
    assert.equal(clock.pending, 0, 'no timers after stop');
  });

  it('never starts before the slot by the store clock, even when the store is behind the host (S3)', async () => {
    const { clock, hosts } = fleet(2, { storeSkewMs: -700 });
    const runs = every(hosts, 1000, { ttl: 3000 });
    await Promise.all(hosts.map((h) => h.start()));
    await clock.advance(5000);
    await stopAll(clock, hosts);
    assert.ok(runs.length >= 4);
    for (const r of runs)
      assert.ok(r.storeAt >= Date.parse(r.slot), `started at store time ${iso(r.storeAt)} for slot ${r.slot}`);
  });

  it('a job every 5 minutes sleeps in timers of at most a minute, re-armed, and runs each slot on time', async () => {
    const { clock, hosts } = fleet(1);
    const delays: number[] = [];
    const setTimeout = clock.setTimeout.bind(clock);
    clock.setTimeout = (fn: () => void, ms: number) => {
      delays.push(ms);
      return setTimeout(fn, ms);
    };
    const runs = every(hosts, 5 * 60_000, { ttl: 3000 });
    await Promise.all(hosts.map((h) => h.start()));
    await clock.advance(11 * 60_000);
    await stopAll(clock, hosts);
    assert.deepEqual(
      runs.map((r) => r.slot),
      [0, 5, 10].map((m) => iso(START + m * 60_000)),
    );
    for (const r of runs) {
      const late = r.storeAt - Date.parse(r.slot);
      assert.ok(late >= 0 && late < 1000, `slot ${r.slot} started ${late} ms after it`);
    }
    const longest = Math.max(...delays);
    assert.ok(longest <= 60_000, `a timer of ${longest} ms`);
    assert.ok(
      delays.filter((ms) => ms === 60_000).length >= 8,
      'the sleeps between slots were made of minute-long timers',
    );
  });

  it('a slow first store request does not push the clock estimate ahead: no slot is skipped unseen (S3, S4)', async () => {
    const clock = new FakeClock(START);
    const inner = new MemoryStore({ clock });
    const store = new FaultyStore(inner);
    let first = true;
    // The first request opens the connection: the server reads its clock at the end of 3 s.
    store.now = async () => {
      if (first) {
        first = false;
        await new Promise<void>((r) => clock.setTimeout(r, 3000));
      }
      return clock.wallNow();
    };
    const lh = new Leasehold({ store, clock, holder: 'slow-start' });
    const ran: number[] = [];
    const skipped: number[] = [];
    lh.every(500, 'job', (ctx) => void ran.push(ctx.slot.getTime() - START), { ttl: 2000, catchUp: 5000 });
    lh.on('slot:skipped', (e) => skipped.push(e.slot.getTime() - START));
    let started = false;
    const starting = lh.start().then(() => {
      started = true;
    });
    await clock.advanceUntil(() => started, 10_000, 10);
    await starting;
    const readyAt = clock.now();
    await clock.advance(4000);
    await stopAll(clock, [lh]);
    const firstDue = Math.ceil(readyAt / 500) * 500;
    for (let slot = firstDue; slot <= readyAt + 3500; slot += 500) {
      assert.ok(
        ran.includes(slot) || skipped.includes(slot),
        `slot +${slot} neither ran nor was skipped (ran ${ran.join(',')})`,
      );
    }
    assert.equal(new Set(ran).size, ran.length);
  });

  it('a host whose wall clock is 30 s ahead and whose clock sync failed does not hold the key until its imagined slot (S3, S4)', async () => {
    const clock = new FakeClock(START);
    const inner = new MemoryStore({ clock });
    // Host "ahead": its wall clock runs 30 s fast, and its first store-clock reads fail
    // (the store was restarting), so it starts out trusting its own clock.
    const aheadClock = {
      now: () => clock.now(),
      wallNow: () => clock.wallNow() + 30_000,
      setTimeout: clock.setTimeout.bind(clock),
      clearTimeout: clock.clearTimeout.bind(clock),
    };
    const aheadStore = new FaultyStore(inner);
    aheadStore.modes.now = 'fail';
    const ahead = new Leasehold({ store: aheadStore, clock: aheadClock, holder: 'ahead' });
    const good = new Leasehold({ store: new FaultyStore(inner), clock, holder: 'good' });
    const runs = every([ahead, good], 1000, { ttl: 3000, catchUp: 500 });
    const skipped: string[] = [];
    for (const h of [ahead, good])
      h.on(
        'slot:skipped',
        (e) => e.reason !== 'done-elsewhere' && skipped.push(`${e.reason} ${iso(e.slot.getTime())}`),
      );
    await ahead.start();
    await good.start();
    await clock.advance(10_000);
    await stopAll(clock, [ahead, good]);
    const slots = runs.map((r) => r.slot);
    assert.equal(new Set(slots).size, slots.length, `duplicates in ${slots.join(' ')}`);
    for (let i = 1; i <= 9; i++)
      assert.ok(
        slots.includes(iso(START + i * 1000)),
        `slot ${i} ran (ran ${slots.join(' ')}; skipped ${skipped.join(', ')})`,
      );
    for (const r of runs) assert.ok(r.storeAt >= Date.parse(r.slot), `never early: ${r.slot} at ${iso(r.storeAt)}`);
  });

  it('a store clock with whole-second resolution (Azure Date header): runs start within a tenth of a second of their slot once the clock is refined; never early (S3)', async () => {
    for (const phase of [300, 999, 1]) {
      const clock = new FakeClock(START + phase);
      const inner = new MemoryStore({ clock });
      const store = new FaultyStore(inner);
      Object.defineProperty(store, 'capabilities', { value: { ...inner.capabilities, clockResolutionMs: 1000 } });
      // Truncated to the second, as an HTTP Date header is; each read takes a 4 ms round trip.
      store.now = async () => {
        await new Promise<void>((r) => clock.setTimeout(r, 2));
        const t = Math.floor(clock.wallNow() / 1000) * 1000;
        await new Promise<void>((r) => clock.setTimeout(r, 2));
        return t;
      };
      const acquire = store.acquire.bind(store);
      store.acquire = async (req, o) => {
        const r = await acquire(req, o);
        return r.storeTime === undefined ? r : { ...r, storeTime: Math.floor(r.storeTime / 1000) * 1000 };
      };
      const lh = new Leasehold({ store, clock, holder: 'coarse' });
      const runs: { slot: number; at: number }[] = [];
      lh.every(1000, 'job', (ctx) => void runs.push({ slot: ctx.slot.getTime(), at: clock.wallNow() }), {
        ttl: 3000,
        catchUp: 500,
      });
      let started = false;
      const starting = lh.start().then(() => {
        started = true;
      });
      await clock.advanceUntil(() => started, 10_000, 1);
      await starting;
      await clock.advance(16_000);
      await stopAll(clock, [lh]);
      const late = runs.map((r) => r.at - r.slot);
      assert.ok(runs.length >= 14, `phase ${phase}: runs ${runs.length}`);
      for (const l of late) assert.ok(l >= 0, `phase ${phase}: started ${l} ms before its slot`);
      for (const l of late.slice(-4))
        assert.ok(l < 110, `phase ${phase}: started ${l} ms after its slot (all: ${late.map(Math.round).join(', ')})`);
    }
  });

  it('jitter delays each host by less than the jitter', async () => {
    const { clock, hosts } = fleet(1);
    const runs = every(hosts, 1000, { ttl: 3000, jitter: 300 });
    await hosts[0]?.start();
    await clock.advance(20_000);
    await stopAll(clock, hosts);
    const late = runs.slice(1).map((r) => r.at - Date.parse(r.slot));
    assert.ok(late.length >= 15);
    // A job wakes once the lower bound of store time passes slot + jitter (< 300 ms); that
    // bound lags by 0.1 ms per second of its sample's age (CLOCK_BOUND_DECAY; a sample is
    // at most 15 s old here), so a jitter drawn just under 300 starts up to 1.5 ms later
    // (Node 24 in CI: 300.075).
    for (const l of late) assert.ok(l >= 0 && l < 300 + 1.5, `lateness ${l}`);
    assert.ok(new Set(late).size > 3, 'jitter varies');
  });

  it('catch-up window edges: a slot starts late only inside its window (S4)', async () => {
    for (const [startOffset, expectRun] of [
      [299, true],
      [301, false],
    ] as const) {
      const clock = new FakeClock(START + startOffset);
      const store = new MemoryStore({ clock });
      const lh = new Leasehold({ store, clock, holder: 'late' });
      const runs: string[] = [];
      lh.every(1000, 'job', (ctx) => void runs.push(iso(ctx.slot.getTime())), { ttl: 3000, catchUp: 300 });
      await lh.start();
      await clock.advance(1);
      assert.equal(runs.includes(iso(START)), expectRun, `start at +${startOffset}ms: ${runs.join(',')}`);
      await clock.advance(1000);
      assert.ok(runs.includes(iso(START + 1000)), 'the next slot runs on time');
      await lh.stop();
    }
  });

  it('slots missed by every host are skipped and counted, not run in a burst (S4)', async () => {
    const { clock, hosts, inner } = fleet(1);
    // The job last ran 10 slots ago.
    const seed = await inner.acquire({ key: 'job', holder: 'old', leaseId: 'seed', ttlMs: 1000 });
    assert.ok(seed.acquired);
    if (!seed.acquired) return;
    await inner.writeState({
      key: 'job',
      leaseId: 'seed',
      token: seed.token,
      state: { v: 1, lastSlot: iso(START - 10_000), lastOutcome: 'ok', running: null, runs: [] },
    });
    await inner.release({ key: 'job', leaseId: 'seed', token: seed.token });
    const skipped: { reason: string; detail?: string }[] = [];
    hosts[0]?.on('slot:skipped', (e) => skipped.push(e));
    const runs = every(hosts, 1000, { ttl: 3000 });
    await hosts[0]?.start();
    await clock.advance(100);
    await stopAll(clock, hosts);
    assert.deepEqual(
      runs.map((r) => r.slot),
      [iso(START)],
    );
    assert.equal(hosts[0]?.jobs[0]?.stats.skipped['outside-catch-up'], 9);
    assert.ok(skipped.some((s) => s.reason === 'outside-catch-up' && /9 slots/.test(s.detail ?? '')));
  });

  it('a new job whose first holder died before recording anything: the next holder runs every slot since it started that is still in its window (S4)', async () => {
    const { clock, hosts, inner } = fleet(2);
    // The first holder of the new key took the lease and died before writing a start record.
    const ghost = await inner.acquire({ key: 'job', holder: 'ghost', leaseId: 'ghost', ttlMs: 3000 });
    assert.ok(ghost.acquired);
    const runs = every(hosts, 1000, { ttl: 3000, catchUp: 5000 });
    const skipped: string[] = [];
    for (const h of hosts)
      h.on(
        'slot:skipped',
        (e) => e.reason !== 'done-elsewhere' && skipped.push(`${e.reason} ${iso(e.slot.getTime())}`),
      );
    await Promise.all(hosts.map((h) => h.start()));
    await clock.advance(6500);
    await stopAll(clock, hosts);
    const slots = runs.map((r) => r.slot);
    assert.equal(new Set(slots).size, slots.length, `duplicates in ${slots.join(' ')}`);
    for (let i = 0; i <= 6; i++)
      assert.ok(
        slots.includes(iso(START + i * 1000)),
        `slot ${i} ran (ran ${slots.join(' ')}; skipped ${skipped.join(', ')})`,
      );
    assert.ok((runs[0]?.at ?? 0) >= START + 3000, 'the first run came when the dead lease expired');
  });

  it("a store that lost the job's state (Redis restarted without persistence) does not make done slots run again", async () => {
    const { clock, hosts, inner } = fleet(1);
    const runs = every(hosts, 1000, { ttl: 3000, catchUp: 5000 });
    await hosts[0]?.start();
    await clock.advance(5500);
    assert.equal(runs.length, 6);
    // Wipe the state, as a restarted Redis without persistence would (tokens go on).
    const wiper = await inner.acquire({ key: 'job', holder: 'wiper', leaseId: 'wiper', ttlMs: 100 });
    assert.ok(wiper.acquired);
    if (!wiper.acquired) return;
    await inner.writeState({ key: 'job', leaseId: 'wiper', token: wiper.token, state: null });
    await inner.release({ key: 'job', leaseId: 'wiper', token: wiper.token });
    await clock.advance(3000);
    await stopAll(clock, hosts);
    const slots = runs.map((r) => r.slot);
    assert.deepEqual(
      slots,
      Array.from({ length: 9 }, (_, i) => iso(START + i * 1000)),
      'each slot once, in order',
    );
    const st = parseJobState((await inner.inspect('job'))?.state);
    assert.equal(st.lastSlot, iso(START + 8000));
  });

  it("overlap 'skip': slots that come while a run is going are skipped and counted (S5)", async () => {
    const { clock, hosts } = fleet(2);
    const runs = every(hosts, 1000, { ttl: 3000 }, () => sleepFake(clock, 2500));
    await Promise.all(hosts.map((h) => h.start()));
    await clock.advance(9000);
    await stopAll(clock, hosts, { grace: 5000 });
    const ran = runs.map((r) => (Date.parse(r.slot) - START) / 1000);
    assert.deepEqual(ran.slice(0, 3), [0, 3, 6], `ran slots ${ran}`);
    const overlaps = hosts.reduce((n, h) => n + (h.jobs[0]?.stats.skipped.overlap ?? 0), 0);
    assert.ok(overlaps >= 4, `overlaps counted: ${overlaps}`);
  });

  it("overlap 'buffer-one': the newest slot that came during a run runs right after it (S5)", async () => {
    const { clock, hosts } = fleet(2);
    const runs = every(hosts, 1000, { ttl: 3000, overlap: 'buffer-one' }, () => sleepFake(clock, 2200));
    await Promise.all(hosts.map((h) => h.start()));
    await clock.advance(7000);
    await stopAll(clock, hosts, { grace: 5000 });
    const ran = runs.map((r) => (Date.parse(r.slot) - START) / 1000);
    assert.deepEqual(ran.slice(0, 3), [0, 2, 4], `ran slots ${ran}`);
    assert.ok(
      runs[1] && runs[1].at - START >= 2200 && runs[1].at - START < 2400,
      `slot 2 started at +${(runs[1]?.at ?? 0) - START}`,
    );
  });

  it('retries inside the slot with exponential backoff', async () => {
    const { clock, hosts } = fleet(1);
    let n = 0;
    const runs = every(hosts, 10_000, { ttl: 3000, retry: { attempts: 3, backoff: 100 } }, () => {
      if (++n < 3) throw new Error(`fail ${n}`);
    });
    const errors: boolean[] = [];
    hosts[0]?.on('run:error', (e) => errors.push(e.final));
    await hosts[0]?.start();
    await clock.advance(1000);
    await stopAll(clock, hosts);
    assert.deepEqual(
      runs.map((r) => [r.attempt, r.at - START]),
      [
        [1, 0],
        [2, 100],
        [3, 300],
      ],
    );
    assert.deepEqual(errors, [false, false]);
    const st = parseJobState((await hosts[0]?.store.inspect('job'))?.state);
    assert.equal(st.lastOutcome, 'ok');
    assert.equal(st.runs[0]?.attempts, 3);
  });

  it('a handler that first reads ctx.signal after its run was aborted finds it aborted, with the reason (L4, S8)', async () => {
    const { clock, hosts } = fleet(1);
    const late: { aborted: boolean; reason: unknown }[] = [];
    every(hosts, 1000, { ttl: 3000, timeout: 300 }, async (ctx) => {
      await sleepFake(clock, 500); // past its timeout, never having looked at the signal
      late.push({ aborted: ctx.signal.aborted, reason: ctx.signal.reason });
    });
    await hosts[0]?.start();
    await clock.advance(1700);
    await stopAll(clock, hosts);
    assert.ok(late.length >= 1, `late reads: ${late.length}`);
    for (const read of late) {
      assert.equal(read.aborted, true);
      assert.match(String((read.reason as Error).message), /timed out after 300ms/);
    }
  });

  it('a hanging handler is aborted by its timeout and the schedule goes on (S8)', async () => {
    const { clock, hosts } = fleet(1);
    const signals: AbortSignal[] = [];
    const runs = every(hosts, 1000, { ttl: 3000, timeout: 300 }, (ctx) => {
      signals.push(ctx.signal);
      return new Promise(() => {}); // hangs and ignores its signal
    });
    const errs: unknown[] = [];
    hosts[0]?.on('run:error', (e) => errs.push(e.error));
    await hosts[0]?.start();
    await clock.advance(3500);
    await stopAll(clock, hosts);
    assert.ok(runs.length >= 4, `runs: ${runs.length}`);
    assert.ok(signals.every((s) => s.aborted));
    assert.match(String((errs[0] as Error).message), /timed out after 300ms/);
    const st = parseJobState((await hosts[0]?.store.inspect('job'))?.state);
    assert.equal(st.runs[0]?.outcome, 'timeout');
  });

  it('a throwing handler is reported with key, slot, token and holder, and the schedule goes on (S8)', async () => {
    const { clock, hosts } = fleet(1);
    const runs = every(hosts, 1000, { ttl: 3000 }, () => {
      throw new Error('handler exploded');
    });
    const reports: string[] = [];
    hosts[0]?.on('run:error', (e) =>
      reports.push(`${e.key} ${iso(e.slot.getTime())} ${e.token} ${e.holder} ${(e.error as Error).message}`),
    );
    await hosts[0]?.start();
    await clock.advance(2500);
    await stopAll(clock, hosts);
    assert.equal(runs.length, 3);
    assert.equal(reports[0], `job ${iso(START)} 1 host0 handler exploded`);
    const st = parseJobState((await hosts[0]?.store.inspect('job'))?.state);
    assert.equal(st.lastOutcome, 'error');
    assert.equal(st.runs[0]?.error, 'handler exploded');
  });

  it('with a logger: run lines and ctx.log carry key, slot and token; a failed run adds the holder (S8)', async () => {
    const clock = new FakeClock(START);
    const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
    const line = (level: string) => (fields: object, msg?: string) =>
      lines.push({ level, msg: msg ?? '', fields: fields as Record<string, unknown> });
    const logger = { info: line('info'), warn: line('warn'), error: line('error') };
    const lh = new Leasehold({ store: new MemoryStore({ clock }), clock, holder: 'host0', logger, placement: false });
    let calls = 0;
    lh.every(1000, 'job', (ctx) => {
      calls++;
      ctx.log.info({ step: calls }, 'inside');
      if (calls === 2) throw new Error('second try exploded');
    });
    // The default (silent) logger: ctx.log is there and writes nowhere.
    const quiet = new Leasehold({ store: new MemoryStore({ clock }), clock, placement: false });
    let quietLogged = false;
    quiet.every(1000, 'quiet', (ctx) => {
      ctx.log.info({}, 'nobody hears this');
      quietLogged = true;
    });
    await lh.start();
    await quiet.start();
    await clock.advance(1500);
    await stopAll(clock, [lh, quiet]);
    assert.ok(quietLogged);
    const slot0 = iso(START);
    const slot1 = iso(START + 1000);
    const pick = (msg: string) => lines.filter((l) => l.msg === msg).map((l) => l.fields);
    assert.deepEqual(pick('run started')[0], { key: 'job', slot: slot0, token: 1, attempt: 1 });
    assert.deepEqual(pick('inside'), [
      { key: 'job', slot: slot0, token: 1, step: 1 },
      { key: 'job', slot: slot1, token: 2, step: 2 },
    ]);
    const succeeded = pick('run succeeded')[0];
    assert.equal(succeeded?.slot, slot0);
    assert.equal(typeof succeeded?.durationMs, 'number');
    const failed = lines.find((l) => l.msg === 'run failed');
    assert.equal(failed?.level, 'error');
    assert.deepEqual(
      { ...failed?.fields },
      {
        key: 'job',
        slot: slot1,
        token: 2,
        holder: 'host0',
        attempt: 1,
        outcome: 'error',
        err: 'second try exploded',
      },
    );
  });

  const failovers = [
    ['at-least-once', undefined],
    ['at-most-once', undefined],
    // With placement, the silent host's jobs move once its liveness lease expires; at two
    // thirds of the job's TTL that comes first, so the job's TTL still bounds the takeover.
    ['at-least-once', 666],
    ['at-most-once', 666],
  ] as const;
  for (const [delivery, placementTtlMs] of failovers) {
    const mode = placementTtlMs === undefined ? '' : `, placement ${placementTtlMs}ms`;
    it(`failover when the runner goes silent mid-run (${delivery}${mode}, S6)`, async () => {
      const { clock, hosts, stores } = fleet(2, placementTtlMs === undefined ? {} : { placementTtlMs });
      const ttl = 1000;
      const runs: Run[] = [];
      let first = true;
      let silentAt = 0;
      for (const [i, h] of hosts.entries()) {
        h.every(
          10_000,
          'job',
          async (ctx) => {
            runs.push({
              slot: iso(ctx.slot.getTime()),
              holder: ctx.holder,
              token: ctx.token,
              attempt: 1,
              at: clock.wallNow(),
              storeAt: 0,
            });
            if (first) {
              first = false;
              // This host freezes: its store calls stall from now on, and the handler never returns.
              (stores[i] as FaultyStore).mode = 'stall';
              silentAt = clock.now();
              await new Promise(() => {});
            }
          },
          { ttl, delivery, catchUp: 5000 },
        );
      }
      const skipped: string[] = [];
      for (const h of hosts) h.on('slot:skipped', (e) => skipped.push(`${e.reason}`));
      await Promise.all(hosts.map((h) => h.start()));
      // With placement, the new owner first sees the dead run's start record in a busy
      // answer (settled, at-most-once: not re-run); the slot's `lost` record is written by
      // the next slot's holder.
      await clock.advance(delivery === 'at-most-once' && placementTtlMs !== undefined ? 11_000 : 4000);
      if (delivery === 'at-least-once') {
        assert.equal(runs.length, 2, 'the slot is re-run elsewhere');
        assert.equal(runs[0]?.slot, runs[1]?.slot);
        assert.notEqual(runs[0]?.holder, runs[1]?.holder);
        assert.ok((runs[1]?.token ?? 0) > (runs[0]?.token ?? 0), 'the re-run has a higher token');
        const takeover = (runs[1]?.at ?? 0) - START - silentAt;
        assert.ok(takeover <= ttl + 100, `took over after ${takeover}ms (ttl ${ttl})`);
      } else {
        assert.equal(runs.filter((run) => run.slot === iso(START)).length, 1, 'never re-run');
        assert.ok(skipped.includes('lost'), skipped.join());
        const st = parseJobState((await stores[1]?.inner.inspect('job'))?.state);
        assert.equal(st.runs.find((run) => run.slot === iso(START))?.outcome, 'lost');
      }
      for (const s of stores) s.mode = 'pass';
      await stopAll(clock, hosts, { grace: 0 });
    });
  }

  it('a slot whose key another kind of client holds, with no expiry in the busy answer, runs once it lets go (S4)', async () => {
    const clock = new FakeClock(START);
    const inner = new MemoryStore({ clock });
    // The other client (the origin post's worker on the same blob) holds the key over the
    // slot's instant and lets go 500 ms after it. Our host's store, like Azure, answers
    // "busy" with no expiry and no state.
    const foreign = await inner.acquire({ key: 'job', holder: 'dotnet-worker', leaseId: 'post', ttlMs: 60_000 });
    assert.ok(foreign.acquired);
    clock.setTimeout(() => void inner.release({ key: 'job', leaseId: 'post', token: foreign.token }), 500);
    const lh = new Leasehold({ store: withoutBusyDetails(inner), clock, holder: 'host0' });
    const runs = every([lh], 2000, { ttl: 3000 });
    await lh.start();
    await clock.advance(4500);
    await stopAll(clock, [lh]);
    assert.deepEqual(
      runs.map((run) => run.slot),
      [iso(START), iso(START + 2000), iso(START + 4000)],
      'the slot held by the other client ran too',
    );
    const late = (runs[0]?.at ?? 0) - START;
    assert.ok(late >= 500 && late <= 500 + 400, `slot 0 started ${late} ms late (the key was free at 500 ms)`);
  });

  it('stop() lets runs finish within grace, then aborts them, and leaves no lease held (S7)', async () => {
    const { clock, hosts, inner } = fleet(1);
    let signal: AbortSignal | undefined;
    every(hosts, 1000, { ttl: 3000 }, (ctx) => {
      signal = ctx.signal;
      return new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    });
    await hosts[0]?.start();
    await clock.advance(10);
    assert.equal((await inner.inspect('job'))?.holder, 'host0');
    const stopped = hosts[0]?.stop({ grace: 500 });
    await clock.advance(499);
    assert.equal(signal?.aborted, false, 'not aborted before grace');
    await clock.advance(2);
    assert.equal(signal?.aborted, true);
    await stopped;
    const rec = await inner.inspect('job');
    assert.equal(rec?.holder, null, 'no lease held after stop');
    const st = parseJobState(rec?.state);
    assert.equal(st.runs[0]?.outcome, 'aborted');
    assert.equal(st.lastSlot, null, 'an aborted slot is not recorded as done');
    assert.equal(clock.pending, 0);
  });

  it('validates options at registration with ConfigErrors naming the value', () => {
    const { hosts } = fleet(1);
    const lh = hosts[0] as Leasehold;
    assert.throws(() => lh.every('soon', 'a', () => {}), /interval: invalid duration "soon"/);
    assert.throws(() => lh.cron('61 * * * *', 'b', () => {}), ConfigError);
    assert.throws(() => lh.cron('* * * * *', 'c', () => {}, { timezone: 'Nowhere/City' }), /Nowhere\/City/);
    assert.throws(
      () => lh.every('1s', 'd', () => {}, { overlap: 'queue' as 'skip' }),
      /overlap: expected "skip" or "buffer-one", got "queue"/,
    );
    assert.throws(() => lh.every('1s', 'e', () => {}, { retry: { attempts: 0 } }), /retry.attempts/);
    assert.throws(() => lh.every('1s', 'f', () => {}, { timezone: 'UTC' }), /only cron jobs take a timezone/);
    lh.every('1s', 'g', () => {});
    assert.throws(() => lh.every('1s', 'g', () => {}), /already scheduled/);
  });
});

describe('scheduler: jobs due at one instant', () => {
  it(`keep at most ${MAX_SLOT_ACQUIRES_IN_FLIGHT} slot acquires in flight; the rest take turns, every slot runs once, and stop() ends the waiting ones`, async () => {
    const clock = new FakeClock(START);
    const inner = new MemoryStore({ clock: { wallNow: () => clock.wallNow() } });
    const store = new FaultyStore(inner);
    let inFlight = 0;
    let most = 0;
    const acquire = store.acquire.bind(store);
    // Each acquire answers 5 ms later: long enough for every due job to ask at once.
    store.acquire = async (req, o) => {
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        await sleepFake(clock, 5);
        return await acquire(req, o);
      } finally {
        inFlight--;
      }
    };
    const lh = new Leasehold({ store, clock, holder: 'burst' });
    const jobs = 300;
    const runs = new Map<string, number>();
    for (let i = 0; i < jobs; i++) {
      lh.every(
        1000,
        `job-${i}`,
        (ctx) => {
          const id = `${ctx.key} ${ctx.slot.toISOString()}`;
          runs.set(id, (runs.get(id) ?? 0) + 1);
        },
        { ttl: 3000 },
      );
    }
    let started = false;
    const starting = lh.start().then(() => {
      started = true;
    });
    await clock.advanceUntil(() => started, 10_000, 1);
    await starting;
    await clock.advance(3_500);
    assert.equal(most, MAX_SLOT_ACQUIRES_IN_FLIGHT, 'the bound was reached, never passed');
    // Slots 1 s, 2 s and 3 s after the start: every job ran each of them once.
    for (const t of [1000, 2000, 3000]) {
      const slot = iso(START + t);
      for (let i = 0; i < jobs; i++) assert.equal(runs.get(`job-${i} ${slot}`), 1, `job-${i} ${slot}`);
    }
    assert.ok([...runs.values()].every((n) => n === 1));
    // Stop while the next slot's acquires wait their turn: it ends without running them.
    assert.ok(await clock.advanceUntil(() => inFlight > 0, 1000, 1), "the next slot's acquires began");
    const before = runs.size;
    await stopAll(clock, [lh]);
    assert.ok(runs.size - before <= MAX_SLOT_ACQUIRES_IN_FLIGHT, `${runs.size - before} runs after stop() was called`);
  });
});

async function stopAll(clock: FakeClock, hosts: Leasehold[], opts: { grace?: number } = {}): Promise<void> {
  let done = false;
  const stopped = Promise.all(hosts.map((h) => h.stop(opts))).finally(() => {
    done = true;
  });
  await clock.advanceUntil(() => done, 60_000, 50);
  await stopped;
}

/** `inner` as a store whose busy answers carry no expiry and no state, as Azure's do. */
function withoutBusyDetails(inner: MemoryStore): LeaseStore {
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'acquire') {
        return async (...args: Parameters<LeaseStore['acquire']>): Promise<AcquireResult> => {
          const answer = await target.acquire(...args);
          if (answer.acquired) return answer;
          return answer.holder === undefined ? { acquired: false } : { acquired: false, holder: answer.holder };
        };
      }
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function sleepFake(clock: FakeClock, ms: number): Promise<void> {
  return new Promise((r) => clock.setTimeout(r, ms));
}
