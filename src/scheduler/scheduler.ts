/**
 * The per-Leasehold scheduler behind `every`, `cron`, `start` and `stop`: the jobs, the
 * store-clock estimate they share, their sleeps, and shutdown (S7). It runs on a
 * {@link SchedulerPort}, never on the facade itself. See GUARANTEES S1–S8 and
 * docs/architecture.md.
 * @module
 */
import { MAX_SLOT_ACQUIRES_IN_FLIGHT, MAX_TIMER_MS } from '../defaults.js';
import { ConfigError, LeaseholdError } from '../errors.js';
import { checkKey } from '../internal.js';
import type { Schedule } from '../schedule.js';
import { type JobHost, ScheduledJob } from './job.js';
import { Placement } from './placement.js';
import { resolveOptions } from './options.js';
import type { Abortable } from './run-abort.js';
import type { SchedulerPort } from './port.js';
import { StoreClock } from './store-clock.js';
import type { JobHandler, JobOptions } from './types.js';

/** What a sleep that needs no waiting returns. */
const AWAKE: Promise<void> = Promise.resolve();

/** @internal The jobs of one Leasehold, and what they share. */
export class Scheduler implements JobHost {
  /** The facade, narrowed. */
  readonly port: SchedulerPort;
  /** The jobs, by key. */
  readonly jobs = new Map<string, ScheduledJob>();
  /** True once `stop()` began. */
  stopping = false;
  /** True once `start()` began. */
  started = false;
  readonly #storeClock: StoreClock;
  readonly #stop = new AbortController();
  readonly #runs = new Set<Abortable>();
  readonly #sleepers = new Set<() => void>();
  /** Per job, the wake of its current sleep (placement wakes a job that became ours). */
  readonly #jobSleepers = new Map<string, () => void>();
  readonly #placement: Placement | undefined;
  #refining: Promise<void> = Promise.resolve();
  /** Slot acquires in flight (places taken), and the jobs waiting for a place, oldest first from `#turnsHead`. */
  #acquiring = 0;
  #turns: (() => void)[] = [];
  #turnsHead = 0;

  /** A scheduler running on `port`. */
  constructor(port: SchedulerPort) {
    this.port = port;
    this.#storeClock = new StoreClock(port, this);
    if (port.placementTtlMs !== undefined) this.#placement = new Placement(this, port.placementTtlMs);
  }

  /** True when this host should try `key`'s slots (placement: it owns the job; without placement: always). */
  owns(key: string): boolean {
    return this.#placement ? this.#placement.owns(key) : true;
  }

  /** Wakes the sleeping loops of these jobs. */
  wake(keys: readonly string[]): void {
    for (const key of keys) this.#jobSleepers.get(key)?.();
  }

  /** An operator control waits on these jobs (trigger, backfill): their loops look at it at once. */
  poke(keys: readonly string[]): void {
    for (const key of keys) this.jobs.get(key)?.poke();
    this.wake(keys);
  }

  /** See {@link JobHost.beginAcquire}: at most {@link MAX_SLOT_ACQUIRES_IN_FLIGHT} places. */
  beginAcquire(): Promise<void> | undefined {
    if (this.#acquiring < MAX_SLOT_ACQUIRES_IN_FLIGHT || this.stopping) {
      this.#acquiring++;
      return undefined;
    }
    return new Promise<void>((resolve) => this.#turns.push(resolve));
  }

  /** See {@link JobHost.endAcquire}: the place goes to the oldest waiting job, if any. */
  endAcquire(): void {
    const next = this.#nextTurn();
    if (next) next();
    else this.#acquiring--;
  }

  /** The oldest waiting job's turn, taken off the queue (the array is trimmed once it empties). */
  #nextTurn(): (() => void) | undefined {
    if (this.#turnsHead >= this.#turns.length) return undefined;
    const next = this.#turns[this.#turnsHead++];
    if (this.#turnsHead === this.#turns.length) {
      this.#turns = [];
      this.#turnsHead = 0;
    }
    return next;
  }

  /** Aborts when `stop()` begins. */
  get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  /**
   * A lower bound of the store's time (epoch ms), so a slot is never taken to be due
   * before it is by the store's clock (S3).
   */
  storeNow(): number {
    return this.#storeClock.now();
  }

  /** The estimated offset of the store's clock (ms, store minus host); undefined before the first sample. */
  get storeClockOffsetMs(): number | undefined {
    return this.#storeClock.offsetMs;
  }

  /** Records a store time sample; see {@link StoreClock.observe}. */
  observe(storeTime: number, recvWall: number, sendWall?: number, force = false): void {
    this.#storeClock.observe(storeTime, recvWall, sendWall, force);
  }

  /** How far the store's time may be ahead of {@link Scheduler.storeNow} (ms); undefined when unknown. */
  storeUncertaintyMs(): number | undefined {
    return this.#storeClock.uncertaintyMs;
  }

  /** Registers a run in progress, for `stop()` to abort when its grace runs out; returns its removal. */
  registerRun(run: Abortable): () => void {
    this.#runs.add(run);
    return () => this.#runs.delete(run);
  }

  /**
   * Sleeps until store time `time` (Infinity: until woken), in capped steps; returns early
   * when stopping, or when `key`'s job is woken ({@link wake}). One promise and its timer,
   * re-armed in place while `time` has not come (a cap reached, or the store clock's offset
   * moved): no async function stays suspended per sleeping job (thousands sleep at once,
   * and each suspended function is kept in memory).
   */
  sleepUntil(time: number, key?: string): Promise<void> {
    if (this.stopping || time - this.storeNow() <= 0) return AWAKE;
    const { clock } = this.port;
    return new Promise<void>((resolve) => {
      let handle: unknown;
      const end = () => {
        clock.clearTimeout(handle);
        this.#unpark(end, key);
        resolve();
      };
      const arm = () => {
        const left = time - this.storeNow();
        if (left <= 0) end();
        // No timer when Infinity: only a wake (placement gave the job to this host, an operator
        // control) or stop() ends it. A job another host owns costs this host nothing until then.
        else if (left !== Number.POSITIVE_INFINITY) handle = clock.setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      };
      this.#park(end, key);
      arm();
    });
  }

  /**
   * Sleeps `ms` on the clock (Infinity: until woken, with no timer); stop() wakes every
   * sleeper at once, {@link wake} the sleeper of a job. One entry in a set per sleeper, no
   * listener on a shared signal per job (that would scan a list per job and warn past 10 jobs).
   */
  nap(ms: number, key?: string): Promise<'slept' | 'woken'> {
    const { clock } = this.port;
    return new Promise((resolve) => {
      const end = (how: 'slept' | 'woken') => {
        clock.clearTimeout(handle);
        this.#unpark(wake, key);
        resolve(how);
      };
      const wake = () => end('woken');
      const handle = ms === Number.POSITIVE_INFINITY ? undefined : clock.setTimeout(() => end('slept'), ms);
      this.#park(wake, key);
    });
  }

  /** Registers a sleeper's wake-up: stop() calls every one, {@link wake} the one of `key`'s job. */
  #park(wake: () => void, key: string | undefined): void {
    this.#sleepers.add(wake);
    if (key !== undefined) this.#jobSleepers.set(key, wake);
  }

  /** Removes a sleeper's wake-up (it woke, or slept its time). */
  #unpark(wake: () => void, key: string | undefined): void {
    this.#sleepers.delete(wake);
    if (key !== undefined && this.#jobSleepers.get(key) === wake) this.#jobSleepers.delete(key);
  }

  /** Adds a job; it starts at once if the scheduler has started. @throws ConfigError naming the value. */
  add(key: string, schedule: Schedule, handler: JobHandler, options: JobOptions = {}): ScheduledJob {
    checkKey(key);
    if (typeof handler !== 'function') {
      throw new ConfigError(`handler for "${key}": expected a function, got ${typeof handler}`);
    }
    if (this.jobs.has(key)) throw new ConfigError(`key: a job "${key}" is already scheduled on this Leasehold`);
    if (this.stopping) throw new ConfigError(`cannot schedule "${key}": this Leasehold is stopping`);
    const job = new ScheduledJob(this, key, schedule, handler, resolveOptions(key, options, this.port.store));
    this.jobs.set(key, job);
    if (this.started) {
      job.start();
      // A new job changes this host's job set: placement joins again under it.
      void this.#placement?.setJobs([...this.jobs.keys()]);
    }
    return job;
  }

  /** Reads the store's clock, then starts every job; the clock is refined in the background. */
  async start(): Promise<void> {
    if (this.stopping) throw new ConfigError('cannot start: this Leasehold was stopped');
    if (this.started) return;
    this.started = true;
    await this.#storeClock.sync();
    this.#refining = Promise.all([this.#storeClock.refine(), this.#storeClock.keepFresh()]).then(
      () => {},
      () => {},
    );
    // Join the fleet and read the roster before the first slot, so jobs start owned.
    if (this.#placement && this.jobs.size > 0) await this.#placement.start([...this.jobs.keys()]);
    for (const job of this.jobs.values()) job.start();
  }

  /** Takes no new slots, aborts running handlers after `graceMs`, and waits for every loop (S7). */
  async stop(graceMs: number): Promise<void> {
    if (this.stopping) {
      await Promise.all([...this.jobs.values()].map((job) => job.done));
      return;
    }
    this.stopping = true;
    this.#stop.abort(new LeaseholdError('shutting down'));
    for (const wake of [...this.#sleepers]) wake();
    // Jobs waiting for a turn to acquire get it now, see that we stop, and end.
    for (let turn = this.#nextTurn(); turn; turn = this.#nextTurn()) {
      this.#acquiring++;
      turn();
    }
    // Leave the fleet first: other hosts take this one's jobs at their next heartbeat, while
    // its running handlers finish under their own leases.
    const leaving = this.#placement?.stop() ?? Promise.resolve();
    const loops = Promise.all([...this.jobs.values()].map((job) => job.done).concat(this.#refining, leaving));
    if (this.#runs.size > 0) {
      const { clock } = this.port;
      let timer: unknown;
      const graceOver = new Promise<void>((resolve) => {
        timer = clock.setTimeout(resolve, graceMs);
      });
      await Promise.race([loops, graceOver]);
      clock.clearTimeout(timer);
      for (const run of this.#runs) run.abort(new LeaseholdError('shutting down: grace period over'));
    }
    await loops;
  }
}
