/**
 * `leasehold status --watch`: the status view read again every --interval, redrawn in
 * place on a terminal, one view after another on a pipe, one JSON line per read with
 * --json; it stops cleanly (exit 0) on SIGINT and SIGTERM. Runs the CLI from source on a
 * folder store whose keys change while it watches.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderFrame } from '../src/cli/watch.js';
import { openStore } from '../src/open.js';
import type { LeaseStore } from '../src/store.js';
import type { StatusDocument } from '../src/ui/index.js';
import { runCli } from './helpers/cli-source.js';

/** The escape character that starts terminal control sequences. */
const ESC = '\u001b';
let dir: string;
let url: string;
let store: LeaseStore;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'leasehold-watch-'));
  url = `file:${dir}`;
  store = await openStore(url);
  await hold('first/key');
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function hold(key: string): Promise<void> {
  const granted = await store.acquire({ key, holder: 'host-a:1', leaseId: randomUUID(), ttlMs: 60_000 });
  assert.ok(granted.acquired);
}

function watch(args: string[]): { child: ChildProcessWithoutNullStreams; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'status', '--store', url, ...args], {
    env: { ...process.env, LEASEHOLD_STORE: '' },
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  return { child, output: () => out };
}

async function until(test: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!test()) {
    assert.ok(performance.now() < deadline, `timed out waiting for ${what}`);
    await sleep(50);
  }
}

const exitOf = (child: ChildProcessWithoutNullStreams) =>
  new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

it('refreshes: a key added while it watches shows in a later view; SIGINT ends it with exit 0', async () => {
  const { child, output } = watch(['--watch', '--interval', '200ms']);
  const views = () => output().split('leasehold status --watch · file store').length - 1;
  await until(() => views() >= 1, 'the first view');
  assert.match(
    output(),
    /^leasehold status --watch · file store · read \d\d:\d\d:\d\d UTC · every 200ms · Ctrl-C stops$/m,
  );
  assert.match(output(), /^first\/key\n {2}holder {8}host-a:1 \(token 1, expires in /m);
  assert.doesNotMatch(output(), /second\/key/);
  await hold('second/key');
  await until(() => /^second\/key$/m.test(output()), 'the new key in a later view');
  assert.ok(views() >= 2, `${views()} views`);
  assert.ok(!output().includes(ESC), 'no terminal codes on a pipe');
  const exited = exitOf(child);
  child.kill('SIGINT');
  assert.equal(await exited, 0);
});

it('--json: one document per read, one per line; SIGTERM ends it with exit 0', async () => {
  const { child, output } = watch(['--watch', '--json', '--interval', '150ms']);
  await until(() => output().split('\n').filter(Boolean).length >= 3, 'three documents');
  const exited = exitOf(child);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  const docs = output()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as StatusDocument);
  assert.ok(docs.length >= 3);
  for (const doc of docs) assert.equal(doc.keys[0]?.key, 'first/key');
  assert.notEqual(docs[0]?.readAt, docs.at(-1)?.readAt, 'each line is a new read');
});

it('bad options: exit 64 with one line naming the value', async () => {
  const alone = await runCli(['status', '--store', url, '--interval', '1s']);
  assert.deepEqual([alone.code, alone.stderr], [64, 'leasehold: --interval: "1s" applies to --watch only\n']);
  const fast = await runCli(['status', '--store', url, '--watch', '--interval', '10ms']);
  assert.deepEqual([fast.code, fast.stderr], [64, 'leasehold: --interval: "10ms" is shorter than 100ms\n']);
  const unit = await runCli(['status', '--store', url, '--watch', '--interval', '2']);
  assert.equal(unit.code, 64);
  assert.match(unit.stderr, /^leasehold: --interval: "2" needs a unit/);
});

it('on a terminal: each view is drawn from the top, lines cleared to their end, the rest below cleared', () => {
  const doc: StatusDocument = { store: 'memory', readAt: '2026-11-23T10:05:00.000Z', keys: [], reserved: [] };
  const frame = renderFrame({ doc, intervalMs: 2000, tty: true, json: false });
  assert.ok(frame.startsWith(`${ESC}[H`));
  assert.ok(frame.endsWith(`${ESC}[J`));
  const lines = frame.slice(`${ESC}[H`.length).split('\n');
  assert.equal(
    lines[0],
    `leasehold status --watch · memory store · read 10:05:00 UTC · every 2s · Ctrl-C stops${ESC}[K`,
  );
  assert.ok(lines.includes(`no keys in the memory store${ESC}[K`), JSON.stringify(lines));
  const failed = renderFrame({ doc, error: 'store: connect ECONNREFUSED', intervalMs: 2000, tty: false, json: false });
  assert.match(
    failed,
    /^! store unreachable: store: connect ECONNREFUSED \(showing the read of 10:05:00; retrying\)$/m,
  );
  assert.equal(renderFrame({ doc, intervalMs: 2000, tty: true, json: true }), `${JSON.stringify(doc)}\n`);
});
