/**
 * Leader election and semaphores across real processes, on the folder store and the
 * machine's servers: Redis (a fresh key prefix), PostgreSQL and MariaDB (a fresh database
 * each). NATS, etcd and DynamoDB: fleet.election.servers.test.ts; Azure Blob, Redis
 * Cluster and the memory store: fleet.election.{azure-blob,redis-cluster,memory}.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { storeTests } from './helpers/coordination-fleet.js';
import { createMysqlDatabase, createPostgresDatabase, type TestDatabase } from './helpers/sql-databases.js';

describe('folder store', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'leasehold-coord-store-'));
  storeTests('folder store', () => ({ url: `file:${dir()}` }), { ttlMs: 2000 });
});

describe('redis', () => {
  const prefix = () => `lh-coord-${randomUUID().slice(0, 8)}:`;
  storeTests('redis', () => ({ url: 'redis://127.0.0.1:6379', prefix: prefix() }), { ttlMs: 2000 });
});

/** Registers the tests on a fresh database made by `create`, dropped at the end. */
function sqlTests(name: string, create: () => Promise<TestDatabase>): void {
  describe(name, () => {
    let database: TestDatabase;
    before(async () => {
      database = await create();
    });
    after(async () => {
      await database?.drop();
    });
    storeTests(name, () => ({ url: database.url }), { ttlMs: 2000 });
  });
}

sqlTests('postgres', createPostgresDatabase);
sqlTests('mariadb', createMysqlDatabase);
