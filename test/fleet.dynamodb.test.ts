import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { type DynaliteServer, startDynalite } from './helpers/dynalite-server.js';
import { checkAtMostOnceKill, checkOncePerSlot, checkPlacementTakeover, checkTakeover } from './helpers/fleet.js';

// A private dynalite; every worker opens the store by URL (createTable=true), each run on fresh keys.
let server: DynaliteServer;
let url: string;
before(async () => {
  server = await startDynalite();
  url = server.url(`fleet-${randomUUID().slice(0, 8)}`);
});
after(async () => {
  await server?.stop();
});

it('dynamodb: 3 processes, a job every 1s for 20s: every middle slot ran once; stop leaves no lease', async () => {
  await checkOncePerSlot(url, { ttl: '3s', ttlMs: 3000 });
});

it('dynamodb: kill -9 of the runner mid-slot is taken over within TTL + 2 s + one poll, higher token', async () => {
  const { takeoverMs } = await checkTakeover(url, { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' });
  console.log(`dynamodb takeover after kill -9: ${takeoverMs}ms (ttl 1500ms)`);
  // The Date header's 1 s resolution may add up to about a second on each side (docs, "Clock").
  assert.ok(takeoverMs <= 1500 + 2000 + 1000, `takeover ${takeoverMs}ms`);
});

it('dynamodb, at-most-once: a slot whose runner is killed mid-run is recorded lost, never re-run', async () => {
  await checkAtMostOnceKill(url, { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' });
});

it('dynamodb, placement: 3 processes share 6 jobs; kill -9 of an owner moves its jobs within TTL + one heartbeat + 1 s (P3)', async () => {
  const { takeoverMs, moved } = await checkPlacementTakeover(url, { ttl: '1500ms', ttlMs: 1500 });
  console.log(`dynamodb placement takeover after kill -9: ${takeoverMs}ms for ${moved} jobs (liveness ttl 1500ms)`);
});
