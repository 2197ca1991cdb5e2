/**
 * L1, mutual exclusion by the store's view: of concurrent contenders one wins, and a
 * held key is busy for everyone else.
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { suiteOf, type ConformanceOptions, type TestFn } from './shared.js';

/** Registers the L1 tests: one winner among many contenders; a held key is busy and names its holder. */
export function exclusionTests(it: TestFn, options: ConformanceOptions): void {
  const { key: newKey, request, withStore } = suiteOf(options);

  it('L1: of many concurrent contenders exactly one wins', () =>
    withStore(async (store, ttl) => {
      const key = newKey('race');
      const contenders = Array.from({ length: 16 }, (_, i) => store.acquire(request(key, `c${i}`, randomUUID(), ttl)));
      const results = await Promise.all(contenders);
      const winners = results.filter((result) => result.acquired);
      assert.equal(winners.length, 1, `winners: ${winners.length}`);
      for (const loser of results) {
        if (!loser.acquired && loser.holder !== undefined) assert.match(loser.holder, /^c\d+$/);
      }
    }));

  it('L1: a held key is busy for others and names its holder', () =>
    withStore(async (store, ttl) => {
      const key = newKey('busy');
      const alice = await store.acquire(request(key, 'alice', randomUUID(), ttl));
      assert.equal(alice.acquired, true);
      const bob = await store.acquire(request(key, 'bob', randomUUID(), ttl));
      assert.equal(bob.acquired, false);
      if (!bob.acquired) {
        if (bob.holder !== undefined) assert.equal(bob.holder, 'alice');
        const left = bob.expiresInMs;
        if (left !== undefined) assert.ok(left > 0 && left <= ttl + 2500, `expiresInMs ${left}`);
      }
    }));
}
