import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeaseLostError, StoreUnavailableError } from '../../src/errors.js';
import { Leasehold } from '../../src/leasehold.js';
import type { LeaseStore } from '../../src/store.js';

/** A private database server a test may pause (black-hole), resume and restart. */
export interface DownServer {
  readonly url: string;
  pause(): Promise<void>;
  resume(): Promise<void>;
  restart(hard: boolean): Promise<void>;
}

const req = (key: string, holder = 'h', leaseId: string = randomUUID(), ttlMs = 5000) => ({
  key,
  holder,
  leaseId,
  ttlMs,
});

/**
 * The "store down" cases every SQL store must pass against a private server: a
 * black-holed server, a server restarting under load, and a holder losing its lease
 * while its renewals go unanswered (L4). `open` builds the store from the server's URL.
 */
export function sqlStoreDownTests(
  server: () => DownServer,
  open: (url: string, connectTimeoutMs?: number, maxConnections?: number) => LeaseStore,
): void {
  it('after a crash and restart of the server, a store whose connections were all idle works again (dead connections leave the pool)', async () => {
    const srv = server();
    const store = open(srv.url, 1000, 3);
    try {
      // Three connections, then idle.
      await Promise.all([0, 1, 2].map((i) => store.acquire(req(`idle-${i}-${randomUUID()}`))));
      await srv.restart(true);
      const t0 = performance.now();
      let ok = false;
      while (!ok && performance.now() - t0 < 10_000) {
        try {
          await store.acquire(req(`after-${randomUUID()}`), { signal: AbortSignal.timeout(1000) });
          ok = true;
        } catch (err) {
          if (!(err instanceof StoreUnavailableError)) throw err;
          await sleep(100);
        }
      }
      assert.ok(ok, 'the store answers again within 10 s of the restart');
      // And keeps answering, with more requests than the pool has connections.
      await Promise.all(
        Array.from({ length: 8 }, () =>
          store.acquire(req(`again-${randomUUID()}`), { signal: AbortSignal.timeout(3000) }),
        ),
      );
    } finally {
      await store.close();
    }
  });

  it('a black-holed server: StoreUnavailableError when the signal fires, for open and new connections; close() does not hang', async (t) => {
    const srv = server();
    const opened: LeaseStore[] = [];
    const make = (connectTimeoutMs: number) => {
      const s = open(srv.url, connectTimeoutMs);
      opened.push(s);
      return s;
    };
    t.after(() => Promise.all(opened.map((s) => s.close())));
    const store = make(1000);
    await store.now();
    const idle = make(1000);
    await idle.now();
    await srv.pause();
    try {
      for (const s of [store, make(1000)]) {
        const t0 = performance.now();
        await assert.rejects(s.acquire(req('bh'), { signal: AbortSignal.timeout(300) }), StoreUnavailableError);
        const took = performance.now() - t0;
        assert.ok(took < 800, `took ${Math.round(took)} ms`);
        const t1 = performance.now();
        await s.close();
        assert.ok(performance.now() - t1 < 1500, 'close() returns while the server is black-holed');
      }
      const t3 = performance.now();
      await idle.close();
      assert.ok(
        performance.now() - t3 < 1500,
        'close() with an idle connection returns while the server is black-holed',
      );
      // Without a signal, the connect timeout still bounds a new connection.
      const fresh = make(500);
      const t2 = performance.now();
      await assert.rejects(fresh.now(), StoreUnavailableError);
      assert.ok(performance.now() - t2 < 1500);
      await fresh.close();
    } finally {
      await srv.resume();
    }
  });

  it('requests in flight while the server restarts fail as StoreUnavailableError and never crash the process', async () => {
    const srv = server();
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const store = open(srv.url);
    let stop = false;
    const odd: unknown[] = [];
    const loops = Array.from({ length: 8 }, async (_, i) => {
      for (let n = 0; !stop; n++) {
        const leaseId = randomUUID();
        try {
          const r = await store.acquire(req(`restart-${i}`, 'h', leaseId, 1000), {
            signal: AbortSignal.timeout(40 + (n % 5) * 30),
          });
          if (r.acquired)
            await store.release({ key: `restart-${i}`, leaseId, token: r.token }, { signal: AbortSignal.timeout(200) });
        } catch (err) {
          if (!(err instanceof StoreUnavailableError)) odd.push(err);
          await sleep(5);
        }
      }
    });
    try {
      for (const hard of [true, false, true, false]) {
        await sleep(600);
        await srv.restart(hard);
      }
      await sleep(300);
    } finally {
      stop = true;
      await Promise.all(loops);
      await store.close();
      process.removeListener('uncaughtException', onUncaught);
    }
    assert.deepEqual(odd, [], 'every failure is a StoreUnavailableError');
    assert.deepEqual(uncaught, [], 'no uncaught exception');
  });

  it('L4: a holder whose renewals go unanswered loses its lease (signal aborted) before its deadline', async (t) => {
    const srv = server();
    const store = open(srv.url, 500);
    const lh = new Leasehold({ store, holder: 'doomed' });
    t.after(() => store.close());
    const lease = await lh.tryAcquire(`l4-${randomUUID()}`, { ttl: 3000 });
    assert.ok(lease);
    if (!lease) return;
    let abortedAt = 0;
    lease.signal.addEventListener('abort', () => {
      abortedAt = performance.now();
    });
    await srv.pause();
    try {
      const giveUp = performance.now() + 6000;
      while (!lease.signal.aborted && performance.now() < giveUp) await sleep(20);
      assert.equal(lease.signal.aborted, true, 'lease signal aborted');
      assert.ok(lease.signal.reason instanceof LeaseLostError, String(lease.signal.reason));
      assert.ok(abortedAt < lease.deadline, `aborted at ${abortedAt}, deadline ${lease.deadline}`);
    } finally {
      await srv.resume();
    }
  });
}
