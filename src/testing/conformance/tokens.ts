/**
 * L2, fencing tokens: safe integers that strictly increase across release and a forced
 * release.
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { suiteOf, type ConformanceOptions, type TestFn, mustAcquire } from './shared.js';

/** Registers the L2 test: tokens strictly increase across release and `forceRelease`. */
export function tokenTests(it: TestFn, options: ConformanceOptions): void {
  const { key: newKey, request, withStore } = suiteOf(options);

  it('L2: tokens are safe integers that strictly increase across release and break', () =>
    withStore(async (store, ttl) => {
      const key = newKey('tokens');
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        const leaseId = randomUUID();
        const granted = await mustAcquire(store, request(key, 'h', leaseId, ttl));
        assert.ok(Number.isSafeInteger(granted.token) && granted.token > 0, `token ${granted.token}`);
        seen.push(granted.token);
        assert.equal(await store.release({ key, leaseId, token: granted.token }), true);
      }
      const held = await store.acquire(request(key, 'h', randomUUID(), ttl));
      assert.ok(held.acquired);
      if (!held.acquired) return;
      seen.push(held.token);
      assert.equal(await store.forceRelease(key), true, 'forceRelease ends a held lease');
      assert.equal(await store.forceRelease(key), false, 'forceRelease of a free key reports false');
      const next = await store.acquire(request(key, 'h2', randomUUID(), ttl));
      assert.ok(next.acquired);
      if (next.acquired) seen.push(next.token);
      for (let i = 1; i < seen.length; i++) {
        assert.ok((seen[i] as number) > (seen[i - 1] as number), `tokens ${seen.join(',')}`);
      }
      const record = await store.inspect(key);
      assert.equal(record?.token, seen[seen.length - 1]);
    }));
}
