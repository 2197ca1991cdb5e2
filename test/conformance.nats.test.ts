import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { NatsKvStore } from '../src/stores/nats/index.js';
import { runConformance } from '../src/testing/index.js';
import { startNatsServer, type NatsServer } from './helpers/nats-server.js';
import { freePort } from './helpers/ports.js';

// A private nats-server with JetStream on file storage: restart() keeps the store folder,
// so the restart test proves tokens (stream sequences) and state survive it (L2, L8).
let server: NatsServer;
let closedPort: number;
before(async () => {
  server = await startNatsServer();
  closedPort = await freePort();
});
after(async () => {
  await server?.stop();
});

const prefix = `conf-${randomUUID().slice(0, 8)}.`;

runConformance(it, {
  create: () => new NatsKvStore({ url: `${server.url}/conformance`, prefix }),
  restart: () => server.restart(),
  unreachable: () => new NatsKvStore({ url: `nats://127.0.0.1:${closedPort}/conformance`, prefix }),
});
