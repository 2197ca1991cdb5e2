/**
 * The fused operations: an acquire that writes the holder's start record (the mark) with
 * the grant, and a release that writes the final state with the release — each one
 * atomic step, and each fenced like every other write (L6, L8).
 * @module
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import { mustAcquire, sleep, suiteOf, type ConformanceOptions, type TestFn } from './shared.js';

/** Registers the fused acquire and release tests. */
export function fusedTests(it: TestFn, options: ConformanceOptions): void {
  const { key: newKey, request, withStore } = suiteOf(options);

  it('fused acquire: a grant writes the mark in the same step; a busy acquire writes nothing', () =>
    withStore(async (store, ttl) => {
      const key = newKey('mark');
      const withState = store.capabilities.stateOnAcquire === true;
      const markA = { slot: '2026-11-23T10:05:00.000Z', holder: 'a', start: '2026-11-23T10:05:00.010Z' };
      const idA = randomUUID();
      const first = await mustAcquire(store, { ...request(key, 'a', idA, ttl), mark: markA });
      if (withState) assert.equal(first.mark ?? null, null, 'the first grant sees no earlier mark');
      assert.deepEqual((await store.inspect(key))?.mark, markA, 'the grant wrote its mark');

      const busy = await store.acquire({ ...request(key, 'b', randomUUID(), ttl), mark: { slot: 'other' } });
      assert.equal(busy.acquired, false);
      // A busy answer that carries the key's record (its state) carries the mark with it. Azure's
      // busy answer carries neither: its one request (a refused Acquire Lease) says nothing more.
      if (withState && !busy.acquired && busy.state !== undefined) {
        assert.deepEqual(busy.mark, markA, "a busy answer shows the holder's mark");
      }
      assert.deepEqual((await store.inspect(key))?.mark, markA, 'a busy acquire wrote nothing');

      // L9: a retry of the same acquisition writes the same mark again and keeps the token.
      const retry = await mustAcquire(store, { ...request(key, 'a', idA, ttl), mark: markA });
      assert.equal(retry.token, first.token);
      assert.deepEqual((await store.inspect(key))?.mark, markA);

      // A release without state keeps the state and the mark: a start with no end record.
      assert.equal(await store.release({ key, leaseId: idA, token: first.token }), true);
      const released = await store.inspect(key);
      assert.equal(released?.holder, null);
      assert.deepEqual(released?.mark, markA, 'a plain release keeps the mark');

      // The next grant sees the earlier mark, writes its own; a state write clears it.
      const markB = { slot: '2026-11-23T10:10:00.000Z', holder: 'b' };
      const idB = randomUUID();
      const second = await mustAcquire(store, { ...request(key, 'b', idB, ttl), mark: markB });
      if (withState) assert.deepEqual(second.mark, markA, 'a grant answers the mark it replaced');
      assert.ok(second.token > first.token);
      assert.deepEqual((await store.inspect(key))?.mark, markB);
      assert.equal(await store.writeState({ key, leaseId: idB, token: second.token, state: { n: 1 } }), true);
      const written = await store.inspect(key);
      assert.deepEqual(written?.state, { n: 1 });
      assert.equal(written?.mark, null, 'writeState clears the mark');

      // A grant without a mark leaves the mark as it is.
      assert.equal(await store.release({ key, leaseId: idB, token: second.token }), true);
      const markC = { slot: 'c' };
      const idC = randomUUID();
      const third = await mustAcquire(store, { ...request(key, 'c', idC, ttl), mark: markC });
      assert.equal(await store.release({ key, leaseId: idC, token: third.token }), true);
      const idD = randomUUID();
      const fourth = await mustAcquire(store, request(key, 'd', idD, ttl));
      if (withState) assert.deepEqual(fourth.mark ?? null, markC);
      assert.deepEqual((await store.inspect(key))?.mark, markC, 'a grant without a mark keeps the mark');
      assert.equal(await store.forceRelease(key), true);
      const broken = await store.inspect(key);
      assert.deepEqual(broken?.mark, markC, 'a break keeps the mark');
      assert.deepEqual(broken?.state, { n: 1 }, 'a break keeps the state');
    }));

  it('fused release: the final state is written with the release, and clears the mark', () =>
    withStore(async (store, ttl) => {
      const key = newKey('relstate');
      const leaseId = randomUUID();
      const granted = await mustAcquire(store, { ...request(key, 'a', leaseId, ttl), mark: { slot: 's1' } });
      const final = { lastSlot: 's1', runs: [{ slot: 's1', token: granted.token, outcome: 'ok', note: 'ünï "q"' }] };
      assert.equal(await store.release({ key, leaseId, token: granted.token, state: final }), true);
      const record = await store.inspect(key);
      assert.equal(record?.holder, null, 'released');
      assert.equal(record?.expiresInMs, null);
      assert.deepEqual(record?.state, final, 'the final state was written');
      assert.equal(record?.mark, null, 'and the mark cleared');
      assert.equal(await store.release({ key, leaseId, token: granted.token, state: { again: true } }), false);
      assert.deepEqual((await store.inspect(key))?.state, final, 'a second release-with-state writes nothing');
      const next = await mustAcquire(store, request(key, 'b', randomUUID(), ttl));
      if (store.capabilities.stateOnAcquire) assert.deepEqual(next.state, final);
      assert.ok(next.token > granted.token);
    }));

  it("fused release: a stale holder's release-with-state writes nothing and ends nothing", () =>
    withStore(async (store, ttl) => {
      const key = newKey('stalerel');
      const idA = randomUUID();
      const first = await mustAcquire(store, request(key, 'a', idA, ttl));
      assert.equal(await store.writeState({ key, leaseId: idA, token: first.token, state: { by: 'a' } }), true);
      // Wrong lease id or wrong token while the lease is held: refused, nothing changes.
      for (const ref of [
        { key, leaseId: randomUUID(), token: first.token },
        { key, leaseId: idA, token: first.token + 1 },
      ]) {
        assert.equal(await store.release({ ...ref, state: { stale: true } }), false);
      }
      const held = await store.inspect(key);
      assert.equal(held?.holder, 'a', 'the lease is still held');
      assert.deepEqual(held?.state, { by: 'a' });

      // After expiry and a takeover, the old holder's release-with-state is refused.
      await sleep(ttl + 2200); // TTL plus the coarsest store clock granularity
      const idB = randomUUID();
      const markB = { slot: 'b-slot' };
      const second = await mustAcquire(store, { ...request(key, 'b', idB, ttl), mark: markB });
      assert.equal(await store.release({ key, leaseId: idA, token: first.token, state: { stale: true } }), false);
      const after = await store.inspect(key);
      assert.equal(after?.holder, 'b', "the new holder's lease is untouched");
      assert.equal(after?.token, second.token);
      assert.deepEqual(after?.state, { by: 'a' }, 'the stale state was not written');
      assert.deepEqual(after?.mark, markB, "the new holder's mark was not cleared");
      assert.equal(await store.release({ key, leaseId: idB, token: second.token, state: { by: 'b' } }), true);
      assert.deepEqual((await store.inspect(key))?.state, { by: 'b' });
    }));

  it('fused operations refuse an oversized mark or final state before any request', () =>
    withStore(async (store, ttl) => {
      const key = newKey('fusedsize');
      const big = { pad: 'x'.repeat(1100) };
      await assert.rejects(
        store.acquire({ ...request(key, 'a', randomUUID(), ttl), mark: big }),
        (err: unknown) => err instanceof ConfigError,
        'a mark over 1 KiB is a ConfigError',
      );
      assert.equal(await store.inspect(key), null, 'the refused acquire wrote nothing');
      const leaseId = randomUUID();
      const granted = await mustAcquire(store, request(key, 'a', leaseId, ttl));
      const ref = { key, leaseId, token: granted.token };
      await assert.rejects(
        store.release({ ...ref, state: 'x'.repeat(70 * 1024) }),
        (err: unknown) => err instanceof ConfigError,
        'an oversized final state is a ConfigError',
      );
      assert.equal((await store.inspect(key))?.holder, 'a', 'the refused release ended nothing');
      assert.equal(await store.release(ref), true);
    }));
}
