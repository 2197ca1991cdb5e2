/**
 * `leasehold status` and `leasehold break`: read and administer keys.
 * @module
 */
import { formatDuration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { checkKey } from '../internal.js';
import { openStore } from '../open.js';
import type { JsonValue, LeaseRecord, LeaseStore } from '../store.js';
import { isJobState, summarizeState, type RunSummary, type StateSummary } from './state.js';

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

/** What `status --json` prints. */
export interface StatusDocument {
  /** The store's name (never its URL, which may carry credentials). */
  store: string;
  /** One entry per key, sorted by key. */
  keys: KeyStatus[];
}

function keyStatus(key: string, rec: LeaseRecord | null): KeyStatus {
  const state = rec?.state ?? null;
  const out: KeyStatus = {
    key,
    held: !!rec?.holder,
    holder: rec?.holder ?? null,
    token: rec?.token ?? 0,
    expiresInMs: rec?.expiresInMs ?? null,
    ...summarizeState(state, rec?.mark ?? null),
  };
  if (state !== null && !isJobState(state)) out.state = state;
  return out;
}

/** Reads the status of one key, or of every key the store lists. */
export async function readStatus(store: LeaseStore, key?: string): Promise<StatusDocument> {
  const keys = key === undefined ? (await store.list()).sort() : [checkKey(key, '--key')];
  const out: KeyStatus[] = [];
  for (const k of keys) out.push(keyStatus(k, await store.inspect(k)));
  return { store: store.name, keys: out };
}

/** Human rendering of a status document. */
export function formatStatus(doc: StatusDocument): string {
  if (doc.keys.length === 0) return `no keys in the ${doc.store} store\n`;
  const lines: string[] = [];
  for (const k of doc.keys) {
    lines.push(k.key);
    if (k.held)
      lines.push(`  holder        ${k.holder} (token ${k.token}, expires in ${formatDuration(k.expiresInMs ?? 0)})`);
    else lines.push(`  holder        none${k.token > 0 ? ` (last token ${k.token})` : ' (never acquired)'}`);
    if (k.lastSlot) lines.push(`  last slot     ${k.lastSlot}`);
    if (k.lastOutcome) lines.push(`  last outcome  ${k.lastOutcome}`);
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
  return lines.join('\n');
}

/** Runs listed per key by the human `status` output. */
const RECENT_SHOWN = 5;

function formatRun(r: RunSummary): string {
  // A slot settled without a run (missed by every host, overlap) has no token or duration.
  if (r.outcome === 'skipped') return [r.slot, 'skipped', r.error ? JSON.stringify(r.error) : ''].join('  ').trimEnd();
  const parts = [r.slot, r.outcome.padEnd(7), `token ${r.token}`];
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
