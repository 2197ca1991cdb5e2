import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import cron from 'node-cron';
import { ConfigError, Leasehold } from '../src/index.js';
import { leaseholdCoordinator } from '../src/node-cron/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { checkOncePerSlot } from './helpers/fleet.js';

it('coordinator: one host claims a fire; the other, and a late fire after release, are refused; next slot is free', async () => {
  const store = new MemoryStore();
  const [a, b] = ['a', 'b'].map((holder) => leaseholdCoordinator(new Leasehold({ store, holder })));
  assert.ok(a && b);
  const slot = '2026-12-01T10:00:00.000Z';
  assert.equal(await a.shouldRun(`report:${slot}`, 5000), true);
  assert.equal(await b.shouldRun(`report:${slot}`, 5000), false, 'held: refused');
  const lease = a.leaseOf({ date: new Date(slot), task: { name: 'report' } });
  assert.equal(typeof lease?.token, 'number');
  assert.equal(lease?.signal.aborted, false);
  await a.onComplete(`report:${slot}`);
  assert.equal(lease?.held, false, 'released on completion');
  assert.equal(await b.shouldRun(`report:${slot}`, 5000), false, 'late fire of a slot already run: refused');
  assert.equal(await b.shouldRun(`report:2026-12-01T10:00:01.000Z`, 5000), true, 'the next slot');
  await b.onComplete(`report:2026-12-01T10:00:01.000Z`);
  const record = await store.inspect('report');
  assert.equal(record?.holder ?? null, null);
  assert.deepEqual(record?.state, { v: 1, slot: '2026-12-01T10:00:01.000Z', holder: 'b', token: 3, phase: 'ok' });
  await assert.rejects(a.shouldRun('no-slot-here', 5000), ConfigError);
  assert.throws(() => leaseholdCoordinator(new Leasehold({ store }), { tll: '1s' } as never), /did you mean "ttl"/);
});

it('real node-cron: two schedulers with one distributed task run each second once between them', async () => {
  const store = new MemoryStore();
  const runs: { holder: string; slot: string; token: number | undefined }[] = [];
  const skipped: string[] = [];
  const tasks = ['a', 'b'].map((holder) => {
    const coordinator = leaseholdCoordinator(new Leasehold({ store, holder }), { prefix: 'cron/' });
    const task = cron.createTask(
      '* * * * * *',
      async (ctx) => {
        runs.push({ holder, slot: ctx.date.toISOString(), token: coordinator.leaseOf(ctx)?.token });
        await sleep(100);
      },
      { name: 'sweep', distributed: true, runCoordinator: coordinator },
    );
    task.on('execution:skipped', (ctx) => {
      skipped.push(String(ctx.reason));
    });
    return task;
  });
  await Promise.all(tasks.map((task) => task.start()));
  await sleep(3500);
  await Promise.all(tasks.map((task) => task.destroy()));
  await sleep(300);
  const slots = runs.map((run) => run.slot);
  assert.ok(slots.length >= 2, `runs: ${slots.length}`);
  assert.equal(new Set(slots).size, slots.length, `each slot once: ${JSON.stringify(runs)}`);
  assert.ok(skipped.length >= 2 && skipped.every((reason) => reason === 'not-elected'), skipped.join());
  assert.ok(runs.every((run) => typeof run.token === 'number'));
  assert.equal((await store.inspect('cron/sweep'))?.holder ?? null, null);
});

it('node-cron, 3 processes on a folder store: a distributed task every second runs each middle slot exactly once', async () => {
  const url = `file:${mkdtempSync(join(tmpdir(), 'leasehold-fleet-cron-'))}`;
  await checkOncePerSlot(url, {
    ttl: '3s',
    ttlMs: 3000,
    durationMs: 15_000,
    worker: 'test/fixtures/node-cron-worker.ts',
    startMs: 60_000,
  });
});
