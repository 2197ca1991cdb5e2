/**
 * The fencing helpers under faults (faults/fence.ts, short runs; longer runs and figures in
 * docs/reliability.md): worker processes take turns holding a real lease and write through
 * one helper to a real resource — a PostgreSQL table, a Redis key, an Azurite blob, an HTTP
 * server behind the middleware — while the test kills them (kill -9), pauses them past the
 * TTL and partitions them from the lease store and the resource. 0 stale writes accepted,
 * every refusal the stale one, and at least one stale write was made and refused.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { type FenceRunResult, formatResult, runFenceFaults } from '../faults/fence.js';
import type { FenceResource } from '../faults/fence-worker.js';

function assertFenced(result: FenceRunResult): void {
  const shown = formatResult(result);
  assert.deepEqual(result.staleAccepted, [], shown);
  assert.deepEqual(result.badRefusals, [], shown);
  assert.deepEqual(result.forks, [], shown);
  assert.ok(result.accepted >= 20, `too few writes to judge\n${shown}`);
  const staleRefused = result.acrossFaults.pause.refused + result.acrossFaults.partition.refused;
  assert.ok(staleRefused >= 1, `no stale write was sent across a pause or a partition\n${shown}`);
}

describe('fencing helpers under kill -9, pauses and partitions (short runs)', () => {
  // Azurite's conditional uploads are the slowest writes: 10 s of faults on a loaded CI
  // machine once gave 9 writes, too few to judge; it gets 20 s.
  const runs: [FenceResource, number, number][] = [
    ['postgres', 21, 10_000],
    ['redis', 22, 10_000],
    ['azure-blob', 23, 20_000],
    ['http', 24, 10_000],
  ];
  for (const [resource, seed, durationMs] of runs) {
    it(`${resource}: 0 stale writes accepted, every refusal the stale one`, async () => {
      const result = await runFenceFaults({ resource, durationMs, seed });
      console.log(formatResult(result));
      assertFenced(result);
    });
  }

  it('control: the same faults with a plain SET instead of the fenced one accept stale writes', async () => {
    const result = await runFenceFaults({ resource: 'redis', durationMs: 10_000, seed: 25, control: true });
    console.log(formatResult(result));
    assert.ok(result.staleAccepted.length >= 1, formatResult(result));
    rmSync(result.dir, { recursive: true, force: true });
  });
});
