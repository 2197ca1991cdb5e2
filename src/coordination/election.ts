/**
 * Leader election (E1): a campaigner polls for one lease on the election's key; its
 * holder is the leader for as long as the lease holds. Built on the store contract
 * only, so it works on every store. See docs/election-and-semaphores.md.
 * @module
 */
import { sleep } from '../clock.js';
import { electionPoll } from '../defaults.js';
import type { Duration } from '../duration.js';
import { ConfigError, LeaseholdError, LeaseLostError } from '../errors.js';
import { safeLog } from '../events.js';
import { checkCallOptions, checkKey, checkTtl } from '../internal.js';
import type { Lease } from '../lease.js';
import { errorText } from '../store-kit/index.js';
import { pollBase, pollPause, type CoordinationPort } from './port.js';

/** Options of {@link Leasehold.elect}. */
export interface ElectOptions {
  /** TTL of the leadership lease; it renews itself about every ttl/3. Required. */
  ttl: Duration;
  /**
   * Called when this campaigner becomes the leader. Leadership lasts until `ctx.signal`
   * aborts, not until this returns. If it throws or rejects, the term is resigned (a
   * leader that could not take up its role lets another try) and campaigning goes on.
   */
  onElected?: (ctx: LeaderContext) => void | Promise<void>;
  /** Called once per term when it ends: lost, resigned, or given up after `onElected` failed. */
  onDemoted?: (demotion: Demotion) => void | Promise<void>;
  /**
   * Pause between campaign attempts (randomised ±25 %). The default hands over within
   * 1 s of a graceful stop at any TTL; a longer pause costs fewer requests.
   * @defaultValue ttl / 10, between 50 ms and 500 ms
   */
  pollInterval?: Duration;
}

/** One term of leadership, as `onElected` gets it. */
export interface LeaderContext {
  /** The election's key. */
  readonly key: string;
  /** This process's holder identity, as `leasehold status` shows the leader. */
  readonly holder: string;
  /** The term's fencing token: higher than every earlier term's. Pass it to what the leader writes. */
  readonly token: number;
  /**
   * Aborts before the lease's holder-side deadline when the term ends (reason: a
   * {@link LeaseLostError} when lost, a `LeaseholdError` when resigned).
   */
  readonly signal: AbortSignal;
  /**
   * True while the term holds. It reads the monotonic clock, so it is right even in the
   * first callback after the process was paused, before the loss timer had its turn;
   * when it finds the deadline passed it aborts {@link LeaderContext.signal} at once.
   */
  readonly held: boolean;
  /** The lease underneath, for fenced state writes (`writeState`). */
  readonly lease: Lease;
}

/** Why a term ended, as `onDemoted` gets it. */
export type Demotion =
  | { readonly reason: 'lost'; readonly token: number; readonly error: LeaseLostError }
  | { readonly reason: 'resigned'; readonly token: number }
  | { readonly reason: 'failed'; readonly token: number; readonly error: unknown };

type OptionName = keyof ElectOptions;
const ELECT_OPTIONS = ['ttl', 'onElected', 'onDemoted', 'pollInterval'] as const satisfies readonly OptionName[];

/** One term: the lease, the signal given to the leader, and how it ended. */
class Term implements LeaderContext {
  readonly lease: Lease;
  readonly #controller = new AbortController();
  /** Set before the lease is released by us, so the end is told for what it was. */
  ending: Demotion | undefined;

  constructor(lease: Lease) {
    this.lease = lease;
    const onAbort = () => this.#controller.abort(lease.signal.reason);
    if (lease.signal.aborted) onAbort();
    else lease.signal.addEventListener('abort', onAbort, { once: true });
  }

  get key(): string {
    return this.lease.key;
  }

  get holder(): string {
    return this.lease.holder;
  }

  get token(): number {
    return this.lease.token;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get held(): boolean {
    if (this.#controller.signal.aborted) return false;
    if (this.lease.held) return true;
    // Deadline passed and the loss timer has not run yet (the process was paused): say so now.
    const error = new LeaseLostError(this.key, this.token, 'the holder-side deadline passed (was the process paused?)');
    this.ending ??= { reason: 'lost', token: this.token, error };
    this.#controller.abort(error);
    // Fenced: changes nothing if the key is someone else's by now, frees it early if not.
    this.lease.release().catch(() => {});
    return false;
  }

  /** Resolves when the term ends, with why. */
  ended(): Promise<Demotion> {
    const tell = (): Demotion => {
      if (this.ending) return this.ending;
      const reason = this.#controller.signal.reason;
      if (reason instanceof LeaseLostError) return { reason: 'lost', token: this.token, error: reason };
      return { reason: 'resigned', token: this.token }; // released: resign(), lh.stop() or the lease's own release()
    };
    if (this.#controller.signal.aborted) return Promise.resolve(tell());
    return new Promise((resolve) => {
      this.#controller.signal.addEventListener('abort', () => resolve(tell()), { once: true });
    });
  }
}

/**
 * A campaign for the leadership of one key, from {@link Leasehold.elect}. It runs until
 * {@link Election.resign}: elected, it holds the lease; demoted, it campaigns again
 * after a poll. At most one campaigner of a key is leader at any instant of the store's
 * clock, and each term's token is higher than the last (E1).
 */
export class Election implements AsyncDisposable {
  /** The election's key. */
  readonly key: string;
  readonly #port: CoordinationPort;
  readonly #ttlMs: number;
  readonly #pollMs: number;
  readonly #options: ElectOptions;
  readonly #stop = new AbortController();
  readonly #closed: () => void;
  readonly #loop: Promise<void>;
  #term: Term | undefined;

  /** @internal Made by {@link Leasehold.elect}; checks every option before any store request. */
  constructor(port: CoordinationPort, key: string, options: ElectOptions, closed: () => void) {
    checkCallOptions('elect', options, ELECT_OPTIONS, "{ ttl: '15s', onElected(ctx) {…} }");
    checkKey(key);
    this.#ttlMs = checkTtl(options.ttl, port.store);
    this.#pollMs = pollBase(options.pollInterval, this.#ttlMs, electionPoll);
    for (const name of ['onElected', 'onDemoted'] as const) {
      const hook = options[name];
      if (hook !== undefined && typeof hook !== 'function') {
        throw new ConfigError(`elect: ${name} must be a function, got ${typeof hook}`);
      }
    }
    this.key = key;
    this.#port = port;
    this.#options = options;
    this.#closed = closed;
    this.#loop = this.#campaign();
  }

  /** True while this campaigner is the leader and its term holds. */
  get isLeader(): boolean {
    return this.#term?.held ?? false;
  }

  /** The current term while this campaigner leads; undefined otherwise. */
  get term(): LeaderContext | undefined {
    return this.isLeader ? this.#term : undefined;
  }

  /**
   * Stops campaigning and, when leader, releases the leadership so another campaigner
   * is elected within about one of its polls. Resolves once the release has reached the
   * store (or failed: then the lease expires by its TTL, and the failure is logged).
   * Idempotent.
   */
  async resign(): Promise<void> {
    this.#stop.abort(new LeaseholdError(`election on "${this.key}" resigned`));
    await this.#endTerm({ reason: 'resigned', token: this.#term?.token ?? 0 });
    await this.#loop;
  }

  /** `await using election = lh.elect(…)` resigns at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.resign();
  }

  async #campaign(): Promise<void> {
    const { clock } = this.#port;
    while (!this.#stop.signal.aborted) {
      let pause = pollPause(this.#pollMs, []);
      try {
        const answer = await this.#port.attemptAcquire(this.key, this.#ttlMs);
        if (answer.lease) await this.#serve(answer.lease);
        else pause = pollPause(this.#pollMs, [answer]);
      } catch (err) {
        this.#log('warn', { err: errorText(err) }, 'election: campaign attempt failed; trying again');
        this.#port.emit('error', { key: this.key, error: err, during: 'campaign' });
      }
      if (this.#stop.signal.aborted) break;
      await sleep(clock, pause, this.#stop.signal).catch(() => {});
    }
    this.#closed();
  }

  /** Holds one term until it ends, then tells `onDemoted`. */
  async #serve(lease: Lease): Promise<void> {
    const term = new Term(lease);
    this.#term = term;
    if (this.#stop.signal.aborted) {
      await this.#endTerm({ reason: 'resigned', token: term.token }); // resigned while the acquire was in flight
    } else {
      this.#log('info', { token: term.token }, 'election: elected');
      this.#call('onElected', term, (err) => {
        this.#log(
          'error',
          { token: term.token, err: errorText(err) },
          'election: onElected failed; resigning the term',
        );
        void this.#endTerm({ reason: 'failed', token: term.token, error: err });
      });
    }
    const demotion = await term.ended();
    this.#term = undefined;
    this.#log(
      demotion.reason === 'lost' ? 'warn' : 'info',
      { token: term.token, reason: demotion.reason },
      'election: demoted',
    );
    this.#call('onDemoted', demotion, () => {});
  }

  /** Ends the current term, if any, by releasing its lease; failures are logged, the lease then expires. */
  async #endTerm(ending: Demotion): Promise<void> {
    const term = this.#term;
    if (!term || term.signal.aborted) return;
    term.ending = ending;
    try {
      await term.lease.release();
    } catch (err) {
      this.#log('warn', { token: term.token, err: errorText(err) }, 'election: release failed; it will expire');
    }
  }

  /** Runs a user hook; a throw or rejection goes to `onError` and the logger, never out of a timer. */
  #call<K extends 'onElected' | 'onDemoted'>(
    name: K,
    argument: Parameters<NonNullable<ElectOptions[K]>>[0],
    onError: (err: unknown) => void,
  ): void {
    const hook = this.#options[name] as ((value: typeof argument) => void | Promise<void>) | undefined;
    if (!hook) return;
    const failed = (err: unknown) => {
      if (name === 'onDemoted') this.#log('error', { err: errorText(err) }, 'election: onDemoted failed');
      onError(err);
    };
    try {
      Promise.resolve(hook(argument)).catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  #log(level: 'info' | 'warn' | 'error', fields: object, msg: string): void {
    safeLog(this.#port.logger, level, { key: this.key, holder: this.#port.holder, ...fields }, msg);
  }
}
