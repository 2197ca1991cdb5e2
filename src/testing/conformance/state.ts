/**
 * L8, fenced state: written only by the holder, read back exactly, returned on
 * acquire where the store can, bounded in size.
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import { suiteOf, type ConformanceOptions, type TestFn, mustAcquire } from './shared.js';

/** Registers the L8 test: fenced state round-trips, comes back on acquire, and oversized state is refused. */
export function stateTests(it: TestFn, options: ConformanceOptions): void {
  const { key: newKey, request, withStore } = suiteOf(options);

  it('L8: fenced state is written only by the holder, read back, and returned on acquire', () =>
    withStore(async (store, ttl) => {
      const key = newKey('state');
      assert.equal(await store.inspect(key), null, 'unknown key inspects as null');
      const leaseId = randomUUID();
      const granted = await mustAcquire(store, request(key, 'h', leaseId, ttl));
      const token = granted.token;
      if (store.capabilities.stateOnAcquire) assert.equal(granted.state ?? null, null);
      const runs = [{ token, outcome: 'ok', note: 'ünïcödé "quoted"' }];
      const state = { lastSlot: '2026-11-23T10:05:00.000Z', runs };
      assert.equal(await store.writeState({ key, leaseId, token, state }), true);
      assert.deepEqual((await store.inspect(key))?.state, state);
      assert.equal(await store.release({ key, leaseId, token }), true);
      const next = await store.acquire(request(key, 'h2', randomUUID(), ttl));
      assert.ok(next.acquired);
      if (next.acquired && store.capabilities.stateOnAcquire) assert.deepEqual(next.state, state);
      await assert.rejects(
        store.writeState({ key, leaseId, token, state: 'x'.repeat(70 * 1024) }),
        (err: unknown) => err instanceof ConfigError,
        'oversized state is a ConfigError',
      );
    }));
}
