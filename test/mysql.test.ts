import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import mysqlCallback from 'mysql2';
import mysql from 'mysql2/promise';
import { ConfigError, StoreUnavailableError } from '../src/errors.js';
import { openStore } from '../src/open.js';
import { MysqlStore, mysqlSchemaSql, mysqlUpgradeSql, type MysqlQueryable } from '../src/stores/mysql/index.js';
import { startMariaDbServer, type MariaDbServer } from './helpers/mariadb-server.js';
import { startProxy } from '../faults/proxy.js';
import { freePort } from './helpers/ports.js';
import { sqlStoreDownTests } from './helpers/sql-store-down.js';
import { createMysqlDatabase, type TestDatabase } from './helpers/sql-databases.js';
import { assertSerial, hammer, retakeRequests, runScheduledSlots, timing } from './helpers/sql-hammer.js';
import { oneLineUnavailable } from './helpers/assertions.js';

const req = (key: string, holder = 'h', leaseId: string = randomUUID(), ttlMs = 5000) => ({
  key,
  holder,
  leaseId,
  ttlMs,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let db: TestDatabase;
let admin: mysql.Pool;
before(async () => {
  db = await createMysqlDatabase();
  admin = mysql.createPool({ uri: db.url, connectionLimit: 4, multipleStatements: true });
});
after(async () => {
  await admin?.end();
  await db?.drop();
});

/** A pool wrapper that counts requests: each `query` call is one round trip. `texts`: the SQL of each. */
function counting(pool: MysqlQueryable) {
  const c = {
    n: 0,
    texts: [] as string[],
    values: [] as unknown[][],
    query: (sql: string, values?: unknown[]) => {
      c.n++;
      c.texts.push(sql);
      c.values.push(values ?? []);
      return pool.query(sql, values);
    },
  };
  return c;
}

/** The DDL of the first version (no mark columns), as a table created by it looks. */
const OLD_DDL = (table: string) => `CREATE TABLE ${table} (
  \`key\` VARBINARY(3072) NOT NULL,
  holder VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  lease_id VARBINARY(255) NULL, token BIGINT NOT NULL, expires_at BIGINT NOT NULL DEFAULT 0,
  state MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  revision BIGINT NOT NULL DEFAULT 0, updated_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (\`key\`)) ENGINE=InnoDB`;

/** True when a request's parameters include `key` (as the UTF-8 buffer the store sends). */
const about = (values: unknown[], key: string) => values.some((v) => Buffer.isBuffer(v) && v.toString() === key);

describe('mysql: round trips', () => {
  for (const multi of [false, true]) {
    const mode = multi ? 'several statements per request' : 'one statement per request';
    it(`busy check 1, acquire 1, renew 1, release 1, fenced write 1, inspect 1 (${multi ? 'several statements per request allowed' : 'one statement per request'})`, async (t) => {
      const pool = counting(admin);
      const store = new MysqlStore({ pool, table: 'round_trips', multipleStatements: multi });
      await store.inspect('warm-up'); // creates the table (not counted below)
      const key = `rt-${randomUUID()}`;
      const measure = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
        const before = pool.n;
        const r = await fn();
        return [r, pool.n - before];
      };
      const id = randomUUID();
      const [a, acquireN] = await measure(() => store.acquire(req(key, 'alice', id)));
      assert.ok(a.acquired);
      if (!a.acquired) return;
      const [busy, busyN] = await measure(() => store.acquire(req(key, 'bob')));
      assert.equal(busy.acquired, false);
      if (!busy.acquired) {
        assert.ok(
          busy.expiresInMs !== undefined && busy.expiresInMs > 4000 && busy.expiresInMs <= 5000,
          `expiresInMs ${busy.expiresInMs}`,
        );
        assert.equal(
          busy.holder,
          multi ? 'alice' : undefined,
          multi ? 'the busy answer names the holder' : 'one statement cannot name the holder',
        );
      }
      const [retry, retryN] = await measure(() => store.acquire(req(key, 'alice', id)));
      assert.ok(retry.acquired && retry.token === a.token);
      const [renewed, renewN] = await measure(() => store.renew({ key, leaseId: id, token: a.token, ttlMs: 5000 }));
      assert.equal(renewed, true);
      const [written, writeN] = await measure(() =>
        store.writeState({ key, leaseId: id, token: a.token, state: { n: 1 } }),
      );
      assert.equal(written, true);
      const [, inspectN] = await measure(() => store.inspect(key));
      const [released, releaseN] = await measure(() => store.release({ key, leaseId: id, token: a.token }));
      assert.equal(released, true);
      if (multi) {
        const again = await store.acquire(req(key, 'carol'));
        assert.ok(again.acquired);
        assert.deepEqual(again.state, { n: 1 }, 'state comes back with the grant');
      }
      const counts = {
        acquire: acquireN,
        busy: busyN,
        retry: retryN,
        renew: renewN,
        writeState: writeN,
        inspect: inspectN,
        release: releaseN,
      };
      t.diagnostic(`round trips: ${JSON.stringify(counts)}`);
      assert.deepEqual(counts, { acquire: 1, busy: 1, retry: 1, renew: 1, writeState: 1, inspect: 1, release: 1 });
      await store.close();
    });

    it(`fused: acquire with a mark 1, busy 1, release with state 1, inspectAll 1 (${mode})`, async (t) => {
      const pool = counting(admin);
      const store = new MysqlStore({ pool, table: 'round_trips', multipleStatements: multi });
      await store.inspect('warm-up');
      const key = `rtf-${randomUUID()}/job`;
      const measure = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
        const before = pool.n;
        const r = await fn();
        return [r, pool.n - before];
      };
      const id = randomUUID();
      const mark = { slot: '2026-11-23T10:05:00.000Z', token: 2 ** 53 - 1, s: "ü ' \\" };
      const [a, acquireN] = await measure(() => store.acquire({ ...req(key, 'alice', id), mark }));
      assert.ok(a.acquired);
      if (!a.acquired) return;
      assert.equal(a.mark, multi ? null : undefined, 'the replaced mark comes back only with the read-back');
      const [busy, busyN] = await measure(() => store.acquire({ ...req(key, 'bob'), mark: { other: true } }));
      assert.equal(busy.acquired, false);
      if (!busy.acquired) assert.deepEqual(busy.mark, multi ? mark : undefined);
      const [all, inspectAllN] = await measure(() => store.inspectAll({ prefix: key.slice(0, 10) }));
      assert.deepEqual(
        all.map((r) => [r.key, r.holder, r.mark]),
        [[key, 'alice', mark]],
      );
      const ref = { key, leaseId: id, token: a.token };
      const [released, releaseN] = await measure(() => store.release({ ...ref, state: { end: 1 } }));
      assert.equal(released, true);
      const counts = { acquire: acquireN, busy: busyN, inspectAll: inspectAllN, releaseWithState: releaseN };
      t.diagnostic(`round trips: ${JSON.stringify(counts)}`);
      assert.deepEqual(counts, { acquire: 1, busy: 1, inspectAll: 1, releaseWithState: 1 });
      await store.close();
    });

    it(`a re-take right after a release costs ${multi ? 1 : 2} request${multi ? ': the waiter check rides in the acquire' : 's: the announcement is read first'} (L11, ${mode})`, async (t) => {
      const pool = counting(admin);
      const store = new MysqlStore({ pool, table: 'round_trips', multipleStatements: multi });
      await store.inspect('warm-up');
      assert.equal(store.capabilities.checksWaiters === true, multi);
      const sent = await retakeRequests(store, () => pool.n);
      t.diagnostic(`${sent} requests for 5 re-takes and releases`);
      assert.equal(sent, multi ? 10 : 15);
      await store.close();
    });

    it(`a scheduled slot costs its runner ${multi ? 2 : 4} requests on the job's key (${mode})`, async (t) => {
      const pool = counting(admin);
      const store = new MysqlStore({ pool, table: 'slot_cost', multipleStatements: multi });
      await store.inspect('warm-up');
      let first = 0;
      const { key, runs } = await runScheduledSlots(store, () => {
        first = pool.values.length;
      });
      const onKey = pool.values.slice(first).filter((values) => about(values, key)).length;
      t.diagnostic(`${onKey} requests on the job's key for ${runs} runs; ${pool.values.length - first} in all`);
      // Without several statements per request the acquire cannot return the key's state
      // and earlier mark, so the scheduler reads them (inspect) and writes its start record.
      // A slot the scheduler was already looking at when stop() came may add part of one more slot's cost.
      const cost = multi ? 2 : 4;
      assert.ok(
        onKey >= cost * runs && onKey < cost * (runs + 1),
        `${onKey} requests for ${runs} runs at ${cost} each`,
      );
      await store.close();
    });
  }
});

describe('mysql: six processes on one key', () => {
  it('never overlap and see strictly increasing tokens (openStore URL)', async (t) => {
    const url = db.url.replace(/^mysql:/, 'mariadb:');
    const sections = await hammer(`${url}?table=hammer`, `hammer-${randomUUID()}`, 6, 15);
    assertSerial(sections, 90);
    t.diagnostic(
      `90 critical sections by 6 processes in ${timing.runMs} ms (after ${timing.startupMs} ms starting them), tokens ${sections[0]?.token}..${sections.at(-1)?.token}`,
    );
  });
});

describe('mysql: SQL modes', () => {
  it('gives the same answers when the server evaluates assignments simultaneously (MariaDB SIMULTANEOUS_ASSIGNMENT)', async () => {
    const cb = mysqlCallback.createPool({ uri: db.url, connectionLimit: 2, multipleStatements: true });
    cb.on('connection', (conn) => {
      conn.query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',SIMULTANEOUS_ASSIGNMENT')");
    });
    const store = new MysqlStore({ pool: cb, table: 'simultaneous', multipleStatements: true });
    try {
      const [[mode]] = (await cb.promise().query('SELECT @@sql_mode AS m')) as unknown as [[{ m: string }]];
      assert.match(mode.m, /SIMULTANEOUS_ASSIGNMENT/);
      const key = `sim-${randomUUID()}`;
      const idA = randomUUID();
      const [m1, m2] = [{ slot: 1 }, { slot: 2 }];
      const a = await store.acquire({ ...req(key, 'a', idA, 300), mark: m1 });
      assert.ok(a.acquired && a.token === 1 && a.mark === null);
      const busy = await store.acquire({ ...req(key, 'b', randomUUID(), 300), mark: m2 });
      assert.ok(!busy.acquired && busy.holder === 'a');
      assert.deepEqual(busy.mark, m1, 'a busy acquire wrote no mark');
      const retry = await store.acquire({ ...req(key, 'a', idA, 300), mark: m1 });
      assert.ok(retry.acquired && retry.token === 1, 'a retry keeps the token');
      await sleep(350);
      const idB = randomUUID();
      const b = await store.acquire({ ...req(key, 'b', idB, 5000), mark: m2 });
      assert.ok(b.acquired && b.token === 2, 'after expiry: granted with the next token');
      assert.deepEqual(b.mark, m1, 'the grant answers the mark it replaced');
      const rec = await store.inspect(key);
      assert.equal(rec?.holder, 'b');
      assert.deepEqual(rec?.mark, m2);
      assert.ok(rec?.expiresInMs && rec.expiresInMs > 4000);
      assert.equal(await store.release({ key, leaseId: idB, token: 2, state: { s: 1 } }), true);
      assert.equal((await store.inspect(key))?.mark, null, 'the release with state cleared the mark');
      const idC = randomUUID();
      const c = await store.acquire(req(key, 'c', idC));
      assert.ok(c.acquired && c.token === 3);
      assert.deepEqual(c.state, { s: 1 });
      // The waiter check (acquireUnlessWaiter) in this mode too: a retry of c's own lease is
      // granted though another holder announced; once c's lease is gone, d yields.
      const announcement = `${key}#leasehold-waiter`;
      assert.ok((await store.acquire(req(announcement, 'w'))).acquired);
      const again = await store.acquire({ ...req(key, 'c', idC), unlessWaiter: announcement });
      assert.ok(again.acquired && again.token === 3, "c's retry (L9) comes before the waiter");
      const d = await store.acquire({ ...req(key, 'd'), unlessWaiter: announcement });
      assert.ok(!d.acquired && d.waiter === 'w', 'yields to the announced waiter');
      assert.equal((await store.inspect(key))?.holder, 'c', 'nothing written');
    } finally {
      await store.close();
      await cb.promise().end();
    }
  });

  it('keys, holders and state with quotes and backslashes survive NO_BACKSLASH_ESCAPES', async () => {
    const cb = mysqlCallback.createPool({ uri: db.url, connectionLimit: 1 });
    cb.on('connection', (conn) => {
      conn.query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES,ANSI_QUOTES')");
    });
    const store = new MysqlStore({ pool: cb, table: 'escapes' });
    try {
      const key = `it's a \\ "key" ${randomUUID()}`;
      const holder = `o'hara \\'; DROP TABLE escapes; --`;
      const id = randomUUID();
      const a = await store.acquire(req(key, holder, id));
      assert.ok(a.acquired);
      if (!a.acquired) return;
      const state = { s: '\'\\"\\n ü 🎉' };
      assert.equal(await store.writeState({ key, leaseId: id, token: a.token, state }), true);
      const rec = await store.inspect(key);
      assert.equal(rec?.holder, holder);
      assert.deepEqual(rec?.state, state);
      assert.deepEqual(await store.list({ prefix: "it's a \\" }), [key]);
    } finally {
      await store.close();
      await cb.promise().end();
    }
  });
});

describe('mysql: table, DDL and options', () => {
  it('the exported DDL makes a table the store uses with createTable: false; a missing table is a clear error', async () => {
    const table = `mig_${randomUUID().slice(0, 8)}`;
    const store = new MysqlStore({ pool: admin, table, createTable: false });
    await assert.rejects(
      store.acquire(req('k')),
      (e: unknown) => e instanceof StoreUnavailableError && /doesn't exist/.test(e.message),
    );
    await admin.query(mysqlSchemaSql({ table }));
    await admin.query(mysqlSchemaSql({ table, database: db.name })); // idempotent
    const a = await store.acquire(req('k'));
    assert.ok(a.acquired && a.token === 1);
  });

  for (const multi of [true, false]) {
    const mode = multi ? 'several statements per request' : 'one statement per request';
    it(`a table created by the previous version (no mark columns) keeps working (${mode})`, async () => {
      const table = `old_${randomUUID().slice(0, 8)}`;
      await admin.query(OLD_DDL(table));
      await admin.query(
        `INSERT INTO ${table} (\`key\`, token, state, updated_at) VALUES ('old', 3, '{"lastSlot":"x"}', 1)`,
      );
      // Without createTable the store names the missing column; the exported migration adds it.
      const strict = new MysqlStore({ pool: admin, table, createTable: false });
      await assert.rejects(
        strict.inspect('old'),
        (e: unknown) => e instanceof StoreUnavailableError && /Unknown column .*mark/.test(e.message),
      );
      const store = new MysqlStore({ url: `${db.url}?table=${table}`, multipleStatements: multi });
      try {
        const old = await store.inspect('old');
        const oldRecord = {
          key: 'old',
          holder: null,
          token: 3,
          expiresInMs: null,
          state: { lastSlot: 'x' },
          mark: null,
        };
        assert.deepEqual(old, oldRecord);
        const id = randomUUID();
        const granted = await store.acquire({ ...req('old', 'new', id), mark: { slot: 's' } });
        assert.ok(granted.acquired && granted.token === 4);
        if (multi && granted.acquired) assert.deepEqual([granted.state, granted.mark], [{ lastSlot: 'x' }, null]);
        assert.deepEqual((await store.inspectAll({ prefix: 'o' }))[0]?.mark, { slot: 's' });
        assert.equal(await store.release({ key: 'old', leaseId: id, token: 4, state: { lastSlot: 's' } }), true);
        const after = { key: 'old', holder: null, token: 4, expiresInMs: null, state: { lastSlot: 's' }, mark: null };
        assert.deepEqual(await strict.inspect('old'), after);
        // Already up to date: the migration answers "Duplicate column name" (1060).
        await assert.rejects(
          admin.query(mysqlUpgradeSql({ table })),
          (e: unknown) => (e as { errno?: number }).errno === 1060,
        );
      } finally {
        await store.close();
      }
    });
  }

  it('eight stores racing on a previous-version table add the columns once and grant once', async () => {
    const table = `oldrace_${randomUUID().slice(0, 8)}`;
    await admin.query(OLD_DDL(table));
    const stores = Array.from({ length: 8 }, () => new MysqlStore({ url: `${db.url}?table=${table}` }));
    try {
      const results = await Promise.all(stores.map((s, i) => s.acquire({ ...req('k', `h${i}`), mark: { i } })));
      assert.equal(results.filter((r) => r.acquired).length, 1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('the exported migration brings a previous-version table up to date for createTable: false', async () => {
    const table = `oldmig_${randomUUID().slice(0, 8)}`;
    await admin.query(OLD_DDL(table));
    await admin.query(mysqlUpgradeSql({ table, database: db.name }));
    const store = new MysqlStore({ pool: admin, table, createTable: false, multipleStatements: true });
    const granted = await store.acquire({ ...req('k'), mark: { m: 1 } });
    assert.ok(granted.acquired && granted.mark === null);
    assert.deepEqual((await store.inspect('k'))?.mark, { m: 1 });
  });

  it('bad options are ConfigErrors naming the value', () => {
    assert.throws(
      () => new MysqlStore({ url: db.url, table: 'bad-name' }),
      (e: unknown) => e instanceof ConfigError && /bad-name/.test(e.message),
    );
    assert.throws(
      () => new MysqlStore({ url: 'mysql://root:secretpw@127.0.0.1/' }),
      (e: unknown) => e instanceof ConfigError && /database/.test(e.message) && !e.message.includes('secretpw'),
    );
    assert.throws(
      () => new MysqlStore({ url: `${db.url}?tabel=x` }),
      (e: unknown) => e instanceof ConfigError && /tabel/.test(e.message),
    );
    assert.throws(
      () => new MysqlStore({ url: 'postgres://u:secretpw@h/db' }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('secretpw'),
    );
    assert.throws(() => new MysqlStore({ pool: admin, url: db.url }), ConfigError);
    assert.throws(() => mysqlSchemaSql({ database: 'a`b' }), ConfigError);
    // Unknown options are refused, with the closest known name (keyPrefix was renamed prefix).
    assert.throws(
      () => new MysqlStore({ url: db.url, keyPrefix: 'x' } as never),
      (e: unknown) =>
        e instanceof ConfigError && e.message.includes('unknown option "keyPrefix" (did you mean "prefix"?)'),
    );
    assert.throws(
      () => new MysqlStore({ url: `${db.url}?connectTimout=5` }),
      (e: unknown) => e instanceof ConfigError && /did you mean "connectTimeout"/.test(e.message),
    );
    assert.throws(
      () => new MysqlStore({ url: db.url, multipleStatements: 1 as never }),
      (e: unknown) => e instanceof ConfigError && /multipleStatements/.test(e.message),
    );
  });

  it('a key longer than the index allows is a ConfigError', async () => {
    const store = new MysqlStore({ pool: admin, prefix: 'p'.repeat(256) });
    await assert.rejects(
      store.acquire(req('€'.repeat(1000))),
      (e: unknown) => e instanceof ConfigError && /3072/.test(e.message),
    );
  });

  it('openStore: mysql:// and mariadb:// with ?table=, and prefix as a key namespace', async () => {
    const a = await openStore(`${db.url}?table=ns`, { prefix: 'app-a/' });
    const b = await openStore(`${db.url.replace(/^mysql:/, 'mariadb:')}?table=ns`, { prefix: 'app-b/' });
    try {
      assert.equal(a.name, 'mysql');
      const ra = await a.acquire(req('job'));
      const rb = await b.acquire(req('job'));
      assert.ok(ra.acquired && rb.acquired, 'the same key under two prefixes is two leases');
      assert.deepEqual(await a.list(), ['job']);
      assert.deepEqual(await b.list({ prefix: 'jo' }), ['job']);
      const [rows] = (await admin.query('SELECT CAST(`key` AS CHAR) AS k FROM ns ORDER BY `key`')) as unknown as [
        { k: string }[],
      ];
      assert.deepEqual(
        rows.map((r) => r.k),
        ['app-a/job', 'app-b/job'],
      );
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a pool you pass is never ended by close(); a callback-style pool is accepted', async () => {
    const pool = mysql.createPool({ uri: db.url, connectionLimit: 1 });
    const store = new MysqlStore({ pool });
    await store.now();
    await store.close();
    const [rows] = (await pool.query('SELECT 1 AS one')) as unknown as [{ one: number }[]];
    assert.equal(rows[0]?.one, 1);
    await pool.end();
    const cb = mysqlCallback.createPool({ uri: db.url, connectionLimit: 1 });
    const viaCb = new MysqlStore({ pool: cb });
    assert.ok(Number.isFinite(await viaCb.now()));
    await viaCb.close();
    await cb.promise().end();
  });

  it('the store clock is the server clock (UTC epoch ms, whatever the session time zone)', async () => {
    const conn = await admin.getConnection();
    try {
      await conn.query("SET time_zone = '+05:30'");
      const store = new MysqlStore({ pool: conn });
      const [[before]] = (await conn.query('SELECT UNIX_TIMESTAMP(NOW(3)) * 1000 AS t')) as unknown as [
        [{ t: string }],
      ];
      const t = await store.now();
      const [[after]] = (await conn.query('SELECT UNIX_TIMESTAMP(NOW(3)) * 1000 AS t')) as unknown as [[{ t: string }]];
      assert.ok(t >= Math.floor(Number(before.t)) && t <= Number(after.t), `${before.t} <= ${t} <= ${after.t}`);
    } finally {
      conn.release();
    }
  });
});

describe('mysql: store down', () => {
  let srv: MariaDbServer;
  const password = `my-right-${randomUUID().slice(0, 8)}`;
  before(async () => {
    srv = await startMariaDbServer({ password });
  });
  after(async () => {
    await srv?.resume();
    await srv?.stop();
  });

  it('a wrong password and a closed port each give one line without the password', async () => {
    const wrong = `wrong-${randomUUID().slice(0, 8)}`;
    const bad = new MysqlStore({ url: srv.url.replace(encodeURIComponent(password), wrong) });
    await assert.rejects(
      bad.acquire(req('k')),
      (e: unknown) => oneLineUnavailable(wrong, password)(e) && /Access denied/.test((e as Error).message),
    );
    await bad.close();
    const port = await freePort();
    const closed = new MysqlStore({ url: `mysql://root:${wrong}@127.0.0.1:${port}/leasehold` });
    const t0 = performance.now();
    await assert.rejects(
      closed.acquire(req('k')),
      (e: unknown) => oneLineUnavailable(wrong)(e) && /ECONNREFUSED/.test((e as Error).message),
    );
    assert.ok(performance.now() - t0 < 2000);
    await closed.close();
    const good = new MysqlStore({ url: srv.url });
    assert.ok((await good.acquire(req('k'))).acquired);
    await good.close();
  });

  it('a server slower to connect than the request timeout still serves: a connection whose request gave up finishes opening and serves the next', async (t) => {
    // Every reply from the server arrives 250 ms late: connecting (greeting, then the
    // answer to the login) takes at least 500 ms, one statement 250 ms. Each request
    // gives up after 400 ms, so no request can wait for a connection to open.
    const proxy = await startProxy(srv.port, () => 1);
    t.after(() => proxy.close());
    proxy.delay(250);
    const store = new MysqlStore({ url: srv.url.replace(`:${srv.port}/`, `:${proxy.port}/`), connectTimeoutMs: 5000 });
    t.after(() => store.close());
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i++) {
      try {
        await store.acquire(req(`slow-connect-${randomUUID()}`), { signal: AbortSignal.timeout(400) });
        outcomes.push('ok');
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        outcomes.push('timeout');
        await sleep(300);
      }
    }
    // The first request waits for the first connection; the rest reuse it.
    assert.equal(outcomes.filter((o) => o === 'ok').length >= 6, true, outcomes.join(' '));
    assert.equal(proxy.accepted, 1, 'one connection opened');
  });

  it('a request abandoned before its answer leaves its connection to serve again once the late answer comes', async (t) => {
    const proxy = await startProxy(srv.port, () => 1);
    t.after(() => proxy.close());
    const store = new MysqlStore({ url: srv.url.replace(`:${srv.port}/`, `:${proxy.port}/`), connectTimeoutMs: 5000 });
    t.after(() => store.close());
    await store.now();
    proxy.delay(300);
    for (let i = 0; i < 4; i++) {
      await assert.rejects(store.now({ signal: AbortSignal.timeout(100) }), StoreUnavailableError);
      await sleep(400); // the late answer arrives; the connection is idle again
    }
    proxy.delay(0);
    assert.equal(typeof (await store.now({ signal: AbortSignal.timeout(2000) })), 'number');
    assert.equal(proxy.accepted, 1, 'no request opened a connection of its own');
  });

  it('an abandoned request whose answer never comes has its connection destroyed after the connect timeout', async (t) => {
    const proxy = await startProxy(srv.port, () => 1);
    t.after(() => proxy.close());
    const store = new MysqlStore({ url: srv.url.replace(`:${srv.port}/`, `:${proxy.port}/`), connectTimeoutMs: 600 });
    t.after(() => store.close());
    await store.now();
    proxy.partition();
    await assert.rejects(store.now({ signal: AbortSignal.timeout(100) }), StoreUnavailableError);
    await sleep(900);
    proxy.heal();
    assert.equal(typeof (await store.now({ signal: AbortSignal.timeout(3000) })), 'number');
    assert.equal(proxy.accepted, 2, 'the held connection was replaced');
  });

  sqlStoreDownTests(
    () => srv,
    (url, connectTimeoutMs, maxConnections) =>
      new MysqlStore({
        url,
        ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
        ...(maxConnections === undefined ? {} : { maxConnections }),
      }),
  );
});
