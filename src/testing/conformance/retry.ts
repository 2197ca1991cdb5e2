/**
 * L2/L9, retry-safe acquire: renewal keeps the token, and an acquire retried with the
 * same lease id gets its own lease back instead of "busy".
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { suiteOf, type ConformanceOptions, type TestFn, mustAcquire } from './shared.js';

/** Registers the L2/L9 test: renewal keeps the token; a retried acquire recognises its own lease. */
export function retryTests(it: TestFn, options: ConformanceOptions): void {
  const { key: newKey, request, withStore } = suiteOf(options);

  it('L2/L9: renewal keeps the token; a retried acquire with the same leaseId gets its own lease back', () =>
    withStore(async (store, ttl) => {
      const key = newKey('retry');
      const leaseId = randomUUID();
      const granted = await mustAcquire(store, request(key, 'h', leaseId, ttl));
      assert.equal(await store.renew({ key, leaseId, token: granted.token, ttlMs: ttl }), true);
      const again = await store.acquire(request(key, 'h', leaseId, ttl));
      assert.ok(again.acquired, 'retry with the same leaseId must not be busy');
      if (again.acquired) assert.equal(again.token, granted.token, 'a retry must not issue a new token');
      const record = await store.inspect(key);
      assert.equal(record?.token, granted.token);
      assert.equal(record?.holder, 'h');
    }));
}
