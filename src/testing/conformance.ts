import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ConfigError, StoreUnavailableError } from '../errors.js';
import { Leasehold } from '../leasehold.js';
import type { LeaseStore } from '../store.js';

/** A test-registering function, as `it`/`test` from node:test, vitest, jest or mocha. */
export type TestFn = (name: string, fn: () => Promise<void>) => unknown;

/** How to run the suite against one store. */
export interface ConformanceOptions {
  /** Creates a store connected to a real, running server. Called once per test. */
  create: () => LeaseStore | Promise<LeaseStore>;
  /**
   * TTL the suite uses, in ms; must be within the store's limits. Tests that wait for
   * expiry take about this long.
   * @defaultValue 1000, or the store's `minTtlMs` when larger
   */
  ttlMs?: number;
  /**
   * Creates a store pointed at something unreachable (a closed port, a black-holed
   * address, a missing folder). When given, every operation must reject with
   * `StoreUnavailableError` within `unreachableWithinMs` (L10).
   */
  unreachable?: () => LeaseStore | Promise<LeaseStore>;
  /** Longest an operation on an unreachable store may take before rejecting. @defaultValue 5000 */
  unreachableWithinMs?: number;
  /**
   * Restarts the store's server (it must come back with whatever it persists). When
   * given, tokens must keep increasing across the restart (L2); when the store is
   * persistent, state must survive it too.
   */
  restart?: () => Promise<void>;
  /** Key prefix for this run, so runs never collide. @defaultValue random */
  prefix?: string;
}

/** Registers one test with `it` per promise of the contract (L1–L10, B1). Runner-agnostic. */
export function runConformance(it: TestFn, opts: ConformanceOptions): void {
  const prefix = opts.prefix ?? `conf-${randomUUID().slice(0, 8)}-`;
  const k = (name: string) => `${prefix}${name}-${randomUUID().slice(0, 6)}`;
  const ttlFor = (s: LeaseStore) => Math.max(opts.ttlMs ?? 1000, s.capabilities.minTtlMs ?? 1);
  const req = (key: string, holder = 'h1', leaseId: string = randomUUID(), ttlMs = 1000) => ({ key, holder, leaseId, ttlMs });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  async function withStore(fn: (s: LeaseStore, ttl: number) => Promise<void>): Promise<void> {
    const s = await opts.create();
    try {
      await fn(s, ttlFor(s));
    } finally {
      await s.close();
    }
  }

  it('L1: of many concurrent contenders exactly one wins', () =>
    withStore(async (s, ttl) => {
      const key = k('race');
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) => s.acquire(req(key, `c${i}`, randomUUID(), ttl))));
      const winners = results.filter((r) => r.acquired);
      assert.equal(winners.length, 1, `winners: ${winners.length}`);
      const losers = results.filter((r) => !r.acquired);
      for (const l of losers) {
        if (!l.acquired && l.holder !== undefined) assert.match(l.holder, /^c\d+$/);
      }
    }));

  it('L1: a held key is busy for others and names its holder', () =>
    withStore(async (s, ttl) => {
      const key = k('busy');
      const a = await s.acquire(req(key, 'alice', randomUUID(), ttl));
      assert.equal(a.acquired, true);
      const b = await s.acquire(req(key, 'bob', randomUUID(), ttl));
      assert.equal(b.acquired, false);
      if (!b.acquired) {
        if (b.holder !== undefined) assert.equal(b.holder, 'alice');
        if (b.expiresInMs !== undefined) assert.ok(b.expiresInMs > 0 && b.expiresInMs <= ttl + 2500, `expiresInMs ${b.expiresInMs}`);
      }
    }));

  it('L2: tokens are safe integers that strictly increase across release and break', () =>
    withStore(async (s, ttl) => {
      const key = k('tokens');
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        const id = randomUUID();
        const a = await s.acquire(req(key, 'h', id, ttl));
        assert.ok(a.acquired);
        if (!a.acquired) return;
        assert.ok(Number.isSafeInteger(a.token) && a.token > 0, `token ${a.token}`);
        seen.push(a.token);
        assert.equal(await s.release({ key, leaseId: id, token: a.token }), true);
      }
      const id = randomUUID();
      const a = await s.acquire(req(key, 'h', id, ttl));
      assert.ok(a.acquired);
      if (!a.acquired) return;
      seen.push(a.token);
      assert.equal(await s.forceRelease(key), true, 'forceRelease ends a held lease');
      assert.equal(await s.forceRelease(key), false, 'forceRelease of a free key reports false');
      const b = await s.acquire(req(key, 'h2', randomUUID(), ttl));
      assert.ok(b.acquired);
      if (b.acquired) seen.push(b.token);
      for (let i = 1; i < seen.length; i++) assert.ok((seen[i] as number) > (seen[i - 1] as number), `tokens ${seen.join(',')}`);
      const rec = await s.inspect(key);
      assert.equal(rec?.token, seen[seen.length - 1]);
    }));

  it('L2/L9: renewal keeps the token; a retried acquire with the same leaseId gets its own lease back', () =>
    withStore(async (s, ttl) => {
      const key = k('retry');
      const id = randomUUID();
      const a = await s.acquire(req(key, 'h', id, ttl));
      assert.ok(a.acquired);
      if (!a.acquired) return;
      assert.equal(await s.renew({ key, leaseId: id, token: a.token, ttlMs: ttl }), true);
      const again = await s.acquire(req(key, 'h', id, ttl));
      assert.ok(again.acquired, 'retry with the same leaseId must not be busy');
      if (again.acquired) assert.equal(again.token, a.token, 'a retry must not issue a new token');
      const rec = await s.inspect(key);
      assert.equal(rec?.token, a.token);
      assert.equal(rec?.holder, 'h');
    }));

  it('L6/L7: renew, release and fenced writes by a non-holder fail and change nothing; release is idempotent', () =>
    withStore(async (s, ttl) => {
      const key = k('owner');
      const id = randomUUID();
      const a = await s.acquire(req(key, 'owner', id, ttl));
      assert.ok(a.acquired);
      if (!a.acquired) return;
      assert.equal(await s.writeState({ key, leaseId: id, token: a.token, state: { v: 1 } }), true);
      const wrongId = { key, leaseId: randomUUID(), token: a.token };
      const wrongToken = { key, leaseId: id, token: a.token + 1 };
      for (const ref of [wrongId, wrongToken]) {
        assert.equal(await s.renew({ ...ref, ttlMs: ttl }), false);
        assert.equal(await s.writeState({ ...ref, state: { v: 666 } }), false);
        assert.equal(await s.release(ref), false);
      }
      const rec = await s.inspect(key);
      assert.equal(rec?.holder, 'owner');
      assert.equal(rec?.token, a.token);
      assert.deepEqual(rec?.state, { v: 1 });
      assert.equal(await s.release({ key, leaseId: id, token: a.token }), true);
      assert.equal(await s.release({ key, leaseId: id, token: a.token }), false, 'second release reports false');
      assert.equal(await s.renew({ key, leaseId: id, token: a.token, ttlMs: ttl }), false, 'renew after release fails');
      assert.equal(await s.writeState({ key, leaseId: id, token: a.token, state: { v: 2 } }), false, 'write after release fails');
      const after = await s.inspect(key);
      assert.equal(after?.holder, null);
      assert.equal(after?.expiresInMs, null);
      assert.deepEqual(after?.state, { v: 1 }, 'state outlives the lease');
    }));

  it('L8: fenced state is written only by the holder, read back, and returned on acquire', () =>
    withStore(async (s, ttl) => {
      const key = k('state');
      assert.equal(await s.inspect(key), null, 'unknown key inspects as null');
      const id = randomUUID();
      const a = await s.acquire(req(key, 'h', id, ttl));
      assert.ok(a.acquired);
      if (!a.acquired) return;
      if (s.capabilities.stateOnAcquire) assert.equal(a.state ?? null, null);
      const state = { lastSlot: '2026-11-23T10:05:00.000Z', runs: [{ token: a.token, outcome: 'ok', note: 'ünïcödé "quoted"' }] };
      assert.equal(await s.writeState({ key, leaseId: id, token: a.token, state }), true);
      assert.deepEqual((await s.inspect(key))?.state, state);
      assert.equal(await s.release({ key, leaseId: id, token: a.token }), true);
      const b = await s.acquire(req(key, 'h2', randomUUID(), ttl));
      assert.ok(b.acquired);
      if (b.acquired && s.capabilities.stateOnAcquire) assert.deepEqual(b.state, state);
      await assert.rejects(
        s.writeState({ key, leaseId: id, token: a.token, state: 'x'.repeat(70 * 1024) }),
        (e: unknown) => e instanceof ConfigError,
        'oversized state is a ConfigError',
      );
    }));

  it('L1/L2/L6/L8: after expiry another holder takes over with a higher token; the old holder can no longer act', () =>
    withStore(async (s, ttl) => {
      const key = k('expiry');
      const kept = k('kept');
      const idA = randomUUID();
      const a = await s.acquire(req(key, 'a', idA, ttl));
      const idK = randomUUID();
      const ka = await s.acquire(req(kept, 'a', idK, ttl));
      assert.ok(a.acquired && ka.acquired);
      if (!a.acquired || !ka.acquired) return;
      assert.equal(await s.writeState({ key: kept, leaseId: idK, token: ka.token, state: { survives: true } }), true);
      const busy = await s.acquire(req(key, 'b', randomUUID(), ttl));
      assert.equal(busy.acquired, false);
      await sleep(ttl + 2200); // TTL plus the coarsest store clock granularity
      const idB = randomUUID();
      const b = await s.acquire(req(key, 'b', idB, ttl));
      assert.ok(b.acquired, 'expired lease must be acquirable');
      if (!b.acquired) return;
      assert.ok(b.token > a.token, `token ${b.token} after ${a.token}`);
      assert.equal(await s.renew({ key, leaseId: idA, token: a.token, ttlMs: ttl }), false, 'old holder cannot renew');
      assert.equal(await s.writeState({ key, leaseId: idA, token: a.token, state: { stale: true } }), false, 'old holder cannot write');
      assert.equal(await s.release({ key, leaseId: idA, token: a.token }), false, 'old holder cannot release');
      const rec = await s.inspect(key);
      assert.equal(rec?.holder, 'b');
      assert.equal(rec?.token, b.token);
      assert.notDeepEqual(rec?.state, { stale: true });
      const keptRec = await s.inspect(kept);
      assert.equal(keptRec?.holder, null, 'expired lease shows as free');
      assert.deepEqual(keptRec?.state, { survives: true }, 'state survives expiry');
    }));

  it('L5: a Leasehold lease renews itself past its TTL and keeps others out', () =>
    withStore(async (s, ttl) => {
      const key = k('renewing');
      const a = new Leasehold({ store: s, holder: 'renewer' });
      const b = new Leasehold({ store: s, holder: 'other' });
      const lease = await a.tryAcquire(key, { ttl });
      assert.ok(lease);
      if (!lease) return;
      let renewed = 0;
      a.on('renewed', () => renewed++);
      await sleep(ttl * 2.2);
      assert.equal(lease.signal.aborted, false, `lease lost: ${String(lease.signal.reason)}`);
      assert.ok(renewed >= 2, `renewed ${renewed} times`);
      assert.equal(await b.tryAcquire(key, { ttl }), null);
      assert.equal(await lease.release(), true);
      const next = await b.tryAcquire(key, { ttl });
      assert.ok(next && next.token > lease.token);
      await next?.release();
    }));

  it('list and inspect: keys with any characters are distinct and listed', () =>
    withStore(async (s, ttl) => {
      const base = k('names');
      const names = [`${base}/a b`, `${base}/A B`, `${base}/ü:*?"<>|`, `${base}/..`, `${base}/%2F`];
      for (const name of names) {
        const r = await s.acquire(req(name, 'h', randomUUID(), ttl));
        assert.ok(r.acquired, `acquire ${JSON.stringify(name)}`);
      }
      const listed = await s.list({ prefix: base });
      assert.deepEqual([...listed].sort(), [...names].sort());
      for (const name of names) assert.equal((await s.inspect(name))?.holder, 'h');
      const all = await s.list();
      for (const name of names) assert.ok(all.includes(name));
    }));

  it('store clock: now() is the store time in epoch ms', () =>
    withStore(async (s) => {
      const t = await s.now();
      assert.ok(Number.isFinite(t));
      assert.ok(Math.abs(t - Date.now()) < 60_000, `store time ${t} vs host ${Date.now()}`);
    }));

  it('B1: invalid TTLs and keys are ConfigErrors naming the value', () =>
    withStore(async (s) => {
      const lh = new Leasehold({ store: s });
      for (const bad of [0, '-1s', 'abc', Number.NaN]) {
        await assert.rejects(lh.tryAcquire(k('b1'), { ttl: bad }), (e: unknown) => e instanceof ConfigError && e.message.includes(String(bad === 0 ? 0 : bad)));
      }
      const { minTtlMs, maxTtlMs } = s.capabilities;
      if (minTtlMs && minTtlMs > 1) await assert.rejects(lh.tryAcquire(k('b1'), { ttl: minTtlMs - 1 }), ConfigError);
      if (maxTtlMs && Number.isFinite(maxTtlMs)) await assert.rejects(lh.tryAcquire(k('b1'), { ttl: maxTtlMs + 1000 }), ConfigError);
      await assert.rejects(lh.tryAcquire('', { ttl: 1000 }), ConfigError);
    }));

  if (opts.restart) {
    const restart = opts.restart;
    it('L2: tokens keep increasing across a restart of the store', async () => {
      const key = k('restart');
      let before = 0;
      await withStore(async (s, ttl) => {
        for (let i = 0; i < 3; i++) {
          const id = randomUUID();
          const a = await s.acquire(req(key, 'h', id, ttl));
          assert.ok(a.acquired);
          if (!a.acquired) return;
          before = a.token;
          if (i === 2) assert.equal(await s.writeState({ key, leaseId: id, token: a.token, state: { before: true } }), true);
          await s.release({ key, leaseId: id, token: a.token });
        }
      });
      await restart();
      await withStore(async (s, ttl) => {
        let a: Awaited<ReturnType<LeaseStore['acquire']>> | undefined;
        for (let i = 0; i < 50; i++) {
          try {
            a = await s.acquire(req(key, 'h', randomUUID(), ttl));
            break;
          } catch (err) {
            if (!(err instanceof StoreUnavailableError) || i === 49) throw err;
            await sleep(200);
          }
        }
        assert.ok(a?.acquired);
        if (a?.acquired) assert.ok(a.token > before, `token ${a.token} after restart, ${before} before`);
        if (s.capabilities.persistent) assert.deepEqual((await s.inspect(key))?.state, { before: true });
      });
    });
  }

  if (opts.unreachable) {
    const unreachable = opts.unreachable;
    const within = opts.unreachableWithinMs ?? 5000;
    it('L10: an unreachable store rejects every operation with StoreUnavailableError, quickly', async () => {
      const s = await unreachable();
      try {
        const key = k('down');
        const ref = { key, leaseId: randomUUID(), token: 1 };
        const ttl = ttlFor(s);
        const ops: [string, () => Promise<unknown>][] = [
          ['acquire', () => s.acquire(req(key, 'h', randomUUID(), ttl), { signal: AbortSignal.timeout(within) })],
          ['renew', () => s.renew({ ...ref, ttlMs: ttl }, { signal: AbortSignal.timeout(within) })],
          ['release', () => s.release(ref, { signal: AbortSignal.timeout(within) })],
          ['writeState', () => s.writeState({ ...ref, state: 1 }, { signal: AbortSignal.timeout(within) })],
          ['inspect', () => s.inspect(key, { signal: AbortSignal.timeout(within) })],
        ];
        for (const [name, op] of ops) {
          const t0 = performance.now();
          await assert.rejects(op(), (e: unknown) => e instanceof StoreUnavailableError, `${name} must reject with StoreUnavailableError`);
          const took = performance.now() - t0;
          assert.ok(took < within + 1000, `${name} took ${Math.round(took)}ms`);
        }
        const lh = new Leasehold({ store: s });
        await assert.rejects(lh.tryAcquire(key, { ttl }), StoreUnavailableError);
      } finally {
        await s.close().catch(() => {});
      }
    });
  }
}
