/**
 * The README's transactional-run quick start (examples/quick-start/transaction.ts): the
 * README shows exactly its code, and two copies of it run as processes on one PostgreSQL
 * database: each slot's row is written once, and SIGTERM exits 0 with no lease held.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { PostgresStore } from '../src/stores/postgres/index.js';
import { QuickStart, readmeCode } from './helpers/quick-start.js';
import { createPostgresDatabase, type TestDatabase } from './helpers/sql-databases.js';

const FILE = 'examples/quick-start/transaction.ts';
let db: TestDatabase;
before(async () => {
  db = await createPostgresDatabase();
});
after(async () => {
  await db?.drop();
});

it('README: the transactional-run quick start is the file run below', () => {
  const readme = readFileSync('README.md', 'utf8');
  assert.ok(readme.includes(`\`\`\`ts\n${readmeCode(FILE)}\`\`\``), `README.md does not show ${FILE} as it is now`);
});

it('quick start, ctx.transaction: two processes, one row per slot; SIGTERM exits 0 with no lease held', async () => {
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  await pool.query('CREATE TABLE invoice_runs (slot timestamptz, token bigint)');
  const env = { DATABASE_URL: db.url };
  const runs = [new QuickStart(FILE, env), new QuickStart(FILE, env)];
  try {
    // With placement one process owns the job: wait for three slots from either.
    const ran = () => runs.flatMap((run) => run.lines.filter((l) => /^slot .*: 1 row \(token \d+\)$/.test(l.text)));
    const deadline = Date.now() + 30_000;
    while (ran().length < 3 && Date.now() < deadline) await sleep(100);
    assert.ok(ran().length >= 3, runs.map((run) => run.output).join('\n---\n'));
    for (const run of runs) assert.deepEqual(await run.stop(), [0, null], run.output);
    const { rows } = await pool.query('SELECT slot, count(*)::int AS n FROM invoice_runs GROUP BY slot ORDER BY slot');
    assert.ok(rows.length >= 3, `rows: ${JSON.stringify(rows)}`);
    assert.deepEqual(
      rows.filter((r) => r.n !== 1),
      [],
      'a slot written twice',
    );
    assert.equal(ran().length, rows.length, 'each committed slot was printed once, by the process that ran it');
    const store = new PostgresStore({ url: db.url });
    try {
      assert.equal((await store.inspect('invoice-run'))?.holder, null, 'no lease held after both stopped');
    } finally {
      await store.close();
    }
  } finally {
    for (const run of runs) await run.stop();
    await pool.end();
  }
});
