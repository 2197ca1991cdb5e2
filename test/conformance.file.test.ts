import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { FileStore, keyToDirName } from '../src/stores/file/index.js';
import { runConformance } from '../src/testing/index.js';

const dir = mkdtempSync(join(tmpdir(), 'leasehold-conf-'));
// A "folder" whose parent is a regular file: every operation fails like a missing mount.
const blocker = join(dir, 'not-a-dir');
writeFileSync(blocker, '');

runConformance(it, {
  create: () => new FileStore({ dir: join(dir, 'store') }),
  // The folder store persists; "restart" is a new process opening the same folder,
  // which each create() already is — tokens and state must carry over.
  restart: async () => {},
  unreachable: () => new FileStore({ dir: join(blocker, 'store') }),
});

it('refuses unknown options, with the name they resemble', () => {
  assert.throws(
    () => new FileStore({ dir: join(dir, 'store'), keepVersion: 4 } as never),
    /file store: unknown option "keepVersion" \(did you mean "keepVersions"\?\)/,
  );
});

it('reads versions written before marks existed: no mark field is a null mark, and a grant adds one', async () => {
  const store = new FileStore({ dir: join(dir, 'old-versions') });
  const key = 'old-job';
  const keyDir = join(dir, 'old-versions', keyToDirName(key));
  mkdirSync(keyDir, { recursive: true });
  // The record shape of the previous version, released, with a state and no `mark` field.
  const old = { seq: 3, id: randomUUID(), prev: null, key, holder: null, leaseId: null, token: 2, expiresAt: 0 };
  writeFileSync(join(keyDir, 'v000000000003.json'), JSON.stringify({ ...old, state: '{"lastSlot":"s0"}' }));
  const before = await store.inspect(key);
  assert.deepEqual(before, { key, holder: null, token: 2, expiresInMs: null, state: { lastSlot: 's0' }, mark: null });
  const leaseId = randomUUID();
  const granted = await store.acquire({ key, holder: 'h', leaseId, ttlMs: 5000, mark: { slot: 's1' } });
  assert.ok(granted.acquired);
  assert.equal(granted.token, 4, 'the next version number is the token');
  assert.equal(granted.mark, null, 'no earlier mark');
  assert.deepEqual((await store.inspect(key))?.mark, { slot: 's1' });
  assert.equal(await store.release({ key, leaseId, token: granted.token, state: { lastSlot: 's1' } }), true);
  const after = await store.inspect(key);
  assert.deepEqual([after?.state, after?.mark], [{ lastSlot: 's1' }, null]);
});
