/**
 * An in-process aggregate of leasehold's metrics, written as Prometheus text exposition
 * format 0.0.4. Names follow OpenTelemetry's Prometheus conversion (dots become
 * underscores, the unit `s` adds `_seconds`, counters end in `_total`), so the text is
 * what an OpenTelemetry Prometheus exporter would write for the same instruments.
 * @module
 */
import { type Attributes, INSTRUMENTS, type InstrumentName, type InstrumentSpec } from './instruments.js';

/** A value read when metrics are collected (observable counters and gauges). */
export interface Observation {
  readonly metric: InstrumentName;
  readonly value: number;
  readonly attributes: Attributes;
}

/** One counter series, or one histogram series with its buckets. */
interface Series {
  readonly attributes: Attributes;
  /** Counter: the total. Histogram: the sum of the values. */
  sum: number;
  /** Histogram: how many values; counter: unused. */
  count: number;
  /** Histogram: values at or below each bound (not cumulative). */
  readonly buckets: number[];
}

/** The Prometheus name of a metric: dots to underscores, the unit as a suffix, `_total` for counters. */
export function prometheusName(spec: InstrumentSpec): string {
  const base = spec.name.replace(/\./g, '_');
  const unit = spec.unit === 's' ? '_seconds' : '';
  const total = spec.kind === 'counter' || spec.kind === 'observable-counter' ? '_total' : '';
  return `${base}${unit}${total}`;
}

/** Escapes a label value: backslash, double quote and newline. */
export function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A sample value as Prometheus writes it (`+Inf`, `NaN`). */
function sampleValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  return String(value);
}

/** `{a="1",b="2"}` from attributes (dots in names become underscores), or '' for none. */
function labelText(attributes: Attributes, extra?: [string, string]): string {
  const pairs = Object.entries(attributes).map(([name, value]) => `${name.replace(/\./g, '_')}="${labelValue(value)}"`);
  if (extra) pairs.push(`${extra[0]}="${labelValue(extra[1])}"`);
  return pairs.length > 0 ? `{${pairs.join(',')}}` : '';
}

/** A stable identity of an attribute set, whatever the order its names were given in. */
function seriesKey(attributes: Attributes): string {
  return JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A counter's buckets: none, shared (only a histogram's are written). */
const NO_BUCKETS: number[] = [];

/**
 * The counters and histograms one instance recorded, kept to write them as Prometheus text.
 *
 * A frozen attribute set (the core makes each job's once) finds its series by identity;
 * only other sets are keyed by their text. A job's four series used to cost a JSON text
 * each and an entry in a weak map besides: about a third of the 1.7 KB the metrics kept per
 * job that ran on a host (docs/performance.md, "sixth look"). Sets that say the same are
 * merged when the text is written.
 */
export class PrometheusAggregate {
  readonly #byIdentity = new Map<InstrumentName, Map<Attributes, Series>>();
  readonly #byText = new Map<InstrumentName, Map<string, Series>>();

  /** Adds to a counter, or records a histogram value. Observable metrics are not recorded here. */
  record(metric: InstrumentName, value: number, attributes: Attributes): void {
    const spec: InstrumentSpec = INSTRUMENTS[metric];
    const series = Object.isFrozen(attributes)
      ? seriesOf(this.#byIdentity, metric, attributes, attributes, spec)
      : seriesOf(this.#byText, metric, seriesKey(attributes), attributes, spec);
    series.sum += value;
    series.count++;
    const bounds = spec.buckets;
    if (bounds === undefined) return;
    for (let index = 0; index < bounds.length; index++) {
      if (value <= (bounds[index] as number)) {
        series.buckets[index] = (series.buckets[index] ?? 0) + 1;
        return;
      }
    }
  }

  /** The Prometheus text of every metric with a sample, recorded or in `observed`, in the table's order. */
  text(observed: readonly Observation[]): string {
    const out: string[] = [];
    for (const [metric, spec] of Object.entries(INSTRUMENTS) as [InstrumentName, InstrumentSpec][]) {
      const lines =
        spec.kind === 'observable-counter' || spec.kind === 'observable-gauge'
          ? observedLines(
              spec,
              observed.filter((o) => o.metric === metric),
            )
          : this.#recordedLines(metric, spec);
      if (lines.length === 0) continue;
      const name = prometheusName(spec);
      const type = spec.kind === 'histogram' ? 'histogram' : spec.kind === 'observable-gauge' ? 'gauge' : 'counter';
      out.push(`# HELP ${name} ${helpText(spec.description)}`, `# TYPE ${name} ${type}`, ...lines);
    }
    return out.length > 0 ? `${out.join('\n')}\n` : '';
  }

  #recordedLines(metric: InstrumentName, spec: InstrumentSpec): string[] {
    // One series per distinct attribute text, whichever way each was recorded.
    const merged = new Map<string, Series>();
    const recorded = [...(this.#byIdentity.get(metric)?.values() ?? []), ...(this.#byText.get(metric)?.values() ?? [])];
    for (const series of recorded) {
      const key = seriesKey(series.attributes);
      const same = merged.get(key);
      if (!same) {
        merged.set(key, { ...series, buckets: [...series.buckets] });
        continue;
      }
      same.sum += series.sum;
      same.count += series.count;
      series.buckets.forEach((n, index) => {
        same.buckets[index] = (same.buckets[index] ?? 0) + n;
      });
    }
    const family = [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, series]) => series);
    const name = prometheusName(spec);
    if (spec.kind === 'counter') {
      return family.map((series) => `${name}${labelText(series.attributes)} ${sampleValue(series.sum)}`);
    }
    return family.flatMap((series) => histogramLines(name, spec.buckets ?? [], series));
  }
}

/** The series of `metric` under `key` in `families`, made (zeroed) on first use. */
function seriesOf<K>(
  families: Map<InstrumentName, Map<K, Series>>,
  metric: InstrumentName,
  key: K,
  attributes: Attributes,
  spec: InstrumentSpec,
): Series {
  let family = families.get(metric);
  if (!family) {
    family = new Map();
    families.set(metric, family);
  }
  let series = family.get(key);
  if (!series) {
    const buckets = spec.buckets ? new Array<number>(spec.buckets.length).fill(0) : NO_BUCKETS;
    series = { attributes, sum: 0, count: 0, buckets };
    family.set(key, series);
  }
  return series;
}

/** HELP text escapes backslash and newline. */
function helpText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A histogram series: cumulative buckets up to `+Inf`, then `_sum` and `_count`. */
function histogramLines(name: string, bounds: readonly number[], series: Series): string[] {
  const lines: string[] = [];
  let cumulative = 0;
  for (const [index, bound] of bounds.entries()) {
    cumulative += series.buckets[index] ?? 0;
    lines.push(`${name}_bucket${labelText(series.attributes, ['le', sampleValue(bound)])} ${cumulative}`);
  }
  lines.push(`${name}_bucket${labelText(series.attributes, ['le', '+Inf'])} ${series.count}`);
  lines.push(`${name}_sum${labelText(series.attributes)} ${sampleValue(series.sum)}`);
  lines.push(`${name}_count${labelText(series.attributes)} ${series.count}`);
  return lines;
}

/** The samples of an observable metric, one per attribute set (the last value wins, as in OpenTelemetry). */
function observedLines(spec: InstrumentSpec, observed: readonly Observation[]): string[] {
  const byKey = new Map<string, Observation>();
  for (const observation of observed) byKey.set(seriesKey(observation.attributes), observation);
  const name = prometheusName(spec);
  return [...byKey.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, o]) => `${name}${labelText(o.attributes)} ${sampleValue(o.value)}`);
}
