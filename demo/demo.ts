/**
 * `npm start [-- --store <url>]`: the origin post's scenario, done with leasehold.
 * Three instances of an app each schedule the same job every 2 s on a shared store.
 * Each tick runs on exactly one of them; partway, the instance running a tick is
 * killed with SIGKILL and another takes the tick over. The summary is checked, and the
 * exit code says whether the checks held.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { formatDuration, openStore, redactUrl } from '../src/index.js';
import { placementTtl } from '../test/fixtures/placement-ttl.js';

const { values } = parseArgs({ options: { store: { type: 'string' }, help: { type: 'boolean' } } });
if (values.help) {
  console.log('usage: npm start [-- --store <url>]   (default: a folder store in a new temp directory)');
  process.exit(0);
}
const url = values.store ?? `file:${mkdtempSync(join(tmpdir(), 'leasehold-demo-'))}`;
const probe = await openStore(url);
const { capabilities } = probe;
await probe.close();
const ttlMs = Math.max(3000, capabilities.minTtlMs ?? 1);
const catchUpMs = ttlMs + 3000;
// The liveness TTL of placement: two thirds of the job's, within the store's bounds, as the
// fleet tests use, so a killed owner's job moves about when its lease expires (P3).
const placementTtlMs = placementTtl(`${ttlMs}ms`, { capabilities });
const takeoverBoundMs = Math.max(ttlMs, (placementTtlMs * 4) / 3) + 1500;
const runMs = 10_000 + ttlMs + 6000;

interface Ev {
  name: string;
  pid: number;
  t: bigint;
  ev: string;
  slot?: string;
  token?: number;
  reason?: string;
}
const t0 = process.hrtime.bigint();
const since = (t: bigint) => `+${(Number(t - t0) / 1e9).toFixed(1)}s`.padStart(7);
const hhmmss = (iso: string) => iso.slice(11, 19);
const events: Ev[] = [];
const procs = new Map<string, ChildProcess>();

console.log(`leasehold demo: 3 instances (A, B, C), one job "report" every 2s, store ${redactUrl(url)}`);
console.log(
  `lease ttl ${formatDuration(ttlMs)}, liveness ttl ${formatDuration(placementTtlMs)}, catch-up window ${formatDuration(catchUpMs)}; ` +
    'the instance running a tick is killed about 8s in\n',
);

let killed: { name: string; slot: string; t: bigint } | undefined;
let killArmed = false;
for (const name of ['A', 'B', 'C']) {
  const p = spawn(
    process.execPath,
    ['--import', 'tsx', 'demo/instance.ts', name, url, String(ttlMs), String(catchUpMs), String(placementTtlMs)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  procs.set(name, p);
  createInterface({ input: p.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    let e: Ev;
    try {
      const o = JSON.parse(line) as Omit<Ev, 't'> & { t: string };
      e = { ...o, t: BigInt(o.t) };
    } catch {
      return;
    }
    events.push(e);
    if (e.ev === 'start') {
      const takeover =
        killed && e.slot === killed.slot
          ? `  <- takes over the killed tick, ${formatDuration(Number(e.t - killed.t) / 1e6)} after the kill`
          : '';
      console.log(`${since(e.t)}  ${e.name} runs tick ${hhmmss(e.slot as string)} (token ${e.token})${takeover}`);
      if (killArmed && !killed) {
        killed = { name: e.name, slot: e.slot as string, t: process.hrtime.bigint() };
        procs.get(e.name)?.kill('SIGKILL');
        procs.delete(e.name);
        console.log(
          `${since(killed.t)}  ✂ kill -9 ${e.name} (pid ${e.pid}) in the middle of tick ${hhmmss(e.slot as string)}`,
        );
      }
    } else if (e.ev === 'skip' && e.reason !== 'done-elsewhere') {
      console.log(`${since(e.t)}  ${e.name} skips tick ${hhmmss(e.slot as string)}: ${e.reason}`);
    }
  });
}

while (events.filter((e) => e.ev === 'ready').length < 3) await sleep(50);
const readyAt = Date.now();
await sleep(8000);
killArmed = true;
await sleep(runMs - 8000);
const endAt = Date.now();
await Promise.all(
  [...procs.values()].map(
    (p) =>
      new Promise((r) => {
        p.once('exit', r);
        p.kill('SIGTERM');
      }),
  ),
);

// ---- the checked summary ----
const ticks: string[] = [];
for (let t = Math.ceil(readyAt / 2000) * 2000 + 2000; t <= endAt - 4000; t += 2000)
  ticks.push(new Date(t).toISOString());
const starts = (slot: string) => events.filter((e) => e.ev === 'start' && e.slot === slot);
const ends = (slot: string) => events.filter((e) => e.ev === 'end' && e.slot === slot);
const ranOnce = ticks.filter((s) => ends(s).length === 1);
const twice = ticks.filter((s) => ends(s).length > 1 || (starts(s).length > 1 && s !== killed?.slot));
const skipped = ticks.filter((s) => ends(s).length === 0);
// Critical sections of different instances, on the one monotonic clock of this machine.
const sections = events
  .filter((e) => e.ev === 'start')
  .map((s) => ({ s, end: events.find((e) => e.ev === 'end' && e.slot === s.slot && e.pid === s.pid)?.t }));
let overlaps = 0;
for (const a of sections)
  for (const b of sections) if (a !== b && a.end && b.s.t > a.s.t.valueOf() && b.s.t < a.end) overlaps++;
const takeover = killed ? starts(killed.slot).find((e) => e.name !== killed?.name) : undefined;
const takeoverMs = takeover && killed ? Number(takeover.t - killed.t) / 1e6 : undefined;
const byName = new Map<string, number>();
for (const s of ticks) for (const e of ends(s)) byName.set(e.name, (byName.get(e.name) ?? 0) + 1);

const ok = (b: boolean) => (b ? 'ok' : 'FAILED');
const checks = {
  once: ranOnce.length === ticks.length,
  twice: twice.length === 0,
  overlaps: overlaps === 0,
  takeover: takeoverMs !== undefined && takeoverMs <= takeoverBoundMs,
};
console.log('\nSummary (checked by the demo itself):');
console.log(`  ticks          ${ticks.length} (${hhmmss(ticks[0] ?? '')} to ${hhmmss(ticks[ticks.length - 1] ?? '')})`);
console.log(
  `  ran once       ${ranOnce.length}/${ticks.length}  ${ok(checks.once)}${skipped.length ? `  (not run: ${skipped.map(hhmmss).join(', ')})` : ''}`,
);
console.log(`  ran twice      ${twice.length} (the killed tick's takeover is not a second run)  ${ok(checks.twice)}`);
console.log(`  overlaps       ${overlaps} critical sections overlapped  ${ok(checks.overlaps)}`);
console.log(
  `  takeover       ${takeoverMs === undefined ? 'none seen' : `${formatDuration(takeoverMs)} after kill -9 of ${killed?.name} (ttl ${formatDuration(ttlMs)})`}  ${ok(checks.takeover)}`,
);
console.log(
  `  who ran ticks  ${[...byName]
    .sort()
    .map(([n, c]) => `${n} ${c}`)
    .join(', ')}`,
);
const all = Object.values(checks).every(Boolean);
console.log(`\n${all ? 'OK: every tick ran exactly once across the fleet.' : 'FAILED: see above.'}`);
process.exit(all ? 0 : 1);
