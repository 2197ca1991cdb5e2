import { after, before, describe, it } from 'node:test';
import { MysqlStore } from '../src/stores/mysql/index.js';
import { runConformance } from '../src/testing/index.js';
import { startMariaDbServer, type MariaDbServer } from './helpers/mariadb-server.js';
import { freePort } from './helpers/ports.js';
import { createMysqlDatabase, type TestDatabase } from './helpers/sql-databases.js';

// The machine's MariaDB, in a database of our own (dropped at the end).
describe("mysql store on the machine's MariaDB", () => {
  let db: TestDatabase;
  let closedPort: number;
  before(async () => {
    db = await createMysqlDatabase();
    closedPort = await freePort();
  });
  after(async () => {
    await db?.drop();
  });
  runConformance(it, {
    create: () => new MysqlStore({ url: db.url }),
    unreachable: () => new MysqlStore({ url: `mysql://root:hunter2@127.0.0.1:${closedPort}/leasehold` }),
  });
});

// A private MariaDB of our own, so the suite can restart it (killed: tokens and state
// must survive a crash). Single-statement mode here, as with a pool that does not allow
// several statements per query.
describe('mysql store on a private MariaDB that restarts', () => {
  let server: MariaDbServer;
  before(async () => {
    server = await startMariaDbServer();
  });
  after(async () => {
    await server?.stop();
  });
  runConformance(it, {
    create: () => new MysqlStore({ url: `${server.url}?table=conformance`, multipleStatements: false }),
    restart: () => server.restart(true),
  });
});
