/**
 * One process of the fleet benchmark (section 5):
 * `node --expose-gc --import ./bench/register.mjs bench/fleet-worker.ts '<json>'`
 *
 * Schedules `jobs` jobs (`job-0` … the same keys in every process) every `periodMs` on
 * one shared store opened from its URL, as `openStore(url)` does for users; every request
 * the store's client sends is counted where it leaves the client (ioredis's
 * `sendCommand`, pg's `Client#query`), placement's heartbeats and roster reads included.
 * It tells the parent (IPC) when it is running and whenever its view of the fleet
 * changes; the parent answers with the window [measureFrom, measureTo) (epoch ms, the
 * same in every process). Over the window it measures: CPU used, requests sent, handler
 * start lateness, and which job-slots it ran; and the memory the jobs add (heap and RSS
 * after a GC, before scheduling and once running). Prints one JSON line and exits.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Leasehold } from '../src/leasehold.js';
import { openStore } from '../src/open.js';
import { Counter } from './lib.js';

interface Args {
  store: 'redis' | 'postgres';
  url: string;
  /** Key prefix (Redis: a fresh one per run, so runs never share keys). */
  prefix: string;
  jobs: number;
  periodMs: number;
  placement: boolean;
}

/** The window, sent by the parent over IPC once every process is ready. */
interface Window {
  measureFrom: number;
  measureTo: number;
}

const args = JSON.parse(process.argv[2] as string) as Args;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const counter = new Counter();

/** Counts every call of `method` on `proto` under `label`. */
function countCalls(proto: object, method: string, label: (call: unknown[]) => string): void {
  const target = proto as Record<string, (...call: unknown[]) => unknown>;
  const original = target[method] as (...call: unknown[]) => unknown;
  target[method] = function (this: unknown, ...call: unknown[]) {
    counter.hit(label(call));
    return original.apply(this, call);
  };
}

if (args.store === 'redis') {
  const { Redis } = await import('ioredis');
  countCalls(Redis.prototype, 'sendCommand', (call) => (call[0] as { name?: string } | undefined)?.name ?? 'command');
} else {
  const pg = (await import('pg')).default;
  countCalls(pg.Client.prototype, 'query', () => 'query');
}
const store = await openStore(args.url, args.prefix ? { prefix: args.prefix } : {});
// Touch the store once so connections and scripts exist before the memory baseline.
await store.now();
gc();
const mem0 = process.memoryUsage();

// Set when the parent sends the window; until then nothing is recorded.
const window: Window = { measureFrom: Number.POSITIVE_INFINITY, measureTo: Number.POSITIVE_INFINITY };
const lateness: number[] = [];
/** Job-slots run in the window, as `jobIndex * slots + slotIndex` (compact for the parent's exactly-once check). */
const ran: number[] = [];
const lh = new Leasehold({ store, holder: `fleet-${process.pid}`, placement: args.placement });
for (let index = 0; index < args.jobs; index++) {
  lh.every(
    `${args.periodMs}ms`,
    `job-${index}`,
    (ctx) => {
      const now = Date.now();
      const slot = ctx.slot.getTime();
      if (slot >= window.measureFrom && slot < window.measureTo) {
        lateness.push(now - slot);
        ran.push(index * 1_000_000 + (slot - window.measureFrom) / args.periodMs);
      }
    },
    { ttl: '30s' },
  );
}
// Why slots did not run here, counted over the window (and errors, which should not happen).
const skips: Record<string, number> = {};
let errors = 0;
let firstError = '';
lh.on('slot:skipped', (event) => {
  const now = Date.now();
  if (now >= window.measureFrom && now < window.measureTo) skips[event.reason] = (skips[event.reason] ?? 0) + 1;
});
lh.on('error', (event) => {
  errors++;
  firstError ||= `${event.during}: ${event.error instanceof Error ? event.error.message : String(event.error)}`;
});
lh.on('placement:changed', (event) => process.send?.({ hosts: event.hosts }));
await lh.start();
const got = new Promise<Window>((resolve) =>
  process.on('message', (message) => {
    if ((message as Partial<Window>).measureFrom !== undefined) resolve(message as Window);
  }),
);
process.send?.({ ready: true });
Object.assign(window, await got);

// Memory once the jobs run: at the middle of the slot before the window (quiet time).
await sleep(Math.max(0, window.measureFrom - args.periodMs - Date.now()));
gc();
const mem1 = process.memoryUsage();

await sleep(Math.max(0, window.measureFrom - Date.now()));
const cpu0 = process.cpuUsage();
const count0 = counter.n;
const labels0 = new Map(counter.byLabel);
const wall0 = performance.now();
await sleep(Math.max(0, window.measureTo - Date.now()));
const cpu = process.cpuUsage(cpu0);
const requests = counter.n - count0;
const wallMs = performance.now() - wall0;
const labels = Object.fromEntries([...counter.byLabel].map(([label, n]) => [label, n - (labels0.get(label) ?? 0)]));
// Let the last slot's runs finish before stopping (they started at most one period ago
// and take milliseconds: a long period needs no more than a few seconds).
await sleep(Math.min(args.periodMs, 5000));
await lh.stop({ grace: '2s' });
await store.close();
process.stdout.write(
  `${JSON.stringify({
    pid: process.pid,
    cpuUs: cpu.user + cpu.system,
    wallMs,
    requests,
    labels,
    ran,
    skips,
    errors,
    firstError,
    lateness,
    heapPerJob: (mem1.heapUsed - mem0.heapUsed) / args.jobs,
    rssPerJob: (mem1.rss - mem0.rss) / args.jobs,
  })}\n`,
);
process.exit(0);
