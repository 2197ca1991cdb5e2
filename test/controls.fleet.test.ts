/**
 * Operator controls across a real fleet: 3 worker processes run a job every second on one
 * store while the built CLI pauses, resumes, triggers and backfills it (issue 15, "Done
 * when": pause and resume across 3 processes; a trigger runs exactly once; a backfill of N
 * missed slots runs exactly those N, once each).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, it } from 'node:test';
import { openStore } from '../src/open.js';
import { parseJobState } from '../src/scheduler/state.js';
import { type BuiltCli, buildCli } from './helpers/cli.js';
import { type Line, runFleet } from './helpers/fleet.js';

let cli: BuiltCli;
before(async () => {
  cli = await buildCli();
});
after(() => cli?.cleanup());

const second = (wall: number) => Math.ceil(wall / 1000) * 1000;

it('folder store, 3 processes: pause, resume, trigger and backfill through the CLI act on the whole fleet', async () => {
  const url = `file:${mkdtempSync(join(tmpdir(), 'leasehold-controls-'))}`;
  // pausedAt and resumedAt: when the CLI returned; resumeSentAt: when the resume was asked
  // (it may take effect any time in between: a loaded machine once took over a second).
  const marks: {
    pausedAt: number;
    resumeSentAt: number;
    resumedAt: number;
    triggeredAt: number;
    backfill: string[];
  } = {
    pausedAt: 0,
    resumeSentAt: 0,
    resumedAt: 0,
    triggeredAt: 0,
    backfill: [],
  };
  const control = async (args: string[]) => {
    const result = await cli.run([...args, '--store', url, '--by', 'test-operator']);
    assert.equal(result.code, 0, `leasehold ${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stdout.trim().split('\n').length, 1, `one line: ${result.stdout}`);
    return result.stdout;
  };
  const run = await runFleet({
    url,
    processes: 3,
    durationMs: 0,
    interval: '1s',
    ttl: '3s',
    ttlMs: 3000,
    workMs: 100,
    act: async ({ key }) => {
      await sleep(3000);
      assert.match(await control(['pause', '--key', key]), /paused \(by test-operator\)/);
      marks.pausedAt = Date.now();
      await sleep(4500);
      marks.resumeSentAt = Date.now();
      assert.match(await control(['resume', '--key', key]), /resumed \(was paused by test-operator/);
      marks.resumedAt = Date.now();
      await sleep(2500);
      assert.match(await control(['trigger', '--key', key]), /triggered/);
      marks.triggeredAt = Date.now();
      await sleep(3000);
      // The slots recorded as paused are the missed ones: backfill them.
      const store = await openStore(url);
      const state = parseJobState((await store.inspect(key))?.state ?? null);
      await store.close();
      marks.backfill = state.runs.filter((r) => /paused by test-operator/.test(r.error ?? '')).map((r) => r.slot);
      assert.ok(marks.backfill.length >= 3, `slots recorded as paused: ${JSON.stringify(state.runs)}`);
      const sorted = [...marks.backfill].sort();
      const out = await control(['backfill', '--key', key, '--from', sorted[0] ?? '', '--to', sorted.at(-1) ?? '']);
      assert.match(out, new RegExp(`${marks.backfill.length} missed slots? to run`));
      await sleep(4000);
    },
  });
  const starts = run.lines.filter((line) => line.ev === 'start');
  const scheduled = starts.filter((line) => !line.operator).map((line) => Date.parse(line.slot ?? ''));
  const lastBeforePause = second(marks.pausedAt);
  const during = scheduled.filter((slot) => slot > lastBeforePause && slot <= marks.resumeSentAt);
  assert.deepEqual(during, [], 'no scheduled run started after the slot following the pause, until the resume');
  for (let slot = second(marks.resumedAt) + 1000; slot < marks.triggeredAt; slot += 1000) {
    assert.ok(scheduled.includes(slot), `slot ${new Date(slot).toISOString()} after the resume ran`);
  }
  assert.equal(new Set(scheduled).size, scheduled.length, 'no scheduled slot twice');
  const triggered = starts.filter((line: Line) => line.operator === 'trigger');
  assert.equal(triggered.length, 1, 'the trigger ran exactly once');
  const backfilled = starts.filter((line: Line) => line.operator === 'backfill').map((line) => line.slot);
  assert.deepEqual(backfilled, [...marks.backfill].sort(), 'exactly the missed slots, oldest first, once each');
});
