/**
 * Running one slot while holding its lease: the start record, the tries with their
 * timeout and backoff, abort on lease loss or shutdown, and the end record (S2, S3, S8).
 * @module
 */
import { sleep } from '../clock.js';
import { retryBackoff } from '../defaults.js';
import { ConfigError, LeaseholdError } from '../errors.js';
import { safeLog, silentLogger, type Logger } from '../events.js';
import type { Lease } from '../lease.js';
import type { JsonValue } from '../store.js';
import { type Abortable, RunAbort, raceHandler } from './run-abort.js';
import { errorText } from '../store-kit/index.js';
import type { ResolvedOptions } from './options.js';
import type { SchedulerPort } from './port.js';
import { isoOf, type JobControl, type JobState, MAX_RECORD_ERROR_LENGTH, slotIso, withRun } from './state.js';
import type { JobContext, JobHandler, JobStats, OperatorRun, RunEvent, RunOutcome, RunRecord } from './types.js';

/** What a run needs of its scheduler. */
export interface RunnerHost {
  /** The facade, narrowed. */
  readonly port: SchedulerPort;
  /** True once `stop()` began. */
  readonly stopping: boolean;
  /** Aborts when `stop()` begins. */
  readonly stopSignal: AbortSignal;
  /** The store's time, as estimated (a lower bound). */
  storeNow(): number;
  /** How far the store's time may be ahead of {@link RunnerHost.storeNow} (ms); undefined when unknown. */
  storeUncertaintyMs(): number | undefined;
  /** Registers a running handler's controller, for `stop()` to abort after the grace; returns its removal. */
  registerRun(run: Abortable): () => void;
}

/** What a run needs of its job. */
export interface RunnerJob {
  readonly key: string;
  readonly options: ResolvedOptions;
  readonly stats: JobStats;
  readonly handler: JobHandler;
  /** Remembers what a committed state says is settled. */
  learn(state: JobState): void;
}

/** One run's shared facts across its tries: the state it runs from, its start, and a committed transaction's end. */
interface RunScope {
  readonly state: JobState;
  readonly start: string;
  /** How much later than `start` the run may really have begun (the clock estimate's uncertainty). */
  readonly startWithinMs: number;
  /** The end state a transaction committed (T1), once one did. */
  committed?: JobState | undefined;
  /** Settles when the last transaction settles: a try abandoned mid-COMMIT (timeout) may still commit. */
  pending?: Promise<void>;
}

/** How one try ended. */
interface TryResult {
  outcome: RunOutcome;
  error?: unknown;
}

/** Runs the slots of one job, one at a time, on leases the job holds. */
export class SlotRunner {
  readonly #host: RunnerHost;
  readonly #job: RunnerJob;

  /** A runner for `job`. */
  constructor(host: RunnerHost, job: RunnerJob) {
    this.#host = host;
    this.#job = job;
  }

  /**
   * Runs one slot while holding the lease. Mutates `state` to the committed state.
   * `how.marked`: the acquire already wrote this run's start record (the fused acquire),
   * so none is written here. `how.last`: the end record goes with the release (the fused
   * release), so the lease is released when this returns. `how.operator`: an operator's
   * trigger or backfill run, which settles its control instead of the schedule's slots.
   */
  async run(
    lease: Lease,
    slot: number,
    state: JobState,
    storeTime: number | undefined,
    how: { marked: boolean; last: boolean; operator?: OperatorRun },
  ): Promise<'ok' | 'lost'> {
    const host = this.#host;
    const { clock, holder } = host.port;
    // S3: never before the slot's instant by the store's clock.
    const early = slot - (storeTime ?? host.storeNow());
    if (early > 0) await sleep(clock, early, lease.signal).catch(() => {});
    if (!lease.held) return 'lost';
    const start = isoOf(Math.max(host.storeNow(), slot));
    // The start is a lower bound of the store's time; how much later it may really have
    // been goes in the record, so overlap decisions only count slots surely after it (S5).
    const startWithinMs = Math.ceil(host.storeUncertaintyMs() ?? 0);
    if (how.operator) {
      // An operator's run marks no slot running (it must not settle the schedule's slots).
      // At-most-once, its control is cleared before it runs, so it never runs twice.
      if (this.#job.options.atMostOnce) {
        settleOperatorRun(state, how.operator, slot);
        if (!(await lease.writeOwnState(state as unknown as JsonValue))) return 'lost';
      }
    } else if (!how.marked) {
      state.running = { slot: slotIso(slot), holder, token: lease.token, start };
      // Record the start before the handler runs: at-most-once depends on it, and others
      // read it to tell an overlap from a run of the current slot.
      if (!(await lease.writeOwnState(state as unknown as JsonValue))) return 'lost';
    }

    const base: RunEvent = { key: this.#job.key, slot: new Date(slot), token: lease.token, holder, attempt: 1 };
    if (how.operator) base.operator = how.operator;
    this.#job.stats.runs++;
    const scope: RunScope = { state, start, startWithinMs };
    const { attempt, result } = await this.#tries(lease, base, scope);
    if (result.outcome === 'ok') this.#job.stats.succeeded++;
    else this.#job.stats.failed++;
    if (result.outcome === 'lost') {
      host.port.emit('lease:lost', { ...base, attempt, error: lease.endReason });
      const fields = { key: this.#job.key, slot: isoOf(slot), token: lease.token };
      safeLog(host.port.logger, 'warn', fields, 'lease lost during run');
      return 'lost';
    }
    if (scope.committed) return this.#committedEnd(lease, base, scope.committed, { attempt, result, last: how.last });
    return this.#recordEnd(lease, base, state, { start, startWithinMs, attempt, result, last: how.last });
  }

  /**
   * The end of a run whose transaction committed (T1): its end record is already in the
   * store, written in that commit. It stands whatever the handler did after the commit.
   */
  async #committedEnd(
    lease: Lease,
    base: RunEvent,
    committed: JobState,
    run: { attempt: number; result: TryResult; last: boolean },
  ): Promise<'ok' | 'lost'> {
    const { port } = this.#host;
    if (run.result.outcome !== 'ok') {
      const fields = { key: this.#job.key, slot: isoOf(base.slot.getTime()), err: errorText(run.result.error) };
      safeLog(
        port.logger,
        'warn',
        fields,
        'run failed after its transaction committed; the committed end record stands',
      );
    }
    this.#job.learn(committed);
    if (run.last) await lease.release().catch(() => {});
    return 'ok';
  }

  /**
   * `ctx.transaction` for one try, when the store runs transactions (T1): the handler's
   * writes and the slot's end record (outcome `ok`) commit together, after the store checks
   * inside the transaction that this lease is still current. Once per try.
   */
  #transaction(lease: Lease, event: RunEvent, scope: RunScope, run: RunAbort): JobContext['transaction'] {
    const runInTransaction = this.#host.port.runInTransaction;
    if (!runInTransaction) return undefined;
    let called = false;
    return async <T, Client = unknown>(work: (client: Client) => Promise<T>): Promise<T> => {
      if (typeof work !== 'function') {
        throw new ConfigError(`ctx.transaction: expected a function (client) => …, got ${typeof work}`);
      }
      if (called || scope.committed) {
        throw new ConfigError(
          `ctx.transaction: already called in this run of "${event.key}" (one transaction per run: ` +
            'it commits with the slot’s end record)',
        );
      }
      called = true;
      let committed: JobState | undefined;
      const endState = (): JsonValue => {
        committed = this.#endState(lease, event, scope, event.attempt);
        return committed as unknown as JsonValue;
      };
      const ref = { key: lease.key, leaseId: lease.leaseId, token: lease.token };
      const signal = run.signal;
      const running = runInTransaction(ref, work as (client: unknown) => Promise<T>, endState, { signal }).then(
        (result) => {
          scope.committed = committed;
          return result;
        },
      );
      scope.pending = running.then(
        () => {},
        () => {},
      );
      return running;
    };
  }

  /** The state a successful run leaves: `scope.state` with the run's `ok` record and its slot settled. */
  #endState(lease: Lease, event: RunEvent, scope: RunScope, attempt: number): JobState {
    const record: RunRecord = {
      slot: slotIso(event.slot.getTime()),
      holder: this.#host.port.holder,
      token: lease.token,
      attempts: attempt,
      start: scope.start,
      end: isoOf(this.#host.storeNow()),
      outcome: 'ok',
    };
    if (event.operator) record.operator = event.operator;
    if (scope.startWithinMs > 0) record.startWithinMs = scope.startWithinMs;
    const next: JobState = { ...scope.state };
    this.#settle(next, event, record, 'ok', scope.start);
    return next;
  }

  /** Sets the end of a run into `state`: the schedule's bookkeeping, or an operator's control settled. */
  #settle(state: JobState, base: RunEvent, record: RunRecord, outcome: RunOutcome, start: string): void {
    state.runs = withRun(state, record);
    if (base.operator) {
      settleOperatorRun(state, base.operator, base.slot.getTime());
    } else if (outcome !== 'aborted') {
      state.lastSlot = record.slot;
      state.lastOutcome = outcome;
      state.running = null;
    } else {
      // Aborted by shutdown: a start record stays in the state (a state write clears the
      // mark), so the slot is re-run elsewhere (at-least-once) or recorded as lost (at-most-once).
      state.running = { slot: record.slot, holder: record.holder, token: record.token, start };
    }
  }

  /** Tries the handler up to `attempts` times, pausing between tries; ends on success, loss or shutdown. */
  async #tries(lease: Lease, base: RunEvent, scope: RunScope): Promise<{ attempt: number; result: TryResult }> {
    const { options } = this.#job;
    const host = this.#host;
    let result: TryResult = { outcome: 'error' };
    let lastError: unknown;
    let attempt = 1;
    for (; attempt <= options.attempts; attempt++) {
      result = await this.#try(lease, { ...base, attempt }, scope);
      // A committed transaction recorded the run's end: no retry may run it again. A try
      // abandoned while its COMMIT was in flight is judged once that COMMIT settles.
      await scope.pending;
      if (scope.committed) break;
      if (result.outcome !== 'ok') lastError = result.error;
      if (result.outcome !== 'error' && result.outcome !== 'timeout') break;
      if (attempt >= options.attempts) break;
      const pause = retryBackoff(attempt, options.backoffMs, options.maxBackoffMs);
      try {
        await sleep(host.port.clock, pause, AbortSignal.any([lease.signal, host.stopSignal]));
      } catch {
        result = { outcome: lease.ended ? 'lost' : 'aborted' };
        break;
      }
    }
    return { attempt, result: lastError === undefined ? result : { outcome: result.outcome, error: lastError } };
  }

  /** One try of the handler, with its own controller: aborted on lease loss, timeout or shutdown. */
  async #try(lease: Lease, event: RunEvent, scope: RunScope): Promise<TryResult> {
    const host = this.#host;
    const { clock, logger } = host.port;
    const { key, options } = this.#job;
    const { attempt, token } = event;
    const slot = slotIso(event.slot.getTime());
    const run = new RunAbort();
    const stopRun = host.registerRun(run);
    const offLost = lease.onEnd((reason) => run.abort(reason));
    let timer: unknown;
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined) {
      const timedOut = () => run.abort(new LeaseholdError(`run timed out after ${timeoutMs}ms`));
      timer = clock.setTimeout(timedOut, timeoutMs);
    }
    const startedAt = clock.now();
    host.port.emit('run:start', { ...event, lateMs: Math.max(0, host.storeNow() - event.slot.getTime()) });
    // With the default logger nothing is written: no line's fields are made either.
    const logging = logger !== silentLogger;
    if (logging) safeLog(logger, 'info', { key, slot, token, attempt }, 'run started');
    // The try's span (telemetry): the handler runs in its context, so the handler's own spans are children.
    const span = host.port.startRunSpan?.(event);
    try {
      // The handler's AbortSignal and logger are made when first read: most handlers never do.
      let log: Logger | undefined;
      const context: JobContext = {
        ...event,
        get signal() {
          return run.signal;
        },
        get log() {
          log ??= childLogger(logger, { key, slot, token });
          return log;
        },
      };
      const transaction = this.#transaction(lease, event, scope, run);
      if (transaction) context.transaction = transaction;
      const call = () => this.#job.handler(context);
      await raceHandler(span ? () => span.within(call) : call, run);
      const durationMs = clock.now() - startedAt;
      span?.end('ok');
      host.port.emit('run:success', { ...event, durationMs });
      if (logging) {
        safeLog(logger, 'info', { key, slot, token, attempt, durationMs: Math.round(durationMs) }, 'run succeeded');
      }
      return { outcome: 'ok' };
    } catch (err) {
      const aborted = run.aborted;
      const outcome: RunOutcome = lease.ended
        ? 'lost'
        : host.stopping && aborted
          ? 'aborted'
          : aborted
            ? 'timeout'
            : 'error';
      const final = outcome !== 'error' && outcome !== 'timeout' ? true : attempt >= options.attempts;
      const durationMs = clock.now() - startedAt;
      span?.end(outcome, err);
      host.port.emit('run:error', { ...event, durationMs, error: err, final, outcome });
      const fields = { key, slot, token, holder: host.port.holder, attempt, outcome, err: errorText(err) };
      safeLog(logger, 'error', fields, 'run failed');
      return { outcome, error: err };
    } finally {
      clock.clearTimeout(timer);
      offLost();
      stopRun();
    }
  }

  /** Writes the run's end into the key's state; 'lost' when the write is refused or fails. */
  async #recordEnd(
    lease: Lease,
    base: RunEvent,
    state: JobState,
    run: { start: string; startWithinMs: number; attempt: number; result: TryResult; last: boolean },
  ): Promise<'ok' | 'lost'> {
    const { port } = this.#host;
    const { key, options } = this.#job;
    const slot = slotIso(base.slot.getTime());
    const { outcome, error } = run.result;
    const attempts = Math.min(run.attempt, options.attempts);
    const end = isoOf(this.#host.storeNow());
    const record: RunRecord = {
      slot,
      holder: port.holder,
      token: lease.token,
      attempts,
      start: run.start,
      end,
      outcome,
    };
    if (outcome !== 'ok' && error !== undefined) record.error = errorText(error).slice(0, MAX_RECORD_ERROR_LENGTH);
    if (base.operator) record.operator = base.operator;
    if (run.startWithinMs > 0) record.startWithinMs = run.startWithinMs;
    this.#settle(state, base, record, outcome, run.start);
    const json = state as unknown as JsonValue;
    try {
      const written = run.last ? await lease.releaseWith(json) : await lease.writeOwnState(json);
      if (!written) {
        port.emit('lease:lost', { ...base, attempt: run.attempt, error: lease.endReason });
        return 'lost';
      }
      this.#job.learn(state);
    } catch (err) {
      port.emit('error', { key, error: err, during: 'record run' });
      const fields = { key, slot, err: errorText(err) };
      safeLog(port.logger, 'warn', fields, 'run finished but its end could not be recorded');
      return 'lost';
    }
    return 'ok';
  }
}

/** The logger with `fields` added to every line. */
function childLogger(logger: Logger, fields: object): Logger {
  return {
    debug: (more, message) => safeLog(logger, 'debug', { ...fields, ...more }, message ?? ''),
    info: (more, message) => safeLog(logger, 'info', { ...fields, ...more }, message ?? ''),
    warn: (more, message) => safeLog(logger, 'warn', { ...fields, ...more }, message ?? ''),
    error: (more, message) => safeLog(logger, 'error', { ...fields, ...more }, message ?? ''),
  };
}

/**
 * Clears what an operator's run settles: its trigger, or its slot from the backfill's list
 * (the backfill ends with its last slot). A run of an older control id changes nothing.
 */
export function settleOperatorRun(state: JobState, operator: OperatorRun, slot: number): void {
  const control = state.control;
  if (!control) return;
  const next: JobControl = { ...control };
  if (operator.action === 'trigger' && control.trigger?.id === operator.id) delete next.trigger;
  if (operator.action === 'backfill' && control.backfill?.id === operator.id) {
    const slots = control.backfill.slots.filter((iso) => Date.parse(iso) !== slot);
    if (slots.length > 0) next.backfill = { ...control.backfill, slots };
    else delete next.backfill;
  }
  if (Object.keys(next).length > 0) state.control = next;
  else delete state.control;
}
