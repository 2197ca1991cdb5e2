import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  AcquireTimeoutError,
  ConfigError,
  Leasehold,
  LeaseLostError,
  StoreUnavailableError,
  holderDeadline,
  parseDuration,
} from '../src/index.js';
import type { AcquireRequest, LeaseStore, StoreOpOptions } from '../src/store.js';
import { SafeEmitter } from '../src/events.js';
import { FileStore } from '../src/stores/file/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { FakeClock, FaultyStore } from '../src/testing/index.js';
import { through } from './helpers/through.js';

function setup(ttl = 3000) {
  const clock = new FakeClock();
  const inner = new MemoryStore({ clock });
  const store = new FaultyStore(inner);
  const lh = new Leasehold({ store, clock, holder: 'me' });
  return { clock, inner, store, lh, ttl };
}

let unhandled: unknown[] = [];
process.on('unhandledRejection', (r) => unhandled.push(r));

describe('lease renewal (fake clock)', () => {
  it('renews about every ttl/3 and stays held far past its TTL', async () => {
    const { clock, store, lh, ttl } = setup();
    const lease = await lh.tryAcquire('k', { ttl });
    assert.ok(lease);
    await clock.advance(ttl / 3 - 10);
    assert.equal(store.calls.renew, 0);
    await clock.advance(20);
    assert.equal(store.calls.renew, 1);
    await clock.advance(ttl * 5);
    assert.ok(store.calls.renew >= 15 && store.calls.renew <= 17, `renewals: ${store.calls.renew}`);
    assert.equal(lease.signal.aborted, false);
    assert.equal(lease.held, true);
    assert.equal(await lease.release(), true);
    assert.equal(clock.pending, 0, 'no timers left after release');
  });

  it('aborts the signal with LeaseLostError before the holder-side deadline when renewals stall', async () => {
    const { clock, store, lh, ttl } = setup();
    const events: string[] = [];
    lh.on('lost', (e) => events.push(`lost ${e.key} ${e.token}`));
    lh.on('error', () => events.push('error'));
    const lease = await lh.tryAcquire('k', { ttl });
    assert.ok(lease);
    const deadline = lease.deadline;
    assert.equal(deadline, holderDeadline(0, ttl));
    store.modes.renew = 'stall';
    let abortedAt = -1;
    lease.signal.addEventListener('abort', () => {
      abortedAt = clock.now();
    });
    await clock.advance(ttl * 2);
    assert.ok(abortedAt > 0, 'signal aborted');
    assert.ok(abortedAt < deadline, `aborted at ${abortedAt}, deadline ${deadline}`);
    assert.ok(lease.signal.reason instanceof LeaseLostError);
    assert.equal(lease.signal.reason.code, 'LEASE_LOST');
    assert.ok(events.includes('lost k 1'), events.join());
    assert.ok(store.calls.renew >= 2, `renew attempts ${store.calls.renew}`);
    assert.equal(lease.held, false);
    assert.equal(await lease.release(), false, 'releasing a lost lease reports false (L7)');
    assert.equal(clock.pending, 0);
    assert.deepEqual(unhandled, []);
  });

  it('survives two failed renewals in a row (L5)', async () => {
    const { clock, store, lh, ttl } = setup();
    const lease = await lh.tryAcquire('k', { ttl });
    assert.ok(lease);
    store.modes.renew = 'fail';
    await clock.advance(ttl / 3 + 1); // first renewal fails
    await clock.advance(ttl / 10 + 1); // second fails
    assert.ok(store.calls.renew >= 2);
    store.modes.renew = 'pass';
    await clock.advance(ttl / 10 + 1);
    await clock.advance(ttl * 2);
    assert.equal(lease.signal.aborted, false);
    await lease.release();
  });

  it('is lost at once when the store says another holder has the key', async () => {
    const { clock, inner, lh, ttl } = setup();
    const lease = await lh.tryAcquire('k', { ttl });
    assert.ok(lease);
    await inner.forceRelease('k');
    await inner.acquire({ key: 'k', holder: 'thief', leaseId: 'x', ttlMs: ttl });
    await clock.advance(ttl / 3 + 1);
    assert.equal(lease.signal.aborted, true);
    assert.match(String((lease.signal.reason as Error).message), /another holder/);
  });

  it('a fenced write rejected by the store marks the lease lost', async () => {
    const { inner, lh, ttl } = setup();
    const lease = await lh.tryAcquire('k', { ttl });
    assert.ok(lease);
    assert.equal(await lease.writeState({ a: 1 }), true);
    await inner.forceRelease('k');
    assert.equal(await lease.writeState({ a: 2 }), false);
    assert.equal(lease.signal.aborted, true);
    assert.deepEqual((await inner.inspect('k'))?.state, { a: 1 });
  });
});

describe('the end hook the scheduler uses instead of the signal (fake clock)', () => {
  it('onEnd, ended and endReason say what signal would, without making it', async () => {
    const { clock, store, lh, ttl } = setup();
    const lost = await lh.tryAcquire('lost', { ttl });
    assert.ok(lost);
    const seen: unknown[] = [];
    lost.onEnd((reason) => seen.push(reason));
    const off = lost.onEnd(() => seen.push('removed'));
    off();
    assert.equal(lost.ended, false);
    assert.equal(lost.endReason, undefined);
    store.modes.renew = 'stall';
    await clock.advance(ttl * 2);
    assert.equal(lost.ended, true);
    assert.equal(seen.length, 1, 'called once; the removed listener not at all');
    assert.ok(seen[0] instanceof LeaseLostError);
    assert.equal(lost.endReason, seen[0]);
    assert.equal(lost.signal.reason, seen[0], 'the signal made afterwards aborts with the same reason');
    const late: unknown[] = [];
    lost.onEnd((reason) => late.push(reason));
    assert.deepEqual(late, [seen[0]], 'a listener added after the end is called at once');

    store.modes.renew = 'pass';
    const released = await lh.tryAcquire('released', { ttl });
    assert.ok(released);
    const reasons: unknown[] = [];
    released.onEnd((reason) => reasons.push(reason));
    assert.equal(await released.release(), true);
    assert.equal(reasons.length, 1);
    assert.match(String((reasons[0] as Error).message), /was released/);
    assert.equal(released.ended, true);
    assert.equal(released.signal.aborted, true);
    assert.equal(released.signal.reason, reasons[0]);
    assert.equal(clock.pending, 0);
  });
});

describe('acquire, withLease, errors', () => {
  it('acquire waits for the holder, then times out naming it', async () => {
    const { clock, lh, ttl } = setup();
    const other = new Leasehold({ store: lh.store, clock, holder: 'other' });
    const held = await other.tryAcquire('k', { ttl });
    assert.ok(held);
    const p = lh.acquire('k', { ttl, wait: 1000 });
    const result = p.then(
      () => 'acquired',
      (e: unknown) => e,
    );
    await clock.advance(1200);
    const err = await result;
    assert.ok(err instanceof AcquireTimeoutError, String(err));
    assert.equal(err.currentHolder, 'other');
    assert.match(err.message, /held by other/);
    const p2 = lh.acquire('k', { ttl, wait: 5000 });
    await clock.advance(300);
    await held.release();
    await clock.advance(2000);
    const lease = await p2;
    assert.ok(lease.token > held.token);
    await lease.release();
  });

  it('withLease runs fn while holding, releases after, and rejects when busy', async () => {
    const { lh, inner, ttl } = setup();
    const out = await lh.withLease(
      'w',
      async (lease) => {
        assert.equal((await inner.inspect('w'))?.holder, 'me');
        return lease.token * 10;
      },
      { ttl },
    );
    assert.equal(out, 10);
    assert.equal((await inner.inspect('w'))?.holder, null);
    await inner.acquire({ key: 'w', holder: 'other', leaseId: 'z', ttlMs: ttl });
    await assert.rejects(
      lh.withLease('w', () => 1, { ttl }),
      AcquireTimeoutError,
    );
  });

  it('withLease rejects with LeaseLostError when the lease is lost while fn runs', async () => {
    const { clock, store, lh, ttl } = setup();
    const p = lh.withLease(
      'w',
      async (lease) => {
        store.modes.renew = 'stall';
        await new Promise<void>((resolve) => lease.signal.addEventListener('abort', () => resolve()));
        return 'finished';
      },
      { ttl },
    );
    const settled = p.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await clock.advance(ttl * 2);
    assert.ok((await settled) instanceof LeaseLostError);
  });

  it('invalid input is a ConfigError naming the value', async () => {
    const { lh } = setup();
    await assert.rejects(lh.tryAcquire('k', { ttl: 0 }), /ttl: duration must be positive, got 0/);
    await assert.rejects(lh.tryAcquire('k', { ttl: '-1s' }), /ttl: invalid duration "-1s"/);
    await assert.rejects(lh.tryAcquire('k', { ttl: 'abc' }), /ttl: invalid duration "abc"/);
    await assert.rejects(
      lh.tryAcquire('', { ttl: 1000 }),
      (e: unknown) => e instanceof ConfigError && /key: must be a non-empty string, got ""/.test(e.message),
    );
    await assert.rejects(lh.acquire('k', { ttl: 1000, wait: 'soon' }), /wait: invalid duration "soon"/);
    assert.throws(() => new Leasehold({ store: undefined as unknown as LeaseStore }), ConfigError);
  });

  it('refuses a key with a lone surrogate before any store request', async () => {
    const { store, lh } = setup();
    let calls = 0;
    const acquire = store.acquire.bind(store);
    store.acquire = (req, o) => {
      calls++;
      return acquire(req, o);
    };
    for (const key of ['a\uD800b', 'end\uDC00', '\uDBFF']) {
      await assert.rejects(
        lh.tryAcquire(key, { ttl: 1000 }),
        (e: unknown) => e instanceof ConfigError && /^key: .*lone UTF-16 surrogate/.test(e.message),
      );
    }
    assert.equal(calls, 0, 'no store request for a refused key');
    // A whole surrogate pair is a character like any other.
    assert.ok(await lh.tryAcquire('emoji-\u{1F600}', { ttl: 1000 }));
    assert.throws(() => lh.every(1000, 'job\uD800', () => {}), /lone UTF-16 surrogate/);
  });

  it('refuses a holder with a newline or another control character', () => {
    const store = new MemoryStore();
    for (const holder of ['host\nforged line', 'tab\there', 'nul\u0000', 'del\u007f', 'lone\uD800']) {
      assert.throws(
        () => new Leasehold({ store, holder }),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith('holder: ') && !e.message.includes('\n'),
        JSON.stringify(holder),
      );
    }
    assert.equal(new Leasehold({ store, holder: 'web-1:42:abc' }).holder, 'web-1:42:abc');
  });

  it('refuses a duration past 2^31-1 ms with one line naming the option and the value', async () => {
    const { lh } = setup();
    await assert.rejects(lh.tryAcquire('k', { ttl: '30d' }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /^ttl: duration "30d" is too long \(at most 2147483647ms/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    await assert.rejects(
      lh.acquire('k', { ttl: 1000, wait: 2 ** 31 }),
      /^ConfigError: wait: duration 2147483648 is too long/,
    );
    assert.throws(() => lh.every(1000, 'job', () => {}, { timeout: '25d' }), /^ConfigError: timeout: duration "25d"/);
    assert.equal(parseDuration(2 ** 31 - 1, 'x'), 2 ** 31 - 1);
  });

  it("a TTL outside the store's range names the value and the range with their units", async () => {
    const inner = new MemoryStore();
    const narrow = new FaultyStore(inner);
    Object.defineProperty(narrow, 'capabilities', {
      value: { ...inner.capabilities, minTtlMs: 15_000, maxTtlMs: 60_000 },
      configurable: true,
    });
    const lh = new Leasehold({ store: narrow });
    await assert.rejects(
      lh.tryAcquire('k', { ttl: 10_000 }),
      new RegExp(
        `^ConfigError: ttl: 10000ms \\(10s\\) is outside what the ${inner.name} store allows \\(15s to 1m\\)$`,
      ),
    );
    await assert.rejects(
      lh.tryAcquire('k', { ttl: '2m' }),
      /ttl: "2m" is outside what the .* store allows \(15s to 1m\)/,
    );
    Object.defineProperty(narrow, 'capabilities', {
      value: { ...inner.capabilities, minTtlMs: 2000 },
      configurable: true,
    });
    await assert.rejects(lh.tryAcquire('k', { ttl: 1500 }), /ttl: 1500ms \(1.5s\) is outside .* \(at least 2s\)/);
  });

  it('a store that is down gives StoreUnavailableError, not null', async () => {
    const { store, lh, ttl } = setup();
    store.mode = 'fail';
    await assert.rejects(lh.tryAcquire('k', { ttl }), StoreUnavailableError);
  });

  it('L9: an acquire whose reply was lost is retried with the same leaseId and finds its own lease', async () => {
    const clock = new FakeClock();
    const inner = new MemoryStore({ clock });
    const seen: string[] = [];
    let calls = 0;
    // Forwards the first acquire to the real store but never answers it (a lost reply).
    const lossy = new FaultyStore(inner);
    lossy.acquire = (req: AcquireRequest, o?: StoreOpOptions) => {
      seen.push(req.leaseId);
      if (calls++ === 0) {
        void inner.acquire(req, o);
        return new Promise(() => {});
      }
      return inner.acquire(req, o);
    };
    const lh = new Leasehold({ store: lossy, clock, holder: 'me' });
    const p = lh.tryAcquire('k', { ttl: 3000 });
    await clock.advance(1001);
    const lease = await p;
    assert.ok(lease, 'the retry must recognise its own lease');
    assert.equal(seen.length, 2);
    assert.equal(seen[0], seen[1], 'same leaseId on retry');
    assert.equal(lease.token, 1, 'no second token issued');
    await lease.release();
  });

  it('L9 across attempts: a lease granted to an attempt that got no answer is handed back to the next attempt', async () => {
    const clock = new FakeClock();
    const inner = new MemoryStore({ clock });
    const store = new FaultyStore(inner);
    let calls = 0;
    store.acquire = (req: AcquireRequest, o?: StoreOpOptions) => {
      calls++;
      if (calls === 1) void inner.acquire(req, o); // reaches the store; the reply is lost
      if (calls <= 2) return new Promise(() => {}); // and the retry gets no answer either
      return inner.acquire(req, o);
    };
    const lh = new Leasehold({ store, clock, holder: 'me' });
    const first = lh.tryAcquire('k', { ttl: 3000 }).then(
      () => 'answered',
      (e: unknown) => e,
    );
    await clock.advance(2100);
    assert.ok((await first) instanceof StoreUnavailableError);
    assert.equal((await inner.inspect('k'))?.holder, 'me', 'the store granted the lost attempt');
    const lease = await lh.tryAcquire('k', { ttl: 3000 });
    assert.ok(lease, 'the next attempt gets the granted lease back instead of "busy"');
    assert.equal(lease.token, 1, 'no new token');
    await lease.release();
    const other = await lh.tryAcquire('k', { ttl: 3000 });
    assert.ok(other && other.token === 2, 'a later attempt uses a fresh lease id');
    await other.release();
  });

  it('listeners that throw never break the lease', async () => {
    const { clock, lh, ttl } = setup();
    lh.on('renewed', () => {
      throw new Error('bad listener');
    });
    lh.on('acquired', () => {
      throw new Error('bad listener');
    });
    const lease = await lh.tryAcquire('k', { ttl });
    assert.ok(lease);
    await clock.advance(ttl * 2);
    assert.equal(lease.signal.aborted, false);
    await lease.release();
  });
});

describe('the events emitter', () => {
  type Events = { tick: [number]; error: [Error] };
  const emitter = () => {
    const thrown: string[] = [];
    const ee = new SafeEmitter<Events>((err, event) => thrown.push(`${event}: ${(err as Error).message}`));
    return { ee, thrown };
  };

  it('calls listeners in the order added, once ones only once, and sends their throws aside', () => {
    const { ee, thrown } = emitter();
    const seen: string[] = [];
    ee.on('tick', (n) => seen.push(`a${n}`));
    ee.once('tick', (n) => seen.push(`once${n}`));
    ee.on('tick', () => {
      throw new Error('bad listener');
    });
    ee.on('tick', (n) => seen.push(`b${n}`));
    ee.emit('tick', 1);
    ee.emit('tick', 2);
    assert.deepEqual(seen, ['a1', 'once1', 'b1', 'a2', 'b2']);
    assert.deepEqual(thrown, ['tick: bad listener', 'tick: bad listener']);
    assert.equal(ee.listenerCount('tick'), 3);
  });

  it('an emit calls the listeners present when it began, even if one removes or adds another', () => {
    const { ee } = emitter();
    const seen: string[] = [];
    const second = () => seen.push('second');
    ee.on('tick', () => {
      seen.push('first');
      ee.off('tick', second);
      ee.on('tick', () => seen.push('added'));
    });
    ee.on('tick', second);
    ee.emit('tick', 1);
    assert.deepEqual(seen, ['first', 'second']);
    seen.length = 0;
    ee.emit('tick', 2);
    assert.deepEqual(seen, ['first', 'added']);
  });

  it('off removes the listener added last of the same function, and a once listener before it runs', () => {
    const { ee } = emitter();
    let calls = 0;
    const count = () => calls++;
    ee.on('tick', count);
    ee.on('tick', count);
    ee.off('tick', count);
    ee.emit('tick', 1);
    assert.equal(calls, 1);
    ee.once('tick', count);
    ee.off('tick', count);
    ee.off('tick', count);
    ee.emit('tick', 2);
    assert.equal(calls, 1);
    assert.equal(ee.listenerCount('tick'), 0);
  });

  it('an error event with no listener is dropped, not thrown', () => {
    const { ee, thrown } = emitter();
    ee.emit('error', new Error('nobody listens'));
    assert.deepEqual(thrown, []);
    assert.throws(() => ee.on('tick', 'not a function' as never), /listener for "tick": expected a function/);
  });
});

describe('lease loss on a real store that stalls (real clock)', () => {
  it('signal aborts before the deadline when the folder store stops answering', async () => {
    unhandled = [];
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-stall-'));
    const store = new FaultyStore(new FileStore({ dir }));
    const lh = new Leasehold({ store });
    const ttl = 900;
    const lease = await lh.tryAcquire('stall', { ttl });
    assert.ok(lease);
    await new Promise((r) => setTimeout(r, ttl / 2));
    assert.equal(lease.signal.aborted, false, 'renewal worked while the store answered');
    store.modes.renew = 'stall';
    const t = await new Promise<{ at: number; deadline: number }>((resolve) =>
      lease.signal.addEventListener('abort', () => resolve({ at: performance.now(), deadline: lease.deadline })),
    );
    assert.ok(t.at < t.deadline, `aborted at ${t.at.toFixed(1)}, deadline ${t.deadline.toFixed(1)}`);
    const rec = await store.inner.inspect('stall');
    assert.equal(rec?.token, lease.token);
    assert.deepEqual(unhandled, []);
  });
});

describe('stop() and a release already in flight', () => {
  it('stop() waits for it, so a process that exits after stop() leaves no lease held (S7)', async () => {
    const inner = new MemoryStore();
    // A store whose release answers after 300 ms, as a loaded server would.
    const slow = through(inner, {
      release: async (ref, options) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return inner.release(ref, options);
      },
    });
    const lh = new Leasehold({ store: slow });
    const lease = await lh.tryAcquire('in-flight', { ttl: '5s' });
    assert.ok(lease);
    const first = lease.release(); // e.g. an `await using` block ending just before SIGTERM
    await lh.stop();
    assert.equal((await inner.inspect('in-flight'))?.holder, null, 'released before stop() resolved');
    assert.equal(await first, true);
    assert.equal(await lease.release(), false, 'a later release ends nothing');
  });
});
