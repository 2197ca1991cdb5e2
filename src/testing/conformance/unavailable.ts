/**
 * L10, store down: every operation on an unreachable store rejects with
 * `StoreUnavailableError`, quickly. Registered only when `options.unreachable` is given.
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { StoreUnavailableError } from '../../errors.js';
import { Leasehold } from '../../leasehold.js';
import { suiteOf, type ConformanceOptions, type TestFn } from './shared.js';

/** Registers the L10 test when `options.unreachable` is given. */
export function unavailableTests(it: TestFn, options: ConformanceOptions): void {
  const unreachable = options.unreachable;
  if (!unreachable) return;
  const suite = suiteOf(options);
  const within = options.unreachableWithinMs ?? 5000;

  it('L10: an unreachable store rejects every operation with StoreUnavailableError, quickly', async () => {
    const store = await unreachable();
    try {
      const key = suite.key('down');
      const ref = { key, leaseId: randomUUID(), token: 1 };
      const ttl = suite.ttlFor(store);
      const deadline = () => ({ signal: AbortSignal.timeout(within) });
      const operations: [string, () => Promise<unknown>][] = [
        ['acquire', () => store.acquire(suite.request(key, 'h', randomUUID(), ttl), deadline())],
        ['renew', () => store.renew({ ...ref, ttlMs: ttl }, deadline())],
        ['release', () => store.release(ref, deadline())],
        ['writeState', () => store.writeState({ ...ref, state: 1 }, deadline())],
        ['inspect', () => store.inspect(key, deadline())],
      ];
      for (const [name, operation] of operations) {
        const started = performance.now();
        await assert.rejects(
          operation(),
          (err: unknown) => err instanceof StoreUnavailableError,
          `${name} must reject with StoreUnavailableError`,
        );
        const took = performance.now() - started;
        assert.ok(took < within + 1000, `${name} took ${Math.round(took)}ms`);
      }
      const leasehold = new Leasehold({ store });
      await assert.rejects(leasehold.tryAcquire(key, { ttl }), StoreUnavailableError);
    } finally {
      await store.close().catch(() => {});
    }
  });
}
