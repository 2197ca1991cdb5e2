/**
 * Section 4: the origin post's approach against leasehold's scheduler, on Azurite, for
 * a fleet of 10 hosts simulated in this process (each host its own SDK client, each
 * client counted by a pipeline policy).
 *
 * The post (a .NET BackgroundService): every host runs a PeriodicTimer started when the
 * host started (so hosts tick at unrelated phases); on each tick it calls Exists on the
 * blob, uploads an empty blob if missing, tries a 60 s lease (409 = someone else has it),
 * renews every 50 s while working, does the work, releases. Its tick is 10 s and its
 * work 2 s; here both are scaled down by the same factor (tick T, work T/5) so a run
 * takes seconds. Renewals only happen when work lasts 50 s or more, so at the post's
 * figures there are none; they are added per 50 s of work in the note.
 *
 * leasehold: `lh.every(T, key, work)` on each host, default TTL (30 s on Azure).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerClient } from '@azure/storage-blob';
import { Leasehold } from '../src/leasehold.js';
import { AzureBlobStore } from '../src/stores/azure-blob/index.js';
import { countingContainer, Counter, median, rid, type Figures } from './lib.js';
import type { Servers } from './targets.js';

const HOSTS = 10;

interface Host {
  counter: Counter;
  client: ContainerClient;
}

function hosts(az: Parameters<typeof countingContainer>[1], container: string): Host[] {
  return Array.from({ length: HOSTS }, () => {
    const counter = new Counter();
    return { counter, client: countingContainer(counter, az, container) };
  });
}

const total = (hs: Host[]) => hs.reduce((a, h) => a + h.counter.n, 0);
const labels = (hs: Host[]) => {
  const m = new Map<string, number>();
  for (const h of hs) for (const [k, v] of h.counter.byLabel) m.set(k, (m.get(k) ?? 0) + v);
  return m;
};

/** The post's worker loop on one host, until `stop` aborts. Counts runs. */
async function postWorker(
  h: Host,
  periodMs: number,
  workMs: number,
  phaseMs: number,
  stop: AbortSignal,
  runs: number[],
): Promise<void> {
  const blobName = 'Worker';
  await sleep(phaseMs, undefined, { signal: stop }).catch(() => {});
  let next = performance.now() + periodMs;
  while (!stop.aborted) {
    // PeriodicTimer.WaitForNextTickAsync: ticks on a fixed period from the start.
    await sleep(Math.max(0, next - performance.now()), undefined, { signal: stop }).catch(() => {});
    if (stop.aborted) return;
    next += periodMs;
    const blob = h.client.getBlockBlobClient(blobName);
    try {
      if (!(await blob.exists())) await blob.upload('', 0);
      const lc = blob.getBlobLeaseClient();
      try {
        await lc.acquireLease(60);
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 409) continue;
        throw err;
      }
      runs.push(performance.now());
      // Renew every 50 s while working (never fires when the work is shorter).
      const renew = setInterval(() => void lc.renewLease().catch(() => {}), 50_000);
      try {
        await sleep(workMs);
      } finally {
        clearInterval(renew);
        await lc.releaseLease();
      }
    } catch {
      // The post logs and carries on.
    }
  }
}

/** Runs section 4. */
export async function benchPost(figs: Figures, servers: Servers, o: { quick: boolean }): Promise<void> {
  const az = await servers.azurite();
  const periodMs = o.quick ? 1000 : 2000;
  const workMs = periodMs / 5;
  const ticks = o.quick ? 3 : 10;
  const reps = o.quick ? 1 : 2;
  const postPer: number[] = [];
  const lhPer: number[] = [];
  const postRuns: number[] = [];
  const lhRuns: number[] = [];
  let postLabels = new Map<string, number>();
  let lhLabels = new Map<string, number>();
  for (let rep = 0; rep < reps; rep++) {
    // --- the post's approach ---
    {
      const container = `post${rid()}`;
      const hs = hosts(az, container);
      await (hs[0] as Host).client.createIfNotExists();
      const stop = new AbortController();
      const runs: number[] = [];
      const loops = hs.map((h) => postWorker(h, periodMs, workMs, Math.random() * periodMs, stop.signal, runs));
      // Warm-up: one full period (blob creation, connections), then measure `ticks` periods.
      await sleep(periodMs * 1.5);
      const c0 = total(hs);
      const l0 = labels(hs);
      const r0 = runs.length;
      await sleep(periodMs * ticks);
      const c1 = total(hs);
      const l1 = labels(hs);
      const r1 = runs.length;
      stop.abort();
      await Promise.all(loops);
      postPer.push((c1 - c0) / (HOSTS * ticks));
      postRuns.push((r1 - r0) / ticks);
      postLabels = new Map([...l1].map(([k, v]) => [k, (v - (l0.get(k) ?? 0)) / (HOSTS * ticks)]));
    }
    // --- leasehold's scheduler ---
    {
      const container = `lh${rid()}`;
      const hs = hosts(az, container);
      await (hs[0] as Host).client.createIfNotExists();
      let runs = 0;
      const lhs = hs.map((h, i) => {
        const lh = new Leasehold({ store: new AzureBlobStore({ containerClient: h.client }), holder: `host-${i}` });
        lh.every(`${periodMs}ms`, 'Worker', async ({ signal }) => {
          runs++;
          await sleep(workMs, undefined, { signal }).catch(() => {});
        });
        return lh;
      });
      await Promise.all(lhs.map((lh) => lh.start()));
      // Start-up is not a tick: on Azure the scheduler spends its first second refining
      // its estimate of the service's whole-second clock (10 extra Get Container
      // Properties per host, once). Measure the steady state after that.
      await sleep(1_500);
      // Measure whole slots: from the middle of one period to the middle of another.
      const nowMs = Date.now();
      const firstMid = Math.ceil(nowMs / periodMs) * periodMs + periodMs + periodMs / 2;
      await sleep(firstMid - Date.now());
      const c0 = total(hs);
      const l0 = labels(hs);
      const r0 = runs;
      await sleep(firstMid + ticks * periodMs - Date.now());
      const c1 = total(hs);
      const l1 = labels(hs);
      const r1 = runs;
      await Promise.all(lhs.map((lh) => lh.stop({ grace: '1s' })));
      lhPer.push((c1 - c0) / (HOSTS * ticks));
      lhRuns.push((r1 - r0) / ticks);
      lhLabels = new Map([...l1].map(([k, v]) => [k, (v - (l0.get(k) ?? 0)) / (HOSTS * ticks)]));
    }
  }
  const fmtLabels = (m: Map<string, number>) =>
    [...m]
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ');
  const post = median(postPer);
  const lh = median(lhPer);
  figs.add({
    name: 'post.requests_per_tick_per_host',
    store: 'post (azure-blob)',
    value: post,
    unit: 'requests/tick/host',
    note: fmtLabels(postLabels),
  });
  figs.add({
    name: 'post.runs_per_tick',
    store: 'post (azure-blob)',
    value: median(postRuns),
    unit: 'job runs/period (fleet)',
    note: `10 hosts, unaligned timers, work = period/5; renewals: +1 per 50 s of work on the running host`,
  });
  figs.add({
    name: 'post.leasehold_requests_per_tick_per_host',
    store: 'azure-blob',
    value: lh,
    unit: 'requests/tick/host',
    ratioTo: 'post',
    ratio: lh / post,
    note: fmtLabels(lhLabels),
  });
  figs.add({
    name: 'post.leasehold_runs_per_tick',
    store: 'azure-blob',
    value: median(lhRuns),
    unit: 'job runs/period (fleet)',
    note: 'once per slot; renewals: +1 per ttl/3 (10 s at the default 30 s TTL) of work on the running host',
  });
}
