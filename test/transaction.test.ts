/**
 * Transactional runs (T1) on PostgreSQL and MariaDB, store by store: the work's writes and
 * the end record commit together, a lost lease cannot commit, a throwing work or an abort
 * rolls back, a second `ctx.transaction` in one run is refused, a COMMIT whose answer is
 * lost is judged by reading the key back. The kill -9 runs are in transaction.faults.test.ts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { ConfigError, LeaseholdError, LeaseLostError } from '../src/errors.js';
import { Leasehold } from '../src/leasehold.js';
import type { JobContext } from '../src/scheduler/types.js';
import type { LeaseRef } from '../src/store.js';
import { MysqlStore } from '../src/stores/mysql/index.js';
import { PostgresStore } from '../src/stores/postgres/index.js';
import type { SqlStore } from '../src/stores/sql/base.js';
import { isTransactional } from '../src/transaction.js';
import { createMysqlDatabase, createPostgresDatabase, type TestDatabase } from './helpers/sql-databases.js';

/** What a test needs of one engine: its store and a plain connection to read the user's table. */
interface Engine {
  name: 'postgres' | 'mysql';
  db: TestDatabase;
  store: SqlStore<unknown, unknown>;
  /** Rows of `SELECT …` on a connection of its own. */
  select(text: string): Promise<Record<string, unknown>[]>;
  /** A statement on a connection of its own. */
  exec(text: string): Promise<void>;
  /** The placeholder of the n-th parameter. */
  p(n: number): string;
  close(): Promise<void>;
}

async function postgresEngine(): Promise<Engine> {
  const db = await createPostgresDatabase();
  const reader = new pg.Pool({ connectionString: db.url, max: 2 });
  return {
    name: 'postgres',
    db,
    store: new PostgresStore({ url: db.url }) as unknown as SqlStore<unknown, unknown>,
    select: async (text) => (await reader.query(text)).rows,
    exec: async (text) => void (await reader.query(text)),
    p: (n) => `$${n}`,
    close: () => reader.end(),
  };
}

async function mysqlEngine(): Promise<Engine> {
  const db = await createMysqlDatabase();
  const reader = mysql.createPool({ uri: db.url, connectionLimit: 2 });
  return {
    name: 'mysql',
    db,
    store: new MysqlStore({ url: db.url }) as unknown as SqlStore<unknown, unknown>,
    select: async (text) => (await reader.query(text))[0] as Record<string, unknown>[],
    exec: async (text) => void (await reader.query(text)),
    p: () => '?',
    close: () => reader.end(),
  };
}

/** Runs one statement on the client `work` gets, whichever driver it is. */
const query = (client: unknown, text: string, values: unknown[] = []) =>
  (client as { query(text: string, values: unknown[]): Promise<unknown> }).query(text, values);

for (const open of [postgresEngine, mysqlEngine]) {
  describe(`transactional runs: ${open === postgresEngine ? 'postgres' : 'mariadb'}`, () => {
    let engine: Engine;
    before(async () => {
      engine = await open();
      await engine.exec('CREATE TABLE rows_written (slot VARCHAR(64) NOT NULL, token BIGINT NOT NULL)');
    });
    after(async () => {
      await engine?.store.close();
      await engine?.close();
      await engine?.db.drop();
    });

    const insert = (slot: string, token: number) => `INSERT INTO rows_written VALUES ('${slot}', ${token})`;
    const rowsOf = async (slot: string) => engine.select(`SELECT token FROM rows_written WHERE slot = '${slot}'`);
    const lease = async (key: string, ttlMs: number, holder = 'test'): Promise<LeaseRef> => {
      const leaseId = randomUUID();
      const granted = await engine.store.acquire({ key, holder, leaseId, ttlMs, mark: { start: holder } });
      assert.ok(granted.acquired, `acquire ${key}`);
      return { key, leaseId, token: granted.token };
    };

    it('is offered: the store is transactional', () => {
      assert.ok(isTransactional(engine.store));
    });

    it('commits the work and the end record together, and resolves to what the work returned', async () => {
      const ref = await lease('together', 10_000);
      const seenInside: Record<string, unknown>[][] = [];
      const result = await engine.store.runInTransaction(
        ref,
        async (client) => {
          await query(client, insert('together', ref.token));
          // Another connection sees neither the row nor (below) the end record before COMMIT.
          seenInside.push(await rowsOf('together'));
          return 'done';
        },
        () => ({ end: 'together' }),
      );
      assert.equal(result, 'done');
      assert.deepEqual(seenInside, [[]]);
      assert.equal((await rowsOf('together')).length, 1);
      const record = await engine.store.inspect('together');
      assert.deepEqual(record?.state, { end: 'together' });
      assert.equal(record?.mark, null, 'the commit clears the mark, as a state write does');
      assert.equal(record?.holder, 'test', 'the lease is still held: the run releases it afterwards');
    });

    it('a lost lease cannot commit: paused past its TTL, another holder took over; nothing is left', async () => {
      const ref = await lease('lost', 400, 'first');
      const before = await engine.store.inspect('lost');
      let second: LeaseRef | undefined;
      const run = engine.store.runInTransaction(
        ref,
        async (client) => {
          await query(client, insert('lost', ref.token));
          // The holder "pauses" past its TTL (no renewal); a second holder takes the key.
          await sleep(700);
          second = await lease('lost', 10_000, 'second');
        },
        () => ({ end: 'first' }),
      );
      await assert.rejects(run, (err: unknown) => {
        assert.ok(err instanceof LeaseLostError, String(err));
        assert.equal(err.token, ref.token);
        return true;
      });
      assert.ok(second && second.token > ref.token);
      assert.deepEqual(await rowsOf('lost'), [], 'the work of the lost lease was rolled back');
      const after = await engine.store.inspect('lost');
      assert.deepEqual(after?.state, before?.state, 'the end record was not written');
      assert.equal(after?.holder, 'second');
    });

    it('work that throws rolls back and rejects with its own error; the pool is still usable', async () => {
      const ref = await lease('throws', 10_000);
      const oops = new Error('work failed');
      await assert.rejects(
        engine.store.runInTransaction(
          ref,
          async (client) => {
            await query(client, insert('throws', ref.token));
            throw oops;
          },
          () => ({ end: 'throws' }),
        ),
        (err) => err === oops,
      );
      assert.deepEqual(await rowsOf('throws'), []);
      assert.deepEqual((await engine.store.inspect('throws'))?.state, null);
      // Every connection of the pool comes back: more transactions than the pool has connections.
      for (let i = 0; i < 12; i++) {
        await engine.store.runInTransaction(
          ref,
          async () => i,
          () => ({ i }),
        );
      }
    });

    it('an abort rolls back at once, even while the work is still running', async () => {
      const ref = await lease('abort', 10_000);
      const controller = new AbortController();
      const reason = new LeaseholdError('run timed out after 1ms');
      const started = Date.now();
      const run = engine.store.runInTransaction(
        ref,
        async (client) => {
          await query(client, insert('abort', ref.token));
          setTimeout(() => controller.abort(reason), 50);
          await sleep(2000);
        },
        () => ({ end: 'abort' }),
        { signal: controller.signal },
      );
      await assert.rejects(run, (err) => err === reason);
      assert.ok(Date.now() - started < 1500, 'rejected when the signal fired, not when the work ended');
      await sleep(100);
      assert.deepEqual(await rowsOf('abort'), []);
      assert.deepEqual((await engine.store.inspect('abort'))?.state, null);
    });

    it('a state that cannot be stored is refused before the check, and the work is rolled back', async () => {
      const ref = await lease('bad-state', 10_000);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await assert.rejects(
        engine.store.runInTransaction(
          ref,
          async (client) => void (await query(client, insert('bad-state', ref.token))),
          () => cyclic as never,
        ),
        ConfigError,
      );
      assert.deepEqual(await rowsOf('bad-state'), []);
    });

    it('ctx.transaction in a scheduled run: row and end record in one commit; a second call is a ConfigError', async () => {
      const lh = new Leasehold({ store: engine.store, holder: 'sched', placement: false });
      const key = `sched-${engine.name}`;
      const seen: { slot: string; token: number; second?: unknown }[] = [];
      lh.every(
        '300ms',
        key,
        async (ctx: JobContext) => {
          assert.ok(ctx.transaction, 'ctx.transaction is offered on a SQL store');
          const slot = ctx.slot.toISOString();
          const got = await ctx.transaction(async (client) => {
            await query(client, insert(slot, ctx.token));
            return slot;
          });
          assert.equal(got, slot);
          const entry: (typeof seen)[number] = { slot, token: ctx.token };
          await ctx
            .transaction(async () => 1)
            .catch((err: unknown) => {
              entry.second = err;
            });
          seen.push(entry);
        },
        { ttl: '5s' },
      );
      await lh.start();
      const deadline = Date.now() + 10_000;
      while (seen.length < 2 && Date.now() < deadline) await sleep(50);
      await lh.stop();
      assert.ok(seen.length >= 2, `runs: ${seen.length}`);
      for (const run of seen) {
        assert.ok(run.second instanceof ConfigError, `second call: ${String(run.second)}`);
        assert.match(String((run.second as Error).message), /already called/);
        assert.equal((await rowsOf(run.slot)).length, 1, `row of ${run.slot}`);
      }
      const record = await engine.store.inspect(key);
      const state = record?.state as { lastSlot?: string; runs?: { slot: string; outcome: string; token: number }[] };
      const last = seen[seen.length - 1];
      assert.ok(last && state.lastSlot && state.lastSlot >= last.slot);
      const ok = state.runs?.find((r) => r.slot === last.slot);
      assert.equal(ok?.outcome, 'ok');
      assert.equal(record?.holder, null, 'stop() released the lease');
    });
  });
}

describe('transactional runs: pools passed by the user', () => {
  let pgDb: TestDatabase;
  let myDb: TestDatabase;
  before(async () => {
    [pgDb, myDb] = await Promise.all([createPostgresDatabase(), createMysqlDatabase()]);
  });
  after(async () => {
    await pgDb?.drop();
    await myDb?.drop();
  });

  it('a pg.Pool and a mysql2 pool work; a single pg.Client is refused with a ConfigError', async () => {
    const pool = new pg.Pool({ connectionString: pgDb.url, max: 3 });
    const mysqlPool = mysql.createPool({ uri: myDb.url, connectionLimit: 3 });
    const client = new pg.Client({ connectionString: pgDb.url });
    await client.connect();
    try {
      for (const store of [new PostgresStore({ pool }), new MysqlStore({ pool: mysqlPool })]) {
        const leaseId = randomUUID();
        const granted = await store.acquire({ key: 'passed', holder: 'h', leaseId, ttlMs: 5000 });
        assert.ok(granted.acquired);
        const ref = { key: 'passed', leaseId, token: granted.token };
        assert.equal(
          await store.runInTransaction(
            ref,
            async (c) => query(c, 'SELECT 1').then(() => 7),
            () => 1,
          ),
          7,
        );
        assert.equal((await store.inspect('passed'))?.state, 1);
      }
      const single = new PostgresStore({ pool: client });
      const leaseId = randomUUID();
      const granted = await single.acquire({ key: 'single', holder: 'h', leaseId, ttlMs: 5000 });
      assert.ok(granted.acquired);
      await assert.rejects(
        single.runInTransaction(
          { key: 'single', leaseId, token: granted.token },
          async () => 1,
          () => 1,
        ),
        (err: unknown) => err instanceof ConfigError && /need the store's pool to be a pg\.Pool/.test(err.message),
      );
    } finally {
      await client.end();
      await pool.end();
      await mysqlPool.end();
    }
  });
});

describe('transactional runs: postgres, commit and isolation edges', () => {
  let engine: Engine;
  before(async () => {
    engine = await postgresEngine();
    // A deferred constraint trigger makes COMMIT itself slow (and refuse a negative id), so a
    // COMMIT can be interrupted on a real server: the server finishes it, the client never hears.
    await engine.exec('CREATE TABLE slow_commit (id int NOT NULL)');
    await engine.exec(`CREATE FUNCTION slow_commit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(1); IF NEW.id < 0 THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NULL; END $$`);
    await engine.exec(`CREATE CONSTRAINT TRIGGER slow_commit_trg AFTER INSERT ON slow_commit
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit_fn()`);
  });
  after(async () => {
    await engine?.store.close();
    await engine?.close();
    await engine?.db.drop();
  });

  const lease = async (key: string, ttlMs: number): Promise<LeaseRef> => {
    const leaseId = randomUUID();
    const granted = await engine.store.acquire({ key, holder: 'edge', leaseId, ttlMs });
    assert.ok(granted.acquired);
    return { key, leaseId, token: granted.token };
  };
  const count = async (id: number) =>
    Number((await engine.select(`SELECT count(*) AS n FROM slow_commit WHERE id = ${id}`))[0]?.n);

  it('an abort during COMMIT waits for its outcome: the server committed, so the run resolves', async () => {
    const ref = await lease('in-doubt-ok', 10_000);
    const controller = new AbortController();
    const result = await engine.store.runInTransaction(
      ref,
      async (client) => {
        await query(client, 'INSERT INTO slow_commit VALUES (1)');
        return 'committed';
      },
      () => {
        // The check and COMMIT follow: abort while COMMIT's trigger sleeps.
        setTimeout(() => controller.abort(new LeaseholdError('run timed out')), 300);
        return { end: 'in-doubt-ok' };
      },
      { signal: controller.signal },
    );
    assert.equal(result, 'committed');
    assert.equal(await count(1), 1);
    assert.deepEqual((await engine.store.inspect('in-doubt-ok'))?.state, { end: 'in-doubt-ok' });
  });

  it('an abort during a COMMIT the server then refuses: rejected, nothing committed', async () => {
    const ref = await lease('in-doubt-refused', 10_000);
    const controller = new AbortController();
    const reason = new LeaseholdError('run timed out');
    const run = engine.store.runInTransaction(
      ref,
      async (client) => void (await query(client, 'INSERT INTO slow_commit VALUES (-2)')),
      () => {
        setTimeout(() => controller.abort(reason), 300);
        return { end: 'in-doubt-refused' };
      },
      { signal: controller.signal },
    );
    await assert.rejects(run, (err) => err === reason);
    assert.equal(await count(-2), 0);
    assert.equal((await engine.store.inspect('in-doubt-refused'))?.state, null);
  });

  it('REPEATABLE READ: a renewal during the transaction makes the check fail with a clear error; rolled back', async () => {
    const ref = await lease('repeatable', 10_000);
    const run = engine.store.runInTransaction(
      ref,
      async (client) => {
        await query(client, 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
        await query(client, 'INSERT INTO slow_commit VALUES (3)');
        // The holder's renewal updates the lease row after this transaction's snapshot.
        assert.ok(await engine.store.renew({ ...ref, ttlMs: 10_000 }));
      },
      () => ({ end: 'repeatable' }),
    );
    await assert.rejects(run, (err: unknown) => {
      assert.ok(err instanceof LeaseholdError && !(err instanceof LeaseLostError), String(err));
      assert.match(err.message, /serialization failure/);
      return true;
    });
    assert.equal(await count(3), 0);
  });

  it('a run that times out during COMMIT is not tried again while that COMMIT may still land', async () => {
    const lh = new Leasehold({ store: engine.store, holder: 'retry', placement: false });
    const tries: number[] = [];
    let first: string | undefined;
    lh.every(
      '1s',
      'retry-during-commit',
      async (ctx: JobContext) => {
        const slot = ctx.slot.toISOString();
        first ??= slot;
        if (slot !== first) return;
        tries.push(ctx.attempt);
        await ctx.transaction?.(async (client) => void (await query(client, 'INSERT INTO slow_commit VALUES (100)')));
      },
      { ttl: '5s', timeout: '400ms', retry: { attempts: 3, backoff: '500ms' } },
    );
    await lh.start();
    const deadline = Date.now() + 6000;
    while (tries.length === 0 && Date.now() < deadline) await sleep(50);
    await sleep(2500);
    await lh.stop();
    assert.deepEqual(tries, [1], 'the committed run is not tried again');
    assert.equal(await count(100), 1);
  });
});
