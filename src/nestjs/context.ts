/**
 * The run in progress, for code deep below a job's method: an AsyncLocalStorage scope
 * that the module's jobs and the method wrappers (`@Exclusive`, `@OncePerSlot`) open,
 * read through the injectable {@link LeaseholdJobContext}. Also which Leasehold instance
 * a provider instance's wrapped methods use. See docs/nestjs.md#the-handler-context.
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { LeaseholdError } from '../errors.js';
import type { Lease } from '../lease.js';
import type { Leasehold } from '../leasehold.js';
import type { JobContext } from '../scheduler/types.js';

/** What one async chain is running: a scheduled job's run, a lease-wrapped call, or both. */
interface RunScope {
  job?: JobContext;
  lease?: Lease;
}

const scope = new AsyncLocalStorage<RunScope>();

/** Runs `fn` with `extra` added to the current scope. */
export function runInScope<T>(extra: RunScope, fn: () => T): T {
  return scope.run({ ...scope.getStore(), ...extra }, fn);
}

/**
 * Injectable view of the run in progress in the calling async chain: inject it into any
 * provider (`@Inject(LeaseholdJobContext)`) and read the fencing token and the abort
 * signal without passing the job's context down by hand.
 */
export class LeaseholdJobContext {
  /** The scheduled run (`@Every` / `@Cron`) this call is part of, if any. */
  get job(): JobContext | undefined {
    return scope.getStore()?.job;
  }

  /** The lease of the `@Exclusive` / `@OncePerSlot` call this is part of, if any. */
  get lease(): Lease | undefined {
    return scope.getStore()?.lease;
  }

  /**
   * Fencing token of the innermost lease: the wrapped call's, else the scheduled run's.
   * @throws LeaseholdError outside a run
   */
  get token(): number {
    return this.#current('token').token;
  }

  /**
   * Aborts when the innermost lease is lost (or the run times out or shuts down).
   * @throws LeaseholdError outside a run
   */
  get signal(): AbortSignal {
    return this.#current('signal').signal;
  }

  #current(what: string): { token: number; signal: AbortSignal } {
    const found = this.lease ?? this.job;
    if (!found) throw new LeaseholdError(`LeaseholdJobContext.${what}: read outside a leasehold run`);
    return found;
  }
}

/** The Leasehold each discovered provider instance's wrapped methods use. */
const bound = new WeakMap<object, Leasehold>();
/** Instances of the module that have started and not yet shut down. */
const active = new Set<Leasehold>();

/** Ties a provider instance to the module's Leasehold (done when the module scans it). */
export function bindInstance(instance: object, lh: Leasehold): void {
  bound.set(instance, lh);
}

/** Marks a module's Leasehold as live (`true`) or shut down (`false`). */
export function setActive(lh: Leasehold, live: boolean): void {
  if (live) active.add(lh);
  else active.delete(lh);
}

/**
 * The Leasehold a wrapped method uses: the one of the module that discovered its
 * instance; for instances Nest made per request (never scanned), the only live module.
 * @throws LeaseholdError when there is none, or several to choose from
 */
export function leaseholdFor(instance: unknown, what: string): Leasehold {
  const found = typeof instance === 'object' && instance !== null ? bound.get(instance) : undefined;
  if (found) return found;
  const [only, ...others] = active;
  if (only && others.length === 0) return only;
  const why = only ? 'several LeaseholdModule instances are live' : 'no LeaseholdModule is live';
  throw new LeaseholdError(`${what}: ${why}; import LeaseholdModule.forRoot() and let Nest create this provider`);
}
