/**
 * L2 across a restart of the store's server: tokens keep increasing, and a persistent
 * store keeps the fenced state. Registered only when `options.restart` is given.
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { StoreUnavailableError } from '../../errors.js';
import type { AcquireResult, LeaseStore } from '../../store.js';
import { sleep, suiteOf, type ConformanceOptions, type Suite, type TestFn, mustAcquire } from './shared.js';

/** Registers the restart test when `options.restart` is given: tokens increase across the restart. */
export function restartTests(it: TestFn, options: ConformanceOptions): void {
  const restart = options.restart;
  if (!restart) return;
  const suite = suiteOf(options);

  it('L2: tokens keep increasing across a restart of the store', async () => {
    const key = suite.key('restart');
    let before = 0;
    await suite.withStore(async (store, ttl) => {
      for (let i = 0; i < 3; i++) {
        const leaseId = randomUUID();
        const granted = await mustAcquire(store, suite.request(key, 'h', leaseId, ttl));
        before = granted.token;
        if (i === 2) {
          const written = await store.writeState({ key, leaseId, token: granted.token, state: { before: true } });
          assert.equal(written, true);
        }
        await store.release({ key, leaseId, token: granted.token });
      }
    });
    await restart();
    await suite.withStore(async (store, ttl) => {
      const granted = await acquireOnceBack(store, suite, key, ttl);
      assert.ok(granted?.acquired);
      if (granted?.acquired) {
        assert.ok(granted.token > before, `token ${granted.token} after restart, ${before} before`);
      }
      if (store.capabilities.persistent) assert.deepEqual((await store.inspect(key))?.state, { before: true });
    });
  });
}

/** Acquires `key`, retrying for about 10 s while the restarted server is still coming back. */
async function acquireOnceBack(store: LeaseStore, suite: Suite, key: string, ttl: number): Promise<AcquireResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await store.acquire(suite.request(key, 'h', randomUUID(), ttl));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || attempt === 49) throw err;
      await sleep(200);
    }
  }
}
