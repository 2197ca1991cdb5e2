/**
 * Gauges read from the store, in Prometheus text exposition format (version 0.0.4), for
 * the status server's `/metrics`: what any process that can read the store can tell
 * about every key. Counters and histograms of what a process did (runs, skips, latency)
 * come from that process's own metrics provider and are appended after these.
 * The table of names: docs/operating.md, "Metrics".
 * @module
 */
import type { KeyStatus } from '../cli/admin.js';
import { isJobSummary } from '../cli/state.js';
import type { RunOutcome } from '../scheduler/types.js';
import type { Snapshot } from './hub.js';

/** Every outcome, so `leasehold_job_last_outcome` has one series per outcome (1 for the last, 0 else). */
const OUTCOMES: readonly RunOutcome[] = ['ok', 'error', 'timeout', 'lost', 'aborted', 'skipped'];

/** The content type of Prometheus text exposition. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Escapes a label value: backslash, double quote and newline. */
function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Collects the samples of one metric family, then writes its HELP and TYPE lines once. */
class Family {
  readonly #lines: string[] = [];
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  add(labels: Record<string, string>, value: number): void {
    const text = Object.entries(labels)
      .map(([name, v]) => `${name}="${labelValue(v)}"`)
      .join(',');
    this.#lines.push(`${this.name}${text ? `{${text}}` : ''} ${formatValue(value)}`);
  }

  text(): string {
    if (this.#lines.length === 0) return '';
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.#lines.join('\n')}\n`;
  }
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  return String(value);
}

/** The gauges of one snapshot. `nowMs` (epoch, the reader's clock) dates the "seconds since" gauges. */
export function storeGauges(snapshot: Snapshot, nowMs: number = Date.now()): string {
  const up = new Family('leasehold_status_up', 'Whether the latest read of the store succeeded (1) or failed (0).');
  up.add({}, snapshot.error === undefined && snapshot.doc ? 1 : 0);
  const doc = snapshot.doc;
  if (!doc) return up.text();
  const families = keyFamilies();
  const age = new Family('leasehold_status_read_age_seconds', 'Age of the read these gauges come from.');
  age.add({}, Math.max(0, (nowMs - Date.parse(doc.readAt)) / 1000));
  const counts = new Family('leasehold_status_keys', 'Keys in the store, by kind: job, lease, or reserved.');
  const jobs = doc.keys.filter(isJobSummary).length;
  counts.add({ kind: 'job' }, jobs);
  counts.add({ kind: 'lease' }, doc.keys.length - jobs);
  counts.add({ kind: 'reserved' }, doc.reserved.length);
  for (const key of doc.keys) addKey(families, key, nowMs);
  return [up, age, counts, ...Object.values(families)].map((family) => family.text()).join('');
}

function keyFamilies() {
  return {
    held: new Family('leasehold_key_held', 'Whether the key is held (1) or free (0), by the store at read time.'),
    token: new Family('leasehold_key_token', "The holder's fencing token, or the last one issued when free."),
    expires: new Family('leasehold_key_expires_in_seconds', 'Time until the lease expires, at read time (held keys).'),
    outcome: new Family('leasehold_job_last_outcome', 'The last settled slot ended with this outcome (1), else 0.'),
    lastSlot: new Family('leasehold_job_last_slot_timestamp_seconds', 'The last settled slot, Unix time.'),
    sinceRun: new Family(
      'leasehold_job_seconds_since_last_run',
      'Time since the last run that started (not a skipped slot) ended.',
    ),
    nextSlot: new Family('leasehold_job_next_slot_timestamp_seconds', 'The next slot of the schedule, Unix time.'),
    running: new Family('leasehold_job_running', 'Whether a run is in progress (1) or not (0).'),
    paused: new Family('leasehold_job_paused', 'Whether an operator paused the job (1) or not (0).'),
  };
}

function addKey(families: ReturnType<typeof keyFamilies>, k: KeyStatus, nowMs: number): void {
  const labels = { key: k.key };
  families.held.add(labels, k.held ? 1 : 0);
  families.token.add(labels, k.token);
  if (k.held && k.expiresInMs !== null) families.expires.add(labels, k.expiresInMs / 1000);
  if (!isJobSummary(k)) return;
  if (k.lastOutcome) {
    for (const outcome of OUTCOMES) families.outcome.add({ key: k.key, outcome }, outcome === k.lastOutcome ? 1 : 0);
  }
  if (k.lastSlot) families.lastSlot.add(labels, Date.parse(k.lastSlot) / 1000);
  const lastRun = k.recentRuns.find((run) => run.outcome !== 'skipped');
  const ended = lastRun ? Date.parse(lastRun.end) : Number.NaN;
  if (Number.isFinite(ended)) families.sinceRun.add(labels, Math.max(0, (nowMs - ended) / 1000));
  if (k.nextSlot) families.nextSlot.add(labels, Date.parse(k.nextSlot) / 1000);
  families.running.add(labels, k.running && k.held && k.holder === k.running.holder ? 1 : 0);
  families.paused.add(labels, k.control?.paused ? 1 : 0);
}

/** The store's gauges followed by a provider's text, each family once. */
export function joinMetrics(gauges: string, provided: string | undefined): string {
  if (!provided) return gauges;
  return `${gauges}${provided.endsWith('\n') ? provided : `${provided}\n`}`;
}
