/**
 * Leader election and semaphores across real processes on Azure Blob (a private Azurite).
 * Azure's shortest blob lease is 15 s, so this file takes about a minute; it runs beside
 * the others.
 */
import { randomUUID } from 'node:crypto';
import { after, before, describe } from 'node:test';
import { type Azurite, startAzurite } from './helpers/azurite.js';
import { storeTests } from './helpers/coordination-fleet.js';

describe('azure-blob', () => {
  let az: Azurite;
  before(async () => {
    az = await startAzurite();
    // Worker processes inherit the environment: azure-blob://<container> reads it.
    process.env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
  });
  after(async () => {
    await az?.stop();
  });
  storeTests('azure-blob', () => ({ url: `azure-blob://coord-${randomUUID().slice(0, 8)}` }), { ttlMs: 15_000 });
});
