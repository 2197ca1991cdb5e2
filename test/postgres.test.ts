import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ConfigError, StoreUnavailableError } from '../src/errors.js';
import { openStore } from '../src/open.js';
import { PostgresStore, postgresSchemaSql, type PgQueryable } from '../src/stores/postgres/index.js';
import { startPostgresServer, type PostgresServer } from './helpers/postgres-server.js';
import { freePort } from './helpers/ports.js';
import { sqlStoreDownTests } from './helpers/sql-store-down.js';
import { createPostgresDatabase, type TestDatabase } from './helpers/sql-databases.js';
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
let admin: pg.Pool;
before(async () => {
  db = await createPostgresDatabase();
  admin = new pg.Pool({ connectionString: db.url, max: 4 });
});
after(async () => {
  await admin?.end();
  await db?.drop();
});

/** A pool wrapper that counts statements: each `query` call is one round trip. `keys`: the key of each. */
function counting(pool: PgQueryable) {
  const c = {
    n: 0,
    keys: [] as unknown[],
    query: (text: string, values?: unknown[]) => {
      c.n++;
      c.keys.push(values?.[0]);
      return pool.query(text, values);
    },
  };
  return c;
}

/** The DDL of the first version (no mark columns), as a table created by it looks. */
const OLD_DDL = (table: string) => `CREATE TABLE ${table} (
  key text COLLATE "C" PRIMARY KEY, holder text, lease_id text, token bigint NOT NULL,
  expires_at timestamptz, state text, updated_at timestamptz NOT NULL)`;

describe('postgres: round trips', () => {
  it('busy check 1, acquire 1, renew 1, release 1, fenced write 1, inspect 1 (counted at the client)', async (t) => {
    const pool = counting(admin);
    const store = new PostgresStore({ pool, table: 'round_trips' });
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
      assert.equal(busy.holder, 'alice', 'the busy answer names the holder');
      assert.ok(
        busy.expiresInMs !== undefined && busy.expiresInMs > 4000 && busy.expiresInMs <= 5000,
        `expiresInMs ${busy.expiresInMs}`,
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

  it('fused: acquire with a mark 1, its busy answer 1, release with state 1, inspectAll 1', async (t) => {
    const pool = counting(admin);
    const store = new PostgresStore({ pool, table: 'round_trips' });
    await store.inspect('warm-up');
    const key = `rtf-${randomUUID()}/job`;
    const measure = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
      const before = pool.n;
      const r = await fn();
      return [r, pool.n - before];
    };
    const id = randomUUID();
    const mark = { slot: '2026-11-23T10:05:00.000Z', token: 2 ** 53 - 1 };
    const [a, acquireN] = await measure(() => store.acquire({ ...req(key, 'alice', id), mark }));
    assert.ok(a.acquired);
    if (!a.acquired) return;
    assert.equal(a.mark, null);
    const [busy, busyN] = await measure(() => store.acquire({ ...req(key, 'bob'), mark: { other: true } }));
    assert.ok(!busy.acquired && busy.holder === 'alice');
    assert.deepEqual(busy.mark, mark, 'the busy answer carries the mark, 16 digits intact');
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

  it('a re-take right after a release is one statement: the waiter check rides in the acquire (L11)', async (t) => {
    const pool = counting(admin);
    const store = new PostgresStore({ pool, table: 'round_trips' });
    await store.inspect('warm-up');
    assert.equal(store.capabilities.checksWaiters, true);
    const sent = await retakeRequests(store, () => pool.n);
    t.diagnostic(`${sent} statements for 5 re-takes and releases`);
    assert.equal(sent, 10, 'an acquire and a release each, no announcement read');
    await store.close();
  });

  it("a scheduled slot costs its runner 2 statements on the job's key", async (t) => {
    const pool = counting(admin);
    const store = new PostgresStore({ pool, table: 'slot_cost' });
    await store.inspect('warm-up');
    let first = 0;
    const { key, runs } = await runScheduledSlots(store, () => {
      first = pool.keys.length;
    });
    const onKey = pool.keys.slice(first).filter((k) => k === key).length;
    t.diagnostic(`${onKey} statements on the job's key for ${runs} runs; ${pool.keys.length - first} in all`);
    // A slot the scheduler was already looking at when stop() came may add part of one more slot's cost.
    assert.ok(onKey >= 2 * runs && onKey < 2 * (runs + 1), `${onKey} requests for ${runs} runs at 2 each`);
    await store.close();
  });
});

describe('postgres: six processes on one key', () => {
  it('never overlap and see strictly increasing tokens (openStore URL)', async (t) => {
    const sections = await hammer(`${db.url}?table=hammer`, `hammer-${randomUUID()}`, 6, 15);
    assertSerial(sections, 90);
    t.diagnostic(
      `90 critical sections by 6 processes in ${timing.runMs} ms (after ${timing.startupMs} ms starting them), tokens ${sections[0]?.token}..${sections.at(-1)?.token}`,
    );
  });
});

describe('postgres: table, DDL and options', () => {
  it('creates schema and table once when many stores race on first use', async () => {
    const schema = `race_${randomUUID().slice(0, 8)}`;
    const stores = Array.from({ length: 8 }, () => new PostgresStore({ url: db.url, schema, table: 'leases' }));
    try {
      const results = await Promise.all(stores.map((s, i) => s.acquire(req('k', `h${i}`))));
      assert.equal(results.filter((r) => r.acquired).length, 1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('the exported DDL makes a table the store uses with createTable: false; a missing table is a clear error', async () => {
    const schema = `mig_${randomUUID().slice(0, 8)}`;
    const missing = new PostgresStore({ url: db.url, schema, table: 'leases', createTable: false });
    await assert.rejects(
      missing.acquire(req('k')),
      (e: unknown) => e instanceof StoreUnavailableError && /does not exist/.test(e.message),
    );
    await admin.query(postgresSchemaSql({ schema, table: 'leases' }));
    await admin.query(postgresSchemaSql({ schema, table: 'leases' })); // idempotent
    const a = await missing.acquire(req('k'));
    assert.ok(a.acquired && a.token === 1);
    await missing.close();
  });

  it('a table created by the previous version (no mark columns) keeps working', async () => {
    const schema = `old_${randomUUID().slice(0, 8)}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(OLD_DDL(`${schema}.leases`));
    // A key the previous version used: released, token 3, a state of its own.
    await admin.query(
      `INSERT INTO ${schema}.leases (key, token, state, updated_at) VALUES ('old', 3, '{"lastSlot":"x"}', now())`,
    );
    // Without createTable the store names the missing column; the exported DDL adds it (twice: idempotent).
    const strict = new PostgresStore({ pool: admin, schema, table: 'leases', createTable: false });
    await assert.rejects(
      strict.inspect('old'),
      (e: unknown) => e instanceof StoreUnavailableError && /column .*mark.* does not exist/.test(e.message),
    );
    // The store opened from a URL (named statements) adds the columns on first use.
    const store = new PostgresStore({ url: db.url, schema, table: 'leases' });
    try {
      const old = await store.inspect('old');
      assert.deepEqual(old, {
        key: 'old',
        holder: null,
        token: 3,
        expiresInMs: null,
        state: { lastSlot: 'x' },
        mark: null,
      });
      const id = randomUUID();
      const granted = await store.acquire({ ...req('old', 'new', id), mark: { slot: 's' } });
      assert.ok(granted.acquired && granted.token === 4);
      if (!granted.acquired) return;
      assert.deepEqual([granted.state, granted.mark], [{ lastSlot: 'x' }, null]);
      assert.deepEqual((await store.inspectAll({ prefix: 'o' }))[0]?.mark, { slot: 's' });
      assert.equal(await store.release({ key: 'old', leaseId: id, token: 4, state: { lastSlot: 's' } }), true);
      assert.deepEqual(await strict.inspect('old'), {
        key: 'old',
        holder: null,
        token: 4,
        expiresInMs: null,
        state: { lastSlot: 's' },
        mark: null,
      });
      await admin.query(postgresSchemaSql({ schema, table: 'leases' }));
      await admin.query(postgresSchemaSql({ schema, table: 'leases' }));
    } finally {
      await store.close();
    }
  });

  it('eight stores racing on a previous-version table add the columns once and grant once', async () => {
    const schema = `oldrace_${randomUUID().slice(0, 8)}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(OLD_DDL(`${schema}.leases`));
    const stores = Array.from({ length: 8 }, () => new PostgresStore({ url: db.url, schema, table: 'leases' }));
    try {
      const results = await Promise.all(stores.map((s, i) => s.acquire({ ...req('k', `h${i}`), mark: { i } })));
      assert.equal(results.filter((r) => r.acquired).length, 1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('URL parameters: pg connection parameters reach pg; a misspelt one is refused with "did you mean"', async () => {
    const sep = db.url.includes('?') ? '&' : '?';
    const refusals: [string, RegExp][] = [
      ['sslmod=require', /unknown parameter "sslmod" .*\(did you mean "sslmode"\?\)/],
      ['aplication_name=x', /did you mean "application_name"/],
      ['keepalives=1', /unknown parameter "keepalives"/],
      ['sslmode=requir', /sslmode must be one of .*"requir"/],
      ['connect_timeout=0', /connect_timeout must be a positive number of seconds, got "0"/],
      ['table=a&table=b', /"table" is given twice/],
    ];
    for (const [query, expected] of refusals) {
      assert.throws(
        () => new PostgresStore({ url: `postgres://u:secretpw@127.0.0.1/db?${query}` }),
        (e: unknown) =>
          e instanceof ConfigError &&
          expected.test(e.message) &&
          !e.message.includes('secretpw') &&
          !/\n/.test(e.message),
        query,
      );
    }
    const name = `lh_probe_${randomUUID().slice(0, 8)}`;
    const params = `application_name=${name}&sslmode=disable&statement_timeout=7000&connect_timeout=3&table=params`;
    const store = new PostgresStore({ url: `${db.url}${sep}${params}` });
    try {
      assert.ok((await store.acquire(req('k'))).acquired);
      const seen = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [
        name,
      ]);
      assert.ok(seen.rows[0].n >= 1, 'application_name reached the server');
    } finally {
      await store.close();
    }
  });

  it('URL parameter connect_timeout (seconds, as in libpq) bounds the connect', async () => {
    // A server that accepts connections and never answers: only the connect timeout ends the wait.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const store = new PostgresStore({ url: `postgres://u:pw@127.0.0.1:${port}/db?connect_timeout=1` });
    try {
      const t0 = performance.now();
      await assert.rejects(store.now(), StoreUnavailableError);
      const took = performance.now() - t0;
      assert.ok(took > 800 && took < 3000, `gave up after ${Math.round(took)} ms (default 5000)`);
    } finally {
      await store.close();
      silent.close();
    }
  });

  it('bad options are ConfigErrors naming the value', () => {
    assert.throws(
      () => new PostgresStore({ url: db.url, table: 'bad-name' }),
      (e: unknown) => e instanceof ConfigError && /bad-name/.test(e.message),
    );
    assert.throws(() => new PostgresStore({ url: db.url, schema: 'x; drop table y' }), ConfigError);
    assert.throws(
      () => new PostgresStore({ url: 'mysql://u:secretpw@h/db' }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('secretpw'),
    );
    assert.throws(() => new PostgresStore({ pool: admin, url: db.url }), ConfigError);
    assert.throws(() => new PostgresStore({} as never), ConfigError);
    assert.throws(() => postgresSchemaSql({ table: '1abc' }), ConfigError);
    assert.throws(() => new PostgresStore({ url: db.url, prefix: 'a\nb' }), ConfigError);
    // Unknown options are refused, with the closest known name (keyPrefix was renamed prefix).
    assert.throws(
      () => new PostgresStore({ url: db.url, keyPrefix: 'x' } as never),
      (e: unknown) =>
        e instanceof ConfigError && e.message.includes('unknown option "keyPrefix" (did you mean "prefix"?)'),
    );
    assert.throws(
      () => new PostgresStore({ url: db.url, createTable: 'yes' } as never),
      (e: unknown) => e instanceof ConfigError && /createTable/.test(e.message),
    );
  });

  it('openStore: postgres:// and postgresql:// with ?table=, and prefix as a key namespace', async () => {
    const url = db.url.replace(/^postgres:/, 'postgresql:');
    const a = await openStore(`${url}?table=ns`, { prefix: 'app-a/' });
    const b = await openStore(`${db.url}?table=ns`, { prefix: 'app-b/' });
    try {
      assert.equal(a.name, 'postgres');
      const ra = await a.acquire(req('job'));
      const rb = await b.acquire(req('job'));
      assert.ok(ra.acquired && rb.acquired, 'the same key under two prefixes is two leases');
      assert.deepEqual(await a.list(), ['job']);
      assert.deepEqual(await b.list({ prefix: 'jo' }), ['job']);
      const rows = await admin.query('SELECT key FROM ns ORDER BY key');
      assert.deepEqual(
        rows.rows.map((r) => r.key),
        ['app-a/job', 'app-b/job'],
      );
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('the pool opened from a URL sends named (prepared) statements; preparedStatements=false sends them unnamed', async () => {
    assert.throws(
      () => new PostgresStore({ url: `${db.url}?preparedStatements=maybe` }),
      (e: unknown) => e instanceof ConfigError && /preparedStatements/.test(e.message),
    );
    assert.throws(() => new PostgresStore({ url: db.url, preparedStatements: 'no' as never }), ConfigError);
    const original = pg.Client.prototype.query;
    const names: (string | undefined)[] = [];
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const first = args[0] as { name?: string; text?: string } | string;
      if (typeof first === 'object' && first?.text?.includes('prepared_probe')) names.push(first.name);
      else if (typeof first === 'string' && first.includes('prepared_probe') && !/CREATE/.test(first))
        names.push(undefined);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      const run = async (url: string) => {
        names.length = 0;
        const store = new PostgresStore({ url, table: 'prepared_probe' });
        try {
          for (let i = 0; i < 3; i++) {
            const q = req(`p-${randomUUID()}`);
            const r = await store.acquire(q);
            assert.ok(r.acquired);
            if (r.acquired) assert.equal(await store.release({ key: q.key, leaseId: q.leaseId, token: r.token }), true);
          }
        } finally {
          await store.close();
        }
        return [...names];
      };
      const named = await run(db.url);
      assert.ok(named.length >= 6, `statements seen: ${named.length}`);
      // The first acquire created the table and was sent again unnamed; the rest are named.
      assert.ok(
        named.slice(-5).every((n) => typeof n === 'string' && n.startsWith('leasehold_')),
        `named: ${JSON.stringify(named)}`,
      );
      const unnamed = await run(`${db.url}${db.url.includes('?') ? '&' : '?'}preparedStatements=false`);
      assert.ok(unnamed.length >= 6 && unnamed.every((n) => n === undefined), `unnamed: ${JSON.stringify(unnamed)}`);
      // A pool you pass: unnamed by default, named when you opt in.
      for (const prepared of [undefined, true]) {
        names.length = 0;
        const store = new PostgresStore({
          pool: admin,
          table: 'prepared_probe',
          ...(prepared ? { preparedStatements: true } : {}),
        });
        const q = req(`p-${randomUUID()}`);
        const r = await store.acquire(q);
        assert.ok(r.acquired);
        const seen = [...names];
        assert.ok(
          seen.length >= 1 && seen.every((n) => (prepared ? typeof n === 'string' : n === undefined)),
          `passed pool, preparedStatements ${prepared}: ${JSON.stringify(seen)}`,
        );
      }
    } finally {
      pg.Client.prototype.query = original;
    }
  });

  it('a pool you pass is never ended by close()', async () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    const store = new PostgresStore({ pool });
    await store.now();
    await store.close();
    const r = await pool.query('SELECT 1 AS one');
    assert.equal(r.rows[0].one, 1);
    await pool.end();
  });

  it('works on a pool whose transactions are SERIALIZABLE (conflicting statements are sent again)', async () => {
    const pool = new pg.Pool({
      connectionString: db.url,
      max: 16,
      options: '-c default_transaction_isolation=serializable',
    });
    const store = new PostgresStore({ pool, table: 'serializable' });
    try {
      const [[level]] = [(await pool.query('SHOW transaction_isolation')).rows];
      assert.equal(level.transaction_isolation, 'serializable');
      const key = `ser-${randomUUID()}`;
      await store.inspect(key);
      for (let round = 0; round < 3; round++) {
        const results = await Promise.all(
          Array.from({ length: 16 }, (_, i) => store.acquire(req(key, `c${i}`, randomUUID(), 10_000))),
        );
        assert.equal(results.filter((r) => r.acquired).length, 1, `round ${round}: one winner`);
        assert.equal(await store.forceRelease(key), true);
      }
    } finally {
      await store.close();
      await pool.end();
    }
  });

  it('the store clock is the database clock', async () => {
    const store = new PostgresStore({ pool: admin });
    const before = await admin.query('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS t');
    const t = await store.now();
    const after = await admin.query('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS t');
    assert.ok(t >= before.rows[0].t && t <= after.rows[0].t, `${before.rows[0].t} <= ${t} <= ${after.rows[0].t}`);
  });
});

describe('postgres: store down', () => {
  let srv: PostgresServer;
  const password = `pg-right-${randomUUID().slice(0, 8)}`;
  before(async () => {
    srv = await startPostgresServer({ password });
  });
  after(async () => {
    await srv?.resume();
    await srv?.stop();
  });

  it('a wrong password and a closed port each give one line without the password', async () => {
    const wrong = `wrong-${randomUUID().slice(0, 8)}`;
    const bad = new PostgresStore({ url: srv.urlFor('postgres', wrong) });
    let message = '';
    await assert.rejects(bad.acquire(req('k')), (e: unknown) => {
      oneLineUnavailable(wrong, password)(e);
      message = (e as Error).message;
      return /password authentication failed/.test(message);
    });
    await bad.close();
    const port = await freePort();
    const closed = new PostgresStore({ url: `postgres://postgres:${wrong}@127.0.0.1:${port}/postgres` });
    const t0 = performance.now();
    await assert.rejects(
      closed.acquire(req('k')),
      (e: unknown) => oneLineUnavailable(wrong)(e) && /ECONNREFUSED/.test((e as Error).message),
    );
    assert.ok(performance.now() - t0 < 2000);
    await closed.close();
    const good = new PostgresStore({ url: srv.url });
    assert.ok((await good.acquire(req('k'))).acquired);
    await good.close();
  });

  sqlStoreDownTests(
    () => srv,
    (url, connectTimeoutMs, maxConnections) =>
      new PostgresStore({
        url,
        ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
        ...(maxConnections === undefined ? {} : { maxConnections }),
      }),
  );

  it('tokens survive a crash of the server (immediate shutdown)', async () => {
    const store = new PostgresStore({ url: srv.url });
    const key = `crash-${randomUUID()}`;
    const a = await store.acquire(req(key));
    assert.ok(a.acquired);
    await srv.restart(true);
    let b: Awaited<ReturnType<PostgresStore['acquire']>> | undefined;
    for (let i = 0; i < 50 && !b; i++) {
      b = await store.acquire(req(key, 'h2', randomUUID(), 1000)).catch(async (e: unknown) => {
        if (!(e instanceof StoreUnavailableError)) throw e;
        await sleep(100);
        return undefined;
      });
    }
    assert.ok(b, 'store answers again after the restart');
    assert.equal(b?.acquired, false, 'the lease granted before the crash is still held');
    await store.forceRelease(key);
    const c = await store.acquire(req(key));
    assert.ok(c.acquired && a.acquired && c.token > a.token);
    await store.close();
  });
});
