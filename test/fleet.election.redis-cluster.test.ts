/** Leader election and semaphores across real processes on a real Redis Cluster (3 masters, 3 replicas). */
import { randomUUID } from 'node:crypto';
import { after, before, describe } from 'node:test';
import { storeTests } from './helpers/coordination-fleet.js';
import { type RedisCluster, startRedisCluster } from './helpers/redis-cluster.js';

describe('redis cluster', () => {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });
  // Workers open a RedisStore on an ioredis Cluster client (the test-only redis-cluster:// scheme).
  const target = () => ({ url: cluster.url, prefix: `lh-coord-${randomUUID().slice(0, 8)}:` });
  storeTests('redis cluster', target, { ttlMs: 2000 });
});
