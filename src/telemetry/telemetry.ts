/**
 * One `Leasehold`'s telemetry: it listens to the instance's events and records the
 * metrics of the table (instruments.ts) twice — into OpenTelemetry instruments when
 * `@opentelemetry/api` is installed (otel.ts), and into an in-process aggregate written as
 * Prometheus text (prometheus.ts) — reads the observable ones (skips, clock offset,
 * placement) when a reader collects, and starts each run's span. docs/operating.md.
 * @module
 */
import type { SafeEmitter } from '../events.js';
import { ConfigError } from '../errors.js';
import { shownValue } from '../internal.js';
import type { LeaseholdEvents } from '../leasehold-types.js';
import { HOSTS_PREFIX } from '../scheduler/placement.js';
import type { RunSpan } from '../scheduler/port.js';
import type { JobStats, PlacementEvent, RunEvent, RunOutcome } from '../scheduler/types.js';
import { checkOptionNames } from '../store-kit/index.js';
import { ATTR, type Attributes, type InstrumentName } from './instruments.js';
import { OtelSink } from './otel.js';
import { type Observation, PrometheusAggregate } from './prometheus.js';
import { type LeaseholdTelemetry, TELEMETRY_OPTIONS, type TelemetryOptions } from './types.js';

/** What telemetry reads of its `Leasehold`. */
export interface TelemetryHost {
  /** The instance's events. */
  readonly events: Pick<SafeEmitter<LeaseholdEvents>, 'on'>;
  /** The scheduled jobs, with their counters. */
  jobs(): Iterable<{ readonly key: string; readonly stats: JobStats }>;
  /** True when `key` is a job scheduled on this instance. */
  isJob(key: string): boolean;
  /** The estimated offset of the store's clock (ms, store minus host), once measured. */
  storeClockOffsetMs(): number | undefined;
}

/** Lease attributes of keys that are not jobs: a host's liveness lease, or anything else. */
const PLACEMENT_LEASE: Attributes = Object.freeze({ [ATTR.leaseKind]: 'placement' });
const OTHER_LEASE: Attributes = Object.freeze({ [ATTR.leaseKind]: 'other' });

/**
 * Checks the `telemetry` option: `false` turns telemetry off, `true` or absent uses the
 * global providers. @throws ConfigError naming the value
 */
export function checkTelemetryOption(option: unknown): TelemetryOptions | false {
  if (option === false) return false;
  if (option === undefined || option === true) return {};
  if (typeof option !== 'object' || option === null || Array.isArray(option)) {
    throw new ConfigError(
      `telemetry: expected true, false or { meterProvider, tracerProvider }, got ${shownValue(option)}`,
    );
  }
  checkOptionNames('telemetry', option, TELEMETRY_OPTIONS);
  const { meterProvider, tracerProvider } = option as TelemetryOptions;
  if (meterProvider !== undefined && typeof (meterProvider as { getMeter?: unknown })?.getMeter !== 'function') {
    throw new ConfigError(
      `telemetry.meterProvider: expected a MeterProvider (with getMeter), got ${shownValue(meterProvider)}`,
    );
  }
  if (tracerProvider !== undefined && typeof (tracerProvider as { getTracer?: unknown })?.getTracer !== 'function') {
    throw new ConfigError(
      `telemetry.tracerProvider: expected a TracerProvider (with getTracer), got ${shownValue(tracerProvider)}`,
    );
  }
  return Object.freeze({ ...(option as TelemetryOptions) });
}

/** @internal The telemetry of one `Leasehold` (`lh.telemetry`). */
export class Telemetry implements LeaseholdTelemetry {
  readonly enabled: boolean;
  /** Settles once `@opentelemetry/api` has loaded (or is known to be absent). */
  readonly ready: Promise<void>;
  readonly #host: TelemetryHost;
  readonly #aggregate = new PrometheusAggregate();
  readonly #otel: OtelSink | undefined;
  /**
   * Each job's attribute sets (its lease's, its lateness's, its runs' by outcome), made
   * once per job: the aggregate computes a series' identity once per frozen attribute set,
   * where a fresh set per record cost a sort and a JSON text each time.
   */
  readonly #jobAttributes = new Map<string, JobAttributes>();
  /** This host's last view of the fleet, when placement is on. */
  #placement: PlacementEvent | undefined;

  /** Telemetry of the instance `host` describes; `options` from {@link checkTelemetryOption}. */
  constructor(options: TelemetryOptions | false, host: TelemetryHost) {
    this.#host = host;
    this.enabled = options !== false;
    if (options === false) {
      this.ready = Promise.resolve();
      return;
    }
    this.#otel = new OtelSink(options, this);
    this.ready = this.#otel.ready;
    this.#listen(host.events);
  }

  prometheus(): string {
    return this.enabled ? this.#aggregate.text(this.observe()) : '';
  }

  /** @internal The span of one try of a handler, when tracing is on. */
  startRunSpan(event: RunEvent): RunSpan | undefined {
    return this.#otel?.startRunSpan(event);
  }

  /** @internal The observable metrics' values now: skipped slots, the store clock's offset, placement. */
  observe(): Observation[] {
    const out: Observation[] = [];
    try {
      for (const job of this.#host.jobs()) {
        for (const [reason, count] of Object.entries(job.stats.skipped)) {
          if (count > 0) out.push({ metric: 'skipped', value: count, attributes: skipAttributes(job.key, reason) });
        }
      }
      const offsetMs = this.#host.storeClockOffsetMs();
      if (offsetMs !== undefined) out.push({ metric: 'clockOffset', value: offsetMs / 1000, attributes: {} });
      const placement = this.#placement;
      if (placement) {
        out.push({ metric: 'hosts', value: placement.hosts, attributes: {} });
        out.push({ metric: 'owned', value: placement.owned, attributes: {} });
      }
    } catch {
      // A reader's collection never fails because of us.
    }
    return out;
  }

  #listen(events: TelemetryHost['events']): void {
    events.on('run:start', (event) => {
      // The first try of a scheduled slot: retries wait by design, and an operator's backfill
      // runs old slots on purpose.
      if (event.attempt !== 1 || event.operator || event.lateMs === undefined) return;
      this.#record('lateness', event.lateMs / 1000, this.#attributesOf(event.key).job);
    });
    events.on('run:success', (event) => this.#runEnded(event.key, 'ok', event.durationMs));
    events.on('run:error', (event) => this.#runEnded(event.key, event.outcome ?? 'error', event.durationMs));
    events.on('acquired', (event) => this.#record('acquired', 1, this.#leaseAttributes(event.key)));
    events.on('lost', (event) => this.#record('lost', 1, this.#leaseAttributes(event.key)));
    events.on('renewed', (event) => {
      if (event.latencyMs !== undefined)
        this.#record('renewal', event.latencyMs / 1000, this.#leaseAttributes(event.key));
    });
    events.on('placement:changed', (event) => this.#placementChanged(event));
  }

  #runEnded(key: string, outcome: RunOutcome, durationMs: number): void {
    const { outcomes } = this.#attributesOf(key);
    let attributes = outcomes[outcome];
    if (!attributes) {
      attributes = Object.freeze({ [ATTR.jobKey]: key, [ATTR.outcome]: outcome });
      outcomes[outcome] = attributes;
    }
    this.#record('runs', 1, attributes);
    this.#record('runDuration', durationMs / 1000, attributes);
  }

  /** The frozen attribute sets of job `key`, made on first use. */
  #attributesOf(key: string): JobAttributes {
    let sets = this.#jobAttributes.get(key);
    if (!sets) {
      sets = {
        lease: Object.freeze({ [ATTR.leaseKind]: 'job', [ATTR.jobKey]: key }),
        job: Object.freeze({ [ATTR.jobKey]: key }),
        outcomes: {},
      };
      this.#jobAttributes.set(key, sets);
    }
    return sets;
  }

  /** Ownership moves; the first view of an instance is its initial assignment, not a move. */
  #placementChanged(event: PlacementEvent): void {
    const first = this.#placement === undefined;
    this.#placement = event;
    if (first) return;
    if (event.gained.length > 0) this.#record('moves', event.gained.length, { [ATTR.direction]: 'in' });
    if (event.lost.length > 0) this.#record('moves', event.lost.length, { [ATTR.direction]: 'out' });
  }

  /** `job` (with the job's key) for a scheduled job's lease, `placement` for a liveness lease, else `other`. */
  #leaseAttributes(key: string): Attributes {
    if (!this.#host.isJob(key)) return key.startsWith(HOSTS_PREFIX) ? PLACEMENT_LEASE : OTHER_LEASE;
    return this.#attributesOf(key).lease;
  }

  #record(metric: InstrumentName, value: number, attributes: Attributes): void {
    this.#aggregate.record(metric, value, attributes);
    this.#otel?.record(metric, value, attributes);
  }
}

/** A job's attribute sets: its lease's, its own (lateness), and its runs' by outcome. */
interface JobAttributes {
  readonly lease: Attributes;
  readonly job: Attributes;
  /** A plain object: a job rarely has more than one or two outcomes, and a Map per job weighed more than its entries. */
  readonly outcomes: Partial<Record<RunOutcome, Attributes>>;
}

function skipAttributes(key: string, reason: string): Attributes {
  return { [ATTR.jobKey]: key, [ATTR.reason]: reason };
}
