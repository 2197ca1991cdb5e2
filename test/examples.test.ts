import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { openStore } from '../src/open.js';
import { freePort } from './helpers/ports.js';

// Each example runs as its own process on a free port, with its job every second: it
// serves HTTP, runs the job, serializes /rebuild, and on SIGTERM exits 0 holding no lease.

async function runExample(name: 'express-app' | 'fastify-app'): Promise<void> {
  const port = await freePort();
  const storeUrl = `file:${mkdtempSync(join(tmpdir(), `leasehold-${name}-`))}`;
  const child = spawn(process.execPath, ['--import', 'tsx', `examples/${name}/app.ts`], {
    env: { ...process.env, PORT: String(port), LEASEHOLD_STORE: storeUrl, JOB_EVERY: '1s', WORK_MS: '100' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const waitFor = async (pattern: RegExp, what: string) => {
    const deadline = performance.now() + 60_000;
    while (!pattern.test(out)) {
      assert.ok(child.exitCode === null, `${name} exited early: ${out}${err}`);
      assert.ok(performance.now() < deadline, `${name}: no ${what} in ${out}${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    await waitFor(/Started: /, 'start line');
    const home = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(home.status, 200);
    assert.match(await home.text(), new RegExp(`port ${port}`));
    const [first, second] = await Promise.all([
      fetch(`http://127.0.0.1:${port}/rebuild`, { method: 'POST' }),
      fetch(`http://127.0.0.1:${port}/rebuild`, { method: 'POST' }),
    ]);
    assert.deepEqual([first.status, second.status].sort(), [200, 409], 'one rebuild at a time');
    await waitFor(/Cleanup for /, 'job run');
    const status = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { stats: { runs: number } };
    assert.ok(status.stats.runs >= 1);
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = await exited;
  assert.equal(code, 0, `${name} exit code; ${out}${err}`);
  assert.match(out, /Stopped/);
  const store = await openStore(storeUrl);
  try {
    const keys = await store.list();
    assert.ok(keys.length >= 1, 'the job and the route used the store');
    for (const key of keys) {
      assert.equal((await store.inspect(key))?.holder ?? null, null, `${key} is not held after shutdown`);
    }
  } finally {
    await store.close();
  }
}

it('examples/express-app: serves, runs its job, one /rebuild at a time; SIGTERM exits 0 with no lease held', async () => {
  await runExample('express-app');
});

it('examples/fastify-app: serves, runs its job, one /rebuild at a time; SIGTERM exits 0 with no lease held', async () => {
  await runExample('fastify-app');
});
