/**
 * `leasehold/testing` — the conformance suite every store must pass, plus tools for
 * testing code that uses leasehold: a fake clock and a fault-injecting store wrapper.
 *
 * @example Certify a store with node:test
 * ```ts
 * import { it } from 'node:test';
 * import { runConformance } from 'leasehold/testing';
 * runConformance(it, { create: () => new MyStore(…) });
 * ```
 * @module
 */
export { runConformance, type ConformanceOptions, type TestFn } from './conformance.js';
export { FakeClock } from './fake-clock.js';
export { FaultyStore, type FaultMode } from './faulty-store.js';
export { encodeState, decodeState, unavailable, MAX_STATE_BYTES } from '../stores/util.js';
