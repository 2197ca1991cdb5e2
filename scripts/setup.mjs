#!/usr/bin/env node
// Run before `npm start` and `npm test` (npm's prestart/pretest): on a fresh clone, or
// when package-lock.json changed since the last install, installs the dependencies with
// `npm ci`, so the README's two commands do all the set-up. Uses only Node built-ins.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync('package-lock.json').mtimeMs;
if (stale) {
  console.error('setup: installing dependencies (npm ci)…');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const res = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (res.status !== 0) {
    console.error(`setup: npm ci failed (exit ${res.status ?? res.signal})`);
    process.exit(res.status ?? 1);
  }
}
