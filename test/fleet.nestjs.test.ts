import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { checkOncePerSlot, checkTakeover } from './helpers/fleet.js';

// Three NestJS application processes (LeaseholdModule, an @Every('1s') provider method,
// shutdown hooks) on one folder store.
const worker = 'test/fixtures/nestjs-worker.ts';
// Loading Nest takes seconds per process on a loaded machine.
const startMs = 120_000;
const url = () => `file:${mkdtempSync(join(tmpdir(), 'leasehold-fleet-nest-'))}`;

it('NestJS, 3 processes: @Every("1s") runs each middle slot exactly once; SIGTERM leaves no lease', async () => {
  await checkOncePerSlot(url(), { ttl: '3s', ttlMs: 3000, durationMs: 20_000, worker, startMs });
});

it('NestJS, kill -9 of the runner mid-slot: taken over within TTL + one poll, with a higher token', async () => {
  const ttlMs = 1500;
  const { takeoverMs } = await checkTakeover(url(), { ttl: '1500ms', ttlMs, catchUp: '5s', worker, startMs });
  console.log(`takeover after kill -9: ${takeoverMs}ms (ttl ${ttlMs}ms)`);
  assert.ok(takeoverMs <= ttlMs + 1000, `takeover ${takeoverMs}ms`);
});
