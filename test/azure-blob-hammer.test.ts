import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import { startAzurite, watchdog } from './helpers/azurite.js';

const az = await startAzurite();
after(() => az.stop());
const worker = fileURLToPath(new URL('./fixtures/azure-blob-hammer.ts', import.meta.url));

interface Result {
  pid: number;
  runs: { token: number; start: number; end: number }[];
  busy: number;
  errors: string[];
}

interface Worker {
  ready: Promise<void>;
  go(): void;
  result: Promise<Result>;
}

function startWorker(url: string, key: string, runs: number, maxMs: number): Worker {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--import', watchdog(), worker, url, key, String(runs), String(maxMs)],
    {
      env: { ...process.env, AZURE_STORAGE_CONNECTION_STRING: az.connectionString },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('ready\n')) onReady();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const result = new Promise<Result>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      onReady();
      if (code !== 0) return reject(new Error(`worker exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() as string) as Result);
      } catch (e) {
        reject(new Error(`bad worker output: ${out} ${err} (${e})`));
      }
    });
  });
  return { ready, go: () => child.stdin.end('go\n'), result };
}

it('six processes hammering one key through openStore("azure-blob://…") never overlap, and tokens strictly increase in time order', async (t) => {
  const url = `azure-blob://hammer/run-${randomUUID().slice(0, 8)}/`;
  // Start together once every process has loaded tsx and the SDK (seconds on a busy machine).
  const workers = Array.from({ length: 6 }, () => startWorker(url, 'the-key', 5, 40_000));
  await Promise.all(workers.map((w) => w.ready));
  for (const w of workers) w.go();
  const results = await Promise.all(workers.map((w) => w.result));
  const runs = results.flatMap((r) => r.runs.map((run) => ({ ...run, pid: r.pid }))).sort((a, b) => a.start - b.start);
  const errors = results.flatMap((r) => r.errors);
  t.diagnostic(
    `${runs.length} runs by ${results.filter((r) => r.runs.length > 0).length} processes; ${results.reduce((n, r) => n + r.busy, 0)} busy answers; errors: ${errors.length}`,
  );
  assert.deepEqual(errors, []);
  assert.ok(runs.length >= 15, `only ${runs.length} runs`);
  assert.ok(results.filter((r) => r.runs.length > 0).length >= 3, 'several processes got the key');
  for (let i = 1; i < runs.length; i++) {
    const prev = runs[i - 1] as (typeof runs)[number];
    const cur = runs[i] as (typeof runs)[number];
    assert.ok(
      prev.end <= cur.start,
      `overlap: pid ${prev.pid} token ${prev.token} [${prev.start}, ${prev.end}] and pid ${cur.pid} token ${cur.token} starting ${cur.start}`,
    );
    assert.ok(cur.token > prev.token, `token ${cur.token} (pid ${cur.pid}) after ${prev.token} (pid ${prev.pid})`);
  }
});
