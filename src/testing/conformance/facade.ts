/**
 * Through the facade: a `Leasehold` lease on the store renews itself past its TTL (L5)
 * and keeps others out until released.
 * @module
 */
import assert from 'node:assert/strict';
import { Leasehold } from '../../leasehold.js';
import { sleep, suiteOf, type ConformanceOptions, type TestFn } from './shared.js';

/** Registers the facade test: a `Leasehold` lease renews itself and keeps others out (L5). */
export function facadeTests(it: TestFn, options: ConformanceOptions): void {
  const { key: newKey, withStore } = suiteOf(options);

  it('L5: a Leasehold lease renews itself past its TTL and keeps others out', () =>
    withStore(async (store, ttl) => {
      const key = newKey('renewing');
      const renewer = new Leasehold({ store, holder: 'renewer' });
      const other = new Leasehold({ store, holder: 'other' });
      const lease = await renewer.tryAcquire(key, { ttl });
      assert.ok(lease);
      if (!lease) return;
      let renewed = 0;
      renewer.on('renewed', () => renewed++);
      await sleep(ttl * 2.2);
      assert.equal(lease.signal.aborted, false, `lease lost: ${String(lease.signal.reason)}`);
      assert.ok(renewed >= 2, `renewed ${renewed} times`);
      assert.equal(await other.tryAcquire(key, { ttl }), null);
      assert.equal(await lease.release(), true);
      const next = await other.tryAcquire(key, { ttl });
      assert.ok(next && next.token > lease.token);
      await next?.release();
    }));
}
