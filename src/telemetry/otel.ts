/**
 * The OpenTelemetry side of leasehold's telemetry, through `@opentelemetry/api` only,
 * loaded on first use: instruments made from the table in instruments.ts, and a span per
 * run whose context the handler runs in. Without the package nothing here does anything.
 * Nothing an SDK throws reaches a lease or a run. docs/operating.md, "Metrics", "Traces".
 * @module
 */
import type * as OtelApi from '@opentelemetry/api';
import { errorText } from '../store-kit/index.js';
import type { RunEvent, RunOutcome } from '../scheduler/types.js';
import type { RunSpan } from '../scheduler/port.js';
import { type Attributes, INSTRUMENTS, type InstrumentName, SPAN_ATTR } from './instruments.js';
import type { Observation } from './prometheus.js';
import type { TelemetryOptions } from './types.js';

type Api = typeof OtelApi;

/** The meter's and tracer's name (the instrumentation scope). */
export const SCOPE_NAME = 'leasehold';

/** Recordings kept while the API loads, at most: a process that records more before it has loaded drops the rest. */
const MAX_PENDING = 10_000;

let loading: Promise<Api | undefined> | undefined;

/**
 * `@opentelemetry/api`, imported once per process on first use; undefined when it is not
 * installed. The package keeps its providers in a global registry, so this copy sees the
 * SDK the application registered with its own.
 */
export function loadOtelApi(): Promise<Api | undefined> {
  loading ??= import('@opentelemetry/api').then(pickApi, () => undefined);
  return loading;
}

/** The API's namespace objects, from the module or (CommonJS) its default export. */
function pickApi(mod: unknown): Api | undefined {
  const isApi = (m: unknown): m is Api => {
    const api = m as Partial<Api> | undefined;
    return typeof api?.metrics?.getMeter === 'function' && typeof api.trace?.getTracer === 'function';
  };
  if (isApi(mod)) return mod;
  const fallback = (mod as { default?: unknown } | undefined)?.default;
  return isApi(fallback) ? fallback : undefined;
}

type SyncInstrument = OtelApi.Counter | OtelApi.Histogram;

/** Instruments and tracer of one `Leasehold`, once the API has loaded. */
export class OtelSink {
  /** Settles when the API has loaded (or is known to be absent) and the instruments exist. */
  readonly ready: Promise<void>;
  #api: Api | undefined;
  #tracer: OtelApi.Tracer | undefined;
  #instruments: Partial<Record<InstrumentName, SyncInstrument>> | undefined;
  /** Recordings made before the API loaded, replayed on the instruments; undefined once loaded. */
  #pending: [InstrumentName, number, Attributes][] | undefined = [];

  /**
   * A sink on the given providers (or the global ones). `observe` gives the observable
   * metrics' values at each collection; it is held weakly through `owner`, so an owner
   * dropped by the application stops being observed instead of being kept alive.
   */
  constructor(options: TelemetryOptions, owner: { observe(): Observation[] }) {
    this.ready = loadOtelApi().then(
      (api) => this.#open(api, options, new WeakRef(owner)),
      () => {
        this.#pending = undefined;
      },
    );
  }

  /** Adds to a counter or records a histogram value (kept until the API has loaded). */
  record(metric: InstrumentName, value: number, attributes: Attributes): void {
    const instruments = this.#instruments;
    if (instruments) {
      write(instruments[metric], value, attributes);
      return;
    }
    if (this.#pending && this.#pending.length < MAX_PENDING) this.#pending.push([metric, value, attributes]);
  }

  /** Starts the span of one try of a handler: a root span, since a run is not part of what started the scheduler. */
  startRunSpan(event: RunEvent): RunSpan | undefined {
    const api = this.#api;
    const tracer = this.#tracer;
    if (!api || !tracer) return undefined;
    try {
      const attributes: OtelApi.Attributes = {
        [SPAN_ATTR.jobKey]: event.key,
        [SPAN_ATTR.slot]: event.slot.toISOString(),
        [SPAN_ATTR.token]: event.token,
        [SPAN_ATTR.holder]: event.holder,
        [SPAN_ATTR.attempt]: event.attempt,
      };
      if (event.operator) attributes[SPAN_ATTR.operator] = event.operator.action;
      const span = tracer.startSpan(`run ${event.key}`, { kind: api.SpanKind.INTERNAL, root: true, attributes });
      return new OtelRunSpan(api, span);
    } catch {
      return undefined;
    }
  }

  #open(api: Api | undefined, options: TelemetryOptions, owner: WeakRef<{ observe(): Observation[] }>): void {
    const pending = this.#pending ?? [];
    this.#pending = undefined;
    if (!api) return;
    try {
      const meterProvider = (options.meterProvider as OtelApi.MeterProvider | undefined) ?? api.metrics;
      const tracerProvider = (options.tracerProvider as OtelApi.TracerProvider | undefined) ?? api.trace;
      const meter = meterProvider.getMeter(SCOPE_NAME);
      this.#instruments = makeInstruments(meter);
      observeOn(meter, owner);
      this.#tracer = tracerProvider.getTracer(SCOPE_NAME);
      this.#api = api;
    } catch {
      // A provider that throws gets nothing: leases and runs go on.
      this.#instruments = {};
      return;
    }
    for (const [metric, value, attributes] of pending) write(this.#instruments[metric], value, attributes);
  }
}

/** One recording; an SDK that throws loses that value, nothing else. */
function write(instrument: SyncInstrument | undefined, value: number, attributes: Attributes): void {
  try {
    if (!instrument) return;
    if ('add' in instrument) instrument.add(value, attributes);
    else instrument.record(value, attributes);
  } catch {
    // Telemetry never breaks a lease or a run.
  }
}

/** The synchronous instruments of the table. */
function makeInstruments(meter: OtelApi.Meter): Partial<Record<InstrumentName, SyncInstrument>> {
  const out: Partial<Record<InstrumentName, SyncInstrument>> = {};
  for (const [metric, spec] of Object.entries(INSTRUMENTS) as [
    InstrumentName,
    (typeof INSTRUMENTS)[InstrumentName],
  ][]) {
    const base = { unit: spec.unit, description: spec.description };
    if (spec.kind === 'counter') out[metric] = meter.createCounter(spec.name, base);
    if (spec.kind === 'histogram') {
      const buckets = 'buckets' in spec ? [...spec.buckets] : undefined;
      out[metric] = meter.createHistogram(
        spec.name,
        buckets ? { ...base, advice: { explicitBucketBoundaries: buckets } } : base,
      );
    }
  }
  return out;
}

/**
 * The observable instruments of the table, read in one batch callback per collection.
 * The callback removes itself once its owner is gone.
 */
function observeOn(meter: OtelApi.Meter, owner: WeakRef<{ observe(): Observation[] }>): void {
  const observables: Partial<Record<InstrumentName, OtelApi.Observable>> = {};
  for (const [metric, spec] of Object.entries(INSTRUMENTS) as [
    InstrumentName,
    (typeof INSTRUMENTS)[InstrumentName],
  ][]) {
    const base = { unit: spec.unit, description: spec.description };
    if (spec.kind === 'observable-counter') observables[metric] = meter.createObservableCounter(spec.name, base);
    if (spec.kind === 'observable-gauge') observables[metric] = meter.createObservableGauge(spec.name, base);
  }
  const list = Object.values(observables).filter((o): o is OtelApi.Observable => o !== undefined);
  const callback: OtelApi.BatchObservableCallback = (result) => {
    const target = owner.deref();
    if (!target) {
      meter.removeBatchObservableCallback(callback, list);
      return;
    }
    for (const observation of target.observe()) {
      const observable = observables[observation.metric];
      if (observable) result.observe(observable, observation.value, observation.attributes);
    }
  };
  meter.addBatchObservableCallback(callback, list);
}

/** A run's span: the handler runs in its context, and it ends with the try. */
class OtelRunSpan implements RunSpan {
  readonly #api: Api;
  readonly #span: OtelApi.Span;

  constructor(api: Api, span: OtelApi.Span) {
    this.#api = api;
    this.#span = span;
  }

  within<T>(fn: () => T): T {
    let context: OtelApi.Context;
    try {
      context = this.#api.trace.setSpan(this.#api.context.active(), this.#span);
    } catch {
      return fn();
    }
    return this.#api.context.with(context, fn);
  }

  end(outcome: RunOutcome, error?: unknown): void {
    try {
      const span = this.#span;
      span.setAttribute(SPAN_ATTR.outcome, outcome);
      if (outcome !== 'ok') {
        // One line, with credentials masked, as every error text leasehold writes (B2).
        const message = error === undefined ? outcome : errorText(error);
        const type = outcome === 'error' && error instanceof Error ? error.name : outcome;
        span.setAttribute('error.type', type);
        span.recordException({ name: type, message });
        span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message });
      }
      span.end();
    } catch {
      // Telemetry never breaks a run.
    }
  }
}
