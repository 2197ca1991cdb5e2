/**
 * Operator controls through the store (`lh.admin`, `leasehold pause|resume|trigger|
 * skip-next|backfill`): each takes the job's lease, changes its fenced state
 * (controls.ts) and writes it back with the release — no new store primitive. Triggers
 * and backfills are then announced on the placement roster's notice key, so the job's
 * owner runs them within one heartbeat. See docs/operating.md.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { ADMIN_LEASE_TTL_MS } from '../defaults.js';
import { parseDuration, type Duration } from '../duration.js';
import { ConfigError, LeaseholdError } from '../errors.js';
import { safeLog } from '../events.js';
import { checkCallOptions, checkHolder, checkKey, shownValue } from '../internal.js';
import type { Lease } from '../lease.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../events.js';
import { NOTICES_KEY, type Notices } from '../scheduler/placement.js';
import { type JobState, parseJobState, timeOf } from '../scheduler/state.js';
import type { JsonValue, LeaseStore } from '../store.js';
import { errorText } from '../store-kit/index.js';
import { applyControl, type ControlAction, type ControlRequest } from './controls.js';

/** Options of every control. */
export interface ControlOptions {
  /** Who asks, recorded in the job's audit trail and shown on the status page. @defaultValue this Leasehold's holder */
  by?: string;
  /**
   * How long to wait for the job's lease when a run holds it (the control is written under
   * the lease, so it waits for the run to end). @defaultValue 30s
   */
  wait?: Duration;
  /** Aborts the wait. */
  signal?: AbortSignal;
}

/** Options of {@link Admin.backfill}. */
export interface BackfillOptions extends ControlOptions {
  /** First slot of the range (inclusive): a Date or an ISO-8601 instant. Required. */
  from: Date | string;
  /** Last slot of the range (inclusive). Required. */
  to: Date | string;
}

/** What a control did. */
export interface ControlResult {
  key: string;
  action: ControlAction;
  by: string;
  /** When it was recorded (this host's estimate of the store's time). */
  at: Date;
  /** One line: what changed, or that nothing needed to. */
  detail: string;
  /** A trigger's or backfill's id (it names the runs it causes). */
  id?: string;
  /** A backfill's slots, oldest first. */
  slots?: Date[];
}

/** What the admin needs of its Leasehold (a narrow view: no import of the facade). */
export interface AdminHost {
  readonly holder: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly store: LeaseStore;
  acquire(key: string, options: { ttl: number; wait: number; signal?: AbortSignal }): Promise<Lease>;
}

const CONTROL_OPTIONS = ['by', 'wait', 'signal'] as const;
const BACKFILL_OPTIONS = [...CONTROL_OPTIONS, 'from', 'to'] as const;
/** How long the notice key is waited for: a notice is a nicety (the control is already written). */
const NOTICE_WAIT_MS = 5000;
/** Notices kept on the notice key: enough for every host to see each at its next heartbeat. */
const NOTICES_KEPT = 50;

/**
 * Operator controls on scheduled jobs, acting on the whole fleet through the store: pause
 * and resume, run once now (trigger), skip the next slot, run missed slots (backfill).
 * Reach it as `lh.admin`. Every control is written under the job's lease and recorded in
 * the job's audit trail with who asked and when.
 */
export class Admin {
  readonly #lh: AdminHost;

  /** @internal Made by `Leasehold.admin`. */
  constructor(lh: AdminHost) {
    this.#lh = lh;
  }

  /** Pauses the job fleet-wide from its next slot: slots are settled as skipped (`paused`), not run. */
  pause(key: string, options: ControlOptions = {}): Promise<ControlResult> {
    return this.#control(key, 'pause', options);
  }

  /** Resumes a paused job: it runs again from its next slot (the paused ones are not run later). */
  resume(key: string, options: ControlOptions = {}): Promise<ControlResult> {
    return this.#control(key, 'resume', options);
  }

  /** Skips the job's next slot that would run (settled as skipped, `skip-next`). */
  skipNext(key: string, options: ControlOptions = {}): Promise<ControlResult> {
    return this.#control(key, 'skip-next', options);
  }

  /**
   * Runs the job once, now, with its own token, under the job's lease (never alongside a
   * scheduled run), on whichever host owns it: within one placement heartbeat, or at the
   * job's next slot without placement.
   */
  trigger(key: string, options: ControlOptions = {}): Promise<ControlResult> {
    return this.#control(key, 'trigger', options);
  }

  /**
   * Runs exactly the slots of `[from, to]` that never ran, oldest first, each recorded
   * (at most 20; the range must lie inside the job's run history and be settled).
   */
  backfill(key: string, options: BackfillOptions): Promise<ControlResult> {
    checkCallOptions('backfill', options, BACKFILL_OPTIONS, "{ from: '2026-12-06T10:00:00Z', to: … }");
    return this.#control(key, 'backfill', options, {
      from: instantOf(options.from, 'from'),
      to: instantOf(options.to, 'to'),
    });
  }

  async #control(
    key: string,
    action: ControlAction,
    options: ControlOptions,
    range: { from?: number; to?: number } = {},
  ): Promise<ControlResult> {
    checkKey(key);
    if (action !== 'backfill') checkCallOptions(action, options, CONTROL_OPTIONS);
    const lh = this.#lh;
    const by = options.by === undefined ? lh.holder : checkHolder(options.by);
    const waitMs = options.wait === undefined ? 30_000 : parseDuration(options.wait, 'wait', { allowZero: true });
    const at = Math.round(lh.clock.wallNow());
    const request: ControlRequest = { action, by, at, id: randomUUID().slice(0, 8), ...range };
    // Checked before the lease is taken, so bad input changes nothing and waits for nothing.
    applyControl(key, await this.#jobState(key), request);
    const lease = await lh.acquire(key, { ttl: adminTtl(lh.store), wait: waitMs, ...signalOf(options) });
    let outcome: ReturnType<typeof applyControl>;
    try {
      outcome = applyControl(key, await stateUnder(lease, lh.store, key), request);
    } catch (err) {
      await lease.release().catch(() => {});
      throw err;
    }
    if (!(await lease.release({ state: outcome.state as unknown as JsonValue }))) {
      throw new LeaseholdError(`${action} "${key}": the job's lease was lost before the control was written; retry`);
    }
    if (action === 'trigger' || action === 'backfill') await this.#announce(key, action);
    const result: ControlResult = { key, action, by, at: new Date(at), detail: outcome.detail };
    if (action === 'trigger' || action === 'backfill') result.id = request.id;
    if (outcome.slots) result.slots = outcome.slots.map((slot) => new Date(slot));
    safeLog(lh.logger, 'info', { key, action, by, detail: outcome.detail }, 'operator control');
    return result;
  }

  /** The job's state as it is now; refuses keys that are not scheduled jobs. */
  async #jobState(key: string): Promise<JobState> {
    const record = await this.#lh.store.inspect(key);
    if (!record) throw new ConfigError(`unknown key "${key}": the store has no record of it`);
    if (!isJobRecord(record.state)) {
      throw new ConfigError(`"${key}" is not a scheduled job: its state was not written by leasehold's scheduler`);
    }
    return parseJobState(record.state);
  }

  /**
   * Tells the fleet a trigger or backfill waits on `key`: the owner reads the notice with
   * the roster at its next heartbeat and runs it. Best effort: without it, the job's
   * next holder runs it at the job's next slot.
   */
  async #announce(key: string, action: ControlAction): Promise<void> {
    const lh = this.#lh;
    try {
      const lease = await lh.acquire(NOTICES_KEY, { ttl: adminTtl(lh.store), wait: NOTICE_WAIT_MS });
      const raw =
        lease.acquiredState === undefined ? (await lh.store.inspect(NOTICES_KEY))?.state : lease.acquiredState;
      const notices = parseNotices(raw ?? null);
      const seq = notices.seq + 1;
      const items = [{ seq, key, action }, ...notices.items].slice(0, NOTICES_KEPT);
      await lease.release({ state: { v: 1, seq, items } as unknown as JsonValue });
    } catch (err) {
      const fields = { key, err: errorText(err) };
      safeLog(
        lh.logger,
        'warn',
        fields,
        'operator control written, but the fleet was not notified; it acts at the next slot',
      );
    }
  }
}

/** The job's state as the holder of `lease` reads it: the acquire's answer, or one read. */
async function stateUnder(lease: Lease, store: LeaseStore, key: string): Promise<JobState> {
  let raw = lease.acquiredState;
  let mark = lease.acquiredMark;
  if (raw === undefined) {
    const record = await store.inspect(key);
    raw = record?.state ?? null;
    mark = record?.mark ?? null;
  }
  if (!isJobRecord(raw ?? null)) throw new ConfigError(`"${key}" is not a scheduled job`);
  const state = parseJobState(raw, mark);
  // A start record newer than the last settled slot (a run that died) is kept in the state:
  // the release that writes this state clears the key's mark.
  if (state.running && timeOf(state.running.slot) <= timeOf(state.lastSlot)) state.running = null;
  return state;
}

/** True for a state the scheduler wrote (format version 1). */
function isJobRecord(state: JsonValue | null): boolean {
  return typeof state === 'object' && state !== null && !Array.isArray(state) && state.v === 1;
}

/** The notice key's state, tolerating absence and unknown shapes. */
export function parseNotices(raw: JsonValue | null): Notices {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw) || typeof raw.seq !== 'number')
    return { seq: 0, items: [] };
  const items = Array.isArray(raw.items) ? (raw.items as unknown as Notices['items']) : [];
  return { seq: raw.seq, items: items.filter((item) => typeof item?.key === 'string' && typeof item.seq === 'number') };
}

/** The TTL the admin holds a job's lease for: briefly, within the store's bounds. */
function adminTtl(store: LeaseStore): number {
  const { minTtlMs = 1, maxTtlMs = Number.POSITIVE_INFINITY } = store.capabilities;
  return Math.min(Math.max(ADMIN_LEASE_TTL_MS, minTtlMs), maxTtlMs);
}

function signalOf(options: ControlOptions): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}

/** Epoch ms of a Date or ISO-8601 instant. @throws ConfigError naming the value */
function instantOf(value: unknown, name: string): number {
  const time = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(time)) {
    throw new ConfigError(`--${name}: expected an instant such as 2026-12-06T10:00:00Z, got ${shownValue(value)}`);
  }
  return time;
}
