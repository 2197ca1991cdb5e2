/**
 * One process of the fleet benchmark (section 5):
 * `node --expose-gc --import tsx bench/fleet-worker.ts '<json>'`
 *
 * Schedules `jobs` jobs (`job-0` … the same keys in every process) every `periodMs` on
 * one shared store, with a client whose requests are counted. Once started it tells the
 * parent (IPC), which answers with the window [measureFrom, measureTo) (epoch ms, the
 * same in every process). Over the window it measures: CPU used,
 * requests sent, handler start lateness (handler start wall time − slot), runs; and the
 * memory the jobs add (heap and RSS after a GC, before scheduling and once running).
 * Prints one JSON line with the result and exits.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Leasehold } from '../src/leasehold.js';
import type { LeaseStore } from '../src/store.js';
import { countingRedis, Counter } from './lib.js';

interface Args {
  store: 'redis' | 'postgres';
  url: string;
  prefix: string;
  jobs: number;
  periodMs: number;
}

/** The window, sent by the parent over IPC once every process is ready. */
interface Window {
  measureFrom: number;
  measureTo: number;
}

const a = JSON.parse(process.argv[2] as string) as Args;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const counter = new Counter();
let store: LeaseStore;
let closeClient: () => Promise<void>;
if (a.store === 'redis') {
  const { RedisStore } = await import('../src/stores/redis/index.js');
  const client = countingRedis(counter, a.url);
  store = new RedisStore({ client, prefix: a.prefix });
  closeClient = async () => client.disconnect();
} else {
  // The store opens its own pool from the URL, as `openStore(url)` does for users; its
  // queries are counted where they leave the client (pg's Client#query, which the pool
  // uses for every query).
  const pg = (await import('pg')).default;
  const orig = pg.Client.prototype.query as (...q: unknown[]) => unknown;
  (pg.Client.prototype as unknown as { query: (...q: unknown[]) => unknown }).query = function (
    this: unknown,
    ...q: unknown[]
  ) {
    counter.hit('query');
    return orig.apply(this, q);
  };
  const { PostgresStore } = await import('../src/stores/postgres/index.js');
  store = new PostgresStore({ url: a.url });
  closeClient = async () => {};
}
// Touch the store once so connections and scripts exist before the memory baseline.
await store.now();
gc();
const mem0 = process.memoryUsage();

// Set when the parent sends the window; until then nothing is recorded.
const w: Window = { measureFrom: Number.POSITIVE_INFINITY, measureTo: Number.POSITIVE_INFINITY };
const lateness: number[] = [];
let runs = 0;
const lh = new Leasehold({ store, holder: `fleet-${process.pid}` });
for (let i = 0; i < a.jobs; i++) {
  lh.every(
    `${a.periodMs}ms`,
    `job-${i}`,
    (ctx) => {
      const t = Date.now();
      const slot = ctx.slot.getTime();
      if (slot >= w.measureFrom && slot < w.measureTo) {
        lateness.push(t - slot);
        runs++;
      }
    },
    { ttl: '30s' },
  );
}
// Why slots did not run here, counted over the window (and errors, which should not happen).
const skips: Record<string, number> = {};
let errors = 0;
let firstError = '';
lh.on('slot:skipped', (e) => {
  // One event may stand for several slots (e.g. "5 slots missed by every host"); counted as events.
  const t = Date.now();
  if (t >= w.measureFrom && t < w.measureTo) skips[e.reason] = (skips[e.reason] ?? 0) + 1;
});
lh.on('error', (e) => {
  errors++;
  firstError ||= `${e.during}: ${e.error instanceof Error ? e.error.message : String(e.error)}`;
});
await lh.start();
const got = new Promise<Window>((resolve) => process.once('message', (m) => resolve(m as Window)));
process.send?.({ ready: true });
Object.assign(w, await got);

// Memory once the jobs run: at the middle of the slot before the window (quiet time).
await sleep(Math.max(0, w.measureFrom - a.periodMs - Date.now()));
gc();
const mem1 = process.memoryUsage();

await sleep(Math.max(0, w.measureFrom - Date.now()));
const cpu0 = process.cpuUsage();
const c0 = counter.n;
const l0 = new Map(counter.byLabel);
const w0 = performance.now();
await sleep(Math.max(0, w.measureTo - Date.now()));
const cpu = process.cpuUsage(cpu0);
const requests = counter.n - c0;
const wallMs = performance.now() - w0;
const labels = Object.fromEntries([...counter.byLabel].map(([k, v]) => [k, v - (l0.get(k) ?? 0)]));
await lh.stop({ grace: '2s' });
await store.close();
await closeClient();
process.stdout.write(
  `${JSON.stringify({
    pid: process.pid,
    cpuUs: cpu.user + cpu.system,
    wallMs,
    requests,
    labels,
    runs,
    skips,
    errors,
    firstError,
    lateness,
    heapPerJob: (mem1.heapUsed - mem0.heapUsed) / a.jobs,
    rssPerJob: (mem1.rss - mem0.rss) / a.jobs,
  })}\n`,
);
process.exit(0);
