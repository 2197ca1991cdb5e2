/**
 * The status page in a real browser (issue 15, "Chromium test"): headless Debian Chromium
 * driven by playwright-core, against `leasehold ui` (the CLI, a process of its own) and a
 * real fleet of 3 processes running `lh.every` jobs on PostgreSQL (a fresh database; the
 * URL carries a password, B2). Reads the holder, the last run and a skipped slot's reason
 * from the DOM, checks the countdown moves and the page updates live, the phone layout, the
 * page with JavaScript off, and that no output anywhere shows the password.
 *
 * `LEASEHOLD_UI_SCREENSHOTS=<dir>` saves the wide and phone screenshots there (the docs'
 * screenshots come from this run: docs/img/).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import type { StatusDocument } from '../src/ui/index.js';
import { launchChromium } from './helpers/chromium.js';
import { createPostgresDatabase, type TestDatabase } from './helpers/sql-databases.js';

const SECRET = `pw-${randomBytes(6).toString('hex')}`;
/** The page's controls secret (`leasehold ui --controls` reads it from LEASEHOLD_UI_SECRET). */
const UI_SECRET = `ui-${randomBytes(12).toString('hex')}`;
const workers: ChildProcess[] = [];
const output: string[] = [];
let ui: ChildProcess | undefined;
let db: TestDatabase;
let url: string;
let pageUrl: string;
let browser: Browser | undefined;

/** Spawns a TypeScript entry point; resolves once its stdout has a line matching `ready`. */
function start(args: string[], ready: RegExp, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LEASEHOLD_STORE: '', ...env },
  });
  return new Promise<{ child: ChildProcess; line: string }>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start: ${text}`)), 40_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      output.push(chunk.toString());
      const line = text.split('\n').find((l) => ready.test(l));
      if (line) {
        clearTimeout(timer);
        resolve({ child, line });
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.on('exit', (code) => reject(new Error(`${args[0]} exited with ${code} before it was ready: ${text}`)));
  });
}

async function statusDoc(): Promise<StatusDocument> {
  const res = await fetch(new URL('status.json', pageUrl));
  assert.equal(res.status, 200);
  return (await res.json()) as StatusDocument;
}

/**
 * Waits until the store shows what the test reads: a skipped slot, an error, a held lease;
 * for screenshots, also a longer history (the docs show a full timeline).
 */
async function waitForHistory(runs = process.env.LEASEHOLD_UI_SCREENSHOTS ? 16 : 0): Promise<void> {
  const deadline = performance.now() + 30_000 + runs * 1000;
  for (;;) {
    const doc = await statusDoc();
    const reindex = doc.keys.find((k) => k.key === 'ui/reindex');
    const invoices = doc.keys.find((k) => k.key === 'ui/invoice-sync');
    const lock = doc.keys.find((k) => k.key === 'ui/migration-lock');
    const skipped = reindex?.recentRuns.some((r) => r.outcome === 'skipped' && r.error?.startsWith('overlap: '));
    const failed = invoices?.recentRuns.some((r) => r.outcome === 'error');
    const hosts = new Set(doc.keys.flatMap((k) => k.recentRuns.map((r) => r.holder)));
    const long = (reindex?.recentRuns.length ?? 0) >= runs;
    if (skipped && failed && lock?.held && hosts.size >= 2 && long) return;
    assert.ok(performance.now() < deadline, `the fleet did not build its history: ${JSON.stringify(doc)}`);
    await sleep(500);
  }
}

before(async () => {
  db = await createPostgresDatabase();
  const u = new URL(db.url);
  u.password = SECRET; // the machine's PostgreSQL trusts local logins: the password is only carried
  url = u.toString();
  const started = await Promise.all(
    [1, 2, 3].map((index) => start(['test/fixtures/ui-worker.ts', url, String(index)], /^ready$/)),
  );
  workers.push(...started.map((s) => s.child));
  const served = await start(
    ['src/cli/main.ts', 'ui', '--store', url, '--port', '0', '--refresh', '1s', '--controls'],
    /^leasehold ui: http/,
    { LEASEHOLD_UI_SECRET: UI_SECRET },
  );
  ui = served.child;
  pageUrl = (/http:\/\/\S+/.exec(served.line) as RegExpExecArray)[0];
  await waitForHistory();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const child of [...workers, ui]) child?.kill('SIGTERM');
  await Promise.all(
    [...workers, ui].map((child) =>
      child && child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined,
    ),
  );
  await db?.drop();
});

it('in Chromium: holder, last run, a skipped slot and its reason, a moving countdown, live updates', async () => {
  const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(pageUrl);
  await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 10_000 });

  const lock = page.locator('[data-key="ui/migration-lock"]');
  assert.match((await lock.locator('.holder .mono').textContent()) ?? '', /^host-1:\d+$/);
  const first = await lock.locator('.countdown').textContent();
  await sleep(700);
  const second = await lock.locator('.countdown').textContent();
  assert.match(first ?? '', /^expires in \d+\.\ds$/);
  assert.match(second ?? '', /^expires in \d+\.\ds$/);
  assert.notEqual(first, second, 'the countdown moves');

  const reindex = page.locator('[data-key="ui/reindex"]');
  assert.match((await reindex.locator('.schedule dd').textContent()) ?? '', /^every 1s$/);
  const lastRun = reindex.locator('.run[data-outcome="ok"]').first();
  assert.match((await lastRun.locator('time').textContent()) ?? '', /^\d\d:\d\d:\d\d$/);
  assert.match((await lastRun.locator('.dur').textContent()) ?? '', /^(\d+ms|\d\.\ds)$/);
  assert.match((await lastRun.locator('.by').textContent()) ?? '', /^host-[123]:\d+$/);
  const reason = await reindex.locator('.run[data-outcome="skipped"] .reason').first().textContent();
  assert.match(reason ?? '', /^overlap: came while the run of .* by host-[123]:\d+ was still going$/);
  // The timeline: one cell per recent slot, the skipped one among them.
  assert.ok((await reindex.locator('.timeline .cell').count()) >= 2);
  assert.ok((await reindex.locator('.timeline .cell.skipped').count()) >= 1);
  const failed = page.locator('[data-key="ui/invoice-sync"] .run[data-outcome="error"] .reason').first();
  assert.equal(await failed.textContent(), 'upstream answered 503');

  // Live: the last settled slot moves on without a reload.
  const slotBefore = await reindex.locator('.last-slot time').getAttribute('datetime');
  const deadline = performance.now() + 8000;
  while ((await reindex.locator('.last-slot time').getAttribute('datetime')) === slotBefore) {
    assert.ok(performance.now() < deadline, 'the page did not update within 8 s');
    await sleep(200);
  }
  const html = await page.content();
  assert.ok(!html.includes(SECRET), 'the page shows no password');
  await screenshot(page, 'status-page.png');
  await page.close();
});

it('on a phone: one column, nothing wider than the screen', async () => {
  const page = await (browser as Browser).newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  await page.goto(pageUrl);
  await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 10_000 });
  const widths = (await page.evaluate('({ scroll: document.documentElement.scrollWidth, view: innerWidth })')) as {
    scroll: number;
    view: number;
  };
  assert.ok(widths.scroll <= widths.view, `page ${widths.scroll}px wide on a ${widths.view}px screen`);
  const lefts = await Promise.all(
    (await page.locator('article.job').all()).map(async (card) => (await card.boundingBox())?.x),
  );
  assert.equal(new Set(lefts.map((x) => Math.round(x ?? -1))).size, 1, `job cards in one column: ${lefts}`);
  await screenshot(page, 'status-page-phone.png');
  await page.close();
});

it('with JavaScript off: the server-rendered page has the holder and the runs', async () => {
  const context = await (browser as Browser).newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(pageUrl);
  assert.equal(await page.locator('#live').textContent(), 'snapshot');
  assert.match(
    (await page.locator('[data-key="ui/migration-lock"] .holder .mono').textContent()) ?? '',
    /^host-1:\d+$/,
  );
  assert.ok((await page.locator('[data-key="ui/reindex"] .run').count()) > 0);
  assert.match((await page.locator('[data-key="ui/migration-lock"] .countdown').textContent()) ?? '', /^expires in /);
  await context.close();
});

it('controls from the page: a wrong secret is refused; a pause stops the fleet running the job; resume', async () => {
  const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await page.goto(pageUrl);
    const form = page.locator('form.controls');
    const send = async (action: string, secret: string) => {
      await form.locator('input[name="key"]').fill('ui/rollup');
      await form.locator('select[name="action"]').selectOption(action);
      await form.locator('input[name="by"]').fill('ann');
      await form.locator('input[name="secret"]').fill(secret);
      await form.locator('button[type="submit"]').click();
    };
    await send('pause', `${UI_SECRET}-wrong`);
    await page.locator('#control-answer.alert', { hasText: 'controls: wrong secret' }).waitFor({ timeout: 5000 });
    await send('pause', UI_SECRET);
    await page
      .locator('#control-answer.answer', { hasText: '"ui/rollup": paused (by ann)' })
      .waitFor({ timeout: 15_000 });
    assert.equal(page.url(), pageUrl, 'answered in place, no navigation');
    // The fleet settles the next slots as skipped, and the page shows it live.
    const card = page.locator('[data-key="ui/rollup"]');
    await card.locator('.badge.paused').waitFor({ timeout: 10_000 });
    const reason = card.locator('.run[data-outcome="skipped"] .reason', { hasText: /^paused by ann at / }).first();
    await reason.waitFor({ state: 'attached', timeout: 10_000 });
    assert.match((await card.locator('.control dd').textContent()) ?? '', /^paused by ann since /);
    await screenshot(page, 'status-page-controls.png');
    await send('resume', UI_SECRET);
    await page.locator('#control-answer.answer', { hasText: '"ui/rollup": resumed' }).waitFor({ timeout: 15_000 });
    await card.locator('.badge.paused').waitFor({ state: 'detached', timeout: 10_000 });
  } finally {
    await page.close();
  }
});

it('no credential in the page, the JSON, the metrics, the event stream or any output (B2)', async () => {
  const bodies = await Promise.all(
    ['', 'status.json', 'metrics', 'app.js'].map(async (path) => (await fetch(new URL(path, pageUrl))).text()),
  );
  const events = await readEvents(new URL('events', pageUrl));
  for (const text of [...bodies, events, output.join('')]) {
    assert.ok(!text.includes(SECRET), 'no password');
    assert.ok(!text.includes(UI_SECRET), 'no page secret');
  }
  assert.match(events, /^event: page$/m);
  assert.match(bodies[2] ?? '', /^leasehold_key_held\{key="ui\/migration-lock"\} 1$/m);
});

async function readEvents(address: URL): Promise<string> {
  const abort = new AbortController();
  const res = await fetch(address, { signal: abort.signal });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!text.includes('event: page')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  abort.abort();
  return text;
}

async function screenshot(page: import('playwright-core').Page, name: string): Promise<void> {
  const dir = process.env.LEASEHOLD_UI_SCREENSHOTS;
  if (!dir) return;
  // From the top: a full-page shot of a scrolled page draws the sticky header mid-page.
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: join(dir, name), fullPage: true });
}
