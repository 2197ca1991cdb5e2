import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { hammerTests } from '../src/testing/index.js';

// The folder store under contention, through the exported hammer group: eight processes
// open `file:<dir>` and take turns on one key as fast as they can (2 ms polls, a
// critical section of one event-loop turn).
const dir = mkdtempSync(join(tmpdir(), 'leasehold-stress-'));

hammerTests(it, {
  url: `file:${dir}`,
  processes: 8,
  acquisitions: 200,
  ttlMs: 5000,
  pollIntervalMs: 2,
  holdMs: 0,
  report: ({ sections, processes, startupMs, runMs }) => {
    const perSecond = (sections.length / (runMs / 1000)).toFixed(0);
    console.log(
      `stress: ${sections.length} acquisitions by ${processes} processes in ${(runMs / 1000).toFixed(1)}s` +
        ` (${perSecond}/s) after ${startupMs} ms of start-up; no overlap, tokens increasing`,
    );
  },
});
