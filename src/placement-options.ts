/**
 * The `placement` option of `new Leasehold` (docs/placement.md), checked once at
 * construction into the liveness TTL the scheduler's placement uses.
 * @module
 */
import { DEFAULT_PLACEMENT_TTL_MS } from './defaults.js';
import { ConfigError } from './errors.js';
import { checkCallOptions, checkTtl, shownValue } from './internal.js';
import { PLACEMENT_OPTIONS, type PlacementOptions } from './leasehold-types.js';
import type { LeaseStore } from './store.js';

/**
 * Placement's liveness TTL from the option (default: 15 s within the store's TTL bounds),
 * or undefined when placement is off.
 * @throws ConfigError naming the value
 */
export function placementTtl(option: unknown, store: LeaseStore): number | undefined {
  if (option === false) return undefined;
  if (option !== undefined && option !== true && (typeof option !== 'object' || option === null)) {
    throw new ConfigError(`placement: expected true, false or { ttl }, got ${shownValue(option)}`);
  }
  if (typeof option === 'object') checkCallOptions('placement', option, PLACEMENT_OPTIONS);
  const ttl = (option as PlacementOptions | undefined)?.ttl;
  if (ttl !== undefined) return checkTtl(ttl, store, 'placement.ttl');
  const { minTtlMs = 1, maxTtlMs = Number.POSITIVE_INFINITY } = store.capabilities;
  return Math.min(Math.max(DEFAULT_PLACEMENT_TTL_MS, minTtlMs), maxTtlMs);
}
