import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { ConfigError, StaleTokenError } from '../src/errors.js';
import {
  checkFence,
  expressFence,
  fastifyFence,
  type FenceStore,
  fenceHeaders,
  type FenceVerdict,
  httpFence,
  MemoryFence,
  readFenceHeaders,
  RedisFence,
} from '../src/fence/index.js';
import { checkHistory, pausedHolders } from './helpers/fence-scenario.js';

describe('fence basics', () => {
  it('MemoryFence accepts equal and higher tokens and refuses lower ones', async () => {
    const store = new MemoryFence();
    assert.deepEqual(await store.advance('r', 3), { accepted: true, highest: 3 });
    assert.deepEqual(await store.advance('r', 3), { accepted: true, highest: 3 });
    assert.deepEqual(await store.advance('r', 2), { accepted: false, highest: 3 });
    assert.deepEqual(await store.advance('other', 0), { accepted: true, highest: 0 });
    assert.equal(store.highest('r'), 3);
    await assert.rejects(checkFence(store, 'r', 1), StaleTokenError);
    await assert.rejects(checkFence(store, 'r', 1.5), ConfigError);
    await assert.rejects(checkFence(store, '', 1), ConfigError);
  });

  it('headers out, headers in', () => {
    const headers = fenceHeaders('job', 42);
    assert.deepEqual(headers, { 'Leasehold-Key': 'job', 'Leasehold-Token': '42' });
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    assert.deepEqual(readFenceHeaders(lower), { kind: 'fenced', key: 'job', token: 42 });
    assert.deepEqual(readFenceHeaders({}), { kind: 'none' });
    for (const token of ['-1', '1.5', '01', 'x', '99999999999999999']) {
      assert.equal(readFenceHeaders({ 'leasehold-key': 'job', 'leasehold-token': token }).kind, 'invalid', token);
    }
    assert.equal(readFenceHeaders({ 'leasehold-token': '1' }).kind, 'invalid');
  });
});

/** A server whose PUT applies a write (appends its token) once the fence lets it through. */
type Start = (store: FenceStore, log: number[]) => Promise<{ url: string; close(): Promise<void> }>;

const tokenOf = (req: IncomingMessage) => Number(req.headers['leasehold-token']);

async function listen(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/resource`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const servers: Record<string, Start> = {
  'node http': (store, log) => {
    const fenced = httpFence({ store });
    return listen(
      createServer(async (req: IncomingMessage, res: ServerResponse) => {
        if (!(await fenced(req, res))) return;
        log.push(tokenOf(req));
        res.end('ok');
      }),
    );
  },
  express: (store, log) => {
    const app = express();
    app.put('/resource', expressFence({ store }), (req, res) => {
      log.push(tokenOf(req));
      res.send('ok');
    });
    return listen(createServer(app));
  },
  fastify: async (store, log) => {
    const app = Fastify();
    app.put('/resource', { preHandler: fastifyFence({ store }) }, async (request) => {
      log.push(tokenOf(request.raw));
      return 'ok';
    });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: `${address}/resource`, close: () => app.close() };
  },
};

for (const [name, start] of Object.entries(servers)) {
  describe(`HTTP fence: ${name}`, () => {
    it('answers 409 to a stale token, 428 without headers, 400 to a bad token, 503 when the fence fails', async () => {
      const log: number[] = [];
      const server = await start(new MemoryFence(), log);
      try {
        const put = (headers: Record<string, string>) => fetch(server.url, { method: 'PUT', headers });
        assert.equal((await put(fenceHeaders('job', 5))).status, 200);
        const stale = await put(fenceHeaders('job', 4));
        assert.equal(stale.status, 409);
        assert.deepEqual(await stale.json(), { error: 'stale token', resource: 'job', token: 4, highest: 5 });
        assert.equal((await put({})).status, 428);
        assert.equal((await put({ 'Leasehold-Key': 'job', 'Leasehold-Token': 'abc' })).status, 400);
        assert.deepEqual(log, [5]);
      } finally {
        await server.close();
      }
      const broken: FenceStore = { advance: () => Promise.reject(new Error('fence store down')) };
      const down = await start(broken, log);
      try {
        const reply = await fetch(down.url, { method: 'PUT', headers: fenceHeaders('job', 9) });
        assert.equal(reply.status, 503);
        assert.deepEqual(log, [5]);
      } finally {
        await down.close();
      }
    });

    it('concurrent clients with old and new tokens: 0 stale writes accepted, every 409 is the stale one', async () => {
      const log: number[] = [];
      const server = await start(new MemoryFence(), log);
      try {
        const results = await pausedHolders((token) => putFenced(server.url, token), { workers: 6 });
        checkHistory(results, log);
      } finally {
        await server.close();
      }
    });
  });
}

describe('HTTP fence: two servers sharing a RedisFence', () => {
  it('clients with old and new tokens on either server: a token refused on one after a newer one on the other', async () => {
    const url = process.env.LEASEHOLD_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const prefix = `lh-test-http-fence-${Math.random().toString(36).slice(2, 8)}:`;
    const clients = [new Redis(url), new Redis(url)];
    const logs: number[][] = [[], []];
    const start = servers['node http'] as Start;
    const running = await Promise.all(
      clients.map((client, i) => start(new RedisFence(client, { prefix }), logs[i] ?? [])),
    );
    try {
      const write = (token: number) => putFenced((running[Math.random() < 0.5 ? 0 : 1] as { url: string }).url, token);
      const results = await pausedHolders(write, { workers: 6 });
      // Each server applies in the order the shared fence accepted (one connection each: replies in order).
      for (const log of logs) checkHistory(results, log);
      const accepted = results.filter((r) => r.verdict.accepted).map((r) => r.token);
      assert.equal(Number(await clients[0]?.get(`${prefix}job`)), Math.max(...accepted));
    } finally {
      await Promise.all(running.map((server) => server.close()));
      const keys = await clients[0]?.keys(`${prefix}*`);
      if (keys?.length) await clients[0]?.del(...keys);
      for (const client of clients) client.disconnect();
    }
  });
});

/** A PUT with key `job` and `token` in the fence headers: 200 is accepted, 409 names the highest token. */
async function putFenced(url: string, token: number): Promise<FenceVerdict> {
  const reply = await fetch(url, { method: 'PUT', headers: fenceHeaders('job', token) });
  if (reply.status === 200) {
    await reply.text();
    return { accepted: true, highest: token };
  }
  assert.equal(reply.status, 409);
  return { accepted: false, highest: ((await reply.json()) as { highest: number }).highest };
}
