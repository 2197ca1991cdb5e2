/**
 * L6/L7, ownership and release: only the current holder with the current token can
 * renew, release or write; release is idempotent.
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { suiteOf, type ConformanceOptions, type TestFn, mustAcquire } from './shared.js';

/** Registers the L6/L7 test: a non-holder changes nothing; a second release reports false. */
export function ownershipTests(it: TestFn, options: ConformanceOptions): void {
  const { key: newKey, request, withStore } = suiteOf(options);

  it('L6/L7: renew, release and fenced writes by a non-holder fail and change nothing; release is idempotent', () =>
    withStore(async (store, ttl) => {
      const key = newKey('owner');
      const leaseId = randomUUID();
      const granted = await mustAcquire(store, request(key, 'owner', leaseId, ttl));
      const token = granted.token;
      assert.equal(await store.writeState({ key, leaseId, token, state: { v: 1 } }), true);
      const wrongId = { key, leaseId: randomUUID(), token };
      const wrongToken = { key, leaseId, token: token + 1 };
      for (const ref of [wrongId, wrongToken]) {
        assert.equal(await store.renew({ ...ref, ttlMs: ttl }), false);
        assert.equal(await store.writeState({ ...ref, state: { v: 666 } }), false);
        assert.equal(await store.release(ref), false);
      }
      const record = await store.inspect(key);
      assert.equal(record?.holder, 'owner');
      assert.equal(record?.token, token);
      assert.deepEqual(record?.state, { v: 1 });
      assert.equal(await store.release({ key, leaseId, token }), true);
      assert.equal(await store.release({ key, leaseId, token }), false, 'second release reports false');
      assert.equal(await store.renew({ key, leaseId, token, ttlMs: ttl }), false, 'renew after release fails');
      const written = await store.writeState({ key, leaseId, token, state: { v: 2 } });
      assert.equal(written, false, 'write after release fails');
      const after = await store.inspect(key);
      assert.equal(after?.holder, null);
      assert.equal(after?.expiresInMs, null);
      assert.deepEqual(after?.state, { v: 1 }, 'state outlives the lease');
    }));
}
