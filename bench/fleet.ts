/**
 * Section 5: fleet scale. N processes share one store (Redis or PostgreSQL); each
 * schedules the same `jobs` job keys every second, with placement on (the default) or
 * off (every process tries every slot: the race). Once every process sees the whole
 * fleet, a window of whole slots is measured identically in every process: CPU % per
 * process, store requests per job-slot (counted at each process's client, every request
 * included: placement's heartbeats and roster reads too), runs per process (most/least),
 * whether every job-slot of the window ran exactly once, handler start lateness, memory
 * per job. CPU for 10,000 jobs on a 1-minute schedule is extrapolated linearly from the
 * measured CPU per job-slot.
 *
 * Every job starts with a full run history (`--history`, default {@link HISTORY_LENGTH}
 * runs), as it has after its first 20 slots: the history travels with every acquire and
 * every end record, so a run on fresh keys (`--history 0`) measures a cheaper job than
 * one in service.
 */
import { spawn } from 'node:child_process';
import { Leasehold } from '../src/leasehold.js';
import { openStore } from '../src/open.js';
import { emptyJobState, HISTORY_LENGTH, type JobState } from '../src/scheduler/state.js';
import type { RunRecord } from '../src/scheduler/types.js';
import type { JsonValue } from '../src/store.js';
import { median, quantile, REDIS_URL, redisKeyCount, type Figures } from './lib.js';
import type { Servers } from './targets.js';

interface WorkerResult {
  pid: number;
  cpuUs: number;
  wallMs: number;
  requests: number;
  labels: Record<string, number>;
  ran: number[];
  skips: Record<string, number>;
  errors: number;
  firstError: string;
  lateness: number[];
  heapPerJob: number;
  rssPerJob: number;
}

/** One configuration of the fleet section. */
export interface FleetConfig {
  processes: number;
  jobs: number;
  placement: boolean;
}

interface Worker {
  ready: Promise<void>;
  result: Promise<WorkerResult>;
  send(m: object): void;
  /** Live hosts in the worker's last view of the fleet (placement), 0 before one. */
  hosts(): number;
}

function startWorker(args: object): Worker {
  const p = spawn(
    process.execPath,
    ['--expose-gc', '--import', './bench/register.mjs', 'bench/fleet-worker.ts', JSON.stringify(args)],
    {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  let hosts = 0;
  const ready = new Promise<void>((resolve, reject) => {
    p.on('message', (message: { ready?: boolean; hosts?: number }) => {
      if (message.hosts !== undefined) hosts = message.hosts;
      if (message.ready) resolve();
    });
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
  return { ready, result, send: (m) => p.send(m), hosts: () => hosts };
}

/** The configurations of a run: the issue's fleet sizes, with placement on and off. */
export function fleetConfigs(quick: boolean, jobs?: number, processes = 3): FleetConfig[] {
  if (quick) return [{ processes, jobs: jobs ?? 50, placement: true }];
  if (jobs !== undefined) return [{ processes, jobs, placement: true }];
  return [
    { processes: 3, jobs: 1000, placement: true },
    { processes: 3, jobs: 200, placement: true },
    { processes: 3, jobs: 200, placement: false },
    { processes: 12, jobs: 40, placement: true },
    { processes: 12, jobs: 40, placement: false },
  ];
}

/** CPU goal per process for 10,000 jobs a minute across 3 processes (issue 13). */
const CPU_GOAL_PCT = { redis: 2, postgres: 5 } as const;
/** Requests per job-slot with placement, and most/least runs per process (issue 13). */
const REQUESTS_GOAL = 2.5;
const BALANCE_GOAL = 1.5;

/** Runs section 5 for one store: each configuration in turn. */
export async function benchFleet(
  name: 'redis' | 'postgres',
  figs: Figures,
  servers: Servers,
  o: { quick: boolean; jobs?: number; slots?: number; periodMs?: number; processes?: number; history?: number },
): Promise<void> {
  for (const config of fleetConfigs(o.quick, o.jobs, o.processes)) {
    const { slots = o.quick ? 3 : 20, periodMs = 1000, history = HISTORY_LENGTH } = o;
    await benchFleetConfig(name, figs, servers, config, { slots, periodMs, history });
  }
}

/**
 * Gives each of the `jobs` keys a job state with `runs` records of history, all settled
 * up to the slot before now, as a job in service has: one acquire and one release with
 * the state per key, through the store the workers open.
 */
async function prefillHistory(url: string, prefix: string, jobs: number, periodMs: number, runs: number) {
  const store = await openStore(url, prefix ? { prefix } : {});
  const lh = new Leasehold({ store, holder: 'fleet-prefill', placement: false });
  const last = Math.floor(Date.now() / periodMs) * periodMs - periodMs;
  const iso = (time: number) => new Date(time).toISOString();
  const fill = async (index: number) => {
    const lease = await lh.tryAcquire(`job-${index}`, { ttl: '30s' });
    if (!lease) throw new Error(`fleet: job-${index} was busy while its history was written`);
    const records: RunRecord[] = Array.from({ length: runs }, (_, k) => {
      const slot = last - k * periodMs;
      const holder = `fleet-${100_000 + k}`;
      return {
        slot: iso(slot),
        holder,
        token: lease.token,
        attempts: 1,
        start: iso(slot + 3),
        end: iso(slot + 9),
        outcome: 'ok',
      };
    });
    const state: JobState = { ...emptyJobState(), lastSlot: iso(last), lastOutcome: 'ok', runs: records };
    await lease.release({ state: state as unknown as JsonValue });
  };
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let index = next++; index < jobs; index = next++) await fill(index);
      }),
    );
  } finally {
    await store.close();
  }
}

async function benchFleetConfig(
  name: 'redis' | 'postgres',
  figs: Figures,
  servers: Servers,
  config: FleetConfig,
  { slots, periodMs, history }: { slots: number; periodMs: number; history: number },
): Promise<void> {
  const { processes, jobs, placement } = config;
  const url = name === 'redis' ? REDIS_URL : (await servers.pgDatabase()).url;
  const prefix = name === 'redis' ? servers.redisPrefix('fleet') : '';
  if (history > 0) await prefillHistory(url, prefix, jobs, periodMs, history);
  const args = { store: name, url, prefix, jobs, periodMs, placement };
  const workers = Array.from({ length: processes }, () => startWorker(args));
  await Promise.all(workers.map((w) => w.ready));
  // With placement, measure once every process sees the whole fleet (a process that
  // started first owns every job until its next heartbeat).
  const settleBy = Date.now() + 30_000;
  while (placement && workers.some((w) => w.hosts() !== processes) && Date.now() < settleBy) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const settled = !placement || workers.every((w) => w.hosts() === processes);
  // Warm up for two slots, then measure whole slots, from the middle of one period (the
  // quiet part) to the middle of another.
  const measureFrom = Math.ceil(Date.now() / periodMs) * periodMs + 2 * periodMs + periodMs / 2;
  const measureTo = measureFrom + slots * periodMs;
  for (const w of workers) w.send({ measureFrom, measureTo });
  const results = await Promise.all(workers.map((w) => w.result));
  const every = periodMs === 1000 ? '' : `.every${periodMs / 1000}s`;
  const tag = `fleet.${processes}x${jobs}${every}.${placement ? 'placement' : 'race'}`;
  const scope = `${processes} processes × ${jobs} jobs × ${slots} slots of ${periodMs / 1000} s, placement ${placement ? 'on' : 'off'}, jobs started with ${history} runs of history${settled ? '' : ' (NOT SETTLED: some process never saw the whole fleet)'}`;
  const jobSlots = jobs * slots;
  // Exactly once: every job-slot of the window in exactly one process's list.
  const seen = new Map<number, number>();
  for (const r of results) for (const id of r.ran) seen.set(id, (seen.get(id) ?? 0) + 1);
  const twice = [...seen.values()].filter((n) => n > 1).length;
  const missing = jobSlots - seen.size;
  const perProcess = results.map((r) => r.ran.length);
  const balance = Math.max(...perProcess) / Math.max(1, Math.min(...perProcess));
  const totalReq = results.reduce((a, r) => a + r.requests, 0);
  const perJobSlot = totalReq / jobSlots;
  const labels = new Map<string, number>();
  for (const r of results) for (const [k, v] of Object.entries(r.labels)) labels.set(k, (labels.get(k) ?? 0) + v);
  // On Redis each roster read costs one request per `SCAN` page of the whole database.
  const dbNote = name === 'redis' ? `; database keys ${await redisKeyCount()}` : '';
  const labelNote = `${[...labels].map(([k, v]) => `${k} ${(v / jobSlots).toFixed(2)}`).join(', ')}${dbNote}`;
  const skips = new Map<string, number>();
  for (const r of results) for (const [k, v] of Object.entries(r.skips)) skips.set(k, (skips.get(k) ?? 0) + v);
  const skipNote = [...skips].map(([k, v]) => `${k} ${v}`).join(', ');
  const errors = results.reduce((a, r) => a + r.errors, 0);
  const errorNote = errors ? `; ${errors} error events, first: ${results.find((r) => r.firstError)?.firstError}` : '';
  const once = twice === 0 && missing === 0;
  figs.add({
    name: `${tag}.exactly_once`,
    store: name,
    value: seen.size / jobSlots,
    unit: 'job-slots run / job-slots',
    note: `${scope}; ${once ? 'every job-slot once' : `NOT ONCE: ${missing} missing, ${twice} twice`}; skip events: ${skipNote || 'none'}${errorNote}`,
  });
  const goalNote = placement
    ? perJobSlot <= REQUESTS_GOAL
      ? `goal ≤ ${REQUESTS_GOAL} met`
      : `goal ≤ ${REQUESTS_GOAL} MISSED`
    : 'race (placement off): for comparison';
  figs.add({
    name: `${tag}.requests_per_job_slot`,
    store: name,
    value: perJobSlot,
    unit: 'requests/job/slot',
    ...(placement ? { ratioTo: `goal ${REQUESTS_GOAL}`, ratio: perJobSlot / REQUESTS_GOAL } : {}),
    note: `${goalNote}; ${labelNote}`,
  });
  figs.add({
    name: `${tag}.runs_most_least`,
    store: name,
    value: balance,
    unit: 'most/least runs per process',
    note: `${placement ? (balance <= BALANCE_GOAL ? `goal ≤ ${BALANCE_GOAL} met` : `goal ≤ ${BALANCE_GOAL} MISSED`) : 'race'}; runs per process ${perProcess.join(', ')}`,
  });
  const cpuPct = results.map((r) => (r.cpuUs / 1000 / r.wallMs) * 100);
  figs.add({
    name: `${tag}.cpu_per_process`,
    store: name,
    value: median(cpuPct),
    unit: '% of a core',
    note: `per process, in spawn order: ${cpuPct.map((pct) => pct.toFixed(2)).join(', ')} %; requests ${results.map((r) => r.requests).join(', ')}`,
  });
  // Linear extrapolation: CPU per job-slot, fleet-wide, spread over 3 processes.
  const cpuPerJobSlotUs = results.reduce((a, r) => a + r.cpuUs, 0) / jobSlots;
  const pct10k = ((cpuPerJobSlotUs * 10_000) / 60 / 3 / 1e6) * 100;
  const goal = CPU_GOAL_PCT[name];
  figs.add({
    name: `${tag}.cpu_10k_jobs_1min_per_process`,
    store: name,
    value: pct10k,
    unit: '% of a core (extrapolated)',
    ratioTo: `goal ${goal} %`,
    ratio: pct10k / goal,
    note: `${once ? '' : 'NOT VALID: not every slot ran once; '}${pct10k < goal ? `goal < ${goal} % met` : `goal < ${goal} % MISSED`}; = CPU/job-slot (${cpuPerJobSlotUs.toFixed(0)} µs) × 10,000 / 60 s / 3 processes`,
  });
  const lateness = results.flatMap((r) => r.lateness);
  figs.add({
    name: `${tag}.lateness.p50`,
    store: name,
    value: quantile(lateness, 0.5),
    unit: 'ms',
    note: 'handler start − slot instant',
  });
  figs.add({ name: `${tag}.lateness.p99`, store: name, value: quantile(lateness, 0.99), unit: 'ms' });
  figs.add({
    name: `${tag}.heap_per_job`,
    store: name,
    value: median(results.map((r) => r.heapPerJob)) / 1024,
    unit: 'KiB/job',
    note: `heap after GC, jobs scheduled and running, minus before; per process, in spawn order: ${results.map((r) => (r.heapPerJob / 1024).toFixed(2)).join(', ')}`,
  });
}
