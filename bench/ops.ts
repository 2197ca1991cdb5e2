/**
 * Sections 1 and 2: latency and requests per operation for each store, and the
 * overhead of leasehold against the raw client doing the same lease, in the same run.
 *
 * One round = N sequential iterations of (acquire, renew, fenced write, release) on one
 * key, plus N busy checks on a key another holder keeps; then the same with the raw
 * client. Rounds alternate which goes first. p50/p99 are per round; the figure is the
 * median over rounds, and each ratio is the median of the per-round ratios.
 */
import { randomUUID } from 'node:crypto';
import { systemClock } from '../src/clock.js';
import { callStore } from '../src/internal.js';
import { Leasehold } from '../src/leasehold.js';
import type { JsonValue } from '../src/store.js';
import { median, quantile, type Figures, now } from './lib.js';
import type { Target } from './targets.js';

/** The scheduler's kind of state: a job record with a short history (~1.2 KB as JSON). */
function sampleState(i: number): JsonValue {
  const runs = Array.from({ length: 5 }, (_, j) => ({
    slot: new Date(1_790_000_000_000 + (i - j) * 60_000).toISOString(),
    holder: 'bench-host:12345:abcdef',
    token: 1_000_000 + i - j,
    attempts: 1,
    start: new Date(1_790_000_000_000 + (i - j) * 60_000 + 3).toISOString(),
    end: new Date(1_790_000_000_000 + (i - j) * 60_000 + 40).toISOString(),
    outcome: 'ok',
  }));
  return { v: 1, lastSlot: runs[0]?.slot ?? null, lastOutcome: 'ok', running: null, runs };
}

type Op = 'busy' | 'acquire' | 'renew' | 'writeState' | 'release';
const OPS: Op[] = ['busy', 'acquire', 'renew', 'writeState', 'release'];
type RawOp = 'busy' | 'acquire' | 'renew' | 'release';
const RAW_OPS: RawOp[] = ['busy', 'acquire', 'renew', 'release'];

interface RoundResult {
  lat: Map<string, number[]>;
  req: Map<string, number>;
  /** Client CPU (user + system) µs, summed per op. */
  cpu: Map<string, number>;
}

const newRound = (): RoundResult => ({ lat: new Map(), req: new Map(), cpu: new Map() });

let cpuMark = process.cpuUsage();
/** Marks the CPU counter; {@link record} charges the CPU used since the mark to the op. */
function markCpu(): void {
  cpuMark = process.cpuUsage();
}

function record(r: RoundResult, op: string, ms: number, reqs: number): void {
  const d = process.cpuUsage(cpuMark);
  const l = r.lat.get(op) ?? [];
  l.push(ms);
  r.lat.set(op, l);
  r.req.set(op, (r.req.get(op) ?? 0) + reqs);
  r.cpu.set(op, (r.cpu.get(op) ?? 0) + d.user + d.system);
}

async function leaseholdRound(t: Target, n: number, round: number): Promise<RoundResult> {
  const r = newRound();
  const lh = new Leasehold({ store: t.store, holder: 'bench-a' });
  const other = new Leasehold({ store: t.store, holder: 'bench-b' });
  const key = `ops-${round}`;
  const busyKey = `ops-busy-${round}`;
  const held = await other.tryAcquire(busyKey, { ttl: t.ttlMs });
  if (!held) throw new Error(`${t.name}: could not take the busy key`);
  const c = t.counter;
  const count = () => c?.n ?? 0;
  // Warm the keys (first-ever acquire creates the record) outside the measurement.
  const w = await lh.tryAcquire(key, { ttl: t.ttlMs });
  await w?.release();
  for (let i = 0; i < n; i++) {
    let c0 = count();
    markCpu();
    let t0 = now();
    const busy = await lh.tryAcquire(busyKey, { ttl: t.ttlMs });
    record(r, 'busy', now() - t0, count() - c0);
    if (busy) throw new Error(`${t.name}: busy key was granted`);

    c0 = count();
    markCpu();
    t0 = now();
    const lease = await lh.tryAcquire(key, { ttl: t.ttlMs });
    record(r, 'acquire', now() - t0, count() - c0);
    if (!lease) throw new Error(`${t.name}: uncontended acquire failed`);

    // Renewal is what the lease's timer does: the store call through the core's callStore.
    c0 = count();
    markCpu();
    t0 = now();
    const ok = await callStore(systemClock, `${t.store.name}: renew "${key}"`, t.ttlMs / 3, undefined, (signal) =>
      t.store.renew({ key, leaseId: lease.leaseId, token: lease.token, ttlMs: t.ttlMs }, { signal }),
    );
    record(r, 'renew', now() - t0, count() - c0);
    if (!ok) throw new Error(`${t.name}: renew failed`);

    const st = sampleState(i);
    c0 = count();
    markCpu();
    t0 = now();
    const wrote = await lease.writeState(st);
    record(r, 'writeState', now() - t0, count() - c0);
    if (!wrote) throw new Error(`${t.name}: fenced write failed`);

    c0 = count();
    markCpu();
    t0 = now();
    await lease.release();
    record(r, 'release', now() - t0, count() - c0);
  }
  await held.release();
  return r;
}

/** The store's methods called directly (no core: no Lease object, no timers, no callStore), to split overhead into core and store. */
async function directRound(t: Target, n: number, round: number): Promise<RoundResult> {
  const r = newRound();
  const s = t.store;
  const key = `ops-d-${round}`;
  const busyKey = `ops-d-busy-${round}`;
  const held = await s.acquire({ key: busyKey, holder: 'bench-b', leaseId: randomUUID(), ttlMs: t.ttlMs });
  if (!held.acquired) throw new Error(`${t.name} direct: could not take the busy key`);
  const c = t.counter;
  const count = () => c?.n ?? 0;
  await s.acquire({ key, holder: 'bench-a', leaseId: randomUUID(), ttlMs: t.ttlMs });
  await s.forceRelease(key);
  for (let i = 0; i < n; i++) {
    let c0 = count();
    markCpu();
    let t0 = now();
    const busy = await s.acquire({ key: busyKey, holder: 'bench-a', leaseId: randomUUID(), ttlMs: t.ttlMs });
    record(r, 'busy', now() - t0, count() - c0);
    if (busy.acquired) throw new Error(`${t.name} direct: busy key was granted`);
    const leaseId = randomUUID();
    c0 = count();
    markCpu();
    t0 = now();
    const a = await s.acquire({ key, holder: 'bench-a', leaseId, ttlMs: t.ttlMs });
    record(r, 'acquire', now() - t0, count() - c0);
    if (!a.acquired) throw new Error(`${t.name} direct: acquire failed`);
    c0 = count();
    markCpu();
    t0 = now();
    if (!(await s.renew({ key, leaseId, token: a.token, ttlMs: t.ttlMs })))
      throw new Error(`${t.name} direct: renew failed`);
    record(r, 'renew', now() - t0, count() - c0);
    const st = sampleState(i);
    c0 = count();
    markCpu();
    t0 = now();
    if (!(await s.writeState({ key, leaseId, token: a.token, state: st })))
      throw new Error(`${t.name} direct: write failed`);
    record(r, 'writeState', now() - t0, count() - c0);
    c0 = count();
    markCpu();
    t0 = now();
    if (!(await s.release({ key, leaseId, token: a.token }))) throw new Error(`${t.name} direct: release failed`);
    record(r, 'release', now() - t0, count() - c0);
  }
  await s.forceRelease(busyKey);
  return r;
}

async function rawRound(t: Target, n: number, round: number): Promise<RoundResult> {
  const raw = t.raw;
  if (!raw) throw new Error('no raw client');
  const r = newRound();
  const key = `ops-${round}`;
  const busyKey = `ops-busy-${round}`;
  const otherId = randomUUID();
  if (!(await raw.acquire(busyKey, otherId, t.ttlMs))) throw new Error(`${t.name} raw: could not take the busy key`);
  const c = t.counter;
  const count = () => c?.n ?? 0;
  const wid = randomUUID();
  await raw.acquire(key, wid, t.ttlMs);
  await raw.release(key, wid);
  for (let i = 0; i < n; i++) {
    let c0 = count();
    markCpu();
    let t0 = now();
    const busy = await raw.acquire(busyKey, randomUUID(), t.ttlMs);
    record(r, 'busy', now() - t0, count() - c0);
    if (busy) throw new Error(`${t.name} raw: busy key was granted`);
    const id = randomUUID();
    c0 = count();
    markCpu();
    t0 = now();
    const got = await raw.acquire(key, id, t.ttlMs);
    record(r, 'acquire', now() - t0, count() - c0);
    if (!got) throw new Error(`${t.name} raw: acquire failed`);
    c0 = count();
    markCpu();
    t0 = now();
    if (!(await raw.renew(key, id, t.ttlMs))) throw new Error(`${t.name} raw: renew failed`);
    record(r, 'renew', now() - t0, count() - c0);
    c0 = count();
    markCpu();
    t0 = now();
    if (!(await raw.release(key, id))) throw new Error(`${t.name} raw: release failed`);
    record(r, 'release', now() - t0, count() - c0);
  }
  await raw.release(busyKey, otherId);
  return r;
}

/** Runs sections 1 and 2 for one store. */
export async function benchOps(
  t: Target,
  figs: Figures,
  o: { rounds: number; n: number; warmMs: number },
): Promise<void> {
  const lhRounds: RoundResult[] = [];
  const rawRounds: RoundResult[] = [];
  const directRounds: RoundResult[] = [];
  // Unmeasured rounds first, to warm the JIT (leasehold's code paths take a second or
  // two of work to get optimised), connections and scripts.
  const warmUntil = now() + o.warmMs;
  for (let w = 0; w === 0 || now() < warmUntil; w++) {
    await leaseholdRound(t, Math.min(20, o.n), 1000 + w);
    await directRound(t, Math.min(20, o.n), 1000 + w);
    if (t.raw) await rawRound(t, Math.min(20, o.n), 1000 + w);
  }
  const kinds: Array<[RoundResult[], (t: Target, n: number, round: number) => Promise<RoundResult>]> = [
    [lhRounds, leaseholdRound],
    [directRounds, directRound],
  ];
  if (t.raw) kinds.push([rawRounds, rawRound]);
  for (let round = 0; round < o.rounds; round++) {
    // Rotate which variant goes first, so none always runs on a warmer or cooler machine.
    for (let j = 0; j < kinds.length; j++) {
      const [list, fn] = kinds[(j + round) % kinds.length] as (typeof kinds)[number];
      list.push(await fn(t, o.n, round));
    }
  }
  const unit = t.counter ? t.unit : 'store calls';
  for (const op of OPS) {
    const p50s = lhRounds.map((r) => quantile(r.lat.get(op) ?? [], 0.5));
    const p99s = lhRounds.map((r) => quantile(r.lat.get(op) ?? [], 0.99));
    figs.add({ name: `ops.${op}.p50`, store: t.name, value: median(p50s), unit: 'ms' });
    figs.add({ name: `ops.${op}.p99`, store: t.name, value: median(p99s), unit: 'ms' });
    if (t.counter) {
      const reqs = median(lhRounds.map((r) => (r.req.get(op) ?? 0) / o.n));
      figs.add({ name: `ops.${op}.requests`, store: t.name, value: reqs, unit: `${unit}/op` });
    } else {
      figs.add({
        name: `ops.${op}.requests`,
        store: t.name,
        value: 1,
        unit: 'store calls/op',
        note: 'no network client; one store method call',
      });
    }
  }
  // What the core adds to each store call (Lease object, timers, callStore, events):
  // client CPU through the public API minus the store method called directly.
  for (const op of RAW_OPS) {
    const cpuOf = (r: RoundResult) => (r.cpu.get(op) ?? 0) / o.n;
    figs.add({
      name: `core.${op}.cpu`,
      store: t.name,
      value: median(lhRounds.map(cpuOf)) - median(directRounds.map(cpuOf)),
      unit: 'µs CPU/op',
      note: 'public API minus the store method called directly',
    });
  }
  if (!t.raw) return;
  // Section 2: leasehold / raw, per round, then the median.
  for (const op of RAW_OPS) {
    const raw50 = rawRounds.map((r) => quantile(r.lat.get(op) ?? [], 0.5));
    const raw99 = rawRounds.map((r) => quantile(r.lat.get(op) ?? [], 0.99));
    const ratios = lhRounds.map((r, i) => quantile(r.lat.get(op) ?? [], 0.5) / (raw50[i] as number));
    const ratio = median(ratios);
    figs.add({ name: `raw.${op}.p50`, store: t.name, value: median(raw50), unit: 'ms', note: t.raw.how });
    figs.add({ name: `raw.${op}.p99`, store: t.name, value: median(raw99), unit: 'ms' });
    figs.add({
      name: `raw.${op}.requests`,
      store: t.name,
      value: median(rawRounds.map((r) => (r.req.get(op) ?? 0) / o.n)),
      unit: `${unit}/op`,
    });
    figs.add({
      name: `overhead.${op}.p50`,
      store: t.name,
      value: median(lhRounds.map((r) => quantile(r.lat.get(op) ?? [], 0.5))),
      unit: 'ms',
      ratioTo: 'raw',
      ratio,
      note: ratio <= 1.15 ? 'goal ≤ 1.15× met' : 'goal ≤ 1.15× MISSED',
    });
  }
  // Client CPU per operation: robust on a loaded machine, where wall time is mostly waiting.
  for (const op of RAW_OPS) {
    const cpuOf = (r: RoundResult) => (r.cpu.get(op) ?? 0) / o.n;
    figs.add({
      name: `overhead.${op}.cpu`,
      store: t.name,
      value: median(lhRounds.map(cpuOf)),
      unit: 'µs CPU/op',
      ratioTo: 'raw',
      ratio: median(lhRounds.map((r, i) => cpuOf(r) / cpuOf(rawRounds[i] as RoundResult))),
    });
    figs.add({
      name: `overhead.${op}.store_only.cpu`,
      store: t.name,
      value: median(directRounds.map(cpuOf)),
      unit: 'µs CPU/op',
      ratioTo: 'raw',
      ratio: median(directRounds.map((r, i) => cpuOf(r) / cpuOf(rawRounds[i] as RoundResult))),
    });
  }
  // Where the overhead is: the store's own request (direct call) against the raw one.
  for (const op of RAW_OPS) {
    const ratio = median(
      directRounds.map((r, i) => quantile(r.lat.get(op) ?? [], 0.5) / quantile(rawRounds[i]?.lat.get(op) ?? [], 0.5)),
    );
    figs.add({
      name: `overhead.${op}.store_only.p50`,
      store: t.name,
      value: median(directRounds.map((r) => quantile(r.lat.get(op) ?? [], 0.5))),
      unit: 'ms',
      ratioTo: 'raw',
      ratio,
      note: 'store method called directly, without the core',
    });
  }
  // The whole lease (acquire + release), the usual unit of work.
  const cycle = (r: RoundResult) =>
    quantile(r.lat.get('acquire') ?? [], 0.5) + quantile(r.lat.get('release') ?? [], 0.5);
  const cr = median(lhRounds.map((r, i) => cycle(r) / cycle(rawRounds[i] as RoundResult)));
  figs.add({
    name: 'overhead.acquire+release.p50',
    store: t.name,
    value: median(lhRounds.map(cycle)),
    unit: 'ms',
    ratioTo: 'raw',
    ratio: cr,
    note: cr <= 1.15 ? 'goal ≤ 1.15× met' : 'goal ≤ 1.15× MISSED',
  });
}
