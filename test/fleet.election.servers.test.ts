/** Leader election and semaphores across real processes, on private NATS, etcd and dynalite servers. */
import { randomUUID } from 'node:crypto';
import { after, before, describe } from 'node:test';
import { storeTests } from './helpers/coordination-fleet.js';
import { type DynaliteServer, startDynalite } from './helpers/dynalite-server.js';
import { startEtcdServer, type EtcdServer } from './helpers/etcd-server.js';
import { startNatsServer, type NatsServer } from './helpers/nats-server.js';

const fresh = () => randomUUID().slice(0, 8);

describe('nats', () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await server?.stop();
  });
  storeTests('nats', () => ({ url: `${server.url}/coord-${fresh()}` }), { ttlMs: 2000 });
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
  storeTests('etcd', () => ({ url: server.url }), { ttlMs: 2000 });
});

describe('dynamodb', () => {
  let server: DynaliteServer;
  before(async () => {
    server = await startDynalite();
  });
  after(async () => {
    await server?.stop();
  });
  // Every worker opens dynamodb://<table>?createTable=true on the private dynalite; a fresh table per run.
  storeTests('dynamodb', () => ({ url: server.url(`coord-${fresh()}`) }), { ttlMs: 2000 });
});
