import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MemoryStore } from '../src/stores/memory/index.js';
import { runConformance } from '../src/testing/index.js';

runConformance(it, { create: () => new MemoryStore() });

it('refuses unknown options, with the name they resemble', () => {
  assert.throws(
    () => new MemoryStore({ clok: undefined } as never),
    /memory store: unknown option "clok" \(did you mean "clock"\?\)/,
  );
});
