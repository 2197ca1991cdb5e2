import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { checkAtMostOnceKill, checkOncePerSlot, checkTakeover } from './helpers/fleet.js';
import { startAzurite, type Azurite } from './helpers/azurite.js';

let az: Azurite;
before(async () => {
  az = await startAzurite();
  // Worker processes inherit the environment: azure-blob://<container> reads it.
  process.env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
});
after(async () => {
  await az?.stop();
});

it('azure-blob: 3 processes, a job every 1s for 20s (ttl 15s): each middle slot ran exactly once; stop leaves no lease', async () => {
  await checkOncePerSlot('azure-blob://fleet-once', { ttl: '15s', ttlMs: 15_000 });
});

it('azure-blob: kill -9 of the runner mid-slot is taken over within TTL + one poll, with a higher token', async () => {
  const { takeoverMs } = await checkTakeover('azure-blob://fleet-takeover', {
    ttl: '15s',
    ttlMs: 15_000,
    catchUp: '20s',
  });
  console.log(`azure-blob takeover after kill -9: ${takeoverMs}ms (ttl 15s)`);
  assert.ok(takeoverMs <= 15_000 + 1000, `takeover ${takeoverMs}ms`);
});

it('azure-blob, at-most-once: a slot whose runner is killed mid-run is recorded lost, never re-run', async () => {
  // Every 2 s: the 15 s lease of the killed holder covers 7 slots instead of 15, so the
  // lost run stays within the 20-entry history the test reads back.
  await checkAtMostOnceKill('azure-blob://fleet-at-most-once', {
    ttl: '15s',
    ttlMs: 15_000,
    catchUp: '20s',
    interval: '2s',
  });
});
