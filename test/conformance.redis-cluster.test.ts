import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Cluster } from 'ioredis';
import { RedisStore } from '../src/stores/redis/index.js';
import { runConformance } from '../src/testing/index.js';
import { freePort } from './helpers/ports.js';
import { startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js';

// A real Redis Cluster: 3 masters, 3 replicas, cluster-node-timeout 1000 ms. The store
// takes it as an ioredis Cluster client; docs/stores/redis.md ("Redis Cluster").
let cluster: RedisCluster;
let client: Cluster;
before(async () => {
  cluster = await startRedisCluster();
  client = await cluster.client();
});
after(async () => {
  await client?.quit().catch(() => {});
  await cluster?.stop();
});

const prefix = `lh-cluster-${randomUUID().slice(0, 8)}:`;

/** Kills every master in turn (SIGKILL): its replica takes over, then it rejoins as a replica. */
async function rollingFailover(): Promise<void> {
  const masters = (await cluster.nodes()).filter((n) => n.role === 'master' && n.slots.length > 0);
  for (const master of masters) {
    await cluster.killNode(master.port);
    await cluster.waitForFailover(master.port);
    await cluster.restartNode(master.port);
    await cluster.waitHealthy();
  }
}

describe('Redis Cluster, 3 masters + 3 replicas: conformance', () => {
  runConformance(it, {
    create: () => new RedisStore({ client, prefix }),
    prefix: `conf-${randomUUID().slice(0, 6)}-`,
    // Every master is killed in turn: tokens keep increasing across three promotions.
    restart: rollingFailover,
    unreachable: async () => {
      const { Cluster: ClusterClient } = await import('ioredis');
      const nothing = new ClusterClient([{ host: '127.0.0.1', port: await freePort() }], { lazyConnect: true });
      nothing.on('error', () => {});
      return Object.assign(new RedisStore({ client: nothing, prefix, requestTimeoutMs: 1000 }), {
        close: async () => nothing.disconnect(),
      });
    },
  });
});

describe('Redis Cluster, 3 masters + 3 replicas: keys and failover', () => {
  it('claims neither the waiter check in the acquire nor request order (a redirect resends)', async () => {
    const store = new RedisStore({ client, prefix });
    const { checksWaiters, ordered } = store.capabilities;
    await store.close();
    assert.deepEqual({ checksWaiters, ordered }, { checksWaiters: false, ordered: false });
  });

  it('keys spread over every master, and list() and inspectAll() see every one of them', async () => {
    const store = new RedisStore({ client, prefix });
    const base = `spread-${randomUUID().slice(0, 6)}-`;
    const names = Array.from({ length: 60 }, (_, i) => `${base}${i}`);
    for (const name of names)
      assert.ok((await store.acquire({ key: name, holder: 'h', leaseId: randomUUID(), ttlMs: 60_000 })).acquired);
    const perMaster = new Map<number, number>();
    for (const name of names) {
      const master = await cluster.masterOf(`${prefix}{${name}}`);
      perMaster.set(master.port, (perMaster.get(master.port) ?? 0) + 1);
      // The state hash and the lease hash are in one slot, so on one master.
      const node = await cluster.node(master.port);
      assert.equal(await node.exists(`${prefix}{${name}}`, `${prefix}{${name}}:lease`), 2, name);
    }
    assert.equal(perMaster.size, 3, `keys per master: ${JSON.stringify([...perMaster])}`);
    assert.deepEqual((await store.list({ prefix: base })).sort(), [...names].sort());
    // inspectAll reads many slots of each master in one script per master: 3 requests here.
    await store.inspectAll({ prefix: base }); // loads the script on every master (NOSCRIPT, then EVAL)
    let sent = 0;
    const masters = client.nodes('master');
    const originals = masters.map((node) => node.sendCommand.bind(node));
    masters.forEach((node, i) => {
      node.sendCommand = (...args: Parameters<typeof node.sendCommand>) => {
        sent += 1;
        return (originals[i] as typeof node.sendCommand)(...args);
      };
    });
    let records: Awaited<ReturnType<typeof store.inspectAll>>;
    try {
      records = await store.inspectAll({ prefix: base });
    } finally {
      masters.forEach((node, i) => {
        node.sendCommand = originals[i] as typeof node.sendCommand;
      });
    }
    assert.equal(sent, masters.length, `inspectAll: ${sent} requests for ${masters.length} masters`);
    assert.deepEqual(records.map((record) => record.key).sort(), [...names].sort());
    for (const record of records) assert.equal(record.holder, 'h', record.key);
  });

  it('a killed master: its replica is promoted, no key has two holders, tokens never go down', async () => {
    const holderA = new RedisStore({ client, prefix });
    const other = await cluster.client();
    const holderB = new RedisStore({ client: other, prefix });
    try {
      const base = `failover-${randomUUID().slice(0, 6)}-`;
      const names = Array.from({ length: 30 }, (_, i) => `${base}${i}`);
      const leases = new Map<string, { leaseId: string; token: number }>();
      for (const name of names) {
        const leaseId = randomUUID();
        const granted = await holderA.acquire({ key: name, holder: 'A', leaseId, ttlMs: 60_000 });
        assert.ok(granted.acquired);
        leases.set(name, { leaseId, token: granted.token });
      }
      const victim = await cluster.masterOf(`${prefix}{${names[0]}}`);
      const onVictim: string[] = [];
      for (const name of names)
        if ((await cluster.masterOf(`${prefix}{${name}}`)).port === victim.port) onVictim.push(name);
      // B keeps trying to take every key while the master dies and its replica takes over.
      let contending = true;
      const stolen: string[] = [];
      const contender = (async () => {
        while (contending) {
          for (const name of names) {
            const answer = await holderB
              .acquire({ key: name, holder: 'B', leaseId: randomUUID(), ttlMs: 60_000 })
              .catch(() => undefined);
            if (answer?.acquired) stolen.push(name);
          }
        }
      })();
      const killedAt = performance.now();
      await cluster.killNode(victim.port);
      const promoted = await cluster.waitForFailover(victim.port);
      const failoverMs = Math.round(performance.now() - killedAt);
      console.log(
        `redis cluster: master ${victim.port} killed, replica ${promoted.port} serves its slots after ${failoverMs}ms`,
      );
      await new Promise((r) => setTimeout(r, 500));
      contending = false;
      await contender;
      assert.deepEqual(stolen, [], 'no key was granted to B while A held it');
      assert.ok(onVictim.length > 0);
      // By the promoted master's own view (asked directly), A still holds its keys.
      const direct = await cluster.node(promoted.port);
      for (const name of onVictim) {
        const lease = await direct.hgetall(`${prefix}{${name}}:lease`);
        assert.equal(lease.holder, 'A', `${name} on the promoted master: ${JSON.stringify(lease)}`);
        assert.equal(Number(lease.token), leases.get(name)?.token);
      }
      // A renews and releases; B then gets every key with a higher token.
      for (const name of names) {
        const lease = leases.get(name) as { leaseId: string; token: number };
        assert.equal(
          await holderA.renew({ key: name, leaseId: lease.leaseId, token: lease.token, ttlMs: 60_000 }),
          true,
        );
        assert.equal(await holderA.release({ key: name, ...lease }), true);
        const next = await holderB.acquire({ key: name, holder: 'B', leaseId: randomUUID(), ttlMs: 1000 });
        assert.ok(next.acquired && next.token > lease.token, `${name}: ${JSON.stringify(next)} after ${lease.token}`);
      }
      await cluster.restartNode(victim.port);
      await cluster.waitHealthy();
      const rejoined = (await cluster.nodes()).find((n) => n.port === victim.port);
      assert.equal(rejoined?.role, 'replica', 'the killed master came back as a replica');
      assert.equal((await holderB.list({ prefix: base })).length, names.length, 'list() after the failover');
    } finally {
      await other.quit().catch(() => {});
    }
  });
});
