import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { KeyStatus, StatusDocument } from '../src/cli/admin.js';
import { openStore } from '../src/open.js';
import { freePort } from './helpers/ports.js';
import { QuickStart, readmeCode } from './helpers/quick-start.js';

const execFileAsync = promisify(execFile);

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

// The README's quick starts (examples/quick-start/): the README shows exactly their code,
// and each runs here as a small fleet of processes on a folder store.

const QUICK = 'examples/quick-start';
const NESTJS_TSCONFIG = `${QUICK}/nestjs/tsconfig.json`;
const folderStore = (name: string) => `file:${mkdtempSync(join(tmpdir(), `leasehold-quick-${name}-`))}`;

it('README and docs: the NestJS, node-cron, election and semaphore quick starts are the files run below', () => {
  const pages: [string, string[]][] = [
    ['README.md', ['nestjs/app.ts', 'node-cron.ts', 'election.ts', 'semaphore.ts']],
    ['docs/election-and-semaphores.md', ['election.ts', 'semaphore.ts']],
  ];
  for (const [page, files] of pages) {
    const text = readFileSync(page, 'utf8');
    for (const file of files) {
      const code = readmeCode(`${QUICK}/${file}`);
      assert.ok(text.includes(`\`\`\`ts\n${code}\`\`\``), `${page} does not show ${QUICK}/${file} as it is now`);
    }
  }
});

/** `leasehold status --key <key> --json` through the CLI's source: the key's entry. */
async function cliStatus(storeUrl: string, key: string): Promise<KeyStatus> {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'status', '--store', storeUrl, '--key', key, '--json'];
  const { stdout } = await execFileAsync(process.execPath, args, { timeout: 30_000 });
  return (JSON.parse(stdout) as StatusDocument).keys[0] as KeyStatus;
}

/** The store's holder of `key` (null when free), read once. */
async function holderOf(storeUrl: string, key: string): Promise<string | null> {
  const store = await openStore(storeUrl);
  try {
    return (await store.inspect(key))?.holder ?? null;
  } finally {
    await store.close();
  }
}

it('quick start, leader election: one leader, named by `leasehold status`; SIGTERM hands over within 1 s; exits 0', async () => {
  const LEASEHOLD_STORE = folderStore('election');
  const a = new QuickStart(`${QUICK}/election.ts`, { LEASEHOLD_STORE });
  let b: QuickStart | undefined;
  try {
    const holder = (await a.waitFor(/^campaigning as /, 30_000)).text.slice('campaigning as '.length);
    const elected = await a.waitFor(/^leader: /, 10_000);
    assert.match(elected.text, new RegExp(`^leader: ${holder}, term \\d+$`));
    b = new QuickStart(`${QUICK}/election.ts`, { LEASEHOLD_STORE });
    await b.waitFor(/^campaigning as /, 30_000);
    const status = await cliStatus(LEASEHOLD_STORE, 'billing-leader');
    assert.deepEqual([status.held, status.holder], [true, holder], '`leasehold status` names the leader');
    assert.ok(!b.lines.some((l) => l.text.startsWith('leader: ')), 'one leader at a time');

    const stoppedAt = performance.now();
    const [code] = await a.stop();
    const next = await b.waitFor(/^leader: /, 5000, stoppedAt);
    const handoverMs = next.at - stoppedAt;
    console.log(`quick start, leader election: the second process led ${handoverMs.toFixed(0)}ms after SIGTERM`);
    assert.equal(code, 0, a.output);
    assert.match(a.output, /term \d+ ended: resigned/);
    assert.ok(handoverMs <= 1000, `new leader ${handoverMs}ms after SIGTERM`);
    assert.deepEqual(await b.stop(), [0, null], b.output);
    assert.equal(await holderOf(LEASEHOLD_STORE, 'billing-leader'), null, 'no leader after both stopped');
  } finally {
    a.child.kill('SIGKILL');
    b?.child.kill('SIGKILL');
  }
});

it('quick start, semaphore: 4 processes on 3 permits: each exports once, never 4 at once, tokens never repeat', async () => {
  const LEASEHOLD_STORE = folderStore('semaphore');
  const runs = Array.from({ length: 4 }, () => new QuickStart(`${QUICK}/semaphore.ts`, { LEASEHOLD_STORE }));
  try {
    for (const run of runs) assert.deepEqual(await run.finished(90_000), [0, null], run.output);
    const exports = runs.map((run) => {
      const start = run.lines.find((l) => /^export on exports#\d \(token \d+\)$/.test(l.text));
      const done = run.lines.find((l) => /^export on exports#\d done$/.test(l.text));
      assert.ok(start && done, run.output);
      return { start, done, permit: start.text.split(' ').slice(2).join(' ') };
    });
    assert.equal(new Set(exports.map((e) => e.permit)).size, 4, 'each (permit key, token) once');
    // As the test saw the lines: a done line may reach it up to one event-loop turn late, so
    // each export counts as ended 50 ms before its done line arrived (it printed, then released).
    const edges = exports.flatMap((e) => [
      { at: e.start.at, step: 1 },
      { at: e.done.at - 50, step: -1 },
    ]);
    edges.sort((x, y) => x.at - y.at || x.step - y.step);
    let inside = 0;
    let most = 0;
    for (const edge of edges) {
      inside += edge.step;
      most = Math.max(most, inside);
    }
    console.log(`quick start, semaphore: at most ${most} exports at once`);
    assert.ok(most <= 3, `${most} exports at once`);
  } finally {
    for (const run of runs) run.child.kill('SIGKILL');
  }
});

/** Waits until the processes together print `count` lines starting with `prefix` from now on. */
async function printedByAny(runs: QuickStart[], prefix: string, count: number, timeoutMs: number): Promise<void> {
  const from = performance.now();
  const seen = () => runs.flatMap((r) => r.lines).filter((l) => l.at > from && l.text.startsWith(prefix)).length;
  while (seen() < count) {
    assert.ok(performance.now() < from + timeoutMs, `fewer than ${count} "${prefix}" lines in ${timeoutMs}ms`);
    await sleep(50);
  }
}

/** Lines `<verb> <ISO slot> on <pid> (token <n>)` of every process, each slot once across them. */
function checkSlotsOnce(runs: QuickStart[], verb: string, atLeast: number): void {
  const pattern = new RegExp(`^${verb} (\\S+) on (\\d+) \\(token (\\d+)\\)$`);
  const slots = runs.flatMap((run) => run.lines.map((l) => pattern.exec(l.text)?.[1]).filter((s) => s !== undefined));
  const counts = new Map<string, number>();
  for (const slot of slots) counts.set(slot, (counts.get(slot) ?? 0) + 1);
  for (const [slot, count] of counts) assert.equal(count, 1, `${slot} ran ${count} times`);
  assert.ok(counts.size >= atLeast, `${counts.size} slots ran:\n${runs.map((r) => r.output).join('\n')}`);
}

it('quick start, node-cron: 2 processes, each fire runs on one of them; SIGTERM exits 0 holding nothing', async () => {
  const LEASEHOLD_STORE = folderStore('node-cron');
  const runs = [0, 1].map(() => new QuickStart(`${QUICK}/node-cron.ts`, { LEASEHOLD_STORE }));
  try {
    for (const run of runs) await run.waitFor(/^scheduled on /, 30_000);
    await printedByAny(runs, 'sync ', 2, 15_000);
    for (const run of runs) assert.deepEqual(await run.stop(), [0, null], run.output);
    checkSlotsOnce(runs, 'sync', 2);
    assert.equal(await holderOf(LEASEHOLD_STORE, 'sync'), null);
  } finally {
    for (const run of runs) run.child.kill('SIGKILL');
  }
});

it('quick start, NestJS: type-checks with experimentalDecorators; 2 apps, each slot once; SIGTERM releases', async () => {
  await execFileAsync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', NESTJS_TSCONFIG, '--noEmit'], {
    timeout: 120_000,
  });
  const env = { LEASEHOLD_STORE: folderStore('nestjs'), TSX_TSCONFIG_PATH: NESTJS_TSCONFIG };
  const runs = [0, 1].map(() => new QuickStart(`${QUICK}/nestjs/app.ts`, env));
  try {
    for (const run of runs) await run.waitFor(/^started on /, 60_000);
    await printedByAny(runs, 'refresh ', 2, 15_000);
    // NestJS closes the app on SIGTERM, then raises the signal again: the process ends by it.
    for (const run of runs) assert.deepEqual(await run.stop(), [null, 'SIGTERM'], run.output);
    checkSlotsOnce(runs, 'refresh', 2);
    assert.equal(await holderOf(env.LEASEHOLD_STORE, 'Reports.refresh'), null, 'the job released its lease');
  } finally {
    for (const run of runs) run.child.kill('SIGKILL');
  }
});
