/**
 * Fresh, uniquely named databases on the machine's running PostgreSQL and MariaDB, so
 * test runs never collide; each is dropped by `drop()`.
 *
 * The servers are found at `LEASEHOLD_PG_URL` (default
 * `postgres://postgres@127.0.0.1:5432/postgres`) and `LEASEHOLD_MYSQL_URL` (default
 * `mysql://root@127.0.0.1:3306/mysql`). A server that is not running fails the test.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';

/** URL of the machine's PostgreSQL (an admin login). */
export const PG_ADMIN_URL = process.env.LEASEHOLD_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** URL of the machine's MariaDB/MySQL (an admin login). */
export const MYSQL_ADMIN_URL = process.env.LEASEHOLD_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql';

/** A database created for one test file. */
export interface TestDatabase {
  /** Its name. */
  readonly name: string;
  /** A URL of the admin login pointed at it. */
  readonly url: string;
  /** Drops it (closing any sessions still on it, on PostgreSQL). */
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates `lh_test_<random>` on PostgreSQL. */
export async function createPostgresDatabase(adminUrl = PG_ADMIN_URL): Promise<TestDatabase> {
  const name = `lh_test_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
      await c.connect();
      try {
        // pg.Pool#end() resolves before its clients' sockets have closed: give them up to
        // 1 s to go, so FORCE does not kill a closing connection, whose 'error' would then
        // reach a pool nobody listens to any more (an uncaught exception after the test).
        const waitUntil = Date.now() + 1000;
        const others = async () =>
          Number(
            (await c.query('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [name])).rows[0]?.n ?? 0,
          );
        while (Date.now() < waitUntil && (await others()) > 0) await sleep(50);
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Creates `lh_test_<random>` on MariaDB/MySQL. */
export async function createMysqlDatabase(adminUrl = MYSQL_ADMIN_URL): Promise<TestDatabase> {
  const name = `lh_test_${randomBytes(5).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: adminUrl, connectTimeout: 5000 });
  try {
    await admin.query(`CREATE DATABASE \`${name}\``);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: async () => {
      const c = await mysql.createConnection({ uri: adminUrl, connectTimeout: 5000 });
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
  };
}
