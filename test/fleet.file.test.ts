import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { checkAtMostOnceKill, checkOncePerSlot, checkPlacementTakeover, checkTakeover } from './helpers/fleet.js';

const url = () => `file:${mkdtempSync(join(tmpdir(), 'leasehold-fleet-store-'))}`;

it('folder store: 3 processes, a job every 1s for 20s: each middle slot ran exactly once; stop leaves no lease', async () => {
  await checkOncePerSlot(url(), { ttl: '3s', ttlMs: 3000 });
});

it('folder store: kill -9 of the runner mid-slot: taken over within TTL + one poll, with a higher token', async () => {
  const ttlMs = 1500;
  const { takeoverMs } = await checkTakeover(url(), { ttl: '1500ms', ttlMs, catchUp: '5s' });
  console.log(`takeover after kill -9: ${takeoverMs}ms (ttl ${ttlMs}ms)`);
  assert.ok(takeoverMs <= ttlMs + 1000, `takeover ${takeoverMs}ms`);
});

it('folder store, at-most-once: a slot whose runner is killed mid-run is recorded lost, never re-run', async () => {
  await checkAtMostOnceKill(url(), { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' });
});

it('folder store, placement: 3 processes share 6 jobs; kill -9 of an owner moves its jobs within TTL + one heartbeat + 1 s (P3)', async () => {
  const { takeoverMs, moved } = await checkPlacementTakeover(url(), { ttl: '1500ms', ttlMs: 1500 });
  console.log(`placement takeover after kill -9: ${takeoverMs}ms for ${moved} jobs (liveness ttl 1500ms)`);
});
