/**
 * L1/L2/L6/L8 after expiry: another holder takes the key over with a higher token, the
 * old holder can no longer act, and state outlives the lease.
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sleep, suiteOf, type ConformanceOptions, type TestFn } from './shared.js';

/** Registers the expiry test: takeover with a higher token; the expired holder is fenced off. */
export function expiryTests(it: TestFn, options: ConformanceOptions): void {
  const { key: newKey, request, withStore } = suiteOf(options);

  it('L1/L2/L6/L8: after expiry another holder takes over with a higher token; the old holder can no longer act', () =>
    withStore(async (store, ttl) => {
      const key = newKey('expiry');
      const kept = newKey('kept');
      const idA = randomUUID();
      const first = await store.acquire(request(key, 'a', idA, ttl));
      const idKept = randomUUID();
      const keptLease = await store.acquire(request(kept, 'a', idKept, ttl));
      assert.ok(first.acquired && keptLease.acquired);
      if (!first.acquired || !keptLease.acquired) return;
      const survives = { key: kept, leaseId: idKept, token: keptLease.token, state: { survives: true } };
      assert.equal(await store.writeState(survives), true);
      const busy = await store.acquire(request(key, 'b', randomUUID(), ttl));
      assert.equal(busy.acquired, false);
      await sleep(ttl + 2200); // TTL plus the coarsest store clock granularity
      const idB = randomUUID();
      const second = await store.acquire(request(key, 'b', idB, ttl));
      assert.ok(second.acquired, 'expired lease must be acquirable');
      if (!second.acquired) return;
      assert.ok(second.token > first.token, `token ${second.token} after ${first.token}`);
      const old = { key, leaseId: idA, token: first.token };
      assert.equal(await store.renew({ ...old, ttlMs: ttl }), false, 'old holder cannot renew');
      assert.equal(await store.writeState({ ...old, state: { stale: true } }), false, 'old holder cannot write');
      assert.equal(await store.release(old), false, 'old holder cannot release');
      const record = await store.inspect(key);
      assert.equal(record?.holder, 'b');
      assert.equal(record?.token, second.token);
      assert.notDeepEqual(record?.state, { stale: true });
      const keptRecord = await store.inspect(kept);
      assert.equal(keptRecord?.holder, null, 'expired lease shows as free');
      assert.deepEqual(keptRecord?.state, { survives: true }, 'state survives expiry');
    }));
}
