import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { ConfigError, LeaseLostError, StoreUnavailableError } from '../src/errors.js';
import { Leasehold } from '../src/leasehold.js';
import { openStore } from '../src/open.js';
import { RedisStore, parseRedisUrl } from '../src/stores/redis/index.js';
import { runConformance } from '../src/testing/index.js';
import { freePort } from './helpers/ports.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { oneLineUnavailable } from './helpers/assertions.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const prefix = () => `lh-test-${randomUUID().slice(0, 8)}:`;
const req = (key: string, holder = 'h', leaseId: string = randomUUID(), ttlMs = 5000) => ({
  key,
  holder,
  leaseId,
  ttlMs,
});

let server: RedisServer;
before(async () => {
  server = await startRedisServer();
});
after(async () => {
  await server?.stop();
});

describe('round trips', () => {
  it('busy check 1, acquire 1, renew 1, release 1, fused acquire and release 1, inspectAll 1 (MONITOR, private server)', async (t) => {
    const srv = await startRedisServer();
    const monConn = new Redis(srv.url, { lazyConnect: true });
    const marker = new Redis(srv.url);
    const store = new RedisStore({ url: srv.url, prefix: prefix() });
    let monitor: Redis | undefined;
    try {
      monitor = await monConn.monitor();
      const seen: { source: string; args: string[] }[] = [];
      monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ source, args }));
      let markerSource = '';
      const mark = async (): Promise<number> => {
        const tag = `mark-${randomUUID()}`;
        await marker.echo(tag);
        for (let i = 0; i < 400; i++) {
          const idx = seen.findIndex((e) => e.args[1] === tag);
          if (idx >= 0) {
            markerSource = (seen[idx] as { source: string }).source;
            return idx;
          }
          await sleep(5);
        }
        throw new Error('MONITOR did not show the marker');
      };
      const count = async <T>(fn: () => Promise<T>): Promise<{ n: number; cmds: string[]; result: T }> => {
        const from = await mark();
        const result = await fn();
        const to = await mark();
        const cmds = seen
          .slice(from + 1, to)
          .filter((e) => e.source !== 'lua' && e.source !== markerSource)
          .map((e) => (e.args[0] ?? '').toLowerCase());
        return { n: cmds.length, cmds, result };
      };

      await store.now(); // opens the connection (connection set-up is not per operation)
      // First use of each script after a server start: EVALSHA answers NOSCRIPT, then EVAL.
      const warm = randomUUID();
      const coldCounts: Record<string, string> = {};
      const w = await count(() => store.acquire(req('warm', 'w', warm)));
      coldCounts.acquire = w.cmds.join('+');
      const wt = w.result.acquired ? w.result.token : 0;
      coldCounts.renew = (
        await count(() => store.renew({ key: 'warm', leaseId: warm, token: wt, ttlMs: 5000 }))
      ).cmds.join('+');
      coldCounts.writeState = (
        await count(() => store.writeState({ key: 'warm', leaseId: warm, token: wt, state: 1 }))
      ).cmds.join('+');
      coldCounts.inspect = (await count(() => store.inspect('warm'))).cmds.join('+');
      coldCounts.inspectAll = (await count(() => store.inspectAll({ prefix: 'warm' }))).cmds.join('+');
      coldCounts.release = (await count(() => store.release({ key: 'warm', leaseId: warm, token: wt }))).cmds.join('+');
      coldCounts.forceRelease = (await count(() => store.forceRelease('warm'))).cmds.join('+');
      t.diagnostic(`first use after server start: ${JSON.stringify(coldCounts)}`);
      for (const [name, cmds] of Object.entries(coldCounts)) assert.equal(cmds, 'evalsha+eval', name);

      const key = 'rt-key';
      const id = randomUUID();
      const first = await count(() => store.acquire(req(key, 'a', id)));
      assert.ok(first.result.acquired);
      const token = first.result.acquired ? first.result.token : 0;
      const ref = { key, leaseId: id, token };
      const busy = await count(() => store.acquire(req(key, 'b')));
      assert.equal(busy.result.acquired, false);
      const renew = await count(() => store.renew({ ...ref, ttlMs: 5000 }));
      assert.equal(renew.result, true);
      const write = await count(() => store.writeState({ ...ref, state: { n: 1 } }));
      const inspect = await count(() => store.inspect(key));
      const release = await count(() => store.release(ref));
      assert.equal(release.result, true);
      const again = await count(() => store.acquire(req(key, 'c')));
      assert.ok(again.result.acquired);
      const force = await count(() => store.forceRelease(key));
      const now = await count(() => store.now());
      // The fused pair a scheduled slot costs: acquire with the start record, release with the end record.
      const slotId = randomUUID();
      const fusedAcquire = await count(() => store.acquire({ ...req('slot', 'a', slotId), mark: { slot: 1 } }));
      assert.ok(fusedAcquire.result.acquired);
      const slotToken = fusedAcquire.result.acquired ? fusedAcquire.result.token : 0;
      const fusedRelease = await count(() =>
        store.release({ key: 'slot', leaseId: slotId, token: slotToken, state: { lastSlot: 1 } }),
      );
      assert.equal(fusedRelease.result, true);
      const all = await count(() => store.inspectAll({ prefix: '' }));
      assert.deepEqual(all.result.map((record) => record.key).sort(), [key, 'slot', 'warm'].sort());

      const counts = {
        'busy check': busy.n,
        acquire: first.n,
        'acquire after release': again.n,
        renew: renew.n,
        release: release.n,
        writeState: write.n,
        inspect: inspect.n,
        forceRelease: force.n,
        now: now.n,
        'acquire with mark': fusedAcquire.n,
        'release with state': fusedRelease.n,
        inspectAll: all.n,
      };
      t.diagnostic(`round trips: ${JSON.stringify(counts)}`);
      for (const [name, c] of [
        ['busy', busy],
        ['acquire', first],
        ['acquire after release', again],
        ['renew', renew],
        ['release', release],
        ['writeState', write],
        ['inspect', inspect],
        ['forceRelease', force],
        ['acquire with mark', fusedAcquire],
        ['release with state', fusedRelease],
        ['inspectAll', all],
      ] as const) {
        assert.deepEqual(c.cmds, ['evalsha'], `${name}: ${c.cmds.join(',')}`);
      }
      assert.deepEqual(now.cmds, ['time']);
    } finally {
      await store.close();
      monitor?.disconnect();
      monConn.disconnect();
      marker.disconnect();
      await srv.stop();
    }
  });
});

describe('tokens and layout', () => {
  it('token counter and state live in a hash without expiry; the lease hash expires by PX', async () => {
    const p = prefix();
    const store = new RedisStore({ url: server.url, prefix: p });
    const raw = new Redis(server.url);
    try {
      const key = 'a{b}c%d';
      const id = randomUUID();
      const a = await store.acquire(req(key, 'h', id, 3000));
      assert.ok(a.acquired);
      if (!a.acquired) return;
      assert.equal(await store.writeState({ key, leaseId: id, token: a.token, state: { s: 1 } }), true);
      const base = `${p}{a%7Bb%7Dc%25d}`;
      assert.equal(await raw.pttl(base), -1, 'state hash never expires');
      const pttl = await raw.pttl(`${base}:lease`);
      assert.ok(pttl > 2000 && pttl <= 3000, `lease PTTL ${pttl}`);
      assert.equal(await raw.hget(base, 'token'), String(a.token));
      assert.deepEqual(await store.list({ prefix: 'a{' }), [key]);
      assert.equal(await store.release({ key, leaseId: id, token: a.token }), true);
      assert.equal(await raw.exists(`${base}:lease`), 0);
      assert.equal(await raw.hget(base, 'token'), String(a.token), 'counter kept after release');
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  it('the mark is its own field of the state hash, text as written; a record from before marks reads as null', async () => {
    const p = prefix();
    const store = new RedisStore({ url: server.url, prefix: p });
    const raw = new Redis(server.url);
    try {
      // A 16-digit token inside the mark: kept as written (never parsed by Lua's cjson).
      const mark = { slot: '2026-11-23T10:05:00.000Z', token: 1795461306570222 };
      const id = randomUUID();
      const granted = await store.acquire({ ...req('m', 'h', id), mark });
      assert.ok(granted.acquired);
      const base = `${p}{m}`;
      assert.equal(await raw.hget(base, 'mark'), JSON.stringify(mark));
      assert.deepEqual((await store.inspect('m'))?.mark, mark);
      const token = granted.acquired ? granted.token : 0;
      assert.equal(await store.release({ key: 'm', leaseId: id, token, state: { done: 1 } }), true);
      assert.equal(await raw.hexists(base, 'mark'), 0, 'the fused release deleted the field');

      // What the previous version wrote: token and state, no mark field.
      const old = `${p}{old}`;
      await raw.hset(old, 'token', '1795461306570000', 'state', '{"v":1}');
      const record = await store.inspect('old');
      assert.deepEqual(record && { token: record.token, state: record.state, mark: record.mark }, {
        token: 1795461306570000,
        state: { v: 1 },
        mark: null,
      });
      const next = await store.acquire({ ...req('old', 'h'), mark: { slot: 2 } });
      assert.ok(next.acquired && next.token > 1795461306570000);
      assert.equal(next.acquired && next.mark, null, 'no earlier mark');
      assert.deepEqual(next.acquired && next.state, { v: 1 });
      assert.equal(await raw.hget(old, 'mark'), '{"slot":2}');
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  it('a key with a lone surrogate is a ConfigError (Redis keys are UTF-8 bytes)', async () => {
    const store = new RedisStore({ url: server.url, prefix: prefix() });
    try {
      await assert.rejects(store.acquire(req('a\uD83D')), ConfigError);
      assert.ok((await store.acquire(req('a\uD83D\uDE00'))).acquired, 'a valid pair is fine');
    } finally {
      await store.close();
    }
  });

  it('a new token is max(last + 1, server time in µs): above the clock after data loss, above the counter otherwise', async () => {
    const p = prefix();
    const store = new RedisStore({ url: server.url, prefix: p });
    const raw = new Redis(server.url);
    try {
      const t0 = await store.now();
      const a = await store.acquire(req('clock'));
      assert.ok(a.acquired);
      if (!a.acquired) return;
      assert.ok(a.token >= t0 * 1000 && a.token <= (t0 + 60_000) * 1000, `token ${a.token} vs server µs ${t0 * 1000}`);
      assert.ok(Number.isSafeInteger(a.token));
      // A counter ahead of the clock (e.g. the clock was stepped back) still wins.
      const ahead = a.token + 10_000_000_000;
      await raw.hset(`${p}{clock-ahead}`, 'token', String(ahead));
      const b = await store.acquire(req('clock-ahead'));
      assert.ok(b.acquired && b.token === ahead + 1, `token ${b.acquired ? b.token : '-'}`);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  it('tokens keep increasing across two restarts that lose all data', async () => {
    const srv = await startRedisServer();
    const store = new RedisStore({ url: srv.url, prefix: prefix() });
    try {
      const tokens: number[] = [];
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 3; i++) {
          const id = randomUUID();
          let a: Awaited<ReturnType<RedisStore['acquire']>> | undefined;
          for (let attempt = 0; attempt < 50 && !a; attempt++) {
            a = await store.acquire(req('k', 'h', id)).catch(async (e: unknown) => {
              if (!(e instanceof StoreUnavailableError)) throw e;
              await sleep(100);
              return undefined;
            });
          }
          assert.ok(a?.acquired);
          if (!a?.acquired) return;
          tokens.push(a.token);
          assert.equal(await store.release({ key: 'k', leaseId: id, token: a.token }), true);
        }
        if (round < 2) {
          await srv.restart();
          assert.equal(await store.inspect('k').catch(() => store.inspect('k')), null, 'the restart lost the data');
        }
      }
      for (let i = 1; i < tokens.length; i++)
        assert.ok((tokens[i] as number) > (tokens[i - 1] as number), `tokens ${tokens.join(',')}`);
    } finally {
      await store.close();
      await srv.stop();
    }
  });
});

describe('writes', () => {
  it('a burst of requests leaves in a few writes; a few concurrent callers are never held', async () => {
    const client = new Redis(server.url);
    const store = new RedisStore({ client, prefix: prefix() });
    try {
      await store.now(); // connected, ready
      const stream = (client as unknown as { stream: Writable & { _write: unknown; _writev: unknown } }).stream;
      let writes = 0;
      for (const method of ['_write', '_writev'] as const) {
        const original = stream[method] as (...args: unknown[]) => unknown;
        stream[method] = function (this: unknown, ...args: unknown[]) {
          writes++;
          return original.apply(this, args);
        };
      }
      // Eight callers: each request is written as it is sent.
      const few = Array.from({ length: 8 }, (_, i) => store.acquire(req(`few-${i}`)));
      assert.equal(stream.writableCorked, 0, 'eight requests in flight: not held');
      assert.ok((await Promise.all(few)).every((r) => r.acquired));
      assert.ok(writes >= 8, `${writes} writes for 8 requests`);

      // A burst (jobs due at one instant): from the 33rd request in flight on, the writes are
      // held until the end of the event loop's turn and leave together.
      writes = 0;
      const many = Array.from({ length: 500 }, (_, i) => store.acquire(req(`many-${i}`)));
      assert.equal(stream.writableCorked, 1, 'held while 500 requests are in flight');
      const own = client.ping(); // your own command on the client joins the write, in order
      const granted = await Promise.all(many);
      assert.equal(await own, 'PONG');
      assert.equal(stream.writableCorked, 0, 'released at the end of the turn');
      assert.ok(granted.every((r) => r.acquired));
      assert.ok(writes <= 40, `500 requests left in ${writes} writes (32 alone, then batched)`);
    } finally {
      await store.close();
      client.disconnect();
    }
  });
});

describe('the index of keys (inspectAll, list)', () => {
  /** Calls of `command` the server has run (inside scripts too), from `INFO commandstats`. */
  const calls = async (raw: Redis, command: string): Promise<number> => {
    const info = await raw.info('commandstats');
    const m = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info);
    return m ? Number(m[1]) : 0;
  };

  it('one request and no SCAN once the index is complete, whatever else the database holds', async () => {
    const srv = await startRedisServer();
    const raw = new Redis(srv.url);
    const p = prefix();
    const store = new RedisStore({ url: srv.url, prefix: p });
    try {
      for (const key of ['hosts/a', 'hosts/b', 'jobs/x']) assert.ok((await store.acquire(req(key))).acquired);
      // 5,000 keys that are not the store's: a shared database.
      const filler: string[] = [];
      for (let i = 0; i < 5000; i++) filler.push(`other:${i}`, 'v');
      await raw.mset(...filler);

      // The first read does not know the index is complete: it walks the database once.
      const scans0 = await calls(raw, 'scan');
      const first = await store.inspectAll({ prefix: 'hosts/' });
      const scanned = (await calls(raw, 'scan')) - scans0;
      assert.deepEqual(first.map((r) => r.key).sort(), ['hosts/a', 'hosts/b']);
      assert.ok(scanned >= 5, `the completing read walked the database: ${scanned} SCAN pages`);
      const pttl = await raw.pttl(`${p}{}index:scanned`);
      assert.ok(pttl > 590_000 && pttl <= 600_000, `completeness mark PTTL ${pttl}`);

      // Every later read: one script, no SCAN.
      const [scans1, evals1] = [await calls(raw, 'scan'), await calls(raw, 'evalsha')];
      const again = await store.inspectAll({ prefix: 'hosts/' });
      assert.equal((await calls(raw, 'scan')) - scans1, 0, 'no SCAN');
      assert.equal((await calls(raw, 'evalsha')) - evals1, 1, 'one request');
      assert.deepEqual(again.map((r) => r.key).sort(), ['hosts/a', 'hosts/b']);
      assert.ok(again.every((r) => r.holder === 'h' && r.expiresInMs !== null));
      assert.deepEqual((await store.list()).sort(), ['hosts/a', 'hosts/b', 'jobs/x']);
      assert.deepEqual(await store.list({ prefix: 'jobs/' }), ['jobs/x']);
      assert.deepEqual(await store.inspectAll({ prefix: 'none/' }), []);
      // A key taken after the index was complete joins it with its first grant.
      assert.ok((await store.acquire(req('hosts/c'))).acquired);
      const scans2 = await calls(raw, 'scan');
      assert.deepEqual((await store.list({ prefix: 'hosts/' })).sort(), ['hosts/a', 'hosts/b', 'hosts/c']);
      assert.equal((await calls(raw, 'scan')) - scans2, 0);
    } finally {
      raw.disconnect();
      await store.close();
      await srv.stop();
    }
  });

  it('pages through the index scanCount keys at a time', async () => {
    const p = prefix();
    const store = new RedisStore({ url: server.url, prefix: p, scanCount: 3 });
    try {
      const keys = Array.from({ length: 10 }, (_, i) => `k/${String(i).padStart(2, '0')}`);
      for (const key of keys) assert.ok((await store.acquire(req(key))).acquired);
      assert.ok((await store.acquire(req('l/other'))).acquired);
      assert.deepEqual((await store.list({ prefix: 'k/' })).sort(), keys, 'the completing scan');
      assert.deepEqual((await store.list({ prefix: 'k/' })).sort(), keys, 'from the index, 4 pages');
      assert.deepEqual((await store.list({ prefix: 'k/0' })).sort(), keys.slice(0, 10));
      assert.deepEqual(await store.list({ prefix: 'k/05' }), ['k/05']);
    } finally {
      await store.close();
    }
  });

  it('heals: keys written without the index are found by the next scan; deleted keys leave it', async () => {
    const p = prefix();
    const store = new RedisStore({ url: server.url, prefix: p });
    const raw = new Redis(server.url);
    try {
      assert.ok((await store.acquire(req('a'))).acquired);
      // What a version without the index left: state hashes, no index, no mark.
      await raw.hset(`${p}{old-1}`, 'token', '7');
      await raw.hset(`${p}{old-2}`, 'token', '8');
      await raw.del(`${p}{}index`);
      assert.deepEqual((await store.list()).sort(), ['a', 'old-1', 'old-2'], 'found by the scan');
      assert.deepEqual((await raw.zrange(`${p}{}index`, '0', '-1')).sort(), [`${p}{a}`, `${p}{old-1}`, `${p}{old-2}`]);

      // Written by an old version after the index was complete: not seen until the mark expires.
      await raw.hset(`${p}{old-3}`, 'token', '9');
      assert.deepEqual((await store.list()).sort(), ['a', 'old-1', 'old-2']);
      await raw.del(`${p}{}index:scanned`); // what its expiry does
      assert.deepEqual((await store.list()).sort(), ['a', 'old-1', 'old-2', 'old-3']);

      // A key you delete for good (docs: retiring a key) leaves the index on the next read.
      await raw.del(`${p}{old-1}`);
      assert.deepEqual((await store.list()).sort(), ['a', 'old-2', 'old-3']);
      assert.equal(await raw.zscore(`${p}{}index`, `${p}{old-1}`), null);
      // Taken again later, it joins the index again (a new token, above every earlier one).
      const back = await store.acquire(req('old-1'));
      assert.ok(back.acquired);
      assert.deepEqual((await store.list()).sort(), ['a', 'old-1', 'old-2', 'old-3']);
      // The index and its mark are not lease keys: they never show in a listing.
      assert.ok(!(await store.list()).some((key) => key.includes('index')));
    } finally {
      raw.disconnect();
      await store.close();
    }
  });
});

describe('clients and URLs', () => {
  it('a client you pass is never closed; the store opened from a URL is', async () => {
    const client = new Redis(server.url);
    const store = new RedisStore({ client, prefix: prefix() });
    const a = await store.acquire(req('mine'));
    assert.ok(a.acquired);
    await store.close();
    assert.equal(await client.ping(), 'PONG', 'user client still open after close()');
    await client.quit();

    const owned = await openStore(server.url, { prefix: prefix() });
    await owned.now();
    await owned.close();
    await assert.rejects(owned.now(), StoreUnavailableError);
  });

  it('openStore knows redis: and rediss:, and URLs are checked at open time (ConfigError, password masked)', async () => {
    for (const bad of [
      'redis://:hunter2secret@localhost:notaport',
      'redis://:hunter2secret@localhost/abc',
      'redis://:hunter2secret@localhost/0?tls=1',
      'redis://',
    ]) {
      await assert.rejects(openStore(bad), (e: unknown) => {
        assert.ok(e instanceof ConfigError, `${bad}: ${String(e)}`);
        assert.ok(!e.message.includes('hunter2secret'), e.message);
        return true;
      });
    }
    assert.throws(
      () => new RedisStore({ url: server.url, prefix: 'a{b}' }),
      (e: unknown) => e instanceof ConfigError && e.message.includes('a{b}'),
    );
    assert.throws(
      () => new RedisStore({ url: server.url, requestTimeoutMs: -1 }),
      (e: unknown) => e instanceof ConfigError && e.message.includes('requestTimeoutMs'),
    );
    // Unknown options are refused (the old name of the request timeout included), typos with a suggestion.
    assert.throws(
      () => new RedisStore({ url: server.url, timeoutMs: 100 } as never),
      (e: unknown) => e instanceof ConfigError && e.message.includes('"timeoutMs"'),
    );
    assert.throws(
      () => new RedisStore({ url: server.url, prefx: 'a:' } as never),
      (e: unknown) => e instanceof ConfigError && e.message.includes('did you mean "prefix"'),
    );
    assert.throws(() => new RedisStore({} as never), ConfigError);
    const u = parseRedisUrl('rediss://user:p%40ss@[::1]:6380/3');
    assert.deepEqual(u, {
      rawPassword: 'p%40ss',
      host: '::1',
      port: 6380,
      username: 'user',
      password: 'p@ss',
      db: 3,
      tls: true,
    });
    const enc = new RedisStore({ url: 'redis://:p%40ss%2Fw0rd@127.0.0.1:1', prefix: prefix() });
    await assert.rejects(enc.now(), (e: unknown) => {
      oneLineUnavailable('p@ss/w0rd')(e);
      assert.ok(!(e as Error).message.includes('p%40ss%2Fw0rd'), (e as Error).message);
      return true;
    });
    await enc.close();
    const s = await openStore('rediss://127.0.0.1:1');
    assert.equal(s.name, 'redis');
    await s.close();
  });

  it('rediss:// connects with TLS and checks the certificate', async () => {
    const srv = await startRedisServer({ tls: true });
    try {
      assert.match(srv.url, /^rediss:\/\/localhost:/);
      const trusted = new RedisStore({
        url: srv.url,
        prefix: prefix(),
        tls: { ca: readFileSync(srv.caFile as string) },
      });
      assert.ok((await trusted.acquire(req('k'))).acquired);
      await trusted.close();
      // Without the CA the certificate is rejected: an unavailable store, never a silent downgrade.
      const untrusted = new RedisStore({ url: srv.url, prefix: prefix() });
      await assert.rejects(
        untrusted.acquire(req('k')),
        (e: unknown) => e instanceof StoreUnavailableError && /certificate/.test(e.message),
      );
      await untrusted.close();
      // Plain redis:// against the TLS port does not work either.
      const plain = new RedisStore({
        url: srv.url.replace('rediss:', 'redis:'),
        prefix: prefix(),
        requestTimeoutMs: 1000,
      });
      await assert.rejects(plain.acquire(req('k')), StoreUnavailableError);
      await plain.close();
      assert.throws(
        () => new RedisStore({ url: 'redis://localhost', tls: {} }),
        (e: unknown) => e instanceof ConfigError && e.message.includes('rediss://'),
      );
    } finally {
      await srv.stop();
    }
  });

  it('the database number in the URL is used', async () => {
    const p = prefix();
    const store = await openStore(`${server.url}/5`, { prefix: p });
    const raw = new Redis(`${server.url}/5`);
    try {
      assert.ok((await store.acquire(req('db5'))).acquired);
      assert.equal(await raw.exists(`${p}{db5}`), 1);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });
});

describe('store down', () => {
  it('a wrong password is one line, StoreUnavailableError, password masked', async () => {
    const srv = await startRedisServer({ password: 'right-horse-battery' });
    try {
      const wrong = `redis://:wrong-staple-42@127.0.0.1:${srv.port}`;
      const store = await openStore(wrong, { prefix: prefix() });
      let message = '';
      await assert.rejects(store.acquire(req('k')), (e: unknown) => {
        oneLineUnavailable('wrong-staple-42')(e);
        message = (e as Error).message;
        return true;
      });
      assert.match(message, /authentication failed/);
      console.log(`  wrong password: ${message}`);
      await assert.rejects(store.inspect('k'), oneLineUnavailable('wrong-staple-42'));
      await store.close();
      const good = await openStore(srv.url, { prefix: prefix() });
      assert.ok((await good.acquire(req('k'))).acquired);
      await good.close();
    } finally {
      await srv.stop();
    }
  });

  it('B2: after a wrong password no part of the error (cause, stack, JSON) holds the password or the AUTH arguments', async () => {
    const srv = await startRedisServer({ password: 'right-horse-battery' });
    const secret = 'wrong-staple-42';
    const store = new RedisStore({ url: `redis://:${secret}@127.0.0.1:${srv.port}`, prefix: prefix() });
    try {
      for (const op of [() => store.acquire(req('k')), () => store.inspect('k'), () => store.now()]) {
        const err = (await op().then(
          () => assert.fail('a wrong password was accepted'),
          (e: unknown) => e,
        )) as StoreUnavailableError;
        assert.ok(err instanceof StoreUnavailableError, String(err));
        assert.ok(err.cause !== undefined, 'the client error is kept as the cause');
        const views = {
          inspect: inspect(err, { depth: 10 }),
          'JSON of the cause': JSON.stringify(err.cause) ?? '',
          String: String(err),
          stack: String(err.stack),
        };
        for (const [how, text] of Object.entries(views)) {
          assert.ok(!text.includes(secret), `${how} shows the password: ${text}`);
          assert.doesNotMatch(text, /\bargs\b|['"]auth['"]/i, `${how} shows a command's arguments: ${text}`);
        }
      }
    } finally {
      await store.close();
      await srv.stop();
    }
  });

  it('a closed port is one line, StoreUnavailableError, quickly, password masked', async () => {
    const port = await freePort();
    const store = await openStore(`redis://:pw-in-url-77@127.0.0.1:${port}`, { prefix: prefix() });
    try {
      for (const op of [
        () => store.acquire(req('k')),
        () => store.renew({ key: 'k', leaseId: 'x', token: 1, ttlMs: 1000 }),
        () => store.now(),
      ]) {
        const t0 = performance.now();
        let message = '';
        await assert.rejects(op(), (e: unknown) => {
          oneLineUnavailable('pw-in-url-77')(e);
          message = (e as Error).message;
          return true;
        });
        const took = performance.now() - t0;
        assert.ok(took < 2000, `took ${Math.round(took)}ms`);
        console.log(`  closed port (${Math.round(took)}ms): ${message}`);
      }
    } finally {
      await store.close();
    }
  });

  it('a black-holed server (SIGSTOP) gives StoreUnavailableError at the timeout, then recovers', async () => {
    const srv = await startRedisServer();
    const store = new RedisStore({ url: srv.url, prefix: prefix(), requestTimeoutMs: 400 });
    try {
      await store.now();
      await srv.pause();
      for (const op of [
        () => store.acquire(req('bh')),
        () => store.inspect('bh', { signal: AbortSignal.timeout(150) }),
      ]) {
        const t0 = performance.now();
        await assert.rejects(op(), oneLineUnavailable());
        const took = performance.now() - t0;
        assert.ok(took < 2400, `took ${Math.round(took)}ms (timeout 400 ms)`);
      }
      await srv.resume();
      // (The abandoned acquire of 'bh' may still run once the server reads it: a request
      // that reached the server is not taken back. A retry with its leaseId would find it, L9.)
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = await store.acquire(req('bh-after')).then(
          (r) => r.acquired,
          () => false,
        );
        if (!ok) await sleep(100);
      }
      assert.ok(ok, 'works again after the black hole ends');
    } finally {
      await srv.resume();
      await store.close();
      await srv.stop();
    }
  });

  it('many requests timing out together reconnect once (no listener pile-up on the socket), then work again', async () => {
    const srv = await startRedisServer();
    const store = new RedisStore({ url: srv.url, prefix: prefix(), requestTimeoutMs: 200 });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      await store.now();
      await srv.pause();
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => assert.rejects(store.acquire(req(`pile-${i}`)), StoreUnavailableError)),
      );
      await srv.resume();
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = await store.acquire(req('pile-after')).then(
          (r) => r.acquired,
          () => false,
        );
        if (!ok) await sleep(100);
      }
      assert.ok(ok, 'works again after the black hole ends');
      await sleep(50); // warnings are emitted on the next tick
      assert.deepEqual(
        warnings.filter((w) => /MaxListeners/.test(w)),
        [],
      );
    } finally {
      process.removeListener('warning', onWarning);
      await srv.resume();
      await store.close();
      await srv.stop();
    }
  });

  for (const how of ['stopped', 'black-holed'] as const) {
    it(`L4: a holder whose renewals fail (server ${how}) is told before its deadline`, async () => {
      const srv = await startRedisServer();
      const store = new RedisStore({ url: srv.url, prefix: prefix() });
      const lh = new Leasehold({ store, holder: 'l4' });
      try {
        const lease = await lh.tryAcquire('l4-key', { ttl: 3000 });
        assert.ok(lease);
        if (!lease) return;
        let abortedAt: number | undefined;
        lease.signal.addEventListener('abort', () => {
          abortedAt = performance.now();
        });
        await sleep(1200); // at least one renewal succeeds first
        if (how === 'stopped') await srv.kill();
        else await srv.pause();
        const until = lease.deadline + 1000;
        while (!lease.signal.aborted && performance.now() < until) await sleep(10);
        assert.equal(lease.signal.aborted, true, 'lease signal aborted');
        assert.ok(
          abortedAt !== undefined && abortedAt < lease.deadline,
          `aborted at ${abortedAt}, deadline ${lease.deadline}`,
        );
        assert.ok(lease.signal.reason instanceof LeaseLostError);
      } finally {
        await srv.resume();
        await lh.releaseAll();
        await store.close();
        await srv.stop();
      }
    });
  }
});

describe('Redis Cluster (one node owning every slot)', () => {
  let node: RedisServer;
  let cluster: Cluster;
  before(async () => {
    node = await startRedisServer({ cluster: true });
    cluster = new Cluster([{ host: '127.0.0.1', port: node.port }], { lazyConnect: true });
    await cluster.connect();
  });
  after(async () => {
    await cluster?.quit().catch(() => {});
    await node?.stop();
  });
  const p = prefix();
  runConformance(it, {
    create: () => new RedisStore({ client: cluster, prefix: p }),
  });
  it('a key whose name contains braces still keeps both Redis keys in one slot', async () => {
    const store = new RedisStore({ client: cluster, prefix: p });
    const id = randomUUID();
    const a = await store.acquire(req('x}{y', 'h', id));
    assert.ok(a.acquired);
    if (a.acquired) assert.equal(await store.release({ key: 'x}{y', leaseId: id, token: a.token }), true);
    assert.ok((await store.list({ prefix: 'x}' })).includes('x}{y'));
  });
  it('a Cluster keeps no index of keys (it would sit in another slot): listings scan', async () => {
    const store = new RedisStore({ client: cluster, prefix: p });
    assert.ok((await store.acquire(req('no-index'))).acquired);
    assert.ok((await store.list({ prefix: 'no-' })).includes('no-index'));
    assert.equal(await cluster.exists(`${p}{}index`), 0);
    assert.equal(await cluster.exists(`${p}{}index:scanned`), 0);
  });
  it('list() on a Cluster client that has not connected yet still scans every master', async () => {
    const lazy = new Cluster([{ host: '127.0.0.1', port: node.port }], { lazyConnect: true });
    try {
      const store = new RedisStore({ client: lazy, prefix: p });
      assert.ok((await store.list()).includes('x}{y'));
    } finally {
      await lazy.quit().catch(() => {});
    }
  });
});
