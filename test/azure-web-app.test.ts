import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startAzurite, watchdog } from './helpers/azurite.js';
import { freePort } from './helpers/ports.js';

// A shortened run of examples/azure-web-app: two instances on two ports against Azurite,
// the job every 2 s instead of 10 s.
const az = await startAzurite();
after(() => az.stop());
const app = fileURLToPath(new URL('../examples/azure-web-app/app.ts', import.meta.url));

interface Instance {
  port: number;
  child: ChildProcess;
  lines: string[];
  started: Promise<void>;
}

function launch(port: number, storeUrl: string): Instance {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', watchdog(), app], {
    env: {
      ...process.env,
      PORT: String(port),
      AZURE_STORAGE_CONNECTION_STRING: az.connectionString,
      LEASEHOLD_STORE: storeUrl,
      JOB_EVERY: '2s',
      WORK_MS: '300',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buf = '';
  let onStarted: () => void = () => {};
  const started = new Promise<void>((r) => (onStarted = r));
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const l of parts) {
      lines.push(l);
      if (l.startsWith('Started:')) onStarted();
    }
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  child.once('exit', (code) => {
    onStarted();
    if (code !== 0) lines.push(`exited ${code}: ${err}`);
  });
  return { port, child, lines, started };
}

it('two instances of the web app: both serve HTTP, and each tick of the job runs on exactly one of them', async (t) => {
  const storeUrl = `azure-blob://webapp/run-${randomUUID().slice(0, 8)}/`;
  const ports = [await freePort(), await freePort()];
  const instances = ports.map((p) => launch(p, storeUrl));
  try {
    await Promise.all(instances.map((i) => i.started));
    for (const i of instances) {
      const res = await fetch(`http://127.0.0.1:${i.port}/`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), new RegExp(`port ${i.port}`));
    }
    // Let the job tick about six times.
    await new Promise((r) => setTimeout(r, 12_000));
    const status = (await (await fetch(`http://127.0.0.1:${ports[0]}/status`)).json()) as { job: string };
    assert.equal(status.job, 'Worker');
  } finally {
    for (const i of instances) i.child.kill('SIGTERM');
    await Promise.all(instances.map((i) => (i.child.exitCode === null ? once(i.child, 'exit') : undefined)));
  }
  for (const i of instances) {
    for (const l of i.lines) t.diagnostic(`${i.port}: ${l}`);
    assert.ok(i.lines.includes('Stopped'), `instance ${i.port} stopped cleanly`);
  }
  const ranBy = new Map<string, number[]>();
  const skipped = new Set<string>();
  for (const i of instances) {
    for (const l of i.lines) {
      const run = /^Doing work \(tick (\d\d:\d\d:\d\d),/.exec(l);
      if (run) ranBy.set(run[1] as string, [...(ranBy.get(run[1] as string) ?? []), i.port]);
      const skip = /^Tick (\d\d:\d\d:\d\d) skipped/.exec(l);
      if (skip) skipped.add(skip[1] as string);
    }
  }
  for (const [tick, by] of ranBy) assert.equal(by.length, 1, `tick ${tick} ran on ${by.join(' and ')}`);
  const ticks = [...ranBy.keys(), ...skipped].sort();
  assert.ok(ranBy.size >= 4, `only ${ranBy.size} ticks ran`);
  // No tick between the first and the last was silently lost: it ran once, or was reported skipped.
  const sec = (hms: string) => hms.split(':').reduce((a, b) => a * 60 + Number(b), 0);
  for (let s = sec(ticks[0] as string); s <= sec(ticks[ticks.length - 1] as string); s += 2) {
    const hms = [Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60, s % 60]
      .map((n) => String(n).padStart(2, '0'))
      .join(':');
    assert.ok(ranBy.has(hms) || skipped.has(hms), `tick ${hms} neither ran nor was reported skipped`);
  }
});
