import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { FileStore } from '../src/stores/file/index.js';
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
