/**
 * The conformance suite every store must pass, one group per topic of the contract
 * (docs/architecture.md, "Adding a store"). `runConformance` registers every group in
 * a fixed order; each group is exported too, so a store can run only some of them.
 * The runner is injected (`it`), so the suite runs under node:test, vitest, jest or mocha.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import { configTests } from './config.js';
import { exclusionTests } from './exclusion.js';
import { expiryTests } from './expiry.js';
import { facadeTests } from './facade.js';
import { fusedTests } from './fused.js';
import { listingTests } from './listing.js';
import { ownershipTests } from './ownership.js';
import { restartTests } from './restart.js';
import { retryTests } from './retry.js';
import type { ConformanceGroup, ConformanceOptions, TestFn } from './shared.js';
import { stateTests } from './state.js';
import { tokenTests } from './tokens.js';
import { unavailableTests } from './unavailable.js';

export type { ConformanceGroup, ConformanceOptions, TestFn } from './shared.js';
export {
  configTests,
  exclusionTests,
  expiryTests,
  facadeTests,
  fusedTests,
  listingTests,
  ownershipTests,
  restartTests,
  retryTests,
  stateTests,
  tokenTests,
  unavailableTests,
};

/** Every group, in the order `runConformance` registers them. */
export const CONFORMANCE_GROUPS = {
  exclusion: exclusionTests,
  tokens: tokenTests,
  retry: retryTests,
  ownership: ownershipTests,
  state: stateTests,
  fused: fusedTests,
  expiry: expiryTests,
  facade: facadeTests,
  listing: listingTests,
  config: configTests,
  restart: restartTests,
  unavailable: unavailableTests,
} as const satisfies Record<string, ConformanceGroup>;

/** The name of a group in {@link CONFORMANCE_GROUPS}. */
export type ConformanceGroupName = keyof typeof CONFORMANCE_GROUPS;

/** Options of {@link runConformance}: the store's, plus which groups to leave out. */
export interface SuiteOptions extends ConformanceOptions {
  /**
   * Groups not to register, for a store that cannot honour one yet (say so in its docs).
   * @defaultValue none: every group runs
   */
  omit?: readonly ConformanceGroupName[];
}

/** Registers one test with `it` per promise of the contract (L1–L10, B1), group by group. Runner-agnostic. */
export function runConformance(it: TestFn, options: SuiteOptions): void {
  const omit = new Set<string>(options.omit ?? []);
  for (const name of omit) {
    if (!(name in CONFORMANCE_GROUPS)) {
      const known = Object.keys(CONFORMANCE_GROUPS).join(', ');
      throw new ConfigError(`runConformance: unknown group ${JSON.stringify(name)} in omit; groups: ${known}`);
    }
  }
  // One prefix for the whole run, so every group's keys share it as they did in one function.
  const shared = { ...options, prefix: options.prefix ?? `conf-${randomUUID().slice(0, 8)}-` };
  for (const [name, group] of Object.entries(CONFORMANCE_GROUPS)) {
    if (!omit.has(name)) group(it, shared);
  }
}
