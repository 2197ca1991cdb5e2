import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { checkAtMostOnceKill, checkOncePerSlot, checkPlacementTakeover, checkTakeover } from './helpers/fleet.js';
import { startNatsServer, type NatsServer } from './helpers/nats-server.js';

// A private nats-server; each run uses fresh random keys in its own bucket.
let server: NatsServer;
let url: string;
before(async () => {
  server = await startNatsServer();
  url = `${server.url}/fleet-${randomUUID().slice(0, 8)}`;
});
after(async () => {
  await server?.stop();
});

it('nats: 3 processes, a job every 1s for 20s: each middle slot ran exactly once; stop leaves no lease', async () => {
  await checkOncePerSlot(url, { ttl: '3s', ttlMs: 3000 });
});

it('nats: kill -9 of the runner mid-slot is taken over within TTL + one poll, with a higher token', async () => {
  const { takeoverMs } = await checkTakeover(url, { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' });
  console.log(`nats takeover after kill -9: ${takeoverMs}ms (ttl 1500ms)`);
  assert.ok(takeoverMs <= 1500 + 1000, `takeover ${takeoverMs}ms`);
});

it('nats, at-most-once: a slot whose runner is killed mid-run is recorded lost, never re-run', async () => {
  await checkAtMostOnceKill(url, { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' });
});

it('nats, placement: 3 processes share 6 jobs; kill -9 of an owner moves its jobs within TTL + one heartbeat + 1 s (P3)', async () => {
  const { takeoverMs, moved } = await checkPlacementTakeover(url, { ttl: '1500ms', ttlMs: 1500 });
  console.log(`nats placement takeover after kill -9: ${takeoverMs}ms for ${moved} jobs (liveness ttl 1500ms)`);
});
