import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ContainerClient, BlobServiceClient } from '@azure/storage-blob';
import { StaleTokenError } from '../src/errors.js';
import { AzureBlobFence, fencedUpload, TOKEN_METADATA, tryFencedUpload } from '../src/fence/index.js';
import { type Azurite, startAzurite } from './helpers/azurite.js';
import { checkHistory, pausedHolders } from './helpers/fence-scenario.js';

async function textOf(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream ?? []) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

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

  it('paused holders, uploads racing: 0 stale writes accepted, every rejected write is the stale one', async () => {
    const blob = container.getBlockBlobClient('scenario');
    // The observer reads body and metadata in one Get Blob, so each read is one version of
    // the blob (see the next test for why downloadToBuffer cannot be the observer).
    const seen: number[] = [];
    const torn: string[] = [];
    let running = true;
    const observer = (async () => {
      while (running) {
        const reply = await blob.download().catch(() => undefined);
        if (!reply) continue;
        const body = await textOf(reply.readableStreamBody);
        if (body !== reply.metadata?.[TOKEN_METADATA]) torn.push(`${body} / ${reply.metadata?.[TOKEN_METADATA]}`);
        seen.push(Number(body));
      }
    })();
    const results = await pausedHolders((token) => tryFencedUpload(blob, String(token), token), {
      ttlMs: 60,
      workers: 6,
    });
    running = false;
    await observer;
    seen.push(Number(await text('scenario')));
    assert.deepEqual(torn, [], 'a read whose body and token metadata differ');
    checkHistory(results, seen);
  });

  it('why the observer reads in one request: downloadToBuffer is Get Blob Properties, then a ranged Get Blob', async () => {
    // The last session's "stale write accepted on Azurite" (token 1 after 9) was this: the
    // length came from version "9", the range from version "10".
    const blob = container.getBlockBlobClient('split');
    await blob.upload('9', 1);
    const properties = await blob.getProperties();
    await blob.upload('10', 2);
    const range = await blob.download(0, properties.contentLength);
    assert.equal(await textOf(range.readableStreamBody), '1');
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
