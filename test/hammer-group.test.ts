import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { assertSerial, hammerTests, runHammer } from '../src/testing/index.js';

// A third-party scheme, registered in each child by the module the group imports first.
const dir = mkdtempSync(join(tmpdir(), 'leasehold-hammer-group-'));
hammerTests(it, {
  url: `thirdparty:${dir}`,
  register: fileURLToPath(new URL('./fixtures/register-scheme.ts', import.meta.url)),
  processes: 3,
  acquisitions: 15,
  ttlMs: 5000,
});

it('the hammer catches a store that does not exclude: each process on its own memory store', async () => {
  // Every child opens `memory:`, its own private store, so all of them hold "the" key at
  // once and each counts tokens from 1: the check must see overlaps and repeated tokens.
  const report = await runHammer({ url: 'memory:', processes: 3, acquisitions: 10, holdMs: 5 });
  assert.equal(report.sections.length, 30);
  assert.throws(() => assertSerial(report.sections, 30), /overlap|token/);
});

it('assertSerial names the overlapping sections and the token that went backwards', () => {
  const section = (pid: number, start: number, end: number, token: number) => ({
    pid,
    start: BigInt(start),
    end: BigInt(end),
    token,
  });
  assert.doesNotThrow(() => assertSerial([section(1, 0, 10, 1), section(2, 11, 20, 2)], 2));
  assert.throws(() => assertSerial([section(1, 0, 10, 1), section(2, 10, 20, 2)], 2), /overlap: pid 1 token 1/);
  assert.throws(() => assertSerial([section(1, 0, 10, 2), section(2, 11, 20, 2)], 2), /token 2 \(pid 2\) after 2/);
  assert.throws(() => assertSerial([section(1, 0, 10, 1)], 2), /every acquisition reported/);
});
