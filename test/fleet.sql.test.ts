import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { checkAtMostOnceKill, checkOncePerSlot, checkPlacementTakeover, checkTakeover } from './helpers/fleet.js';
import { createMysqlDatabase, createPostgresDatabase, type TestDatabase } from './helpers/sql-databases.js';

let pgDb: TestDatabase;
let myDb: TestDatabase;
before(async () => {
  pgDb = await createPostgresDatabase();
  myDb = await createMysqlDatabase();
});
after(async () => {
  await pgDb?.drop();
  await myDb?.drop();
});

it('postgres and mariadb: 3 processes each, a job every 1s for 20s: each middle slot ran exactly once; stop leaves no lease', async () => {
  await Promise.all([
    checkOncePerSlot(pgDb.url, { ttl: '3s', ttlMs: 3000 }),
    checkOncePerSlot(myDb.url, { ttl: '3s', ttlMs: 3000 }),
  ]);
});

it('postgres and mariadb: kill -9 of the runner mid-slot is taken over within TTL + one poll, with a higher token', async () => {
  const [p, m] = await Promise.all([
    checkTakeover(pgDb.url, { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' }),
    checkTakeover(myDb.url, { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' }),
  ]);
  console.log(`takeover after kill -9: postgres ${p.takeoverMs}ms, mariadb ${m.takeoverMs}ms (ttl 1500ms)`);
  assert.ok(p.takeoverMs <= 2500, `postgres takeover ${p.takeoverMs}ms`);
  assert.ok(m.takeoverMs <= 2500, `mariadb takeover ${m.takeoverMs}ms`);
});

it('postgres and mariadb, at-most-once: a slot whose runner is killed mid-run is recorded lost, never re-run', async () => {
  const opts = { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' };
  await Promise.all([checkAtMostOnceKill(pgDb.url, opts), checkAtMostOnceKill(myDb.url, opts)]);
});

it('postgres and mariadb, placement: 3 processes share 6 jobs; kill -9 of an owner moves its jobs within TTL + one heartbeat + 1 s (P3)', async () => {
  const opts = { ttl: '1500ms', ttlMs: 1500 };
  const [p, m] = await Promise.all([checkPlacementTakeover(pgDb.url, opts), checkPlacementTakeover(myDb.url, opts)]);
  console.log(
    `placement takeover after kill -9: postgres ${p.takeoverMs}ms (${p.moved} jobs), mariadb ${m.takeoverMs}ms (${m.moved} jobs)`,
  );
});
