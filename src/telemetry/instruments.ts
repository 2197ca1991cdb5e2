/**
 * The one table of leasehold's metrics: name, instrument, unit, description and
 * attributes. Both exports read it: the OpenTelemetry instruments (otel.ts) and the
 * in-process Prometheus text (prometheus.ts). The documented table is in
 * docs/operating.md, "Metrics"; keep the two together.
 * @module
 */

/** How a metric is recorded: synchronously on an event, or read when a reader collects. */
export type InstrumentKind = 'counter' | 'histogram' | 'observable-counter' | 'observable-gauge';

/** One metric of the table. */
export interface InstrumentSpec {
  /** OpenTelemetry name (`leasehold.` namespace, dot-separated). */
  readonly name: string;
  /** Instrument kind. */
  readonly kind: InstrumentKind;
  /** UCUM unit, as OpenTelemetry semantic conventions write it (`s`, `{run}`). */
  readonly unit: string;
  /** What it counts or measures. */
  readonly description: string;
  /** Histogram bucket bounds (in the metric's unit), given to the SDK as advice. */
  readonly buckets?: readonly number[];
}

/**
 * Bounds for durations from a few milliseconds to an hour, in seconds: the semantic
 * conventions' request-duration advice, extended for jobs that run for minutes.
 */
const RUN_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
] as const;

/** Bounds for one store round trip, in seconds (a renewal answers in milliseconds, or times out at ttl/3). */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Bounds for how late a run starts after its slot, in seconds (jitter and catch-up make it seconds to minutes). */
const LATENESS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] as const;

/** Attribute names, in OpenTelemetry style. Values are low-cardinality: no slot, token or holder. */
export const ATTR = {
  /** The scheduled job's key. */
  jobKey: 'leasehold.job.key',
  /** How a run ended: ok, error, timeout, lost, aborted. */
  outcome: 'leasehold.run.outcome',
  /** Why a slot was not run here. */
  reason: 'leasehold.skip.reason',
  /** What a lease is for: `job`, `placement` (a host's liveness lease) or `other`. */
  leaseKind: 'leasehold.lease.kind',
  /** Which way a job moved: `in` (to this host) or `out`. */
  direction: 'leasehold.placement.direction',
} as const;

/** Span attributes of a run (high-cardinality ones are fine on spans). */
export const SPAN_ATTR = {
  jobKey: ATTR.jobKey,
  slot: 'leasehold.run.slot',
  token: 'leasehold.lease.token',
  holder: 'leasehold.lease.holder',
  attempt: 'leasehold.run.attempt',
  outcome: ATTR.outcome,
  /** Set on an operator's run: `trigger` or `backfill`. */
  operator: 'leasehold.run.operator',
} as const;

/** The metrics, in the order the docs table and the Prometheus text list them. */
export const INSTRUMENTS = {
  runs: {
    name: 'leasehold.job.runs',
    kind: 'counter',
    unit: '{run}',
    description: 'Handler runs that ended, by outcome; each try of a retried slot counts once.',
  },
  skipped: {
    name: 'leasehold.job.slots.skipped',
    kind: 'observable-counter',
    unit: '{slot}',
    description: 'Slots this host did not run, by reason.',
  },
  runDuration: {
    name: 'leasehold.run.duration',
    kind: 'histogram',
    unit: 's',
    description: "How long a handler's try took, by outcome.",
    buckets: RUN_BUCKETS,
  },
  lateness: {
    name: 'leasehold.run.start.lateness',
    kind: 'histogram',
    unit: 's',
    description: "How late a slot's first try started after the slot's instant, by the store's clock.",
    buckets: LATENESS_BUCKETS,
  },
  acquired: {
    name: 'leasehold.lease.acquired',
    kind: 'counter',
    unit: '{lease}',
    description: 'Leases acquired.',
  },
  lost: {
    name: 'leasehold.lease.lost',
    kind: 'counter',
    unit: '{lease}',
    description: 'Leases lost while held (renewal refused or too late, or a fenced write refused).',
  },
  renewal: {
    name: 'leasehold.lease.renewal.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Round trip of a successful lease renewal.',
    buckets: REQUEST_BUCKETS,
  },
  clockOffset: {
    name: 'leasehold.store.clock.offset',
    kind: 'observable-gauge',
    unit: 's',
    description: "The store's clock minus this host's wall clock, as estimated (a lower bound).",
  },
  moves: {
    name: 'leasehold.placement.moves',
    kind: 'counter',
    unit: '{job}',
    description: 'Jobs whose ownership moved to (in) or away from (out) this host.',
  },
  hosts: {
    name: 'leasehold.placement.hosts',
    kind: 'observable-gauge',
    unit: '{host}',
    description: 'Live hosts running the same jobs, as this host last saw them.',
  },
  owned: {
    name: 'leasehold.placement.jobs.owned',
    kind: 'observable-gauge',
    unit: '{job}',
    description: 'Jobs this host owns.',
  },
} as const satisfies Record<string, InstrumentSpec>;

/** The name of one metric of the table. */
export type InstrumentName = keyof typeof INSTRUMENTS;

/** Attributes of one recorded value. */
export type Attributes = Readonly<Record<string, string>>;
