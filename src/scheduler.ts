/**
 * The scheduler: runs each job once per slot across every process sharing a store.
 *
 * One lease per job key arbitrates; the key's fenced state (L8) records the last
 * settled slot, the run in progress and a short history, so a host that wins the
 * lease for a slot already done skips it (S2). See GUARANTEES S1–S8 and the README.
 * @module
 */
import { sleep } from './clock.js';
import { parseDuration, type Duration } from './duration.js';
import { ConfigError, LeaseholdError } from './errors.js';
import { safeLog, type Logger } from './events.js';
import { callStore, checkKey, checkTtl, errorMessage, jitter as randomBetween } from './internal.js';
import type { Lease } from './lease.js';
import type { Leasehold } from './leasehold.js';
import { CronSchedule, IntervalSchedule, type Schedule } from './schedule.js';
import type { RunEvent, SkipReason } from './scheduler-types.js';
import type { JsonValue } from './store.js';

/** Options of a scheduled job (`lh.every` / `lh.cron`). */
export interface JobOptions {
  /**
   * Lease TTL while the job runs; renewed about every ttl/3. Failover after a holder
   * dies takes about this long.
   * @defaultValue 30s, clamped into what the store allows
   */
  ttl?: Duration;
  /** IANA timezone of a cron expression (`lh.cron` only). @defaultValue `'UTC'` */
  timezone?: string;
  /** Shift of interval slots from the epoch-aligned grid (`lh.every` only). @defaultValue 0 */
  offset?: Duration;
  /**
   * Each host waits a random delay in [0, jitter) after a slot's instant before trying,
   * spreading load on the store. The slot instant itself is unchanged.
   * @defaultValue 0
   */
  jitter?: Duration;
  /**
   * How late a slot may still start. Slots that no host started within this window are
   * skipped and counted (`outside-catch-up`), never run in a burst — unless you set a
   * window spanning several periods, in which case missed slots run in order.
   * @defaultValue one period (the gap to the next slot)
   */
  catchUp?: Duration;
  /**
   * What happens when a slot comes while the previous run is still going anywhere in the
   * fleet: `'skip'` drops the new slot (counted); `'buffer-one'` runs it as soon as the
   * previous run ends, keeping only the newest waiting slot.
   * @defaultValue `'skip'`
   */
  overlap?: 'skip' | 'buffer-one';
  /**
   * `'at-least-once'`: a slot whose run died or lost its lease before recording its end
   * is re-run (with a higher token) inside the catch-up window. `'at-most-once'`: a
   * slot is recorded as started before its handler runs and is never re-run; a run that
   * died is recorded as `lost`.
   * @defaultValue `'at-least-once'`
   */
  delivery?: 'at-least-once' | 'at-most-once';
  /** Longest a run may take; then its signal aborts and the run counts as failed. @defaultValue none */
  timeout?: Duration;
  /** Retries inside the slot, while still holding the lease. */
  retry?: {
    /** Total tries per slot, including the first. @defaultValue 1 */
    attempts?: number;
    /** Pause before the second try; doubled for each further try. @defaultValue 1s */
    backoff?: Duration;
    /** Longest pause between tries. @defaultValue 30s */
    maxBackoff?: Duration;
  };
}

/** What a handler receives for one run. */
export interface JobContext {
  /** The job's key. */
  key: string;
  /** The slot's scheduled instant. */
  slot: Date;
  /** Fencing token of this run: pass it to what you write to. */
  token: number;
  /** This process's holder identity. */
  holder: string;
  /** Aborts on lease loss, timeout, or shutdown after the grace period. */
  signal: AbortSignal;
  /** 1 for the first try in this slot, 2+ for retries. */
  attempt: number;
  /** The Leasehold logger with key, slot and token added to every line. */
  log: Logger;
}

/** A job's handler. Its result is ignored; a throw or rejection is a failed run (S8). */
export type JobHandler = (ctx: JobContext) => unknown;

/** How a run ended. */
export type RunOutcome = 'ok' | 'error' | 'timeout' | 'lost' | 'aborted' | 'skipped';

/** One entry of a job's run history, kept in the store's fenced state. */
export interface RunRecord {
  /** Slot instant, ISO-8601 UTC. */
  slot: string;
  holder: string;
  token: number;
  /** Tries made. */
  attempts: number;
  /** Start and end, ISO-8601 UTC, by the store's clock as estimated by the runner. */
  start: string;
  end: string;
  outcome: RunOutcome;
  /** Error message of the last failed try, or why the slot was skipped (never a stack). */
  error?: string;
}

/** The fenced state the scheduler keeps under a job's key. */
export interface JobState {
  /** Format version. */
  v: 1;
  /** Last settled slot (finished; at-most-once: also runs recorded as lost), ISO-8601 UTC. */
  lastSlot: string | null;
  /** Outcome of the run of {@link JobState.lastSlot}. */
  lastOutcome: RunOutcome | null;
  /** The run in progress (or the last one that never finished). */
  running: { slot: string; holder: string; token: number; start: string } | null;
  /** Most recent first; at most {@link HISTORY_LENGTH}. */
  runs: RunRecord[];
}

/** Runs kept in a job's history. */
export const HISTORY_LENGTH = 20;

/** Counters of one job on this host. */
export interface JobStats {
  /** Runs started here (tries counted once per slot). */
  runs: number;
  succeeded: number;
  failed: number;
  /** Slots not run here, per reason. */
  skipped: Record<SkipReason, number>;
}

/** Parses a job's fenced state, tolerating absence and unknown shapes. */
export function parseJobState(raw: JsonValue | null | undefined): JobState {
  const empty: JobState = { v: 1, lastSlot: null, lastOutcome: null, running: null, runs: [] };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw) || (raw as { v?: unknown }).v !== 1) return empty;
  const s = raw as unknown as JobState;
  return { ...empty, ...s, runs: Array.isArray(s.runs) ? s.runs : [] };
}

const ms = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : Number.NEGATIVE_INFINITY);
const iso = (t: number): string => new Date(t).toISOString();

/** Longest single timer; long waits are re-checked after this (timers drift across suspend). */
const MAX_TIMER_MS = 60_000;

interface ResolvedOptions {
  ttlMs: number;
  jitterMs: number;
  catchUpMs: number | undefined;
  overlap: 'skip' | 'buffer-one';
  atMostOnce: boolean;
  timeoutMs: number | undefined;
  attempts: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/** A job registered with `lh.every` or `lh.cron`. */
export class ScheduledJob {
  /** The job's key. */
  readonly key: string;
  /** Its slots. */
  readonly schedule: Schedule;
  /** Counters on this host. */
  readonly stats: JobStats = {
    runs: 0,
    succeeded: 0,
    failed: 0,
    skipped: { 'done-elsewhere': 0, overlap: 0, 'outside-catch-up': 0, 'store-unavailable': 0, lost: 0 },
  };
  /** @internal */
  readonly options: ResolvedOptions;
  readonly #handler: JobHandler;
  readonly #sched: Scheduler;
  #loop: Promise<void> | undefined;
  /** The first slot this host owes: the one due when its loop started. */
  #firstSlot = Number.NEGATIVE_INFINITY;
  /**
   * The newest slot this host has seen settled in the job's fenced state (or, at-most-once,
   * started). Used when the store's state turns out emptier than that: a store that lost
   * its data (Redis without persistence restarted) must not make done slots look new.
   */
  #knownSettled = Number.NEGATIVE_INFINITY;

  /** @internal */
  constructor(sched: Scheduler, key: string, schedule: Schedule, handler: JobHandler, options: ResolvedOptions) {
    this.#sched = sched;
    this.key = key;
    this.schedule = schedule;
    this.#handler = handler;
    this.options = options;
  }

  /** @internal */
  start(): void {
    this.#loop ??= this.#run().catch((err) => {
      safeLog(this.#sched.lh.logger, 'error', { key: this.key, err: errorMessage(err) }, 'scheduler loop failed');
    });
  }

  /** @internal Resolves when the job's loop has ended. */
  get done(): Promise<void> {
    return this.#loop ?? Promise.resolve();
  }

  #catchUp(slot: number): number {
    if (this.options.catchUpMs !== undefined) return this.options.catchUpMs;
    const next = this.schedule.after(slot);
    return next === undefined ? 0 : next - slot;
  }

  /** The catch-up window of a slot is [slot, slot + catchUp): half-open, so with the default one-period window a slot closes as the next one opens. */
  #outside(slot: number, now: number): boolean {
    const window = this.#catchUp(slot);
    return window > 0 ? now - slot >= window : now > slot;
  }

  #skip(slot: number, reason: SkipReason, detail?: string, count = 1): void {
    this.stats.skipped[reason] += count;
    const ev: { key: string; slot: Date; reason: SkipReason; holder: string; detail?: string } = {
      key: this.key,
      slot: new Date(slot),
      reason,
      holder: this.#sched.lh.holder,
    };
    if (detail !== undefined) ev.detail = detail;
    safeLog(this.#sched.lh.logger, reason === 'done-elsewhere' ? 'debug' : 'info', { key: this.key, slot: iso(slot), reason, ...(detail ? { detail } : {}) }, 'slot skipped');
    this.#sched.lh.emit('slot:skipped', ev);
  }

  async #run(): Promise<void> {
    const s = this.#sched;
    const first = this.schedule.atOrBefore(s.storeNow());
    if (first !== undefined) this.#firstSlot = first;
    // Consider the current slot at start: if no host ran it and it is inside the
    // catch-up window, it runs now (S4); otherwise the store's state says it is done.
    let handled = first === undefined ? Number.NEGATIVE_INFINITY : first - 1;
    // A slot we are watching because an older run still held the lease.
    let waiting: number | undefined;
    while (!s.stopping) {
      const now = s.storeNow();
      const due = this.schedule.atOrBefore(now);
      if (waiting !== undefined && due !== undefined && due > waiting) {
        // A newer slot came while we waited on an older run; whoever gets the lease next
        // decides the waiting slot's fate (and counts it), so it is not counted here.
        handled = Math.max(handled, waiting);
        waiting = undefined;
      }
      if (due === undefined || due <= handled) {
        const next = this.schedule.after(Math.max(handled, now));
        if (next === undefined) return;
        await s.sleepUntil(next + (this.options.jitterMs ? randomBetween(0, this.options.jitterMs) : 0));
        continue;
      }
      const r = await this.#consider(due);
      if (r.done) {
        handled = due;
        waiting = undefined;
      } else {
        waiting = r.overlap ? due : undefined;
        const next = this.schedule.after(due) ?? Number.POSITIVE_INFINITY;
        await s.sleepUntil(Math.min(r.wakeAt, next));
      }
    }
  }

  /** One look at the due slot: run it, learn it is settled, or decide when to look again. */
  async #consider(due: number): Promise<{ done: true } | { done: false; wakeAt: number; overlap?: boolean }> {
    const s = this.#sched;
    const lh = s.lh;
    const { ttlMs } = this.options;
    let r: Awaited<ReturnType<Leasehold['_attemptAcquire']>>;
    try {
      r = await lh._attemptAcquire(this.key, ttlMs, undefined);
      if (r.storeTime !== undefined) s.observe(r.storeTime, r.recvWall);
    } catch (err) {
      if (s.stopping) return { done: true };
      lh.emit('error', { key: this.key, error: err, during: 'schedule' });
      safeLog(lh.logger, 'warn', { key: this.key, slot: iso(due), err: errorMessage(err) }, 'store unavailable while a slot is open');
      if (this.#outside(due, s.storeNow())) {
        this.#skip(due, 'store-unavailable', errorMessage(err));
        return { done: true };
      }
      return { done: false, wakeAt: s.storeNow() + Math.min(Math.max(ttlMs / 10, 100), 2000) };
    }
    if (r.lease) {
      // S3 waits for the slot's instant while holding the lease. That is right for the
      // last few milliseconds of a clock estimate's uncertainty, but a host whose estimate
      // was far ahead (its wall clock is off and it never got a clean store-time sample)
      // would keep the key from everyone until then. The acquire's own answer has
      // corrected the estimate: let go and come back when the slot is due.
      const early = r.storeTime === undefined ? 0 : due - r.storeTime;
      if (early > Math.min(ttlMs / 4, 1000)) {
        safeLog(lh.logger, 'warn', { key: this.key, slot: iso(due), earlyMs: Math.round(early) }, 'slot not due yet by the store clock; lease released until it is');
        // The kept sample disagrees with the store (the wall clock stepped since?): replace it.
        s.observe(r.storeTime as number, r.recvWall, true);
        await r.lease[Symbol.asyncDispose]();
        return { done: false, wakeAt: due };
      }
      await this.#runPending(r.lease, due, r.storeTime);
      return { done: true };
    }
    // A store whose busy answer carries no state: do not spend a read on it. Without the
    // state the slot is assumed to be in the holder's hands; the next acquisition, ours
    // or another host's, settles and counts it.
    const known = r.state !== undefined;
    const st = parseJobState(r.state ?? null);
    if (known) this.#learn(st);
    if (known && this.#settled(st, due)) {
      this.#skip(due, 'done-elsewhere');
      return { done: true };
    }
    const now = s.storeNow();
    const running = st.running ? ms(st.running.slot) : undefined;
    const expiresIn = r.expiresInMs ?? ttlMs;
    // An older run still holds the lease: it is still going, or its holder died and the
    // lease has not expired yet. Either way this slot waits: the overlap policy is applied
    // by whoever gets the lease next (it knows when that run ended), and if the holder
    // died, that next holder re-runs its slot inside the window (S5, S6).
    const overlap = running !== undefined && running < due && running > ms(st.lastSlot);
    if (this.#outside(due, now)) {
      if (overlap) this.#skip(due, 'overlap', `the run of ${st.running?.slot} by ${st.running?.holder} was still going when the window closed`);
      return { done: true };
    }
    // Is the holder on this slot? Yes if it marked it running, or if its lease began after
    // the slot's instant (a holder that acquires after a slot's instant always handles
    // it; all hosts of a job are expected to use one TTL). Then look again when the lease
    // would expire if the holder stopped renewing (failover, S6). Otherwise the holder is
    // finishing an older slot: poll soon, so this slot starts as soon as it lets go.
    const leaseBegan = (r.storeTime ?? now) + expiresIn - ttlMs;
    const onThisSlot = st.running ? ms(st.running.slot) >= due : leaseBegan >= due;
    const poll = Math.min(Math.max(ttlMs / 10, 50), 1000) * randomBetween(0.75, 1.25);
    const wake = onThisSlot ? now + expiresIn + randomBetween(5, 50) : now + Math.min(poll, expiresIn + randomBetween(5, 50));
    return { done: false, wakeAt: Math.min(wake, due + this.#catchUp(due) + 1), overlap };
  }

  /** Records in the state that slots up to `slot` were decided without a run, so no host counts them again. */
  #settleSkipped(st: JobState, slot: number, why: string): void {
    if (ms(st.lastSlot) >= slot) return;
    const at = iso(this.#sched.storeNow());
    st.runs = [{ slot: iso(slot), holder: this.#sched.lh.holder, token: 0, attempts: 0, start: at, end: at, outcome: 'skipped' as const, error: why }, ...st.runs].slice(0, HISTORY_LENGTH);
    st.lastSlot = iso(slot);
    st.lastOutcome = 'skipped';
  }

  /** Remembers what a state read says is settled (see {@link ScheduledJob.#knownSettled}). */
  #learn(st: JobState): void {
    let t = ms(st.lastSlot);
    if (this.options.atMostOnce && st.running) t = Math.max(t, ms(st.running.slot));
    if (t > this.#knownSettled) this.#knownSettled = t;
  }

  #settled(st: JobState, slot: number): boolean {
    if (ms(st.lastSlot) >= slot) return true;
    return this.options.atMostOnce && st.running !== null && ms(st.running.slot) >= slot;
  }

  /** Holding the lease: run every slot up to `due` that is unsettled and inside its catch-up window, oldest first. */
  async #runPending(lease: Lease, due: number, storeTime: number | undefined): Promise<void> {
    const s = this.#sched;
    const lh = s.lh;
    try {
      let raw = lease.acquiredState;
      if (raw === undefined) {
        raw = (await callStore(lh.clock, `${lh.store.name}: inspect "${this.key}"`, Math.max(this.options.ttlMs / 3, 1), undefined, (signal) => lh.store.inspect(this.key, { signal })))?.state ?? null;
      }
      const st = parseJobState(raw);
      let dirty = false;
      let base = ms(st.lastSlot);
      const stored = Math.max(base, this.options.atMostOnce && st.running ? ms(st.running.slot) : Number.NEGATIVE_INFINITY);
      if (this.#knownSettled > stored) {
        // The store's state is older than what this host saw settled: it lost data.
        safeLog(lh.logger, 'warn', { key: this.key, stored: st.lastSlot, seen: iso(this.#knownSettled) }, "the job's state in the store is older than this host saw it; the store lost data");
        base = this.#knownSettled;
        st.lastSlot = iso(base);
        if (st.running && ms(st.running.slot) <= base) st.running = null;
        dirty = true;
      }
      if (st.running && ms(st.running.slot) > base) {
        // A run started and never recorded its end: its holder died or lost the lease.
        const dead = st.running;
        if (this.options.atMostOnce) {
          st.runs = [{ slot: dead.slot, holder: dead.holder, token: dead.token, attempts: 1, start: dead.start, end: iso(s.storeNow()), outcome: 'lost' as const, error: 'the run died or lost its lease before recording its end; not re-run (at-most-once)' }, ...st.runs].slice(0, HISTORY_LENGTH);
          st.lastSlot = dead.slot;
          st.lastOutcome = 'lost';
          base = ms(dead.slot);
          this.#skip(ms(dead.slot), 'lost', `started by ${dead.holder} (token ${dead.token}) and never finished`);
        }
        st.running = null;
        dirty = true;
      }
      if (due <= base) {
        this.#skip(due, 'done-elsewhere');
      } else {
        const now = s.storeNow();
        // No history at all (a new job, or a store that lost it and a host that never saw
        // it): the slots owed are those since this host started the job, each inside its
        // catch-up window, so none is dropped without being counted (S4).
        if (!Number.isFinite(base)) base = (Number.isFinite(this.#firstSlot) ? Math.min(this.#firstSlot, due) : due) - 1;
        let slot = this.schedule.after(base);
        let outside = 0;
        let lastOutside = 0;
        const window = this.options.catchUpMs ?? (this.schedule instanceof IntervalSchedule ? this.schedule.periodMs : 0);
        if (this.schedule instanceof IntervalSchedule && slot !== undefined && window > 0) {
          // Jump over slots that are certainly outside the window without enumerating them
          // (this one is the newest of them, or the oldest inside: the loop decides).
          const firstInWindow = this.schedule.atOrBefore(now - window);
          if (firstInWindow > slot) {
            outside = Math.round((firstInWindow - slot) / this.schedule.periodMs);
            lastOutside = firstInWindow - this.schedule.periodMs;
            slot = firstInWindow;
          }
        }
        // Classify every unsettled slot up to `due`, oldest first. S5: a slot that came
        // while the last run was going is an overlap (`skip` drops it, `buffer-one` keeps
        // the newest such slot if its window is still open). S4: other slots whose window
        // closed were missed by every host. The rest run, in order.
        const last = st.runs.find((run) => run.outcome !== 'skipped');
        const during = (p: number) => !!last && p > ms(last.slot) && p >= ms(last.start) && p < ms(last.end);
        const overlapped: number[] = [];
        const pending: number[] = [];
        for (let guard = 0; slot !== undefined && slot <= due && guard < 100_000; guard++) {
          if (during(slot)) overlapped.push(slot);
          else if (this.#outside(slot, now)) {
            outside++;
            lastOutside = slot;
          } else pending.push(slot);
          slot = this.schedule.after(slot);
        }
        const newest = overlapped[overlapped.length - 1];
        if (this.options.overlap === 'buffer-one' && newest !== undefined && !this.#outside(newest, now)) {
          overlapped.pop();
          pending.unshift(newest);
        }
        if (outside > 0) {
          const detail = outside > 1 ? `${outside} slots missed by every host` : 'missed by every host';
          this.#skip(lastOutside, 'outside-catch-up', detail, outside);
          this.#settleSkipped(st, lastOutside, `outside catch-up: ${detail}`);
          dirty = true;
        }
        for (const p of overlapped) {
          const detail = `came while the run of ${last?.slot} by ${last?.holder} was still going`;
          this.#skip(p, 'overlap', detail);
          this.#settleSkipped(st, p, `overlap: ${detail}`);
          dirty = true;
        }
        for (const p of pending) {
          if (s.stopping) break;
          const res = await this.#runSlot(lease, p, st, storeTime);
          dirty = false;
          if (res === 'lost') return;
        }
      }
      if (dirty && (await lease.writeState(st as unknown as JsonValue))) this.#learn(st);
    } catch (err) {
      lh.emit('error', { key: this.key, error: err, during: 'schedule' });
      safeLog(lh.logger, 'warn', { key: this.key, err: errorMessage(err) }, 'scheduled run could not be recorded');
    } finally {
      await lease[Symbol.asyncDispose]();
    }
  }

  /** Runs one slot while holding the lease. Mutates `st` to the committed state. */
  async #runSlot(lease: Lease, slot: number, st: JobState, storeTime: number | undefined): Promise<'ok' | 'lost'> {
    const s = this.#sched;
    const lh = s.lh;
    const { clock } = lh;
    // S3: never before the slot's instant by the store's clock.
    const early = slot - (storeTime ?? s.storeNow());
    if (early > 0) await sleep(clock, early, lease.signal).catch(() => {});
    if (!lease.held) return 'lost';
    const start = iso(Math.max(s.storeNow(), slot));
    st.running = { slot: iso(slot), holder: lh.holder, token: lease.token, start };
    // Record the start before the handler runs: at-most-once depends on it, and others
    // read it to tell an overlap from a run of the current slot.
    if (!(await lease.writeState(st as unknown as JsonValue))) return 'lost';

    const base: RunEvent = { key: this.key, slot: new Date(slot), token: lease.token, holder: lh.holder, attempt: 1 };
    this.stats.runs++;
    let outcome: RunOutcome = 'error';
    let lastError: unknown;
    let attempt = 1;
    for (; attempt <= this.options.attempts; attempt++) {
      const ev = { ...base, attempt };
      const ac = new AbortController();
      const stopRun = s.registerRun(ac);
      const onLost = () => ac.abort(lease.signal.reason);
      lease.signal.addEventListener('abort', onLost, { once: true });
      let timer: unknown;
      if (this.options.timeoutMs !== undefined) {
        const t = this.options.timeoutMs;
        timer = clock.setTimeout(() => ac.abort(new LeaseholdError(`run timed out after ${t}ms`)), t);
      }
      const t0 = clock.now();
      lh.emit('run:start', ev);
      safeLog(lh.logger, 'info', { key: this.key, slot: iso(slot), token: lease.token, attempt }, 'run started');
      try {
        await raceAbort(() => this.#handler({ ...ev, signal: ac.signal, log: childLogger(lh.logger, { key: this.key, slot: iso(slot), token: lease.token }) }), ac.signal);
        outcome = 'ok';
        const durationMs = clock.now() - t0;
        lh.emit('run:success', { ...ev, durationMs });
        safeLog(lh.logger, 'info', { key: this.key, slot: iso(slot), token: lease.token, attempt, durationMs: Math.round(durationMs) }, 'run succeeded');
      } catch (err) {
        lastError = err;
        outcome = lease.signal.aborted ? 'lost' : s.stopping && ac.signal.aborted ? 'aborted' : ac.signal.aborted ? 'timeout' : 'error';
        const final = outcome !== 'error' && outcome !== 'timeout' ? true : attempt >= this.options.attempts;
        const durationMs = clock.now() - t0;
        lh.emit('run:error', { ...ev, durationMs, error: err, final });
        safeLog(lh.logger, 'error', { key: this.key, slot: iso(slot), token: lease.token, holder: lh.holder, attempt, outcome, err: errorMessage(err) }, 'run failed');
      } finally {
        clock.clearTimeout(timer);
        lease.signal.removeEventListener('abort', onLost);
        stopRun();
      }
      if (outcome !== 'error' && outcome !== 'timeout') break;
      if (attempt >= this.options.attempts) break;
      const pause = Math.min(this.options.backoffMs * 2 ** (attempt - 1), this.options.maxBackoffMs);
      try {
        await sleep(clock, pause, AbortSignal.any([lease.signal, s.stopSignal]));
      } catch {
        outcome = lease.signal.aborted ? 'lost' : 'aborted';
        break;
      }
    }
    if (outcome === 'ok') this.stats.succeeded++;
    else this.stats.failed++;

    if (outcome === 'lost') {
      lh.emit('lease:lost', { ...base, attempt, error: lease.signal.reason });
      safeLog(lh.logger, 'warn', { key: this.key, slot: iso(slot), token: lease.token }, 'lease lost during run');
      return 'lost';
    }
    const record: RunRecord = { slot: iso(slot), holder: lh.holder, token: lease.token, attempts: Math.min(attempt, this.options.attempts), start, end: iso(s.storeNow()), outcome };
    if (outcome !== 'ok' && lastError !== undefined) record.error = errorMessage(lastError).slice(0, 500);
    st.runs = [record, ...st.runs].slice(0, HISTORY_LENGTH);
    if (outcome !== 'aborted') {
      // Aborted by shutdown: the start marker stays, so the slot is re-run elsewhere
      // (at-least-once) or recorded as lost (at-most-once).
      st.lastSlot = iso(slot);
      st.lastOutcome = outcome;
      st.running = null;
    }
    try {
      if (!(await lease.writeState(st as unknown as JsonValue))) {
        lh.emit('lease:lost', { ...base, attempt, error: lease.signal.reason });
        return 'lost';
      }
      this.#learn(st);
    } catch (err) {
      lh.emit('error', { key: this.key, error: err, during: 'record run' });
      safeLog(lh.logger, 'warn', { key: this.key, slot: iso(slot), err: errorMessage(err) }, 'run finished but its end could not be recorded');
      return 'lost';
    }
    return 'ok';
  }
}

/** Awaits `fn()`, but settles as soon as `signal` aborts (a handler that ignores its signal is abandoned). */
async function raceAbort(fn: () => unknown, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw signal.reason;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  const work = Promise.resolve().then(fn);
  work.catch(() => {}); // an abandoned handler's late rejection is not unhandled
  try {
    await Promise.race([work, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

function childLogger(logger: Logger, fields: object): Logger {
  return {
    debug: (o, m) => safeLog(logger, 'debug', { ...fields, ...o }, m ?? ''),
    info: (o, m) => safeLog(logger, 'info', { ...fields, ...o }, m ?? ''),
    warn: (o, m) => safeLog(logger, 'warn', { ...fields, ...o }, m ?? ''),
    error: (o, m) => safeLog(logger, 'error', { ...fields, ...o }, m ?? ''),
  };
}

/** @internal The per-Leasehold scheduler behind `every`, `cron`, `start` and `stop`. */
export class Scheduler {
  readonly lh: Leasehold;
  readonly jobs = new Map<string, ScheduledJob>();
  stopping = false;
  started = false;
  /**
   * A lower bound of the store clock minus the host wall clock: the largest of the
   * samples' bounds, less a drift allowance for its age; see {@link Scheduler.observe}.
   * Undefined until the first sample (the host clock is used until then).
   */
  #lowerSkewMs: number | undefined;
  /** Monotonic time of the sample that gave it. */
  #sampledAt = 0;
  readonly #stop = new AbortController();
  readonly #runs = new Set<AbortController>();
  readonly #sleepers = new Set<() => void>();
  #refining: Promise<void> = Promise.resolve();

  constructor(lh: Leasehold) {
    this.lh = lh;
  }

  get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  /**
   * A lower bound of the store's time (epoch ms): the host wall clock plus the measured
   * lower bound of the offset — so a slot is never taken to be due before it is by the
   * store's clock (S3), at the price of starting a little late.
   */
  storeNow(): number {
    return this.lh.clock.wallNow() + this.#currentSkew();
  }

  #currentSkew(): number {
    if (this.#lowerSkewMs === undefined) return 0;
    // Clocks drift apart: 0.1 ms per second of age (100 ppm, beyond the drift of crystal
    // clocks) keeps an old bound a bound; every acquisition brings a fresh one.
    return this.#lowerSkewMs - (this.lh.clock.now() - this.#sampledAt) / 10_000;
  }

  /**
   * Records a store time and the host wall clock when its reply arrived. Whenever the
   * store read its clock, it was before the reply arrived, so `storeTime - recvWall`
   * is a lower bound of the offset, however slow the round trip; the largest bound seen
   * is kept. A slow first request (connect, TLS, auth) gives a loose bound that the next
   * fast one replaces; a store whose times are truncated (Azure's `Date` header) gives
   * bounds up to its resolution low, and the reads {@link Scheduler.refineClock} spreads
   * over the phases of that resolution bring the bound to within a tenth of it. `force`
   * replaces the bound even when lower: for a sample that proves the kept one wrong (the
   * host's clock stepped).
   */
  observe(storeTime: number, recvWall: number, force = false): void {
    const bound = storeTime - recvWall;
    if (!force && this.#lowerSkewMs !== undefined && bound <= this.#currentSkew()) return;
    this.#lowerSkewMs = bound;
    this.#sampledAt = this.lh.clock.now();
  }

  /**
   * For a store with coarse times (`capabilities.clockResolutionMs` > 1): ten more clock
   * reads, a tenth of the resolution apart, so one of them lands just after the store's
   * clock ticks over and {@link observe} keeps a bound within a tenth of the resolution
   * (plus a round trip). Takes about one resolution (1 s on Azure). Runs in the background
   * from `start()`; ends early on `stop()`; failures are ignored (acquisitions keep
   * sampling).
   */
  async refineClock(): Promise<void> {
    const res = this.lh.store.capabilities.clockResolutionMs ?? 1;
    if (res <= 1) return;
    const { clock, store } = this.lh;
    const steps = 10;
    for (let i = 0; i < steps && !this.stopping; i++) {
      await this.#nap(res / steps);
      if (this.stopping) return;
      try {
        const t = await store.now({ signal: AbortSignal.any([AbortSignal.timeout(5000), this.stopSignal]) });
        this.observe(t, clock.wallNow());
      } catch {
        // The store is busy or down: acquisitions keep sampling.
      }
    }
  }

  registerRun(ac: AbortController): () => void {
    this.#runs.add(ac);
    return () => this.#runs.delete(ac);
  }

  /** Sleeps until store time `t`, in capped steps; returns early when stopping. */
  async sleepUntil(t: number): Promise<void> {
    while (!this.stopping) {
      const d = t - this.storeNow();
      if (d <= 0) return;
      await this.#nap(Math.min(d, MAX_TIMER_MS));
    }
  }

  /**
   * Sleeps `ms` on the clock; stop() wakes every sleeper at once. One entry in a set per
   * sleeper, no listener on a shared signal per job (that would scan a list per job and
   * warn past 10 jobs).
   */
  #nap(ms: number): Promise<void> {
    const { clock } = this.lh;
    return new Promise<void>((resolve) => {
      const wake = () => {
        clock.clearTimeout(handle);
        this.#sleepers.delete(wake);
        resolve();
      };
      const handle = clock.setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  add(key: string, schedule: Schedule, handler: JobHandler, options: JobOptions = {}): ScheduledJob {
    checkKey(key);
    if (typeof handler !== 'function') throw new ConfigError(`handler for "${key}": expected a function, got ${typeof handler}`);
    if (this.jobs.has(key)) throw new ConfigError(`key: a job "${key}" is already scheduled on this Leasehold`);
    if (this.stopping) throw new ConfigError(`cannot schedule "${key}": this Leasehold is stopping`);
    const job = new ScheduledJob(this, key, schedule, handler, resolveOptions(key, options, this.lh));
    this.jobs.set(key, job);
    if (this.started) job.start();
    return job;
  }

  async start(): Promise<void> {
    if (this.stopping) throw new ConfigError('cannot start: this Leasehold was stopped');
    if (this.started) return;
    this.started = true;
    await this.syncClock();
    this.#refining = this.refineClock().catch(() => {});
    for (const job of this.jobs.values()) job.start();
  }

  /**
   * Measures the store clock's offset from the host's (S3): three reads, the largest
   * lower bound kept (the first one also opens the connection and is often slow, so its
   * bound is loose). Failure leaves the
   * last estimate; every acquisition refines it.
   */
  async syncClock(): Promise<void> {
    const { clock, store } = this.lh;
    try {
      for (let i = 0; i < 3; i++) {
        const t = await store.now({ signal: AbortSignal.timeout(5000) });
        this.observe(t, clock.wallNow());
      }
    } catch (err) {
      safeLog(this.lh.logger, 'warn', { err: errorMessage(err) }, 'could not read the store clock; using the host clock until the store answers');
    }
  }

  async stop(graceMs: number): Promise<void> {
    if (this.stopping) {
      await Promise.all([...this.jobs.values()].map((j) => j.done));
      return;
    }
    this.stopping = true;
    this.#stop.abort(new LeaseholdError('shutting down'));
    for (const wake of [...this.#sleepers]) wake();
    const loops = Promise.all([...this.jobs.values()].map((j) => j.done).concat(this.#refining));
    if (this.#runs.size > 0) {
      let timer: unknown;
      const graceOver = new Promise<void>((r) => {
        timer = this.lh.clock.setTimeout(r, graceMs);
      });
      await Promise.race([loops, graceOver]);
      this.lh.clock.clearTimeout(timer);
      for (const ac of this.#runs) ac.abort(new LeaseholdError('shutting down: grace period over'));
    }
    await loops;
  }
}

function resolveOptions(key: string, o: JobOptions, lh: Leasehold): ResolvedOptions {
  if (o === null || typeof o !== 'object') throw new ConfigError(`options for "${key}": expected an object`);
  const caps = lh.store.capabilities;
  const ttlMs = o.ttl === undefined
    ? Math.min(Math.max(30_000, caps.minTtlMs ?? 1), caps.maxTtlMs ?? Number.POSITIVE_INFINITY)
    : checkTtl(o.ttl, lh.store);
  const overlap = o.overlap ?? 'skip';
  if (overlap !== 'skip' && overlap !== 'buffer-one') throw new ConfigError(`overlap: expected "skip" or "buffer-one", got ${JSON.stringify(overlap)}`);
  const delivery = o.delivery ?? 'at-least-once';
  if (delivery !== 'at-least-once' && delivery !== 'at-most-once') throw new ConfigError(`delivery: expected "at-least-once" or "at-most-once", got ${JSON.stringify(delivery)}`);
  const attempts = o.retry?.attempts ?? 1;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100) throw new ConfigError(`retry.attempts: expected an integer from 1 to 100, got ${JSON.stringify(attempts)}`);
  return Object.freeze({
    ttlMs,
    jitterMs: o.jitter === undefined ? 0 : parseDuration(o.jitter, 'jitter', { allowZero: true }),
    catchUpMs: o.catchUp === undefined ? undefined : parseDuration(o.catchUp, 'catchUp', { allowZero: true }),
    overlap,
    atMostOnce: delivery === 'at-most-once',
    timeoutMs: o.timeout === undefined ? undefined : parseDuration(o.timeout, 'timeout'),
    attempts,
    backoffMs: o.retry?.backoff === undefined ? 1000 : parseDuration(o.retry.backoff, 'retry.backoff', { allowZero: true }),
    maxBackoffMs: o.retry?.maxBackoff === undefined ? 30_000 : parseDuration(o.retry.maxBackoff, 'retry.maxBackoff', { allowZero: true }),
  });
}

/** @internal */
export function makeSchedule(kind: 'every' | 'cron', spec: Duration, options: JobOptions | undefined): Schedule {
  if (kind === 'every') {
    if (options?.timezone !== undefined) throw new ConfigError('timezone: only cron jobs take a timezone; interval slots are epoch-aligned');
    return new IntervalSchedule(spec, options?.offset ?? 0);
  }
  if (options?.offset !== undefined) throw new ConfigError('offset: only interval jobs take an offset');
  return new CronSchedule(spec as string, options?.timezone ?? 'UTC');
}

