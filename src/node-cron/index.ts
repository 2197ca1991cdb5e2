/**
 * leasehold/node-cron — a run coordinator for node-cron v4, so a task scheduled with
 * `{ name, distributed: true }` runs each fire once across every process sharing the
 * store. node-cron is not imported: its coordinator interface is matched structurally.
 * See docs/node-cron.md.
 * @module
 */
import type { Duration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { safeLog } from '../events.js';
import type { Lease } from '../lease.js';
import type { Leasehold } from '../leasehold.js';
import { checkOptionNames } from '../store-kit/index.js';
import { claimSlot, finishSlot } from './claim.js';

/** node-cron's `RunCoordinator` (v4), as leasehold implements it. */
export interface RunCoordinatorLike {
  /** Asked once per fire, with `"<task name>:<slot ISO>"` and the task's `distributedLease`. */
  shouldRun(key: string, ttlMs: number): Promise<boolean>;
  /** Called after the run the coordinator allowed, whatever its outcome. */
  onComplete(key: string): Promise<void>;
}

/** Options of {@link leaseholdCoordinator}. */
export interface LeaseholdCoordinatorOptions {
  /**
   * Lease TTL while a run goes (renewed every ttl/3). A holder that dies releases the
   * job after about this long.
   * @defaultValue the task's `distributedLease` (node-cron's default: 30 s)
   */
  ttl?: Duration;
  /** Prepended to each task name to form the lease key, e.g. `'cron/'`. @defaultValue `''` */
  prefix?: string;
}

/** What node-cron's task context carries that names one fire. */
export interface TaskContextLike {
  /** The fire's slot. */
  date: Date;
  /** The task (node-cron sets it on every context it hands a task function). */
  task?: { name?: string } | undefined;
}

/** node-cron appends the slot as `toISOString()`, always 24 characters. */
const ISO_LENGTH = 24;

/**
 * A node-cron run coordinator on leasehold: each fire of a task is a slot, claimed under
 * a lease keyed by the task's name; the slot runs on the host that claims it, and a fire
 * that another host already claimed, or that comes while the previous run is still going
 * anywhere, is skipped (node-cron emits `execution:skipped`, reason `not-elected`).
 */
export class LeaseholdRunCoordinator implements RunCoordinatorLike {
  readonly #lh: Leasehold;
  readonly #ttl: Duration | undefined;
  readonly #prefix: string;
  /** The leases of the runs in progress here, by node-cron's key. */
  readonly #running = new Map<string, { lease: Lease; slot: Date }>();

  /** @throws ConfigError on an unknown option or a bad prefix */
  constructor(lh: Leasehold, options: LeaseholdCoordinatorOptions = {}) {
    checkOptionNames('leaseholdCoordinator', options, ['ttl', 'prefix']);
    if (options.prefix !== undefined && typeof options.prefix !== 'string') {
      throw new ConfigError(`prefix: expected a string, got ${JSON.stringify(options.prefix)}`);
    }
    this.#lh = lh;
    this.#ttl = options.ttl;
    this.#prefix = options.prefix ?? '';
  }

  /** Claims the fire's slot. A throw (store down, bad key) makes node-cron skip the fire. */
  async shouldRun(key: string, ttlMs: number): Promise<boolean> {
    const { name, slot } = this.#parse(key);
    const lease = await claimSlot(this.#lh, this.#prefix + name, slot, this.#ttl ?? ttlMs);
    if (!lease) {
      safeLog(this.#lh.logger, 'debug', { key: this.#prefix + name, slot }, 'fire taken elsewhere or overlapping');
      return false;
    }
    this.#running.set(key, { lease, slot });
    return true;
  }

  /** Records the run's end and releases its lease. */
  async onComplete(key: string): Promise<void> {
    const run = this.#running.get(key);
    if (!run) return;
    this.#running.delete(key);
    // node-cron does not tell the coordinator how the run went; its events do.
    await finishSlot(this.#lh, run.lease, run.slot, true);
  }

  /**
   * The lease of the run a task function is in: its `token` (for fenced writes) and its
   * `signal` (aborted if the lease is lost). Undefined outside a coordinated run.
   */
  leaseOf(context: TaskContextLike): Lease | undefined {
    const name = context.task?.name;
    if (name === undefined) return undefined;
    return this.#running.get(`${name}:${context.date.toISOString()}`)?.lease;
  }

  #parse(key: string): { name: string; slot: Date } {
    const iso = key.slice(-ISO_LENGTH);
    const time = Date.parse(iso);
    const wellFormed = Number.isFinite(time) && new Date(time).toISOString() === iso;
    if (key.length <= ISO_LENGTH + 1 || key.at(-ISO_LENGTH - 1) !== ':' || !wellFormed) {
      throw new ConfigError(`node-cron key: expected "<task name>:<ISO slot>", got ${JSON.stringify(key)}`);
    }
    return { name: key.slice(0, -ISO_LENGTH - 1), slot: new Date(time) };
  }
}

/**
 * A run coordinator for node-cron v4 on this Leasehold instance.
 *
 * @example
 * ```ts
 * import cron from 'node-cron';
 * import { leaseholdCoordinator } from 'leasehold/node-cron';
 * cron.setRunCoordinator(leaseholdCoordinator(lh));
 * cron.schedule('0 3 * * *', nightly, { name: 'nightly', distributed: true });
 * ```
 */
export function leaseholdCoordinator(lh: Leasehold, options?: LeaseholdCoordinatorOptions): LeaseholdRunCoordinator {
  return new LeaseholdRunCoordinator(lh, options);
}
