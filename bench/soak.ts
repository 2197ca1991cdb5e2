/**
 * Soak mode (issue 18; not in CI): many jobs on one Redis for a long time, sampling what
 * would grow if something leaked — heap used after a GC, active handles and requests
 * (`process.getActiveResourcesInfo()`), and timers among them — and printing a table.
 *
 * ```
 * node --expose-gc --import tsx bench/soak.ts [--url redis://127.0.0.1:6379] [--jobs 1000]
 *   [--minutes 30] [--period 10s] [--sample-every 60s] [--json out.json]
 * ```
 *
 * The first sample is taken once every job has run at least once (the warm-up), so the
 * baseline includes the connection, the scripts and every job's timers. The verdict
 * compares the medians of the last third of the samples with the first third; figures and how to read
 * them: docs/reliability.md ("Soak").
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/duration.js';
import { Leasehold } from '../src/leasehold.js';
import { RedisStore } from '../src/stores/redis/index.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'redis://127.0.0.1:6379' },
    jobs: { type: 'string', default: '1000' },
    minutes: { type: 'string', default: '30' },
    period: { type: 'string', default: '10s' },
    'sample-every': { type: 'string', default: '60s' },
    json: { type: 'string' },
  },
});
const jobs = Number(values.jobs);
const durationMs = Number(values.minutes) * 60_000;
const periodMs = parseDuration(values.period, '--period');
const sampleMs = parseDuration(values['sample-every'], '--sample-every');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc, so heap samples are taken after a collection');

/** One sample of the process. */
interface Sample {
  minute: number;
  heapUsedMb: number;
  rssMb: number;
  handles: number;
  timers: number;
  runs: number;
  failed: number;
  skipped: number;
}

const prefix = `leasehold-soak-${randomBytes(4).toString('hex')}:`;
const store = new RedisStore({ url: values.url, prefix });
const lh = new Leasehold({ store, holder: `soak-${process.pid}` });
let runs = 0;
let failed = 0;
const ran = new Set<number>();
for (let i = 0; i < jobs; i++) {
  lh.every(
    periodMs,
    `job-${i}`,
    () => {
      runs++;
      ran.add(i);
    },
    { ttl: '30s' },
  );
}
let skipped = 0;
lh.on('run:error', () => failed++);
lh.on('lease:lost', () => failed++);
lh.on('slot:skipped', () => skipped++);
lh.start();

function sample(t0: number): Sample {
  gc?.();
  const memory = process.memoryUsage();
  const resources = process.getActiveResourcesInfo();
  return {
    minute: Math.round((performance.now() - t0) / 6000) / 10,
    heapUsedMb: Math.round(memory.heapUsed / 1e5) / 10,
    rssMb: Math.round(memory.rss / 1e5) / 10,
    handles: resources.length,
    timers: resources.filter((name) => name === 'Timeout' || name === 'Immediate').length,
    runs,
    failed,
    skipped,
  };
}

const columns = ['minute', 'heapUsedMb', 'rssMb', 'handles', 'timers', 'runs', 'failed', 'skipped'] as const;
const row = (cells: readonly (string | number)[]) => cells.map((c) => String(c).padStart(11)).join(' ');

const warmUpEnd = performance.now() + 3 * periodMs + 60_000;
while (ran.size < jobs && performance.now() < warmUpEnd) await sleep(500);
console.log(`soak: ${jobs} jobs every ${values.period} on ${prefix}*, ${values.minutes} min, warm (${ran.size} ran)`);
console.log(row(columns));
const t0 = performance.now();
const samples: Sample[] = [];
for (;;) {
  const s = sample(t0);
  samples.push(s);
  console.log(row(columns.map((c) => s[c])));
  if (performance.now() - t0 >= durationMs) break;
  await sleep(Math.min(sampleMs, Math.max(0, durationMs - (performance.now() - t0))));
}
await lh.stop();
await store.close();

/** Median of one column over a slice of the samples: a load burst moves one sample, not the verdict. */
const median = (list: Sample[], column: keyof Sample) =>
  list.map((s) => s[column]).sort((a, b) => a - b)[Math.floor(list.length / 2)] as number;
const third = Math.max(1, Math.floor(samples.length / 3));
const first = samples.slice(0, third);
const last = samples.slice(-third);
const verdict = Object.fromEntries(
  (['heapUsedMb', 'handles', 'timers'] as const).map((c) => [c, { first: median(first, c), last: median(last, c) }]),
);
console.log(`soak: first third vs last third (medians): ${JSON.stringify(verdict)}`);
console.log(`soak: ${runs} runs, ${failed} failed or lost, ${skipped} slots skipped`);
if (values.json) writeFileSync(values.json, `${JSON.stringify({ jobs, periodMs, samples, verdict }, null, 2)}\n`);
