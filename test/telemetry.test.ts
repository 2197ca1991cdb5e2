/**
 * Telemetry (issue 15, item 1): after a known sequence of runs, skips and a lost lease on a
 * fake clock and the memory store, the OpenTelemetry SDK's in-memory metric exporter and
 * span exporter hold exact counts and attributes; a handler's span is a child of its run's
 * span; the Prometheus text of the same metrics parses and agrees, scraped over HTTP from
 * the status page's `/metrics`; and the options are checked.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { context, metrics, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import {
  AggregationTemporality,
  DataPointType,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { ConfigError, Leasehold, type JobContext } from '../src/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { FakeClock } from '../src/testing/index.js';
import { PrometheusAggregate } from '../src/telemetry/prometheus.js';
import { statusHandler } from '../src/ui/index.js';

const START = Date.UTC(2026, 0, 1);
const PERIOD = 2000;
const iso = (t: number) => new Date(t).toISOString();

/** The SDK pieces a test reads: an in-memory metric exporter behind a reader, and an in-memory span exporter. */
function sdk() {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exports only when flushed: the test decides when metrics are collected.
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  /** Every metric data point of the last collection, by metric name. */
  async function collect() {
    await reader.forceFlush();
    const exported = metricExporter.getMetrics().at(-1);
    const byName = new Map<string, { type: DataPointType; points: { attributes: object; value: unknown }[] }>();
    for (const scope of exported?.scopeMetrics ?? []) {
      for (const metric of scope.metrics) {
        const points = metric.dataPoints.map((point) => ({ attributes: point.attributes, value: point.value }));
        byName.set(metric.descriptor.name, { type: metric.dataPointType, points });
      }
    }
    return byName;
  }
  /** The last collection as OpenTelemetry's own Prometheus exporter writes it (no scope labels, no target_info). */
  function serialized(): string {
    const exported = metricExporter.getMetrics().at(-1);
    assert.ok(exported, 'collected');
    return new PrometheusSerializer(undefined, false, undefined, true, true).serialize(exported);
  }
  async function shutdown() {
    await meterProvider.shutdown();
    await tracerProvider.shutdown();
  }
  return { meterProvider, tracerProvider, spanExporter, collect, serialized, shutdown };
}

type Collected = Awaited<ReturnType<ReturnType<typeof sdk>['collect']>>;

/** The value of the data point of `name` whose attributes are exactly `attributes`. */
function pointOf(collected: Collected, name: string, attributes: Record<string, string>): unknown {
  const metric = collected.get(name);
  assert.ok(metric, `metric ${name} was exported (got ${[...collected.keys()].join(', ')})`);
  const point = metric.points.find((p) => JSON.stringify(sorted(p.attributes)) === JSON.stringify(sorted(attributes)));
  assert.ok(
    point,
    `${name}${JSON.stringify(attributes)} among ${JSON.stringify(metric.points.map((p) => p.attributes))}`,
  );
  return point.value;
}

function sorted(object: object): [string, unknown][] {
  return Object.entries(object).sort(([a], [b]) => (a < b ? -1 : 1));
}

function sleepFake(clock: FakeClock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

async function stopAll(clock: FakeClock, hosts: Leasehold[]): Promise<void> {
  let done = false;
  const stopped = Promise.all(hosts.map((lh) => lh.stop())).finally(() => {
    done = true;
  });
  await clock.advanceUntil(() => done, 60_000, 50);
  await stopped;
}

/** A Prometheus family as parse-prometheus-text-format gives it. */
interface Family {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string; count?: string; sum?: string; buckets?: object }[];
}

function family(families: Family[], name: string): Family {
  const found = families.find((f) => f.name === name);
  assert.ok(found, `family ${name} in ${families.map((f) => f.name).join(', ')}`);
  return found;
}

function sample(families: Family[], name: string, labels: Record<string, string>) {
  const found = family(families, name).metrics.find(
    (m) => JSON.stringify(sorted(m.labels ?? {})) === JSON.stringify(sorted(labels)),
  );
  assert.ok(found, `${name}${JSON.stringify(labels)}`);
  return found;
}

const contextManager = new AsyncLocalStorageContextManager();
before(() => {
  // What NodeSDK does: without a context manager, no context crosses an await.
  context.setGlobalContextManager(contextManager.enable());
});
after(() => {
  context.disable();
});

describe('telemetry (fake clock, memory store, OpenTelemetry SDK in memory)', () => {
  /**
   * One host, one job every 2 s (TTL 3 s: a renewal each second; timeout 1.8 s). The job's
   * state says it last ran 20 s ago, so 9 slots are outside the catch-up window. Then:
   * slot 0 succeeds after 1.5 s with a span of its own (one renewal), slot 1 throws,
   * slot 2 hangs and times out at 1.8 s (one renewal), and slot 3's lease is broken under
   * it (forceRelease), so its renewal is refused: the lease is lost and the run ends `lost`.
   */
  async function scenario() {
    const otel = sdk();
    const clock = new FakeClock(START);
    const store = new MemoryStore({ clock: { wallNow: () => clock.wallNow() } });
    const seed = await store.acquire({ key: 'job', holder: 'old', leaseId: 'seed', ttlMs: 1000 });
    assert.ok(seed.acquired);
    const lastSlot = iso(START - 10 * PERIOD);
    const state = { v: 1, lastSlot, lastOutcome: 'ok', running: null, runs: [] };
    await store.writeState({ key: 'job', leaseId: 'seed', token: seed.token, state });
    await store.release({ key: 'job', leaseId: 'seed', token: seed.token });

    const lh = new Leasehold({
      store,
      clock,
      holder: 'host-a',
      placement: false,
      telemetry: { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider },
    });
    const contexts: JobContext[] = [];
    const appTracer = otel.tracerProvider.getTracer('app');
    lh.every(PERIOD, 'job', (ctx) => handler(ctx), { ttl: 3000, timeout: 1800 });
    async function handler(ctx: JobContext): Promise<void> {
      contexts.push(ctx);
      const index = (ctx.slot.getTime() - START) / PERIOD;
      if (index === 0) {
        await appTracer.startActiveSpan('work', async (span) => {
          await sleepFake(clock, 1500);
          span.end();
        });
      } else if (index === 1) {
        throw new Error('boom');
      } else if (index === 2) {
        await new Promise(() => {}); // hangs: the timeout ends it
      } else {
        await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      }
    }
    const renewals: number[] = [];
    const lost: string[] = [];
    lh.on('renewed', (event) => renewals.push(event.latencyMs ?? -1));
    lh.on('lost', (event) => lost.push(event.key));
    await lh.start();
    await clock.advance(3 * PERIOD + 200);
    assert.equal(contexts.length, 4, 'slot 3 is running');
    assert.equal(await store.forceRelease('job'), true);
    await clock.advance(1000); // slot 3's renewal is refused
    assert.deepEqual(lost, ['job']);
    await stopAll(clock, [lh]);
    return { otel, lh, contexts, renewals };
  }

  let result: Awaited<ReturnType<typeof scenario>>;
  before(async () => {
    result = await scenario();
  });
  after(async () => {
    await result.otel.shutdown();
  });

  it('counters: runs by outcome, skipped slots by reason, leases acquired and lost — exact values', async () => {
    const collected = await result.otel.collect();
    const job = { 'leasehold.job.key': 'job' };
    for (const outcome of ['ok', 'error', 'timeout', 'lost']) {
      assert.equal(pointOf(collected, 'leasehold.job.runs', { ...job, 'leasehold.run.outcome': outcome }), 1, outcome);
    }
    assert.equal(collected.get('leasehold.job.runs')?.points.length, 4, 'no other outcome');
    const skipped = collected.get('leasehold.job.slots.skipped');
    assert.deepEqual(skipped?.points, [
      { attributes: { ...job, 'leasehold.skip.reason': 'outside-catch-up' }, value: 9 },
    ]);
    const jobLease = { ...job, 'leasehold.lease.kind': 'job' };
    assert.equal(pointOf(collected, 'leasehold.lease.acquired', jobLease), 4, 'one lease per slot');
    assert.equal(collected.get('leasehold.lease.acquired')?.points.length, 1, 'no other kind (placement is off)');
    assert.equal(pointOf(collected, 'leasehold.lease.lost', jobLease), 1);
    assert.equal(collected.get('leasehold.placement.moves'), undefined, 'placement is off');
  });

  it('histograms: run duration by outcome, start lateness, renewal latency — exact counts', async () => {
    const collected = await result.otel.collect();
    const job = { 'leasehold.job.key': 'job' };
    const duration = (outcome: string) =>
      pointOf(collected, 'leasehold.run.duration', { ...job, 'leasehold.run.outcome': outcome }) as Histogram;
    const expected = { ok: 1.5, error: 0, timeout: 1.8, lost: 1 };
    for (const [outcome, seconds] of Object.entries(expected)) {
      const histogram = duration(outcome);
      assert.equal(histogram.count, 1, outcome);
      assert.ok(
        Math.abs((histogram.sum ?? Number.NaN) - seconds) < 0.01,
        `${outcome}: ${histogram.sum} s, expected ${seconds}`,
      );
    }
    assert.equal(collected.get('leasehold.run.duration')?.type, DataPointType.HISTOGRAM);
    // The advice's bounds, in seconds: the 1.5 s run is in the (1, 2.5] bucket.
    const ok = duration('ok');
    assert.deepEqual(ok.buckets.boundaries.slice(0, 3), [0.005, 0.01, 0.025]);
    assert.equal(ok.buckets.counts[ok.buckets.boundaries.indexOf(2.5)], 1);
    const lateness = pointOf(collected, 'leasehold.run.start.lateness', job) as Histogram;
    assert.equal(lateness.count, 4, "each slot's first try");
    const late = lateness.sum ?? Number.NaN;
    assert.ok(late >= 0 && late < 0.01, `started ${lateness.sum} s late in all`);
    assert.deepEqual(result.renewals.length, 2, 'slot 0 and slot 2 renewed once each');
    const renewal = pointOf(collected, 'leasehold.lease.renewal.duration', {
      ...job,
      'leasehold.lease.kind': 'job',
    }) as Histogram;
    assert.equal(renewal.count, 2);
    const renewedMs = result.renewals.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs((renewal.sum ?? Number.NaN) - renewedMs / 1000) < 1e-9, `${renewal.sum} s, ${renewedMs} ms`);
  });

  it("gauge: the store clock's estimated offset", async () => {
    const collected = await result.otel.collect();
    const offset = pointOf(collected, 'leasehold.store.clock.offset', {}) as number;
    // Same clock on both sides: the lower bound is 0 less its drift allowance.
    assert.ok(offset <= 0 && offset > -0.01, `offset ${offset} s`);
  });

  it('spans: one per run with key, slot, token, holder, attempt and outcome; the handler’s span is its child', () => {
    const spans = result.otel.spanExporter.getFinishedSpans();
    const runs = spans.filter((span) => span.name === 'run job');
    assert.equal(runs.length, 4);
    const bySlot = (slot: number): ReadableSpan => {
      const span = runs.find((s) => s.attributes['leasehold.run.slot'] === iso(START + slot * PERIOD));
      assert.ok(span, `span of slot ${slot}`);
      return span;
    };
    const outcomes = ['ok', 'error', 'timeout', 'lost'];
    for (const [slot, outcome] of outcomes.entries()) {
      const span = bySlot(slot);
      const ctx = result.contexts[slot];
      assert.deepEqual(span.attributes, {
        'leasehold.job.key': 'job',
        'leasehold.run.slot': iso(START + slot * PERIOD),
        'leasehold.lease.token': ctx?.token,
        'leasehold.lease.holder': 'host-a',
        'leasehold.run.attempt': 1,
        'leasehold.run.outcome': outcome,
        ...(outcome === 'ok' ? {} : { 'error.type': outcome === 'error' ? 'Error' : outcome }),
      });
      assert.equal(span.status.code, outcome === 'ok' ? SpanStatusCode.UNSET : SpanStatusCode.ERROR, outcome);
      assert.equal(span.parentSpanContext, undefined, 'a run is a root span');
    }
    assert.equal(bySlot(1).status.message, 'boom');
    assert.match(String(bySlot(2).status.message), /timed out after 1800ms/);
    const tokens = outcomes.map((_, slot) => Number(bySlot(slot).attributes['leasehold.lease.token']));
    assert.deepEqual(
      [...tokens].sort((a, b) => a - b),
      tokens,
      'tokens grow slot by slot',
    );
    const work = spans.filter((span) => span.name === 'work');
    assert.equal(work.length, 1);
    const parent = bySlot(0).spanContext();
    assert.equal(work[0]?.parentSpanContext?.spanId, parent.spanId, "the handler's span is the run's child");
    assert.equal(work[0]?.spanContext().traceId, parent.traceId);
  });

  it('Prometheus text of the same metrics is scraped from the status page’s /metrics and parses', async () => {
    const page = statusHandler({ store: result.lh.store, metrics: () => result.lh.telemetry.prometheus() });
    const server = await listen(page);
    let text: string;
    try {
      const { port } = server.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(response.status, 200);
      assert.match(String(response.headers.get('content-type')), /^text\/plain; version=0\.0\.4/);
      text = await response.text();
    } finally {
      page.close();
      await new Promise((resolve) => server.close(resolve));
    }
    const families = parsePrometheusTextFormat(text) as Family[];
    const job = { leasehold_job_key: 'job' };
    assert.equal(family(families, 'leasehold_job_runs_total').type, 'COUNTER');
    for (const outcome of ['ok', 'error', 'timeout', 'lost']) {
      const value = sample(families, 'leasehold_job_runs_total', { ...job, leasehold_run_outcome: outcome }).value;
      assert.equal(value, '1', outcome);
    }
    const skipped = { ...job, leasehold_skip_reason: 'outside-catch-up' };
    assert.equal(sample(families, 'leasehold_job_slots_skipped_total', skipped).value, '9');
    const jobLease = { ...job, leasehold_lease_kind: 'job' };
    assert.equal(sample(families, 'leasehold_lease_acquired_total', jobLease).value, '4');
    assert.equal(sample(families, 'leasehold_lease_lost_total', jobLease).value, '1');
    assert.equal(family(families, 'leasehold_store_clock_offset_seconds').type, 'GAUGE');
    const offset = Number(family(families, 'leasehold_store_clock_offset_seconds').metrics[0]?.value);
    assert.ok(offset <= 0 && offset > -0.01, `offset ${offset}`);
    // This parser folds a histogram's labelled series into one (it reads label-less ones
    // only), so histograms are checked sample by sample against OpenTelemetry's own
    // exporter below; here, that their families parse with their type.
    for (const name of ['run_duration', 'run_start_lateness', 'lease_renewal_duration']) {
      assert.equal(family(families, `leasehold_${name}_seconds`).type, 'HISTOGRAM', name);
    }
    // The status page's own gauges come first, from the store: both parse as one text.
    assert.equal(family(families, 'leasehold_status_up').metrics[0]?.value, '1');
  });

  it("the Prometheus text is what OpenTelemetry's Prometheus exporter writes, sample for sample", async () => {
    await result.otel.collect();
    const reference = result.otel.serialized();
    const ours = result.lh.telemetry.prometheus();
    // OpenTelemetry JS's exporter omits the unit suffix that the specification's Prometheus
    // compatibility rules (and the Collector) add: `_seconds` for the unit `s`.
    const seconds = ['run_duration', 'run_start_lateness', 'lease_renewal_duration', 'store_clock_offset'];
    const suffixed = reference
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('# UNIT '))
      .map((line) => line.replace(new RegExp(`leasehold_(${seconds.join('|')})(?=[_{ ]|$)`), 'leasehold_$1_seconds'))
      .map((line) => line.replace(/_seconds_seconds/, '_seconds'));
    const lines = ours.split('\n').filter((line) => line !== '');
    const samples = (list: string[]) => list.filter((line) => !line.startsWith('#')).sort();
    const headers = (list: string[]) => list.filter((line) => line.startsWith('#')).sort();
    assert.ok(samples(lines).length > 60, `${samples(lines).length} samples`);
    assert.deepEqual(samples(lines), samples(suffixed));
    assert.deepEqual(headers(lines), headers(suffixed));
  });
});

describe('telemetry: placement, global providers, options', () => {
  it('placement: ownership moves, live hosts and owned jobs', async () => {
    const otel = sdk();
    const clock = new FakeClock(START);
    const store = new MemoryStore({ clock: { wallNow: () => clock.wallNow() } });
    const telemetry = { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider };
    const first = new Leasehold({ store, clock, holder: 'host-a', placement: { ttl: 3000 }, telemetry });
    const second = new Leasehold({ store, clock, holder: 'host-b', placement: { ttl: 3000 }, telemetry: false });
    const keys = ['a', 'b', 'c', 'd'];
    for (const lh of [first, second]) for (const key of keys) lh.every(1000, key, () => {}, { ttl: 2000 });
    let started = false;
    const starting = Promise.all([first.start(), second.start()]).then(() => {
      started = true;
    });
    await clock.advanceUntil(() => started, 10_000, 10);
    await starting;
    await clock.advance(2050);
    const before = await otel.collect();
    const hosts = pointOf(before, 'leasehold.placement.hosts', {}) as number;
    assert.equal(hosts, 2, 'both hosts are live');
    const ownedBefore = pointOf(before, 'leasehold.placement.jobs.owned', {}) as number;
    assert.equal(ownedBefore, 2, 'an even share of the 4 jobs');
    const gained: string[] = [];
    first.on('placement:changed', (event) => gained.push(...event.gained));
    await stopAll(clock, [second]);
    await clock.advance(1100); // one heartbeat
    const afterStop = await otel.collect();
    assert.equal(gained.length, 2, `moved in: ${gained.join(', ')}`);
    assert.equal(
      pointOf(afterStop, 'leasehold.placement.moves', { 'leasehold.placement.direction': 'in' }),
      gained.length,
    );
    assert.equal(pointOf(afterStop, 'leasehold.placement.hosts', {}), 1);
    assert.equal(pointOf(afterStop, 'leasehold.placement.jobs.owned', {}), 4);
    const placementLease = { 'leasehold.lease.kind': 'placement' };
    assert.equal(pointOf(afterStop, 'leasehold.lease.acquired', placementLease), 1, "host-a's liveness lease");
    assert.equal(second.telemetry.enabled, false);
    assert.equal(second.telemetry.prometheus(), '', 'telemetry: false records nothing');
    await stopAll(clock, [first]);
    await otel.shutdown();
  });

  it('without the option, the global providers get the metrics and spans', async () => {
    const otel = sdk();
    assert.ok(metrics.setGlobalMeterProvider(otel.meterProvider));
    assert.ok(trace.setGlobalTracerProvider(otel.tracerProvider));
    try {
      const clock = new FakeClock(START);
      const store = new MemoryStore({ clock: { wallNow: () => clock.wallNow() } });
      const lh = new Leasehold({ store, clock, holder: 'global', placement: false });
      lh.every(1000, 'global-job', () => {}, { ttl: 3000 });
      await lh.start();
      await clock.advance(2500);
      await stopAll(clock, [lh]);
      const collected = await otel.collect();
      const labels = { 'leasehold.job.key': 'global-job', 'leasehold.run.outcome': 'ok' };
      assert.equal(pointOf(collected, 'leasehold.job.runs', labels), 3);
      const spans = otel.spanExporter.getFinishedSpans().filter((span) => span.name === 'run global-job');
      assert.equal(spans.length, 3);
    } finally {
      metrics.disable();
      trace.disable();
      await otel.shutdown();
    }
  });

  it('a lease taken right after construction is counted once the API has loaded', async () => {
    const otel = sdk();
    const store = new MemoryStore();
    const lh = new Leasehold({ store, telemetry: { meterProvider: otel.meterProvider } });
    const lease = await lh.tryAcquire('plain-lock', { ttl: '5s' });
    assert.ok(lease);
    await lease.release();
    await lh.start(); // awaits the API's loading
    const collected = await otel.collect();
    assert.equal(pointOf(collected, 'leasehold.lease.acquired', { 'leasehold.lease.kind': 'other' }), 1);
    await lh.stop();
    await otel.shutdown();
  });

  it('without @opentelemetry/api, the library loads, runs jobs and still writes its Prometheus text', async () => {
    const args = ['--import', './test/fixtures/no-otel.mjs', '--import', 'tsx', 'test/fixtures/telemetry-absent.ts'];
    const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: 60_000 });
    const seen = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
      apiImport: string;
      runs: number;
      counted: number;
    };
    assert.equal(seen.apiImport, 'ERR_MODULE_NOT_FOUND', 'the package is hidden in the child');
    assert.ok(seen.runs >= 3, `${seen.runs} runs in 450 ms at 100 ms`);
    assert.equal(seen.counted, seen.runs);
  });

  it('options are checked before anything, with one line naming the value', () => {
    const store = new MemoryStore();
    const bad: [unknown, RegExp][] = [
      ['yes', /^telemetry: expected true, false or \{ meterProvider, tracerProvider \}, got "yes"$/],
      [{ meterProvidr: {} }, /^telemetry: unknown option "meterProvidr" \(did you mean "meterProvider"\?\)$/],
      [{ meterProvider: {} }, /^telemetry\.meterProvider: expected a MeterProvider \(with getMeter\)/],
      [{ tracerProvider: 42 }, /^telemetry\.tracerProvider: expected a TracerProvider \(with getTracer\), got 42$/],
    ];
    for (const [telemetry, message] of bad) {
      assert.throws(
        () => new Leasehold({ store, telemetry } as never),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
        JSON.stringify(telemetry),
      );
    }
    assert.throws(() => new Leasehold({ store, telemetri: true } as never), /did you mean "telemetry"/);
    assert.equal(new Leasehold({ store, telemetry: true }).telemetry.enabled, true);
  });
});

function listen(handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('telemetry: the in-process aggregate', () => {
  it('one series per attribute text: frozen sets (found by identity) and plain ones merge, in any name order', () => {
    const aggregate = new PrometheusAggregate();
    const frozen = Object.freeze({ 'leasehold.job.key': 'a', 'leasehold.run.outcome': 'ok' });
    aggregate.record('runs', 1, frozen);
    aggregate.record('runs', 1, { 'leasehold.run.outcome': 'ok', 'leasehold.job.key': 'a' });
    aggregate.record('runs', 1, Object.freeze({ 'leasehold.job.key': 'b', 'leasehold.run.outcome': 'ok' }));
    aggregate.record('runDuration', 0.002, frozen);
    aggregate.record('runDuration', 1e9, { 'leasehold.job.key': 'a', 'leasehold.run.outcome': 'ok' });
    const lines = aggregate.text([]).split('\n');
    const runs = lines.filter((line) => line.startsWith('leasehold_job_runs_total{'));
    assert.deepEqual(runs, [
      'leasehold_job_runs_total{leasehold_job_key="a",leasehold_run_outcome="ok"} 2',
      'leasehold_job_runs_total{leasehold_job_key="b",leasehold_run_outcome="ok"} 1',
    ]);
    const count = lines.filter((line) => line.startsWith('leasehold_run_duration_seconds_count{'));
    assert.deepEqual(count, [
      'leasehold_run_duration_seconds_count{leasehold_job_key="a",leasehold_run_outcome="ok"} 2',
    ]);
    const inf = lines.find(
      (line) => line.startsWith('leasehold_run_duration_seconds_bucket{') && line.includes('le="+Inf"'),
    );
    assert.ok(inf?.endsWith(' 2'), inf);
    const first = lines.find((line) => line.startsWith('leasehold_run_duration_seconds_bucket{'));
    assert.ok(first?.endsWith(' 1'), `the fast try lands in the first bucket, the slow one in none: ${first}`);
  });
});
