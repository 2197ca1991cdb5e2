import { after, before, describe, it } from 'node:test';
import { PostgresStore } from '../src/stores/postgres/index.js';
import { runConformance } from '../src/testing/index.js';
import { startPostgresServer, type PostgresServer } from './helpers/postgres-server.js';
import { freePort } from './helpers/ports.js';
import { createPostgresDatabase, type TestDatabase } from './helpers/sql-databases.js';

// The machine's PostgreSQL, in a database of our own (dropped at the end).
describe("postgres store on the machine's server", () => {
  let db: TestDatabase;
  let closedPort: number;
  before(async () => {
    db = await createPostgresDatabase();
    closedPort = await freePort();
  });
  after(async () => {
    await db?.drop();
  });
  runConformance(it, {
    create: () => new PostgresStore({ url: db.url }),
    unreachable: () => new PostgresStore({ url: `postgres://postgres:hunter2@127.0.0.1:${closedPort}/postgres` }),
  });
});

// A private server of our own, so the suite can restart it (tokens and state must persist).
describe('postgres store on a private server that restarts', () => {
  let server: PostgresServer;
  before(async () => {
    server = await startPostgresServer();
  });
  after(async () => {
    await server?.stop();
  });
  runConformance(it, {
    create: () => new PostgresStore({ url: server.url, schema: 'leases', table: 'conformance' }),
    restart: () => server.restart(true),
  });
});
