/**
 * Bad input through the core API (issue 18): unknown options refused with "did you mean",
 * every argument checked before any store request, strings that need a unit, cron
 * expressions of the wrong length, and one-line errors naming the value.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, Leasehold, openStore, parseDuration } from '../src/index.js';
import type { JsonValue } from '../src/store.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { FakeClock, FaultyStore } from '../src/testing/index.js';

/** A Leasehold over a store that counts every request. */
function setup() {
  const clock = new FakeClock();
  const store = new FaultyStore(new MemoryStore({ clock }));
  const lh = new Leasehold({ store, clock, holder: 'me' });
  return { store, lh };
}

/** The number of store requests made so far, of any kind. */
function requests(store: FaultyStore): number {
  return Object.values(store.calls).reduce((sum, n) => sum + n, 0);
}

/** Asserts a one-line ConfigError whose message matches `pattern`. */
function configError(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), e.message);
    return true;
  };
}

const noop = () => {};
// Deliberately wrong shapes: the API is called from JavaScript, with anything.
const loose = (value: unknown) => value as never;

describe('unknown options are refused, with "did you mean"', () => {
  it('on every call that takes options, before any store request', async () => {
    const { store, lh } = setup();
    await assert.rejects(
      lh.acquire('k', loose({ ttl: '5s', wiat: '1s' })),
      configError(/^acquire: unknown option "wiat" \(did you mean "wait"\?\)$/),
    );
    await assert.rejects(
      lh.tryAcquire('k', loose({ ttl: '5s', sigal: undefined })),
      configError(/^tryAcquire: unknown option "sigal" \(did you mean "signal"\?\)$/),
    );
    await assert.rejects(
      lh.withLease('k', noop, loose({ ttl: '5s', pollIntervall: '1s' })),
      configError(/^withLease: unknown option "pollIntervall" \(did you mean "pollInterval"\?\)$/),
    );
    await assert.rejects(
      lh.tryAcquire('k', loose({ ttl: '5s', color: 'red' })),
      configError(/^tryAcquire: unknown option "color"$/),
    );
    assert.throws(
      () => lh.every('1m', 'job', noop, loose({ timout: '5s' })),
      configError(/^every: unknown option "timout" \(did you mean "timeout"\?\)$/),
    );
    assert.throws(
      () => lh.cron('* * * * *', 'job', noop, loose({ timeZone: 'UTC' })),
      configError(/^cron: unknown option "timeZone" \(did you mean "timezone"\?\)$/),
    );
    assert.throws(
      () => lh.every('1m', 'job', noop, loose({ retry: { attempt: 3 } })),
      configError(/^every: retry: unknown option "attempt" \(did you mean "attempts"\?\)$/),
    );
    await assert.rejects(
      lh.stop(loose({ grcae: '1s' })),
      configError(/^stop: unknown option "grcae" \(did you mean "grace"\?\)$/),
    );
    assert.equal(requests(store), 0);
    assert.equal(lh.jobs.length, 0);
  });

  it('on new Leasehold(…) and openStore(…)', async () => {
    assert.throws(
      () => new Leasehold(loose({ store: new MemoryStore(), holdr: 'me' })),
      configError(/^Leasehold: unknown option "holdr" \(did you mean "holder"\?\)$/),
    );
    await assert.rejects(
      openStore('memory:', loose({ prefx: 'app:' })),
      configError(/^openStore: unknown option "prefx" \(did you mean "prefix"\?\)$/),
    );
    const store = await openStore('memory:', { prefix: 'app:' });
    await store.close();
  });
});

describe('every argument is checked before any store request', () => {
  it('a signal that is not an AbortSignal: refused, nothing acquired', async () => {
    const { store, lh } = setup();
    for (const call of [
      () => lh.tryAcquire('k', loose({ ttl: '5s', signal: 'abort' })),
      () => lh.acquire('k', loose({ ttl: '5s', wait: 0, signal: { aborted: false } })),
      () => lh.withLease('k', noop, loose({ ttl: '5s', signal: 42 })),
    ]) {
      await assert.rejects(call(), configError(/^(tryAcquire|acquire|withLease): signal must be an AbortSignal, got /));
    }
    await assert.rejects(
      lh.tryAcquire('k', loose({ ttl: '5s', signal: 'abort' })),
      configError(/signal must be an AbortSignal, got "abort"$/),
    );
    assert.equal(requests(store), 0);
    assert.equal(lh.leases.length, 0);
    // A real signal still works.
    const lease = await lh.tryAcquire('k', { ttl: '5s', signal: new AbortController().signal });
    assert.ok(lease);
    await lease.release();
  });

  it('withLease with a non-function or without options: refused before the lease is taken', async () => {
    const { store, lh } = setup();
    await assert.rejects(
      lh.withLease('k', loose('not a function'), { ttl: '5s' }),
      configError(/^withLease: expected a function, got "not a function"$/),
    );
    await assert.rejects(lh.withLease('k', loose(undefined), { ttl: '5s' }), configError(/got undefined$/));
    await assert.rejects(
      lh.withLease('k', noop, loose(undefined)),
      configError(/^withLease: an options object is required, e\.g\. \{ ttl: '30s' \}$/),
    );
    await assert.rejects(lh.withLease('', noop, { ttl: '5s' }), configError(/^key: /));
    assert.equal(requests(store), 0);
  });

  it('a missing or invalid options object', async () => {
    const { store, lh } = setup();
    await assert.rejects(
      lh.tryAcquire('k', loose(undefined)),
      configError(/^tryAcquire: an options object is required/),
    );
    await assert.rejects(lh.acquire('k', loose(undefined)), configError(/^acquire: an options object is required/));
    await assert.rejects(lh.acquire('k', loose(null)), configError(/^acquire: options must be an object, got null$/));
    await assert.rejects(lh.tryAcquire('k', loose('5s')), configError(/^tryAcquire: options must be an object/));
    await assert.rejects(lh.stop(loose(null)), configError(/^stop: options must be an object, got null$/));
    assert.throws(() => lh.every('1m', 'job', noop, loose(7)), configError(/^every: options must be an object/));
    assert.throws(
      () => lh.every('1m', 'job', noop, loose({ retry: 'twice' })),
      configError(/^every: retry: options must be an object, got string$/),
    );
    assert.equal(requests(store), 0);
  });
});

describe('durations: a number is milliseconds, a string needs its unit', () => {
  it("'3000' is refused with the two readings; '0' and numbers pass", async () => {
    assert.throws(
      () => parseDuration('3000', 'ttl'),
      configError(/^ttl: "3000" has no unit \(use "3000ms" or "3s"; a number, not a string, is milliseconds\)$/),
    );
    assert.throws(() => parseDuration('30', 'wait'), configError(/^wait: "30" has no unit \(use "30ms" or "30s"/));
    assert.throws(() => parseDuration('1500', 'x'), configError(/use "1500ms" or "1.5s"/));
    assert.throws(() => parseDuration('0', 'ttl'), configError(/^ttl: duration must be positive, got "0"$/));
    assert.equal(parseDuration('0', 'wait', { allowZero: true }), 0);
    assert.equal(parseDuration(3000, 'ttl'), 3000);
    assert.equal(parseDuration(' 3s ', 'ttl'), 3000);
    const { store, lh } = setup();
    await assert.rejects(lh.tryAcquire('k', { ttl: '3000' }), configError(/^ttl: "3000" has no unit/));
    assert.throws(() => lh.every('60000', 'job', noop), configError(/^interval: "60000" has no unit/));
    assert.equal(requests(store), 0);
  });

  it('a TTL outside the store range shows a number once when it has no larger unit', async () => {
    const store = new FaultyStore(new MemoryStore());
    Object.defineProperty(store, 'capabilities', { value: { ...store.inner.capabilities, minTtlMs: 100 } });
    const narrow = new Leasehold({ store });
    await assert.rejects(
      narrow.tryAcquire('k', { ttl: 50 }),
      configError(/^ttl: 50ms is outside what the memory store allows \(at least 100ms\)$/),
    );
  });
});

describe('cron expressions and timezones', () => {
  it('7 fields (croner would read a year and never fire) is refused in one line naming it; 5 and 6 still work', () => {
    const { lh } = setup();
    assert.throws(
      () => lh.cron('0 0 * * * * 2030', 'job', noop),
      configError(/^cron: invalid expression "0 0 \* \* \* \* 2030": 7 fields; use 5 .* or 6 \(seconds first\)$/),
    );
    assert.throws(
      () => lh.cron('* * * *', 'job', noop),
      configError(/^cron: invalid expression "\* \* \* \*": 4 fields/),
    );
    assert.equal(lh.cron('*/5 * * * *', 'five', noop).key, 'five');
    assert.equal(lh.cron('*/10 * * * * *', 'six', noop).key, 'six');
    assert.equal(lh.cron('@daily', 'nickname', noop).key, 'nickname');
    assert.throws(
      () => lh.cron('* * * * *', 'tz', noop, { timezone: 'Mars/Olympus' }),
      configError(/^timezone: unknown IANA timezone "Mars\/Olympus"/),
    );
    assert.throws(
      () => lh.cron('61 * * * *', 'bad', noop),
      configError(/^cron: invalid expression "61 \* \* \* \*": /),
    );
  });
});

describe('state', () => {
  it('a cycle gives one line naming state and where the cycle closes, and writes nothing', async () => {
    const { store, lh } = setup();
    const lease = await lh.tryAcquire('k', { ttl: '5s' });
    assert.ok(lease);
    const state: Record<string, unknown> = { a: 1 };
    state.self = state;
    await assert.rejects(
      lease.writeState(state as JsonValue),
      configError(/^state: not serializable as JSON \(.*circular.*: property 'self' closes the circle\)$/),
    );
    assert.equal((await store.inner.inspect('k'))?.state ?? null, null);
    await lease.release();
  });
});

describe('a held lease checks its own call options', () => {
  it('writeState with a signal that is not an AbortSignal, or an unknown option, is refused without a request', async () => {
    const { store, lh } = setup();
    const lease = await lh.tryAcquire('own-options', { ttl: '5s' });
    assert.ok(lease);
    const before = requests(store);
    await assert.rejects(
      lease.writeState({ n: 1 }, loose({ signal: 'abort' })),
      configError(/signal must be an AbortSignal/),
    );
    await assert.rejects(
      lease.writeState({ n: 1 }, loose({ sginal: undefined })),
      configError(/did you mean "signal"/),
    );
    assert.equal(requests(store), before, 'no store request before the refusal');
    assert.equal(await lease.writeState({ n: 2 }), true);
    await lease.release();
  });
});
