/**
 * What every conformance group shares: the injected test function, the suite's
 * options, and the helpers each test is written with (key naming, a store per test,
 * the TTL the store accepts, an acquire request, sleep).
 * @module
 */
import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import type { AcquireRequest, AcquireResult, LeaseStore } from '../../store.js';

/** A test-registering function, as `it`/`test` from node:test, vitest, jest or mocha. */
export type TestFn = (name: string, fn: () => Promise<void>) => unknown;

/** How to run the suite against one store. */
export interface ConformanceOptions {
  /** Creates a store connected to a real, running server. Called once per test. */
  create: () => LeaseStore | Promise<LeaseStore>;
  /**
   * TTL the suite uses, in ms; must be within the store's limits. Tests that wait for
   * expiry take about this long.
   * @defaultValue 1000, or the store's `minTtlMs` when larger
   */
  ttlMs?: number;
  /**
   * Creates a store pointed at something unreachable (a closed port, a black-holed
   * address, a missing folder). When given, every operation must reject with
   * `StoreUnavailableError` within `unreachableWithinMs` (L10).
   */
  unreachable?: () => LeaseStore | Promise<LeaseStore>;
  /** Longest an operation on an unreachable store may take before rejecting. @defaultValue 5000 */
  unreachableWithinMs?: number;
  /**
   * Restarts the store's server (it must come back with whatever it persists). When
   * given, tokens must keep increasing across the restart (L2); when the store is
   * persistent, state must survive it too.
   */
  restart?: () => Promise<void>;
  /** Key prefix for this run, so runs never collide. @defaultValue random */
  prefix?: string;
}

/** A conformance group: registers its tests with `it`. */
export type ConformanceGroup = (it: TestFn, options: ConformanceOptions) => void;

/** The helpers a group's tests use, bound to one group's options. */
export interface Suite {
  /** A fresh key under the run's prefix, so tests never share a key. */
  key(name: string): string;
  /** The TTL the suite uses on `store`: the option, raised to the store's minimum. */
  ttlFor(store: LeaseStore): number;
  /** An acquire request with a fresh lease id unless one is given. */
  request(key: string, holder?: string, leaseId?: string, ttlMs?: number): AcquireRequest;
  /** Runs `fn` with a newly created store and its TTL, and closes the store after. */
  withStore(fn: (store: LeaseStore, ttl: number) => Promise<void>): Promise<void>;
}

/** Binds the helpers to `options`; each group calls it once when it registers its tests. */
export function suiteOf(options: ConformanceOptions): Suite {
  const prefix = options.prefix ?? `conf-${randomUUID().slice(0, 8)}-`;
  const ttlFor = (store: LeaseStore) => Math.max(options.ttlMs ?? 1000, store.capabilities.minTtlMs ?? 1);
  return {
    key: (name) => `${prefix}${name}-${randomUUID().slice(0, 6)}`,
    ttlFor,
    request: (key, holder = 'h1', leaseId = randomUUID(), ttlMs = 1000) => ({ key, holder, leaseId, ttlMs }),
    async withStore(fn) {
      const store = await options.create();
      try {
        await fn(store, ttlFor(store));
      } finally {
        await store.close();
      }
    },
  };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A granted acquisition's answer. */
export type Granted = Extract<AcquireResult, { acquired: true }>;

/** Acquires and asserts it was granted: the first step of most tests. */
export async function mustAcquire(store: LeaseStore, request: AcquireRequest): Promise<Granted> {
  const answer = await store.acquire(request);
  assert.ok(answer.acquired, `acquire of "${request.key}" by ${request.holder} was refused`);
  return answer as Granted;
}
