import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { checkSections, parseSections, runTogether } from './helpers/sections.js';

it('folder store under contention: 8 processes × 200 acquisitions, zero overlaps, tokens increasing in time order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-stress-'));
  const procs = 8;
  const each = 200;
  const t0 = performance.now();
  const outs = await runTogether('test/fixtures/hammer.ts', Array.from({ length: procs }, () => [`file:${dir}`, 'stress', String(each)]));
  const seconds = (performance.now() - t0 - 2500) / 1000;
  const sections = outs.flatMap(parseSections);
  assert.equal(sections.length, procs * each);
  const { overlaps, tokenRegressions } = checkSections(sections);
  console.log(`stress: ${sections.length} acquisitions by ${procs} processes in ${seconds.toFixed(1)}s (${(sections.length / seconds).toFixed(0)}/s), overlaps ${overlaps}, token regressions ${tokenRegressions}`);
  assert.equal(overlaps, 0);
  assert.equal(tokenRegressions, 0);
});
