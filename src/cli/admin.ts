/**
 * `leasehold status` and `leasehold break`: read and administer keys.
 * @module
 */
import { systemClock } from '../clock.js';
import { STATUS_READ_TIMEOUT_MS } from '../defaults.js';
import { formatDuration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { WAITER_SUFFIX } from '../handoff.js';
import { callStore, checkKey, readRecords } from '../internal.js';
import { openStore } from '../open.js';
import { HOSTS_PREFIX, NOTICES_KEY } from '../scheduler/placement.js';
import type { JsonValue, LeaseRecord, LeaseStore } from '../store.js';
import { describeSchedule, isJobState, summarizeState, type RunSummary, type StateSummary } from './state.js';

/** What `status` reports about one key. */
export interface KeyStatus extends StateSummary {
  /** The key. */
  key: string;
  /** True when someone holds an unexpired lease. */
  held: boolean;
  /** The current holder, or null when free. */
  holder: string | null;
  /** The current holder's token, or the last token issued when free (0: never acquired). */
  token: number;
  /** Time until the current lease expires by the store's clock; null when free. */
  expiresInMs: number | null;
  /**
   * The key's fenced state as stored, only when the scheduler did not write it (its
   * state is shown distilled in the fields above).
   */
  state?: JsonValue;
}

/**
 * A key under leasehold's own names, shown apart from the user's keys: a host's entry in
 * placement's roster (`leasehold#hosts/<n>`), a waiter's announcement (`<key>#leasehold-waiter`),
 * or another `leasehold#…` key (such as the operator controls' notices).
 */
export interface ReservedStatus {
  /** The key. */
  key: string;
  /** What it is. */
  kind: 'host' | 'waiter' | 'internal';
  /** True when someone holds an unexpired lease on it (a live host, a waiting process). */
  held: boolean;
  /** The holder, or null when free. */
  holder: string | null;
  /** Time until the lease expires by the store's clock; null when free. */
  expiresInMs: number | null;
  /** Hosts: how many jobs the host runs, as its roster entry says. */
  jobs?: number;
}

/** What `status --json` prints. */
export interface StatusDocument {
  /** The store's name (never its URL, which may carry credentials). */
  store: string;
  /** When the store was read, by the reader's clock, ISO-8601 UTC. */
  readAt: string;
  /** One entry per key, sorted by key (reserved keys apart, unless asked for by `--key`). */
  keys: KeyStatus[];
  /** Keys under leasehold's reserved names, sorted by key. */
  reserved: ReservedStatus[];
}

function keyStatus(rec: LeaseRecord, now: number): KeyStatus {
  const state = rec.state;
  const out: KeyStatus = {
    key: rec.key,
    held: rec.holder !== null,
    holder: rec.holder,
    token: rec.token,
    expiresInMs: rec.expiresInMs,
    ...summarizeState(state, rec.mark, now),
  };
  if (state !== null && !isJobState(state)) out.state = state;
  return out;
}

/** What kind of reserved key `key` is, or undefined for a user's key. */
function reservedKind(key: string): ReservedStatus['kind'] | undefined {
  if (key === NOTICES_KEY) return 'internal';
  if (key.startsWith(HOSTS_PREFIX)) return 'host';
  if (key.endsWith(WAITER_SUFFIX)) return 'waiter';
  return key.startsWith('leasehold#') ? 'internal' : undefined;
}

function reservedStatus(rec: LeaseRecord, kind: ReservedStatus['kind']): ReservedStatus {
  const out: ReservedStatus = {
    key: rec.key,
    kind,
    held: rec.holder !== null,
    holder: rec.holder,
    expiresInMs: rec.expiresInMs,
  };
  const mark = rec.mark;
  if (kind === 'host' && mark && typeof mark === 'object' && !Array.isArray(mark) && typeof mark.jobs === 'number') {
    out.jobs = mark.jobs;
  }
  return out;
}

/**
 * Reads the status of one key, or of every key in the store: with the store's `inspectAll`
 * one request, else a list and one read per key. Each read has {@link STATUS_READ_TIMEOUT_MS}.
 */
export async function readStatus(store: LeaseStore, key?: string): Promise<StatusDocument> {
  const records = key === undefined ? await readEveryRecord(store) : [await readOne(store, checkKey(key, '--key'))];
  const now = Date.now();
  const keys: KeyStatus[] = [];
  const reserved: ReservedStatus[] = [];
  for (const rec of records.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const kind = key === undefined ? reservedKind(rec.key) : undefined;
    if (kind) reserved.push(reservedStatus(rec, kind));
    else keys.push(keyStatus(rec, now));
  }
  return { store: store.name, readAt: new Date(now).toISOString(), keys, reserved };
}

function readEveryRecord(store: LeaseStore): Promise<LeaseRecord[]> {
  return readRecords(store, systemClock, '', STATUS_READ_TIMEOUT_MS);
}

async function readOne(store: LeaseStore, key: string): Promise<LeaseRecord> {
  const what = `${store.name}: inspect "${key}"`;
  const rec = await callStore(systemClock, what, STATUS_READ_TIMEOUT_MS, undefined, (signal) =>
    store.inspect(key, { signal }),
  );
  // A key never acquired reads as null: shown as free, token 0.
  return rec ?? { key, holder: null, token: 0, expiresInMs: null, state: null, mark: null };
}

/** Human rendering of a status document. */
export function formatStatus(doc: StatusDocument): string {
  if (doc.keys.length === 0 && doc.reserved.length === 0) return `no keys in the ${doc.store} store\n`;
  const lines: string[] = [];
  for (const k of doc.keys) {
    lines.push(k.key);
    if (k.held)
      lines.push(`  holder        ${k.holder} (token ${k.token}, expires in ${formatDuration(k.expiresInMs ?? 0)})`);
    else lines.push(`  holder        none${k.token > 0 ? ` (last token ${k.token})` : ' (never acquired)'}`);
    if (k.schedule) lines.push(`  schedule      ${describeSchedule(k.schedule)}`);
    if (k.lastSlot) lines.push(`  last slot     ${k.lastSlot}`);
    if (k.lastOutcome) lines.push(`  last outcome  ${k.lastOutcome}`);
    if (k.nextSlot) lines.push(`  next slot     ${k.nextSlot}`);
    lines.push(...formatControls(k));
    if (k.running) {
      // The scheduler clears `running` when a run ends; one left while the key is free
      // was cut short (holder died, lease lost, shutdown) and may be re-run.
      const label = k.held && k.holder === k.running.holder ? 'running      ' : 'unfinished   ';
      const token = k.running.token ?? (k.held && k.holder === k.running.holder ? k.token : undefined);
      const tokenText = token === undefined ? '' : `token ${token}, `;
      lines.push(`  ${label} ${k.running.slot} by ${k.running.holder} (${tokenText}started ${k.running.start})`);
    }
    if (k.recentRuns.length > 0) {
      lines.push('  recent runs');
      for (const r of k.recentRuns.slice(0, RECENT_SHOWN)) lines.push(`    ${formatRun(r)}`);
      if (k.recentRuns.length > RECENT_SHOWN)
        lines.push(`    … ${k.recentRuns.length - RECENT_SHOWN} more (--json shows all)`);
    } else if (k.state !== undefined) {
      lines.push(`  state         ${JSON.stringify(k.state)}`);
    }
    lines.push('');
  }
  if (doc.reserved.length > 0) lines.push(...formatReserved(doc.reserved), '');
  return lines.join('\n');
}

/** The reserved keys, one line each, apart from the user's keys. */
function formatReserved(reserved: readonly ReservedStatus[]): string[] {
  const lines = ["leasehold's own keys (hosts, waiters)"];
  for (const r of reserved) {
    const who = r.held ? `${r.holder} (expires in ${formatDuration(r.expiresInMs ?? 0)})` : 'free';
    const jobs = r.jobs === undefined ? '' : `, ${r.jobs} job${r.jobs === 1 ? '' : 's'}`;
    lines.push(`  ${r.kind.padEnd(8)} ${r.key}  ${who}${jobs}`);
  }
  return lines;
}

/** Operator controls in force, waiting, and the newest one asked for. */
function formatControls(k: KeyStatus): string[] {
  const lines: string[] = [];
  const control = k.control;
  if (control?.paused) lines.push(`  paused        by ${control.paused.by} at ${control.paused.at}`);
  const pending: string[] = [];
  if (control?.skipNext) pending.push(`skip-next (by ${control.skipNext.by})`);
  if (control?.trigger) pending.push(`trigger ${control.trigger.id} (by ${control.trigger.by})`);
  if (control?.backfill) {
    const { slots, id, by } = control.backfill;
    pending.push(`backfill ${id}: ${slots.length} slot${slots.length === 1 ? '' : 's'} (by ${by})`);
  }
  if (pending.length > 0) lines.push(`  pending       ${pending.join('; ')}`);
  const last = k.audit[0];
  if (last)
    lines.push(`  last control  ${last.action} by ${last.by} at ${last.at}${last.detail ? `: ${last.detail}` : ''}`);
  return lines;
}

/** Runs listed per key by the human `status` output. */
const RECENT_SHOWN = 5;

function formatRun(r: RunSummary): string {
  // A slot settled without a run (missed by every host, overlap) has no token or duration.
  if (r.outcome === 'skipped') return [r.slot, 'skipped', r.error ? JSON.stringify(r.error) : ''].join('  ').trimEnd();
  const parts = [r.slot, r.outcome.padEnd(7), `token ${r.token}`];
  if (r.operator) parts.push(`${r.operator.action} ${r.operator.id} by ${r.operator.by}`);
  if (r.durationMs !== undefined) parts.push(formatDuration(r.durationMs));
  if (r.attempts > 1) parts.push(`${r.attempts} attempts`);
  parts.push(r.holder);
  if (r.error) parts.push(JSON.stringify(r.error));
  return parts.join('  ');
}

/** `leasehold status`: prints the status and resolves to the exit code. */
export async function statusCommand(
  input: { store: string; key?: string | undefined; json: boolean },
  write: (text: string) => void,
): Promise<number> {
  if (input.key !== undefined) checkKey(input.key, '--key');
  const store = await openStore(input.store);
  try {
    const doc = await readStatus(store, input.key);
    write(input.json ? `${JSON.stringify(doc, null, 2)}\n` : formatStatus(doc));
    return 0;
  } finally {
    await store.close().catch(() => {});
  }
}

/** `leasehold break`: ends the key's lease whoever holds it. */
export async function breakCommand(
  input: { store: string; key: string; yes: boolean },
  write: (text: string) => void,
): Promise<number> {
  checkKey(input.key, '--key');
  if (!input.yes) {
    throw new ConfigError(
      `break: refusing to break the lease on "${input.key}" without --yes (the holder keeps running without the lease)`,
    );
  }
  const store = await openStore(input.store);
  try {
    const before = await store.inspect(input.key);
    const ended = await store.forceRelease(input.key);
    if (ended) {
      const heldBy = before?.holder ? ` held by ${before.holder} (token ${before.token})` : '';
      write(`broke the lease on "${input.key}"${heldBy}; the next holder gets a higher token\n`);
    } else {
      write(`"${input.key}" was not held; nothing to break\n`);
    }
    return 0;
  } finally {
    await store.close().catch(() => {});
  }
}
