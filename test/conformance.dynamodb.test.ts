import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { DynamoDbStore } from '../src/stores/dynamodb/index.js';
import { runConformance } from '../src/testing/index.js';
import { type DynaliteServer, startDynalite } from './helpers/dynalite-server.js';
import { freePort } from './helpers/ports.js';

// A private dynalite on disk: DynamoDB persists, so restart() keeps every item and the
// restart test proves tokens keep counting up across a restart of the service (L2).
let server: DynaliteServer;
let closedPort: number;
before(async () => {
  server = await startDynalite({ persistent: true });
  closedPort = await freePort();
});
after(async () => {
  await server?.stop();
});

const table = `conf-${randomUUID().slice(0, 8)}`;

runConformance(it, {
  create: () => new DynamoDbStore({ table, createTable: true, ...server.storeOptions }),
  restart: () => server.restart(),
  unreachable: () => new DynamoDbStore({ table, ...server.storeOptions, endpoint: `http://127.0.0.1:${closedPort}` }),
});
