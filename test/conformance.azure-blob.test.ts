import { randomUUID } from 'node:crypto';
import { after, it } from 'node:test';
import { AzureBlobStore } from '../src/stores/azure-blob/index.js';
import { runConformance } from '../src/testing/index.js';
import { startAzurite } from './helpers/azurite.js';
import { freePort } from './helpers/ports.js';

// The whole suite on an in-memory Azurite; the restart case runs in
// conformance.azure-blob-restart.test.ts against an on-disk one.
const az = await startAzurite();
after(() => az.stop());
const prefix = `conf-${randomUUID().slice(0, 8)}/`;
const deadPort = await freePort();

runConformance(it, {
  create: () => new AzureBlobStore({ connectionString: az.connectionString, containerName: 'conformance', prefix }),
  ttlMs: 15_000,
  unreachable: () =>
    new AzureBlobStore({
      connectionString: az.connectionString.replace(`:${az.port}/`, `:${deadPort}/`),
      containerName: 'conformance',
    }),
});
