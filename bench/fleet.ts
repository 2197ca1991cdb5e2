/**
 * Section 5: fleet scale. 3 processes share one store (Redis or PostgreSQL); each
 * schedules the same `jobs` job keys every second. Over a window of whole slots,
 * measured identically in every process: CPU % per process, store requests per slot
 * (counted at each process's client, summed, per job), handler start lateness, memory
 * per job. CPU for 10,000 jobs on a 1-minute schedule is extrapolated linearly from the
 * measured CPU per job-slot.
 */
import { spawn } from 'node:child_process';
import { median, quantile, REDIS_URL, type Figures } from './lib.js';
import type { Servers } from './targets.js';

const PROCESSES = 3;

interface WorkerResult {
  pid: number;
  cpuUs: number;
  wallMs: number;
  requests: number;
  labels: Record<string, number>;
  runs: number;
  skips: Record<string, number>;
  errors: number;
  firstError: string;
  lateness: number[];
  heapPerJob: number;
  rssPerJob: number;
}

interface Worker {
  ready: Promise<void>;
  result: Promise<WorkerResult>;
  send(m: object): void;
}

function startWorker(args: object): Worker {
  const p = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/fleet-worker.ts', JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const ready = new Promise<void>((resolve, reject) => {
    p.once('message', () => resolve());
    p.once('exit', (code) => reject(new Error(`fleet worker exited ${code} before it was ready`)));
  });
  ready.catch(() => {});
  const result = new Promise<WorkerResult>((resolve, reject) => {
    let out = '';
    let err = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => {
      const line = out.trim().split('\n').pop();
      if (code !== 0 || !line) return reject(new Error(`fleet worker exited ${code}:\n${err.slice(-2000)}`));
      resolve(JSON.parse(line) as WorkerResult);
    });
  });
  return { ready, result, send: (m) => p.send(m) };
}

/** Runs section 5 for one store. */
export async function benchFleet(
  name: 'redis' | 'postgres',
  figs: Figures,
  servers: Servers,
  o: { quick: boolean; jobs?: number; slots?: number },
): Promise<void> {
  const jobs = o.jobs ?? (o.quick ? 50 : 1000);
  const slots = o.slots ?? (o.quick ? 3 : 30);
  const periodMs = 1000;
  let url: string;
  let prefix = '';
  if (name === 'redis') {
    url = REDIS_URL;
    prefix = servers.redisPrefix('fleet');
  } else {
    url = (await servers.pgDatabase()).url;
  }
  const args = { store: name, url, prefix, jobs, periodMs };
  const workers = Array.from({ length: PROCESSES }, () => startWorker(args));
  await Promise.all(workers.map((w) => w.ready));
  // Every process runs: warm up for two slots, then measure whole slots, from the middle
  // of one period (the quiet part) to the middle of another.
  const measureFrom = Math.ceil(Date.now() / periodMs) * periodMs + 2 * periodMs + periodMs / 2;
  const measureTo = measureFrom + slots * periodMs;
  for (const w of workers) w.send({ measureFrom, measureTo });
  const results = await Promise.all(workers.map((w) => w.result));
  const scope = `${PROCESSES} processes × ${jobs} jobs × ${slots} slots of 1 s${jobs < 1000 || slots < 30 ? ' (fewer jobs/slots than the issue asks: quick mode or --jobs/--slots)' : ''}`;
  const cpuPct = results.map((r) => (r.cpuUs / 1000 / r.wallMs) * 100);
  const totalReq = results.reduce((a, r) => a + r.requests, 0);
  const perJobSlot = totalReq / slots / jobs;
  const runs = results.reduce((a, r) => a + r.runs, 0);
  const lateness = results.flatMap((r) => r.lateness);
  const labels = new Map<string, number>();
  for (const r of results) for (const [k, v] of Object.entries(r.labels)) labels.set(k, (labels.get(k) ?? 0) + v);
  const labelNote = [...labels].map(([k, v]) => `${k} ${(v / slots / jobs).toFixed(2)}`).join(', ');
  figs.add({
    name: 'fleet.cpu_per_process',
    store: name,
    value: median(cpuPct),
    unit: '% of a core',
    note: `${scope}; max ${Math.max(...cpuPct).toFixed(1)} %`,
  });
  figs.add({
    name: 'fleet.requests_per_slot',
    store: name,
    value: totalReq / slots,
    unit: 'requests/slot (fleet)',
    note: `${jobs} jobs`,
  });
  const goal = PROCESSES + 3;
  figs.add({
    name: 'fleet.requests_per_job_slot',
    store: name,
    value: perJobSlot,
    unit: 'requests/job/slot',
    ratioTo: `goal ${goal}`,
    ratio: perJobSlot / goal,
    note: `${perJobSlot <= goal ? 'goal ≤ processes + 3 met' : 'goal ≤ processes + 3 MISSED'}; ${labelNote}`,
  });
  const skips = new Map<string, number>();
  for (const r of results) for (const [k, v] of Object.entries(r.skips)) skips.set(k, (skips.get(k) ?? 0) + v);
  const errors = results.reduce((a, r) => a + r.errors, 0);
  const skipNote = [...skips].map(([k, v]) => `${k} ${(v / slots / jobs).toFixed(2)}`).join(', ');
  const runsPerJobSlot = runs / slots / jobs;
  // CPU per job-slot only means something when the slots actually ran.
  const valid = runsPerJobSlot >= 0.95;
  figs.add({
    name: 'fleet.runs_per_job_slot',
    store: name,
    value: runsPerJobSlot,
    unit: 'runs/job/slot',
    note: `once per slot: 1.0 expected; skip events per job-slot: ${skipNote || 'none'}${errors ? `; ${errors} error events, first: ${results.find((r) => r.firstError)?.firstError}` : ''}`,
  });
  figs.add({
    name: 'fleet.lateness.p50',
    store: name,
    value: quantile(lateness, 0.5),
    unit: 'ms',
    note: 'handler start − slot instant',
  });
  figs.add({ name: 'fleet.lateness.p99', store: name, value: quantile(lateness, 0.99), unit: 'ms' });
  figs.add({
    name: 'fleet.heap_per_job',
    store: name,
    value: median(results.map((r) => r.heapPerJob)) / 1024,
    unit: 'KiB/job',
    note: 'heap after GC, jobs scheduled and running, minus before',
  });
  figs.add({
    name: 'fleet.rss_per_job',
    store: name,
    value: median(results.map((r) => r.rssPerJob)) / 1024,
    unit: 'KiB/job',
  });
  // Linear extrapolation: CPU per job-slot, fleet-wide, spread over 3 processes.
  const cpuPerJobSlotUs = results.reduce((a, r) => a + r.cpuUs, 0) / (jobs * slots);
  figs.add({ name: 'fleet.cpu_per_job_slot', store: name, value: cpuPerJobSlotUs, unit: 'µs CPU/job/slot (fleet)' });
  const pct10k = ((cpuPerJobSlotUs * 10_000) / 60 / PROCESSES / 1e6) * 100;
  figs.add({
    name: 'fleet.cpu_10k_jobs_1min_per_process',
    store: name,
    value: pct10k,
    unit: '% of a core (extrapolated)',
    ratioTo: 'goal 5 %',
    ratio: pct10k / 5,
    note: `${!valid ? 'NOT VALID: slots did not run (see runs_per_job_slot); ' : ''}${pct10k < 5 ? 'goal < 5 % met' : 'goal < 5 % MISSED'}; = CPU/job-slot × 10,000 / 60 s / 3 processes`,
  });
}
