import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, it } from 'node:test';
import { StoreUnavailableError } from '../src/errors.js';
import { AzureBlobStore } from '../src/stores/azure-blob/index.js';
import { runConformance, type TestFn } from '../src/testing/index.js';
import { startAzurite } from './helpers/azurite.js';

// Azurite persisting to disk, restarted gracefully (SIGTERM): its metadata database is
// flushed on exit. (A SIGKILL loses up to its 5 s autosave interval of writes — tokens
// included — which is Azurite's durability, not the store's; Azure itself is durable.)
const az = await startAzurite({ disk: true });
after(() => az.stop());
const prefix = `restart-${randomUUID().slice(0, 8)}/`;
const create = () => new AzureBlobStore({ connectionString: az.connectionString, containerName: 'restart', prefix });

// Only the restart case of the shared suite; the rest runs in conformance.azure-blob.test.ts.
const onlyRestart: TestFn = (name, fn) => (name.includes('restart') ? it(name, fn) : undefined);
runConformance(onlyRestart, { create, ttlMs: 15_000, restart: () => az.restart() });

async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

it('a lease held across a restart keeps its token and state; the next holder after a break gets a higher token', async () => {
  const s = create();
  const key = `held-${randomUUID().slice(0, 6)}`;
  const id = randomUUID();
  const a = await s.acquire({ key, holder: 'before', leaseId: id, ttlMs: 15_000 });
  assert.ok(a.acquired);
  if (!a.acquired) return;
  assert.equal(await s.writeState({ key, leaseId: id, token: a.token, state: { slot: 1 } }), true);
  await az.restart();
  const s2 = create();
  const rec = await retrying(() => s2.inspect(key));
  assert.equal(rec?.token, a.token);
  assert.deepEqual(rec?.state, { slot: 1 });
  // The holder's own store still renews and writes (the lease survived the restart).
  assert.equal(await s.renew({ key, leaseId: id, token: a.token, ttlMs: 15_000 }), true);
  assert.equal(await s.writeState({ key, leaseId: id, token: a.token, state: { slot: 2 } }), true);
  assert.equal((await s2.acquire({ key, holder: 'after', leaseId: randomUUID(), ttlMs: 15_000 })).acquired, false);
  assert.equal(await s2.forceRelease(key), true);
  const b = await s2.acquire({ key, holder: 'after', leaseId: randomUUID(), ttlMs: 15_000 });
  assert.ok(b.acquired && b.token > a.token, 'higher token after restart and break');
  assert.deepEqual(b.acquired && b.state, { slot: 2 });
});
