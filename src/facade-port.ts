/**
 * The scheduler's port as the facade builds it (src/scheduler/port.ts): the store's reads
 * the scheduler may make, through `callStore`'s timeouts, and the facade's own acquire,
 * span and event functions. Apart from src/leasehold.ts so the facade stays readable.
 * @module
 */
import type { Clock } from './clock.js';
import type { Logger } from './events.js';
import { callStore, readRecords } from './internal.js';
import type { SchedulerPort } from './scheduler/port.js';
import type { LeaseStore } from './store.js';
import { isTransactional } from './transaction.js';

/** What the port is built from: the facade's store, clock and identity, and its functions. */
export interface PortParts extends Pick<SchedulerPort, 'attemptAcquire' | 'startRunSpan' | 'emit'> {
  readonly store: LeaseStore;
  readonly clock: Clock;
  readonly holder: string;
  readonly logger: Logger;
  readonly placementTtlMs: number | undefined;
}

/** The port the scheduler runs on: nothing of the facade but what it is given here. */
export function schedulerPort(parts: PortParts): SchedulerPort {
  const { store, clock } = parts;
  return {
    holder: parts.holder,
    clock,
    logger: parts.logger,
    placementTtlMs: parts.placementTtlMs,
    // Read through, as the scheduler always read them: a store may change its capabilities.
    store: {
      get name() {
        return store.name;
      },
      get capabilities() {
        return store.capabilities;
      },
    },
    attemptAcquire: parts.attemptAcquire,
    readState: async (key, timeoutMs) => {
      const what = `${store.name}: inspect "${key}"`;
      const record = await callStore(clock, what, timeoutMs, undefined, (signal) => store.inspect(key, { signal }));
      return { state: record?.state ?? null, mark: record?.mark ?? null };
    },
    readRecords: (prefix, timeoutMs) => readRecords(store, clock, prefix, timeoutMs),
    readStoreClock: (signal) => store.now({ signal }),
    ...(parts.startRunSpan ? { startRunSpan: parts.startRunSpan } : {}),
    ...(isTransactional(store)
      ? { runInTransaction: (ref, work, endState, options) => store.runInTransaction(ref, work, endState, options) }
      : {}),
    emit: parts.emit,
  };
}
