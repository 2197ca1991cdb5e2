/**
 * L1, mutual exclusion by the store's view: of concurrent contenders one wins, and a
 * held key is busy for everyone else; and, for stores that check waiters in the acquire
 * (`capabilities.checksWaiters`), the yield to an announced waiter (L11); and, for stores
 * that apply requests in the order sent (`capabilities.ordered`), that order.
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mustAcquire, suiteOf, type ConformanceOptions, type TestFn } from './shared.js';

/**
 * Registers the L1 tests (one winner among many contenders; a held key is busy and names
 * its holder) and the waiter check of stores that have it.
 */
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

  it("L11, stores that check waiters: an acquire with unlessWaiter yields to another holder's announcement", () =>
    withStore(async (store, ttl) => {
      if (!store.capabilities.checksWaiters) return;
      const key = newKey('yield');
      const announcement = `${key}#leasehold-waiter`;
      const checked = (holder: string, leaseId: string) => ({
        ...request(key, holder, leaseId, ttl),
        unlessWaiter: announcement,
      });
      // Nobody announced: a plain grant.
      const firstId = randomUUID();
      const first = await mustAcquire(store, checked('a', firstId));
      assert.equal(await store.release({ key, leaseId: firstId, token: first.token }), true);

      // Another holder announced: no grant though the key is free, and nothing written.
      const waiterId = randomUUID();
      const waiter = await mustAcquire(store, request(announcement, 'w', waiterId, ttl));
      const yielded = await store.acquire({ ...checked('a', randomUUID()), mark: { m: 1 } });
      assert.equal(yielded.acquired, false);
      assert.equal(!yielded.acquired && yielded.waiter, 'w', 'the answer names the announced waiter');
      const untouched = await store.inspect(key);
      assert.deepEqual([untouched?.holder, untouched?.token, untouched?.mark], [null, first.token, null]);

      // The announcer itself is not yielded to; and a retry of its grant (L9) is granted again.
      const ownId = randomUUID();
      const own = await mustAcquire(store, checked('w', ownId));
      const retry = await mustAcquire(store, checked('w', ownId));
      assert.equal(retry.token, own.token);
      assert.equal(await store.release({ key, leaseId: ownId, token: own.token }), true);

      // A withdrawn announcement yields to nobody.
      assert.equal(await store.release({ key: announcement, leaseId: waiterId, token: waiter.token }), true);
      const last = await mustAcquire(store, checked('a', randomUUID()));
      assert.ok(last.token > own.token);
    }));

  it('ordered stores: an acquire sent right behind a release of the key, before its answer, is granted', () =>
    withStore(async (store, ttl) => {
      if (!store.capabilities.ordered) return;
      const key = newKey('ordered');
      let holderId = randomUUID();
      let held = await mustAcquire(store, request(key, 'h0', holderId, ttl));
      // Several rounds, each a release and the next holder's acquire sent in one go (as the
      // core's hand-off sends them): a store that applied the acquire first would answer busy.
      for (let round = 1; round <= 8; round++) {
        const nextId = randomUUID();
        const released = store.release({ key, leaseId: holderId, token: held.token });
        const next = store.acquire(request(key, `h${round}`, nextId, ttl));
        assert.equal(await released, true, `round ${round}: the release`);
        const answer = await next;
        assert.equal(answer.acquired, true, `round ${round}: the acquire sent behind the release was answered busy`);
        if (!answer.acquired) return;
        assert.ok(answer.token > held.token, `round ${round}: token ${answer.token} after ${held.token}`);
        holderId = nextId;
        held = answer;
      }
      assert.equal(await store.release({ key, leaseId: holderId, token: held.token }), true);
    }));
}
