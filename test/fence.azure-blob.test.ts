import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ContainerClient, BlobServiceClient } from '@azure/storage-blob';
import { StaleTokenError } from '../src/errors.js';
import { AzureBlobFence, fencedUpload, TOKEN_METADATA } from '../src/fence/index.js';
import { type Azurite, startAzurite } from './helpers/azurite.js';

describe('fence on Azure Blob (Azurite)', () => {
  let azurite: Azurite;
  let container: ContainerClient;
  before(async () => {
    azurite = await startAzurite();
    container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('fence');
    await container.create();
  });
  after(async () => {
    await azurite?.stop();
  });

  const text = async (name: string) => (await container.getBlockBlobClient(name).downloadToBuffer()).toString();

  it('writes with the token in metadata and refuses a lower one', async () => {
    const blob = container.getBlockBlobClient('unit.json');
    const first = await fencedUpload(blob, 'one', 5, { metadata: { owner: 'test' } });
    assert.equal(first.accepted, true);
    assert.ok(first.etag);
    await fencedUpload(blob, 'two', 5);
    await assert.rejects(fencedUpload(blob, 'stale', 4), (err: unknown) => {
      assert.ok(err instanceof StaleTokenError);
      assert.equal(err.resource, 'unit.json');
      assert.equal(err.highest, 5);
      return true;
    });
    assert.equal(await text('unit.json'), 'two');
    const properties = await blob.getProperties();
    assert.equal(properties.metadata?.[TOKEN_METADATA], '5');
  });

  it('AzureBlobFence keeps one empty blob per resource', async () => {
    const store = new AzureBlobFence(container, { prefix: 'tokens/' });
    const verdicts = await Promise.all([1, 3, 2].map((token) => store.advance('r', token)));
    assert.ok(verdicts.some((v) => v.accepted));
    assert.deepEqual(await store.advance('r', 2), { accepted: false, highest: 3 });
    const properties = await container.getBlockBlobClient('tokens/r').getProperties();
    assert.equal(properties.metadata?.[TOKEN_METADATA], '3');
  });
});
