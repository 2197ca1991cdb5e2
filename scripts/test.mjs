#!/usr/bin/env node
// Runs every test file under test/ with node's test runner (TypeScript through tsx).
// Usage: node scripts/test.mjs [substring…]  — only files whose path contains a substring.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'fixtures' ? [] : walk(p);
    return /\.test\.ts$/.test(name) ? [p] : [];
  });
}

const filters = process.argv.slice(2);
// The longest files (60–110 s each on this project's 2-core machine) start first: started
// last, in alphabetical order, they ran alone at the end and set the suite's wall time.
const SLOW_FIRST = [
  'test/credentials.test.ts',
  'test/package.test.ts',
  'test/cli.test.ts',
  'test/examples.test.ts',
  'test/hammer-group.test.ts',
  'test/fence.faults.test.ts',
  'test/transaction.faults.test.ts',
  'test/stress.file.test.ts',
  'test/fleet.azure-blob.test.ts',
  'test/cli-validation.test.ts',
  'test/controls.fleet.test.ts',
  'test/cli-cron.test.ts',
];
const rank = (f) => {
  const i = SLOW_FIRST.indexOf(f.split('\\').join('/'));
  return i < 0 ? SLOW_FIRST.length : i;
};
const files = walk('test')
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort()
  .sort((a, b) => rank(a) - rank(b));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const concurrency = process.env.LEASEHOLD_TEST_CONCURRENCY ?? '5';
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=240000', ...files],
  { stdio: 'inherit' },
);
process.exit(res.status ?? 1);
