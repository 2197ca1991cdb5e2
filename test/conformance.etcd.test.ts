import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { EtcdStore } from '../src/stores/etcd/index.js';
import { runConformance } from '../src/testing/index.js';
import { startEtcdServer, type EtcdServer } from './helpers/etcd-server.js';
import { freePort } from './helpers/ports.js';

// A private single-member etcd; restart() keeps its data dir, so the restart test proves
// that tokens (etcd revisions) keep increasing across a restart (L2).
let server: EtcdServer;
let closedPort: number;
before(async () => {
  server = await startEtcdServer();
  closedPort = await freePort();
});
after(async () => {
  await server?.stop();
});

const prefix = `lh-conf-${randomUUID().slice(0, 8)}/`;

runConformance(it, {
  create: () => new EtcdStore({ url: server.url, prefix }),
  restart: () => server.restart(),
  unreachable: () => new EtcdStore({ url: `etcd://127.0.0.1:${closedPort}`, prefix, requestTimeoutMs: 2000 }),
  ttlMs: 2000,
});
