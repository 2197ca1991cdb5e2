import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AcquireTimeoutError, ConfigError, Leasehold, type Permit } from '../src/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { FakeClock, FaultyStore } from '../src/testing/index.js';

const TTL = 3000;

function setup() {
  const clock = new FakeClock();
  const inner = new MemoryStore({ clock });
  const store = new FaultyStore(inner);
  const lh = new Leasehold({ store, clock, holder: 'me' });
  return { clock, inner, store, lh };
}

describe('semaphores (fake clock, memory store)', () => {
  it('lets at most `permits` holders in, each permit with its own token, never reused', async () => {
    const { clock, inner, lh } = setup();
    const semaphore = lh.semaphore('pool', { permits: 3, ttl: TTL });
    assert.deepEqual(semaphore.permitKeys, ['pool#0', 'pool#1', 'pool#2']);
    const held: Permit[] = [];
    for (let i = 0; i < 3; i++) {
      const permit = await semaphore.tryAcquire();
      assert.ok(permit, `permit ${i}`);
      held.push(permit);
    }
    assert.equal(await semaphore.tryAcquire(), null, 'a fourth is refused');
    assert.equal(new Set(held.map((p) => p.key)).size, 3, 'one permit per permit key');
    const seen = new Set<string>(held.map((p) => `${p.key}:${p.token}`));
    await clock.advance(TTL * 2);
    assert.ok(
      held.every((p) => p.held && !p.signal.aborted),
      'permits renew like leases',
    );
    for (let round = 0; round < 20; round++) {
      const released = held.splice(Math.floor(Math.random() * held.length), 1)[0] as Permit;
      assert.equal(await released.release(), true);
      const permit = await semaphore.tryAcquire();
      assert.ok(permit);
      assert.ok(!seen.has(`${permit.key}:${permit.token}`), 'a token is never handed out twice for a permit key');
      seen.add(`${permit.key}:${permit.token}`);
      held.push(permit);
      assert.equal(await semaphore.tryAcquire(), null);
    }
    const holders = await Promise.all(semaphore.permitKeys.map((k) => inner.inspect(k)));
    assert.equal(holders.filter((r) => r?.holder).length, 3, 'the store sees 3 holders');
    await lh.stop();
    assert.equal(clock.pending, 0);
  });

  it('acquire({ wait }) takes a permit freed by release or expiry, and times out when none frees', async () => {
    const { clock, inner, lh } = setup();
    const other = new Leasehold({ store: inner, clock, holder: 'other' });
    const semaphore = lh.semaphore('pool', { permits: 2, ttl: TTL });
    const theirs = other.semaphore('pool', { permits: 2, ttl: TTL });
    const a = await theirs.tryAcquire();
    const b = await theirs.tryAcquire();
    assert.ok(a && b);
    const waiting = semaphore.acquire({ wait: TTL * 3 });
    const box: { got?: Permit } = {};
    void waiting.then((p) => {
      box.got = p;
    });
    await clock.advance(TTL);
    assert.equal(box.got === undefined, true, 'still waiting');
    await b.release();
    assert.ok(await clock.advanceUntil(() => box.got !== undefined, 400, 10), 'taken within about one poll');
    assert.equal(box.got?.key, b.key);
    assert.ok((box.got?.token ?? 0) > b.token);

    const timeout = semaphore.acquire({ wait: 1000, pollInterval: 100 });
    const rejected = assert.rejects(timeout, AcquireTimeoutError);
    await clock.advance(1200);
    await rejected;
    await box.got?.release();
    await other.stop();
    await lh.stop();
  });

  it('reports an unreachable store as an error, not as "all permits held"', async () => {
    const { store, lh } = setup();
    const semaphore = lh.semaphore('pool', { permits: 3, ttl: TTL });
    store.modes.acquire = 'fail';
    await assert.rejects(semaphore.tryAcquire(), { code: 'STORE_UNAVAILABLE' });
    assert.equal(store.calls.acquire, 6, 'every permit key asked (each retried once)');
  });

  it('refuses unknown and invalid options before any store request', async () => {
    const { store, lh } = setup();
    const bad: [unknown, RegExp][] = [
      [{ permits: 3, ttl: TTL, permit: 2 }, /unknown option "permit"/],
      [{ permit: 3, ttl: TTL }, /did you mean "permits"/],
      [{ ttl: TTL }, /permits: must be an integer from 1 to 256/],
      [{ permits: 0, ttl: TTL }, /permits/],
      [{ permits: 2.5, ttl: TTL }, /permits/],
      [{ permits: 257, ttl: TTL }, /permits/],
      [{ permits: 3, ttl: 'forever' }, /ttl/],
    ];
    for (const [options, message] of bad) {
      assert.throws(
        () => lh.semaphore('pool', options as never),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
      );
    }
    assert.throws(() => lh.semaphore('x'.repeat(511), { permits: 10, ttl: TTL }), /key: at most 512/);
    const semaphore = lh.semaphore('pool', { permits: 3, ttl: TTL });
    await assert.rejects(semaphore.acquire({ wiat: 10 } as never), /did you mean "wait"/);
    await assert.rejects(semaphore.tryAcquire({ signal: 'no' } as never), ConfigError);
    assert.equal(store.calls.acquire, 0, 'no store request was made');
  });
});
