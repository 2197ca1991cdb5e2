import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { RedisStore } from '../src/stores/redis/index.js';
import { runConformance } from '../src/testing/index.js';
import { freePort } from './helpers/ports.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

// A private redis-server without persistence: restart() loses every key, so the restart
// test proves that tokens keep increasing across total data loss (L2).
let server: RedisServer;
let closedPort: number;
before(async () => {
  server = await startRedisServer();
  closedPort = await freePort();
});
after(async () => {
  await server?.stop();
});

const prefix = `lh-conf-${randomUUID().slice(0, 8)}:`;

runConformance(it, {
  create: () => new RedisStore({ url: server.url, prefix }),
  restart: () => server.restart(),
  unreachable: () => new RedisStore({ url: `redis://127.0.0.1:${closedPort}`, prefix }),
});

it('one server: claims the waiter check in the acquire and request order (one connection)', async () => {
  const store = new RedisStore({ url: server.url, prefix });
  const { checksWaiters, ordered } = store.capabilities;
  await store.close();
  assert.deepEqual({ checksWaiters, ordered }, { checksWaiters: true, ordered: true });
});
