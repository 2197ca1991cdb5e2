/**
 * A scheduled job and its loop: wait for the next slot, try its lease, and then run what
 * the holder owes or learn from the busy answer when to look again (S1–S6). The
 * decisions are in classify.ts; running a slot is in runner.ts.
 * @module
 */
import { defaultPoll, POLL_JITTER, requestTimeout, SLOT_EXPIRY_SLACK_MS } from '../defaults.js';
import { safeLog } from '../events.js';
import { jitter as randomBetween } from '../internal.js';
import type { Lease } from '../lease.js';
import type { Schedule } from '../schedule.js';
import type { JsonValue } from '../store.js';
import { errorText } from '../store-kit/index.js';
import { decideBusy, decideStoreDown, isTooEarly, planPending, type SlotPolicy } from './classify.js';
import type { ResolvedOptions } from './options.js';
import type { AcquireAnswer } from './port.js';
import { type RunnerHost, SlotRunner } from './runner.js';
import { isoOf, type JobState, markOf, parseJobState, settledThrough } from './state.js';
import type { JobHandler, JobStats, OperatorRun, SkipReason, SlotSkippedEvent } from './types.js';

/** What a job needs of its scheduler, beyond what a run needs. */
export interface JobHost extends RunnerHost {
  /** Sleeps until store time `time`, in capped steps; returns early when stopping or when `key`'s job is woken. */
  sleepUntil(time: number, key?: string): Promise<void>;
  /** True when this host should try `key`'s slots (placement: it owns the job). */
  owns(key: string): boolean;
  /** Records a store time sample (see `StoreClock.observe`). */
  observe(storeTime: number, recvWall: number, sendWall?: number, force?: boolean): void;
  /**
   * Takes a place among the slot acquires in flight: undefined when one was free,
   * else a promise of one (at once when stopping). Give it back with {@link endAcquire}.
   */
  beginAcquire(): Promise<void> | undefined;
  /** Gives back the place {@link beginAcquire} took. */
  endAcquire(): void;
}

/** One look at the due slot: it is settled, or look again at `wakeAt`. */
type Consideration = { done: true } | { done: false; wakeAt: number; overlap?: boolean };

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
    skipped: {
      'done-elsewhere': 0,
      overlap: 0,
      'outside-catch-up': 0,
      'store-unavailable': 0,
      lost: 0,
      paused: 0,
      'skip-next': 0,
    },
  };
  /** @internal */
  readonly options: ResolvedOptions;
  readonly #host: JobHost;
  readonly #policy: SlotPolicy;
  readonly #runner: SlotRunner;
  #loop: Promise<void> | undefined;
  /** An operator control was announced for this job: the loop looks at it before anything else. */
  #poked = false;
  /** The first slot this host owes: the one due when its loop started. */
  #firstSlot = Number.NEGATIVE_INFINITY;
  /**
   * The newest slot this host has seen settled in the job's fenced state (or, at-most-once,
   * started). Used when the store's state turns out emptier than that: a store that lost
   * its data (Redis without persistence restarted) must not make done slots look new.
   */
  #knownSettled = Number.NEGATIVE_INFINITY;

  /** @internal */
  constructor(host: JobHost, key: string, schedule: Schedule, handler: JobHandler, options: ResolvedOptions) {
    this.#host = host;
    this.key = key;
    this.schedule = schedule;
    this.options = options;
    this.#policy = { schedule, catchUpMs: options.catchUpMs, overlap: options.overlap, atMostOnce: options.atMostOnce };
    const learn = (state: JobState) => this.#learn(state);
    this.#runner = new SlotRunner(host, { key, options, stats: this.stats, handler, learn });
  }

  /** @internal */
  start(): void {
    this.#loop ??= this.#run().catch((err) => {
      safeLog(this.#host.port.logger, 'error', { key: this.key, err: errorText(err) }, 'scheduler loop failed');
    });
  }

  /** @internal An operator control waits in the job's state: look at it at once (it wakes the loop). */
  poke(): void {
    this.#poked = true;
  }

  /**
   * Takes the job's lease to run what operators asked for (the plan runs any slot still
   * owed too). Busy: the holder is running the job and will look at the controls when it
   * next holds it, or look again after a poll.
   */
  async #considerControls(): Promise<void> {
    const host = this.#host;
    const { ttlMs } = this.options;
    let answer: AcquireAnswer;
    try {
      answer = await host.port.attemptAcquire(this.key, ttlMs);
      if (answer.storeTime !== undefined) host.observe(answer.storeTime, answer.recvWall, answer.sendWall);
    } catch (err) {
      host.port.emit('error', { key: this.key, error: err, during: 'schedule' });
      this.#poked = true;
      await host.sleepUntil(host.storeNow() + defaultPoll(ttlMs), this.key);
      return;
    }
    if (!answer.lease) {
      this.#poked = true;
      await host.sleepUntil(host.storeNow() + defaultPoll(ttlMs), this.key);
      return;
    }
    const due = this.schedule.atOrBefore(host.storeNow()) ?? host.storeNow();
    await this.#runPending(answer.lease, due, answer.storeTime, false, true);
  }

  /** @internal Resolves when the job's loop has ended. */
  get done(): Promise<void> {
    return this.#loop ?? Promise.resolve();
  }

  #skip(slot: number, reason: SkipReason, detail?: string, count = 1): void {
    const { port } = this.#host;
    this.stats.skipped[reason] += count;
    const event: SlotSkippedEvent = { key: this.key, slot: new Date(slot), reason, holder: port.holder };
    if (detail !== undefined) event.detail = detail;
    const fields = { key: this.key, slot: isoOf(slot), reason, ...(detail ? { detail } : {}) };
    safeLog(port.logger, reason === 'done-elsewhere' ? 'debug' : 'info', fields, 'slot skipped');
    port.emit('slot:skipped', event);
  }

  async #run(): Promise<void> {
    const host = this.#host;
    const first = this.schedule.atOrBefore(host.storeNow());
    if (first !== undefined) this.#firstSlot = first;
    // Consider the current slot at start: if no host ran it and it is inside the
    // catch-up window, it runs now (S4); otherwise the store's state says it is done.
    let handled = first === undefined ? Number.NEGATIVE_INFINITY : first - 1;
    // A slot we are watching because an older run still held the lease.
    let waiting: number | undefined;
    while (!host.stopping) {
      if (this.#poked) {
        // An operator asked for a run (trigger, backfill): look at the job's controls now.
        this.#poked = false;
        await this.#considerControls();
        continue;
      }
      const now = host.storeNow();
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
        await host.sleepUntil(next + (this.options.jitterMs ? randomBetween(0, this.options.jitterMs) : 0), this.key);
        continue;
      }
      if (!host.owns(this.key)) {
        // Placement: another host owns this job. Ask the store nothing; sleep until placement
        // wakes us (the job became ours). The owner's slots are not ours to count (P2).
        waiting = undefined;
        await host.sleepUntil(Number.POSITIVE_INFINITY, this.key);
        continue;
      }
      const look = await this.#consider(due);
      if (look.done) {
        handled = due;
        waiting = undefined;
      } else {
        waiting = look.overlap ? due : undefined;
        const next = this.schedule.after(due) ?? Number.POSITIVE_INFINITY;
        await host.sleepUntil(Math.min(look.wakeAt, next), this.key);
      }
    }
  }

  /** One look at the due slot: run it, learn it is settled, or decide when to look again. */
  async #consider(due: number): Promise<Consideration> {
    const host = this.#host;
    const { port } = host;
    const { ttlMs } = this.options;
    // Jobs due at one instant take turns past MAX_SLOT_ACQUIRES_IN_FLIGHT.
    const turn = host.beginAcquire();
    if (turn) await turn;
    let mark: ReturnType<typeof markOf> | undefined;
    let answer: AcquireAnswer;
    try {
      if (host.stopping) return { done: true };
      // The fused acquire writes this host's start record for `due` with the grant. Not in
      // at-most-once mode: there a start record must carry the run's token and name the slot
      // actually started, and a retried acquire would see its own mark as another's start.
      mark = this.#fused() ? markOf(due, port.holder, Math.max(host.storeNow(), due)) : undefined;
      answer = await port.attemptAcquire(this.key, ttlMs, mark as JsonValue | undefined);
      if (answer.storeTime !== undefined) host.observe(answer.storeTime, answer.recvWall, answer.sendWall);
    } catch (err) {
      if (host.stopping) return { done: true };
      port.emit('error', { key: this.key, error: err, during: 'schedule' });
      const fields = { key: this.key, slot: isoOf(due), err: errorText(err) };
      safeLog(port.logger, 'warn', fields, 'store unavailable while a slot is open');
      const decision = decideStoreDown(this.#policy, due, host.storeNow(), ttlMs);
      if (decision.kind === 'wait') return { done: false, wakeAt: decision.wakeAt };
      this.#skip(due, 'store-unavailable', errorText(err));
      return { done: true };
    } finally {
      host.endAcquire();
    }
    if (answer.lease) return this.#onAcquired(answer.lease, due, answer, mark !== undefined);
    const state = await this.#busyState(answer);
    if (state) this.#learn(state);
    const pollFactor = randomBetween(...POLL_JITTER);
    const slackMs = randomBetween(...SLOT_EXPIRY_SLACK_MS);
    const busy = { state, expiresInMs: answer.expiresInMs, storeTime: answer.storeTime };
    const decision = decideBusy(this.#policy, due, host.storeNow(), ttlMs, busy, { pollFactor, slackMs });
    if (decision.kind === 'settled') this.#skip(due, 'done-elsewhere');
    if (decision.kind === 'closed' && decision.overlapDetail !== undefined) {
      this.#skip(due, 'overlap', decision.overlapDetail);
    }
    if (decision.kind !== 'wait') return { done: true };
    return { done: false, wakeAt: decision.wakeAt, overlap: decision.overlap };
  }

  /**
   * The key's state behind a busy answer. An answer with neither state nor expiry (Azure)
   * says nothing of what the holder does: one read tells a holder of ours running this
   * slot (wait for its lease) from anything else (poll). A failed read tells nothing.
   */
  async #busyState(answer: AcquireAnswer): Promise<JobState | undefined> {
    if (answer.state !== undefined) return parseJobState(answer.state, answer.mark);
    if (answer.expiresInMs !== undefined) return undefined;
    try {
      const read = await this.#host.port.readState(this.key, requestTimeout(this.options.ttlMs));
      return parseJobState(read.state, read.mark);
    } catch {
      return undefined;
    }
  }

  /** True when a slot takes the fused path: start record with the acquire, end record with the release. */
  #fused(): boolean {
    return !this.options.atMostOnce && this.#host.port.store.capabilities.stateOnAcquire === true;
  }

  async #onAcquired(lease: Lease, due: number, answer: AcquireAnswer, marked: boolean): Promise<Consideration> {
    const { port } = this.#host;
    // S3 waits for the slot's instant while holding the lease. That is right for the
    // last few milliseconds of a clock estimate's uncertainty, but a host whose estimate
    // was far ahead (its wall clock is off and it never got a clean store-time sample)
    // would keep the key from everyone until then. The acquire's own answer has
    // corrected the estimate: let go and come back when the slot is due.
    if (answer.storeTime !== undefined && isTooEarly(due, answer.storeTime, this.options.ttlMs)) {
      const fields = { key: this.key, slot: isoOf(due), earlyMs: Math.round(due - answer.storeTime) };
      safeLog(port.logger, 'warn', fields, 'slot not due yet by the store clock; lease released until it is');
      // The kept sample disagrees with the store (the wall clock stepped since?): replace it.
      this.#host.observe(answer.storeTime, answer.recvWall, answer.sendWall, true);
      // Our mark would read as a start with no end: put the state back as it was, which clears it.
      const state = lease.acquiredState;
      if (marked && state !== undefined && state !== null) await this.#dispose(lease, state);
      else await this.#dispose(lease);
      return { done: false, wakeAt: due };
    }
    await this.#runPending(lease, due, answer.storeTime, marked);
    return { done: true };
  }

  /** Releases `lease` (with `state`: the fused release); a failure is logged, the lease then expires. */
  async #dispose(lease: Lease, state?: JsonValue): Promise<boolean> {
    try {
      return await lease.releaseWith(state);
    } catch (err) {
      const fields = { key: this.key, token: lease.token, err: errorText(err) };
      safeLog(this.#host.port.logger, 'warn', fields, 'lease release failed; it will expire');
      return false;
    }
  }

  /** Remembers what a state read says is settled (see {@link ScheduledJob.#knownSettled}). */
  #learn(state: JobState): void {
    const settled = settledThrough(state, this.options.atMostOnce);
    if (settled > this.#knownSettled) this.#knownSettled = settled;
  }

  /** Holding the lease: run every slot up to `due` that is unsettled and inside its catch-up window, oldest first. */
  /**
   * The runs operators asked for in `state`, after the schedule's: a trigger (for the
   * instant it runs) and a backfill's slots, oldest first. Both run under this lease, so
   * never alongside a scheduled run.
   */
  #operatorWork(state: JobState): { slot: number; operator: OperatorRun }[] {
    const control = state.control;
    const work: { slot: number; operator: OperatorRun }[] = [];
    if (control?.trigger) {
      const { id, by } = control.trigger;
      work.push({ slot: Math.floor(this.#host.storeNow()), operator: { action: 'trigger', id, by } });
    }
    if (control?.backfill) {
      const { id, by, slots } = control.backfill;
      const times = slots.map((iso) => Date.parse(iso)).filter((time) => Number.isFinite(time));
      for (const slot of times.sort((a, b) => a - b)) work.push({ slot, operator: { action: 'backfill', id, by } });
    }
    return work;
  }

  async #runPending(
    lease: Lease,
    due: number,
    storeTime: number | undefined,
    marked: boolean,
    controlsOnly = false,
  ): Promise<void> {
    const host = this.#host;
    const { port } = host;
    try {
      let stored = { state: lease.acquiredState, mark: lease.acquiredMark };
      if (stored.state === undefined) stored = await port.readState(this.key, requestTimeout(this.options.ttlMs));
      const plan = planPending(this.#policy, {
        state: parseJobState(stored.state, stored.mark),
        due,
        now: host.storeNow(),
        knownSettled: this.#knownSettled,
        firstSlot: this.#firstSlot,
        holder: port.holder,
      });
      if (plan.lostData) {
        const fields = { key: this.key, ...plan.lostData };
        safeLog(
          port.logger,
          'warn',
          fields,
          "the job's state in the store is older than this host saw it; the store lost data",
        );
      }
      for (const skip of plan.skips) {
        // A look for operator controls only is not this slot's business: nothing to count.
        if (controlsOnly && skip.reason === 'done-elsewhere') continue;
        this.#skip(skip.slot, skip.reason, skip.detail, skip.count);
      }
      // Written with whatever this holder writes, so readers can show the next slot.
      plan.state.schedule = this.schedule.spec;
      let dirty = plan.dirty;
      const work = [...plan.run.map((slot) => ({ slot })), ...this.#operatorWork(plan.state)];
      for (const [index, item] of work.entries()) {
        if (host.stopping) break;
        // Fused (at-least-once only): the mark names `due` and stands for the start of any
        // slot up to it — a start with no end is re-run — so no run writes a start record.
        const how = { marked, last: index === work.length - 1, ...item };
        const result = await this.#runner.run(lease, item.slot, plan.state, storeTime, how);
        dirty = false;
        if (result === 'lost') return;
      }
      if (dirty && (await this.#dispose(lease, plan.state as unknown as JsonValue))) this.#learn(plan.state);
    } catch (err) {
      port.emit('error', { key: this.key, error: err, during: 'schedule' });
      safeLog(port.logger, 'warn', { key: this.key, err: errorText(err) }, 'scheduled run could not be recorded');
    } finally {
      await lease[Symbol.asyncDispose]();
    }
  }
}
