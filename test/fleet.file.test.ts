import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { checkOncePerSlot, checkTakeover, perSlot, runFleet } from './helpers/fleet.js';

const url = () => `file:${mkdtempSync(join(tmpdir(), 'leasehold-fleet-store-'))}`;

it('folder store: 3 processes, a job every 1s for 30s: each middle slot ran exactly once; stop leaves no lease', async () => {
  await checkOncePerSlot(url(), { ttl: '3s', ttlMs: 3000 });
});

it('folder store: kill -9 of the runner mid-slot: taken over within TTL + one poll, with a higher token', async () => {
  const ttlMs = 1500;
  const { takeoverMs } = await checkTakeover(url(), { ttl: '1500ms', ttlMs, catchUp: '5s' });
  console.log(`takeover after kill -9: ${takeoverMs}ms (ttl ${ttlMs}ms)`);
  assert.ok(takeoverMs <= ttlMs + 1000, `takeover ${takeoverMs}ms`);
});

it('folder store, at-most-once: a slot whose runner is killed mid-run is recorded lost, never re-run', async () => {
  const r = await runFleet({ url: url(), processes: 3, durationMs: 9000, interval: '1s', ttl: '1500ms', ttlMs: 1500, catchUp: '5s', delivery: 'at-most-once', workMs: 300, killAtMs: 4000 });
  const slot = r.killed?.slot as string;
  const e = perSlot(r.lines).get(slot);
  assert.equal(e?.starts.length, 1, 'never re-run');
  assert.equal(e?.ends.length ?? 0, 0);
  assert.ok(r.lines.some((l) => l.ev === 'skip' && l.reason === 'lost' && l.slot === slot), 'recorded as lost');
  const state = (r.lines as unknown as { state: { runs: { slot: string; outcome: string }[] } }).state;
  assert.ok(state.runs.some((x) => x.slot === slot && x.outcome === 'lost'), 'the run history says lost');
});
