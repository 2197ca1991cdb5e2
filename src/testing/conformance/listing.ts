/**
 * Naming and listing: keys with any characters stay distinct, are listed under their
 * prefix and inspect back; the store's clock reads as epoch ms.
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { suiteOf, type ConformanceOptions, type TestFn } from './shared.js';

/** Registers the `list`/`inspect` naming test and the store-clock test. */
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

  it('store clock: now() is the store time in epoch ms', () =>
    withStore(async (store) => {
      const time = await store.now();
      assert.ok(Number.isFinite(time));
      assert.ok(Math.abs(time - Date.now()) < 60_000, `store time ${time} vs host ${Date.now()}`);
    }));
}
