import assert from 'node:assert/strict';
import { it } from 'node:test';
import { checkAtMostOnceKill, checkOncePerSlot, checkTakeover } from './helpers/fleet.js';

// The machine's Redis; each run uses fresh random keys.
const url = 'redis://127.0.0.1:6379';

it('redis: 3 processes, a job every 1s for 20s: each middle slot ran exactly once; stop leaves no lease', async () => {
  await checkOncePerSlot(url, { ttl: '3s', ttlMs: 3000 });
});

it('redis: kill -9 of the runner mid-slot is taken over within TTL + one poll, with a higher token', async () => {
  const { takeoverMs } = await checkTakeover(url, { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' });
  console.log(`redis takeover after kill -9: ${takeoverMs}ms (ttl 1500ms)`);
  assert.ok(takeoverMs <= 1500 + 1000, `takeover ${takeoverMs}ms`);
});

it('redis, at-most-once: a slot whose runner is killed mid-run is recorded lost, never re-run', async () => {
  await checkAtMostOnceKill(url, { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' });
});
