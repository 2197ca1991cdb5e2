/**
 * The short run of faults/transactions.ts (the long runs and their figures are in
 * docs/reliability.md, "Transactional runs"): worker processes write one row per slot in
 * `ctx.transaction` while the test kills them (kill -9 between a write and its commit,
 * after a commit, at random) and pauses them past the TTL mid-transaction. Every slot of
 * the fault phase has exactly one row, on PostgreSQL and on MariaDB. The control writes
 * its rows outside the transaction under the same kills, and must show duplicates: the
 * check can fail.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { formatResult, runTransactionFaults, type TxRunResult } from '../faults/transactions.js';

function assertExactlyOnce(result: TxRunResult): void {
  const shown = formatResult(result);
  assert.equal(result.missing.length, 0, shown);
  assert.deepEqual(result.duplicates, [], shown);
  assert.ok(result.expectedSlots >= 150, `too few slots to judge\n${shown}`);
  const inWindow = result.beforeCommit.killed + result.beforeCommit.paused;
  assert.ok(inWindow >= 1, `no fault landed between a write and its commit\n${shown}`);
}

describe('transactional runs under kill -9 and pauses (short run)', () => {
  it('postgres: every slot written exactly once', async () => {
    const result = await runTransactionFaults({ engine: 'postgres', durationMs: 12_000, seed: 16 });
    console.log(formatResult(result));
    assertExactlyOnce(result);
  });

  it('mariadb: every slot written exactly once', async () => {
    const result = await runTransactionFaults({ engine: 'mysql', durationMs: 12_000, seed: 17 });
    console.log(formatResult(result));
    assertExactlyOnce(result);
  });

  it('control: rows written outside the transaction are duplicated by the same kills', async () => {
    const result = await runTransactionFaults({
      engine: 'postgres',
      durationMs: 12_000,
      faults: ['kill'],
      control: true,
      seed: 18,
    });
    console.log(formatResult(result));
    assert.ok(result.duplicates.length >= 1, formatResult(result));
    rmSync(result.dir, { recursive: true, force: true });
  });
});
