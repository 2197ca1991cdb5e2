/**
 * Naming and listing: keys with any characters stay distinct, are listed under their
 * prefix and inspect back; the store's clock reads as epoch ms.
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mustAcquire, suiteOf, type ConformanceOptions, type TestFn } from './shared.js';

/** Registers the `list`/`inspect` naming test, the `inspectAll` test and the store-clock test. */
export function listingTests(it: TestFn, options: ConformanceOptions): void {
  const { key: newKey, request, withStore } = suiteOf(options);

  it('list and inspect: keys with any characters are distinct and listed', () =>
    withStore(async (store, ttl) => {
      const base = newKey('names');
      const names = [`${base}/a b`, `${base}/A B`, `${base}/ü:*?"<>|`, `${base}/..`, `${base}/%2F`];
      for (const name of names) {
        const granted = await store.acquire(request(name, 'h', randomUUID(), ttl));
        assert.ok(granted.acquired, `acquire ${JSON.stringify(name)}`);
      }
      const listed = await store.list({ prefix: base });
      assert.deepEqual([...listed].sort(), [...names].sort());
      for (const name of names) assert.equal((await store.inspect(name))?.holder, 'h');
      const all = await store.list();
      for (const name of names) assert.ok(all.includes(name));
    }));

  it('inspectAll (when the store has it): every record under the prefix, as inspect reads it', () =>
    withStore(async (store, ttl) => {
      if (!store.inspectAll) return;
      const base = newKey('all');
      const held = `${base}/held`;
      const free = `${base}/free`;
      const outside = `${newKey('other')}/x`;
      const heldLease = await mustAcquire(store, { ...request(held, 'h', randomUUID(), ttl), mark: { m: 1 } });
      const freeId = randomUUID();
      const freeLease = await mustAcquire(store, request(free, 'f', freeId, ttl));
      const ref = { key: free, leaseId: freeId, token: freeLease.token };
      assert.equal(await store.release({ ...ref, state: { s: 'ü' } }), true);
      await mustAcquire(store, request(outside, 'o', randomUUID(), ttl));
      const records = await store.inspectAll({ prefix: base });
      assert.deepEqual(records.map((record) => record.key).sort(), [free, held].sort(), 'only keys under the prefix');
      const byKey = new Map(records.map((record) => [record.key, record]));
      const heldRecord = byKey.get(held);
      assert.equal(heldRecord?.holder, 'h');
      assert.equal(heldRecord?.token, heldLease.token);
      assert.deepEqual(heldRecord?.mark, { m: 1 });
      // Stores judge expiry a little late to absorb a coarse clock (the folder store's file timestamps,
      // whole seconds of an HTTP Date header): the same slack as the busy answer's check in exclusion.ts.
      const left = heldRecord?.expiresInMs ?? null;
      assert.ok(left !== null && left > 0 && left <= ttl + 2500, `expiresInMs ${left}`);
      const freeRecord = byKey.get(free);
      assert.equal(freeRecord?.holder, null);
      assert.equal(freeRecord?.expiresInMs, null);
      assert.equal(freeRecord?.token, freeLease.token);
      assert.deepEqual(freeRecord?.state, { s: 'ü' });
      assert.equal(freeRecord?.mark, null);
      assert.deepEqual(await store.inspectAll({ prefix: `${base}/none-` }), []);
    }));

  it('store clock: now() is the store time in epoch ms', () =>
    withStore(async (store) => {
      const time = await store.now();
      assert.ok(Number.isFinite(time));
      assert.ok(Math.abs(time - Date.now()) < 60_000, `store time ${time} vs host ${Date.now()}`);
    }));
}
