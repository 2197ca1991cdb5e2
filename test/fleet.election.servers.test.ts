/** Leader election and semaphores across real processes, on private NATS and etcd servers. */
import { randomUUID } from 'node:crypto';
import { after, before, describe } from 'node:test';
import { storeTests } from './helpers/coordination-fleet.js';
import { startEtcdServer, type EtcdServer } from './helpers/etcd-server.js';
import { startNatsServer, type NatsServer } from './helpers/nats-server.js';

describe('nats', () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await server?.stop();
  });
  storeTests('nats', () => ({ url: `${server.url}/coord-${randomUUID().slice(0, 8)}` }), 2000);
});

describe('etcd', () => {
  let server: EtcdServer;
  before(async () => {
    server = await startEtcdServer();
  });
  after(async () => {
    await server?.stop();
  });
  // etcd TTLs are whole seconds, at least 2 s; it deletes an expired lease's keys up to about 500 ms late.
  storeTests('etcd', () => ({ url: server.url }), 2000);
});
