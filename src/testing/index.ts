/**
 * `leasehold/testing` — the conformance suite every store must pass, group by group,
 * the multi-process hammer, plus tools for testing code that uses leasehold: a fake
 * clock and a fault-injecting store wrapper.
 *
 * @example Certify a store with node:test
 * ```ts
 * import { it } from 'node:test';
 * import { hammerTests, runConformance } from 'leasehold/testing';
 * runConformance(it, { create: () => new MyStore(…) });
 * hammerTests(it, { url: 'my-store://…', register: 'my-store/register' });
 * ```
 * @module
 */
export * from './conformance/index.js';
export {
  hammerTests,
  runHammer,
  assertSerial,
  type HammerOptions,
  type HammerReport,
  type HammerSection,
} from './hammer.js';
export { FakeClock } from './fake-clock.js';
export { FaultyStore, type FaultMode } from './faulty-store.js';
export { encodeState, decodeState, unavailable, MAX_STATE_BYTES } from '../store-kit/index.js';
