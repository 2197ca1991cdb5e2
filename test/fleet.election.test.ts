/**
 * Leader election and semaphores across real processes, on the folder store, the
 * machine's Redis (a fresh key prefix) and PostgreSQL (a fresh database). NATS and etcd:
 * fleet.election.servers.test.ts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, describe } from 'node:test';
import { storeTests } from './helpers/coordination-fleet.js';
import { createPostgresDatabase, type TestDatabase } from './helpers/sql-databases.js';

describe('folder store', () => {
  storeTests('folder store', () => ({ url: `file:${mkdtempSync(join(tmpdir(), 'leasehold-coord-store-'))}` }), 2000);
});

describe('redis', () => {
  storeTests('redis', () => ({ url: 'redis://127.0.0.1:6379', prefix: `lh-coord-${randomUUID().slice(0, 8)}:` }), 2000);
});

describe('postgres', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createPostgresDatabase();
  });
  after(async () => {
    await database?.drop();
  });
  storeTests('postgres', () => ({ url: database.url }), 2000);
});
