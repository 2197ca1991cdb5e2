import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, it } from 'node:test';
import { ContainerClient } from '@azure/storage-blob';
import { AzureBlobStore, keyToBlobName } from '../src/stores/azure-blob/index.js';
import { startAzurite } from './helpers/azurite.js';

// Azurite lets any lease id renew an *expired* lease; Azure refuses a lease id that is
// not the blob's. The store must not depend on either: an old holder's renew, fenced
// write and release fail through the store's own check (If-Match on the ETag its
// token write produced, then the lease id and token recorded in the metadata).
const az = await startAzurite();
after(() => az.stop());
const prefix = `expiry-${randomUUID().slice(0, 8)}/`;
const create = () => new AzureBlobStore({ connectionString: az.connectionString, containerName: 'expiry', prefix });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TTL = 15_000;

it('after expiry and a takeover by another lease id, then that lease expiring too, the old holder can no longer act', async (t) => {
  const sa = create();
  const sb = create();
  const key = 'quirk';
  const idA = randomUUID();
  const a = await sa.acquire({ key, holder: 'a', leaseId: idA, ttlMs: TTL });
  assert.ok(a.acquired);
  if (!a.acquired) return;
  assert.equal(await sa.writeState({ key, leaseId: idA, token: a.token, state: 'a' }), true);
  await sleep(TTL + 1200);
  const idB = randomUUID();
  const b = await sb.acquire({ key, holder: 'b', leaseId: idB, ttlMs: TTL });
  assert.ok(b.acquired && b.token > a.token);
  if (!b.acquired) return;
  assert.equal(await sb.writeState({ key, leaseId: idB, token: b.token, state: 'b' }), true);
  await sleep(TTL + 1200); // b's lease expires too: nobody holds the key

  const refA = { key, leaseId: idA, token: a.token };
  // The instance that acquired A (it remembers A's ETag) and a fresh one (it must read).
  for (const [name, s] of [
    ['same instance', sa],
    ['fresh instance', create()],
  ] as const) {
    assert.equal(await s.renew({ ...refA, ttlMs: TTL }), false, `${name}: old holder renews`);
    assert.equal(await s.writeState({ ...refA, state: 'stale' }), false, `${name}: old holder writes`);
    assert.equal(await s.release(refA), false, `${name}: old holder releases`);
  }
  const rec = await sb.inspect(key);
  assert.equal(rec?.token, b.token);
  assert.equal(rec?.holder, null);
  assert.equal(rec?.state, 'b');

  // What the service itself does with A's lease id now (for the record; the assertions
  // above hold either way).
  const raw = new ContainerClient(az.connectionString, 'expiry').getBlockBlobClient(prefix + keyToBlobName(key));
  const verdict = await raw
    .getBlobLeaseClient(idA)
    .renewLease()
    .then(() => 'accepted (Azurite; Azure answers 409 LeaseIdMismatchWithLeaseOperation)')
    .catch((e: { statusCode?: number; code?: string }) => `rejected: ${e.statusCode} ${e.code}`);
  t.diagnostic(`raw SDK renew of the expired lease with the old holder's id: ${verdict}`);
  await raw
    .getBlobLeaseClient(idB)
    .releaseLease()
    .catch(() => {});
  await raw
    .getBlobLeaseClient(idA)
    .releaseLease()
    .catch(() => {});
  // Whatever the service did, the store still refuses the old holder.
  assert.equal(await create().renew({ ...refA, ttlMs: TTL }), false);
  assert.equal(await sa.writeState({ ...refA, state: 'stale' }), false);

  const c = await create().acquire({ key, holder: 'c', leaseId: randomUUID(), ttlMs: TTL });
  assert.ok(c.acquired && c.token > b.token, 'the key is free for a new holder, with a higher token');
  assert.equal((await sb.inspect(key))?.state, 'b');
});
