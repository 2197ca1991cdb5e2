import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { ConfigError, StaleTokenError } from '../src/errors.js';
import { ensureFenceTable, fence, fenceTableSql, SqlFence, tryFence } from '../src/fence/index.js';
import { checkHistory, pausedHolders } from './helpers/fence-scenario.js';
import { createMysqlDatabase, createPostgresDatabase, type TestDatabase } from './helpers/sql-databases.js';

/** One dialect's client: a transaction around `body`, a pool, and the ledger's SQL. */
interface Side {
  pool: { query(text: string, values?: unknown[]): Promise<unknown> };
  inTransaction<T>(body: (client: Side['pool']) => Promise<T>, commit: (result: T) => boolean): Promise<T>;
  ledgerDdl: string;
  insert: string;
  order(): Promise<number[]>;
  end(): Promise<void>;
}

async function postgresSide(db: TestDatabase): Promise<Side> {
  const pool = new pg.Pool({ connectionString: db.url, max: 6 });
  return {
    pool,
    async inTransaction(body, commit) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await body(client);
        await client.query(commit(result) ? 'COMMIT' : 'ROLLBACK');
        return result;
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      } finally {
        client.release();
      }
    },
    ledgerDdl: 'CREATE TABLE ledger (seq bigserial PRIMARY KEY, token bigint NOT NULL)',
    insert: 'INSERT INTO ledger (token) VALUES ($1)',
    order: async () => (await pool.query('SELECT token FROM ledger ORDER BY seq')).rows.map((r) => Number(r.token)),
    end: () => pool.end(),
  };
}

async function mysqlSide(db: TestDatabase): Promise<Side> {
  const pool = mysql.createPool({ uri: db.url, connectionLimit: 6 });
  return {
    pool,
    async inTransaction(body, commit) {
      const connection = await pool.getConnection();
      try {
        await connection.beginTransaction();
        const result = await body(connection);
        await (commit(result) ? connection.commit() : connection.rollback());
        return result;
      } catch (err) {
        await connection.rollback();
        throw err;
      } finally {
        connection.release();
      }
    },
    ledgerDdl: 'CREATE TABLE ledger (seq BIGINT AUTO_INCREMENT PRIMARY KEY, token BIGINT NOT NULL) ENGINE=InnoDB',
    insert: 'INSERT INTO ledger (token) VALUES (?)',
    order: async () =>
      ((await pool.query('SELECT token FROM ledger ORDER BY seq'))[0] as { token: number }[]).map((r) =>
        Number(r.token),
      ),
    end: () => pool.end(),
  };
}

for (const [name, createDb, open] of [
  ['postgres', createPostgresDatabase, postgresSide],
  ['mysql', createMysqlDatabase, mysqlSide],
] as const) {
  describe(`fence on ${name}`, () => {
    let db: TestDatabase;
    let side: Side;
    before(async () => {
      db = await createDb();
      side = await open(db);
      await ensureFenceTable(side.pool);
      await ensureFenceTable(side.pool); // idempotent
      await side.pool.query(side.ledgerDdl);
    });
    after(async () => {
      await side?.end();
      await db?.drop();
    });

    it('refuses a lower token with StaleTokenError, accepts equal and higher ones', async () => {
      const run = (token: number) =>
        side.inTransaction(
          (c) => fence(c, 'unit', token),
          () => true,
        );
      assert.deepEqual(await run(5), { accepted: true, highest: 5 });
      assert.deepEqual(await run(5), { accepted: true, highest: 5 });
      await assert.rejects(run(4), (err: unknown) => {
        assert.ok(err instanceof StaleTokenError);
        assert.equal(err.code, 'STALE_TOKEN');
        assert.equal(err.resource, 'unit');
        assert.equal(err.token, 4);
        assert.equal(err.highest, 5);
        return true;
      });
      assert.deepEqual(await run(9), { accepted: true, highest: 9 });
      // A rolled-back transaction records nothing.
      await side.inTransaction(
        (c) => tryFence(c, 'unit', 20),
        () => false,
      );
      assert.deepEqual(await run(10), { accepted: true, highest: 10 });
    });

    it('a lower token waiting behind a higher one is judged against the committed higher one', async () => {
      let release: () => void = () => {};
      const held = new Promise<void>((r) => {
        release = r;
      });
      const high = side.inTransaction(
        async (c) => {
          const verdict = await tryFence(c, 'race', 7);
          await held;
          return verdict;
        },
        () => true,
      );
      await new Promise((r) => setTimeout(r, 100));
      const low = side.inTransaction(
        (c) => tryFence(c, 'race', 6),
        () => true,
      );
      await new Promise((r) => setTimeout(r, 100));
      release();
      assert.deepEqual(await high, { accepted: true, highest: 7 });
      assert.deepEqual(await low, { accepted: false, highest: 7 });
    });

    it('paused holders: 0 stale writes accepted, every rejected write is the stale one', async () => {
      const results = await pausedHolders((token) =>
        side.inTransaction(
          async (c) => {
            const verdict = await tryFence(c, 'ledger', token);
            if (verdict.accepted) await c.query(side.insert, [token]);
            return verdict;
          },
          (verdict) => verdict.accepted,
        ),
      );
      checkHistory(results, await side.order());
    });

    it('SqlFence on the pool is a FenceStore, each call its own transaction', async () => {
      const store = new SqlFence(side.pool);
      const verdicts = await Promise.all([3, 1, 2, 3].map((token) => store.advance('pool-resource', token)));
      assert.ok(verdicts.every((v) => v.highest >= 1 && v.highest <= 3));
      assert.deepEqual(await store.advance('pool-resource', 2), { accepted: false, highest: 3 });
      assert.deepEqual(await store.advance('pool-resource', 4), { accepted: true, highest: 4 });
    });

    it('a custom table, and bad input refused before any statement', async () => {
      await ensureFenceTable(side.pool, { table: 'my_fence' });
      assert.deepEqual(await new SqlFence(side.pool, { table: 'my_fence' }).advance('x', 1), {
        accepted: true,
        highest: 1,
      });
      assert.match(fenceTableSql(name, { table: 'my_fence' }), /CREATE TABLE IF NOT EXISTS .my_fence./);
      assert.throws(() => new SqlFence(side.pool, { table: 'bad;name' }), ConfigError);
      await assert.rejects(fence(side.pool, 'x', -1), ConfigError);
      await assert.rejects(fence(side.pool, '', 1), ConfigError);
    });
  });
}
