import { it } from 'node:test';
import { MemoryStore } from '../src/stores/memory/index.js';
import { runConformance } from '../src/testing/index.js';

runConformance(it, { create: () => new MemoryStore() });
