/**
 * The status server (leasehold/ui) over HTTP: the server-rendered page, status.json (the
 * `status --json` document), server-sent events, /metrics (parsed by a Prometheus text
 * parser), the controls' secret, option checks, localhost binding, mounting in Node http,
 * Express and Fastify, an unreachable store with credentials in its URL (B2), and the
 * `leasehold ui` command. Stores: the memory store and a folder (both real stores).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { formatStatus } from '../src/cli/admin.js';
import { describeSchedule, summarizeState } from '../src/cli/state.js';
import { Leasehold } from '../src/leasehold.js';
import { openStore } from '../src/open.js';
import type { JobState } from '../src/scheduler/state.js';
import type { JsonValue, LeaseStore } from '../src/store.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import {
  adminControls,
  type ControlRequest,
  fastifyStatus,
  readStatus,
  type StatusDocument,
  type StatusHandler,
  startStatusServer,
  statusHandler,
} from '../src/ui/index.js';
import { runCli } from './helpers/cli-source.js';

const SLOT = Date.parse('2026-11-23T10:05:00.000Z');
const iso = (t: number) => new Date(t).toISOString();

/** A job's history as the scheduler writes it: two runs by two hosts, a skipped slot, a failure. */
function jobState(): JobState {
  const run = (slot: number, holder: string, token: number, ms: number, outcome: 'ok' | 'error', error?: string) => ({
    slot: iso(slot),
    holder,
    token,
    attempts: 1,
    start: iso(slot + 5),
    end: iso(slot + 5 + ms),
    outcome,
    ...(error ? { error } : {}),
  });
  const skipped = {
    slot: iso(SLOT - 60_000),
    holder: 'host-b:2',
    token: 0,
    attempts: 0,
    start: iso(SLOT - 59_000),
    end: iso(SLOT - 59_000),
    outcome: 'skipped' as const,
    error: 'overlap: came while the run of 2026-11-23T10:03:00.000Z by host-a:1 was still going',
  };
  return {
    v: 1,
    lastSlot: iso(SLOT),
    lastOutcome: 'error',
    running: null,
    runs: [
      run(SLOT, 'host-b:2', 7, 250, 'error', 'upstream answered 503'),
      skipped,
      run(SLOT - 120_000, 'host-a:1', 6, 1400, 'ok'),
    ],
    schedule: { every: 60_000, offset: 0 },
  };
}

/** Writes `state` under `key` as its holder would (acquire, fenced write, release), then leaves `hold` held. */
async function seed(store: LeaseStore, key: string, state: JsonValue | undefined, holder = 'host-a:1', hold = false) {
  const leaseId = randomUUID();
  const granted = await store.acquire({ key, holder, leaseId, ttlMs: 30_000 });
  assert.ok(granted.acquired);
  const ref = { key, leaseId, token: granted.token };
  if (state !== undefined) assert.ok(await store.writeState({ ...ref, state }));
  if (!hold) assert.ok(await store.release(ref));
  return ref;
}

async function seededStore(): Promise<MemoryStore> {
  const store = new MemoryStore();
  await seed(store, 'billing/sync', jobState() as unknown as JsonValue);
  await seed(store, 'migrations/lock', undefined, 'host-c:3', true);
  await seed(store, 'odd<key>&"', { note: '<b>not scheduler state</b>' });
  const host = randomUUID();
  const roster = await store.acquire({
    key: 'leasehold#hosts/0',
    holder: 'host-a:1',
    leaseId: host,
    ttlMs: 15_000,
    mark: { v: 1, digest: 'd', jobs: 2 },
  });
  assert.ok(roster.acquired);
  await seed(store, 'billing/sync#leasehold-waiter', undefined, 'host-c:3', true);
  return store;
}

const servers: Server[] = [];
const handlers: StatusHandler[] = [];
after(() => {
  for (const handler of handlers) handler.close();
  for (const server of servers) server.closeAllConnections();
  for (const server of servers) server.close();
});

async function serve(listener: RequestListener): Promise<string> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function pageServer(options: Parameters<typeof statusHandler>[0]): Promise<string> {
  const handler = statusHandler(options);
  handlers.push(handler);
  return `${await serve(handler)}/`;
}

async function get(url: string, init?: RequestInit): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, { redirect: 'manual', ...init });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Reads an event stream until `count` events named `page` came, or `ms` passed. */
async function readEvents(url: string, count: number, ms = 5000): Promise<string[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  const res = await fetch(url, { signal: abort.signal });
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  try {
    while (text.split('event: page\n').length - 1 < count) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
  } catch {
    // timed out: the caller counts what came
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event: page\n'))
    .map((block) =>
      block
        .split('\n')
        .slice(1)
        .map((line) => line.replace(/^data: /, ''))
        .join('\n'),
    );
}

describe('the page', () => {
  it('is rendered on the server: holder, token, countdown, schedule, last and next slot, runs, a skip', async () => {
    const base = await pageServer({ store: await seededStore() });
    const { status, text, headers } = await get(base);
    assert.equal(status, 200);
    assert.equal(headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const job = text.slice(text.indexOf('data-key="billing/sync"'), text.indexOf('data-key="migrations/lock"'));
    assert.match(job, /<dd>every 1m<\/dd>/);
    assert.match(job, /Last slot<\/dt><dd><time datetime="2026-11-23T10:05:00.000Z">Nov 23 10:05:00<\/time>/);
    assert.match(job, /class="badge error">error<\/span>/);
    assert.match(job, /<span class="reason">upstream answered 503<\/span>/);
    assert.match(
      job,
      /data-outcome="skipped"[\s\S]*<span class="reason">overlap: came while the run of [^<]* by host-a:1/,
    );
    assert.match(job, /<li class="cell ok"[^>]*>1<\/li><li class="cell skipped"[^>]*>–<\/li><li class="cell error"/);
    assert.match(job, /Next slot<\/dt><dd><time[^>]*>[^<]*<\/time> · <span class="countdown" data-ms="\d+"/);
    const lock = text.slice(text.indexOf('data-key="migrations/lock"'));
    assert.match(lock, /<span class="holder mono">host-c:3<\/span> <span class="token">token 1<\/span>/);
    assert.match(
      lock,
      /<span class="countdown" data-ms="\d+" data-zero="expiring" data-prefix="expires in ">expires in \d/,
    );
    // Leasehold's own keys are apart: placement's host (with its job count) and the waiter.
    assert.match(text, /<h2 id="h-own">Hosts and waiters<\/h2>/);
    assert.match(
      text,
      /class="badge kind">host<\/span> <span class="mono">host-a:1<\/span>[^<]*<span[^>]*>[^<]*<\/span> · 2 jobs/,
    );
    assert.match(text, /class="badge kind">waiter<\/span>/);
    assert.doesNotMatch(text, /data-key="leasehold#hosts\/0"/);
    // Everything from the store is escaped.
    assert.ok(text.includes('data-key="odd&lt;key&gt;&amp;&quot;"'));
    assert.ok(text.includes('&lt;b&gt;not scheduler state&lt;/b&gt;'));
    assert.ok(!text.includes('<b>not scheduler state</b>'));
  });

  it('serves its style and script from its own origin; other paths are 404, writes to read routes 405', async () => {
    const base = await pageServer({ store: new MemoryStore() });
    const css = await get(`${base}app.css`);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    const js = await get(`${base}app.js`);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(js.text, /new EventSource\('events'\)/);
    assert.equal((await get(`${base}nope`)).status, 404);
    const post = await get(`${base}status.json`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    assert.match((await get(base)).text, /No keys yet/);
  });

  it('status.json is the document `leasehold status --json` prints', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-ui-'));
    const url = `file:${dir}`;
    const store = await openStore(url);
    try {
      await seed(store, 'billing/sync', jobState() as unknown as JsonValue);
      await seed(store, 'migrations/lock', undefined, 'host-c:3');
      const base = await pageServer({ store });
      const served = JSON.parse((await get(`${base}status.json`)).text) as StatusDocument;
      const cli = await runCli(['status', '--json', '--store', url]);
      assert.equal(cli.code, 0, cli.stderr);
      const printed = JSON.parse(cli.stdout) as StatusDocument;
      // Same document, read at two instants: only the read time and the next slot may differ.
      const same = (doc: StatusDocument) => ({
        ...doc,
        readAt: 'read',
        keys: doc.keys.map((k) => ({ ...k, nextSlot: k.nextSlot === null ? null : 'next' })),
      });
      assert.deepEqual(same(served), same(printed));
      assert.equal(served.keys[0]?.recentRuns[1]?.error?.startsWith('overlap: '), true);
      assert.deepEqual(served.keys[0]?.schedule, { every: 60_000, offset: 0 });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('events: the live part on connect, then again on every refresh, with what changed', async () => {
    const store = await seededStore();
    const base = await pageServer({ store, refresh: '300ms' });
    const started = performance.now();
    const first = await readEvents(`${base}events`, 3);
    const elapsed = performance.now() - started;
    assert.equal(first.length, 3);
    // The first at once, then one per refresh: about 600 ms for three.
    assert.ok(elapsed >= 550 && elapsed < 3000, `3 events in ${Math.round(elapsed)} ms`);
    assert.match(first[0] ?? '', /^<div id="snapshot" data-age-ms="\d+"><\/div>/);
    assert.match(first[0] ?? '', /data-key="billing\/sync"/);
    assert.doesNotMatch(first.join(''), /data-key="late\/arrival"/);
    await seed(store, 'late/arrival', undefined, 'host-d:4', true);
    const later = await readEvents(`${base}events`, 2);
    assert.match(later.join(''), /data-key="late\/arrival"/);
  });
});

describe('/metrics', () => {
  interface Family {
    name: string;
    type: string;
    metrics: { value: string; labels?: Record<string, string> }[];
  }
  const value = (families: Family[], name: string, labels: Record<string, string> = {}) =>
    families
      .find((f) => f.name === name)
      ?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value;

  it('store gauges in Prometheus text, parsed by a real parser, with each key’s values', async () => {
    const base = await pageServer({ store: await seededStore() });
    const res = await get(`${base}metrics`);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheusTextFormat(res.text) as Family[];
    assert.equal(value(families, 'leasehold_status_up'), '1');
    assert.equal(value(families, 'leasehold_key_held', { key: 'migrations/lock' }), '1');
    assert.equal(value(families, 'leasehold_key_held', { key: 'billing/sync' }), '0');
    assert.equal(value(families, 'leasehold_key_token', { key: 'billing/sync' }), '1');
    const expires = Number(value(families, 'leasehold_key_expires_in_seconds', { key: 'migrations/lock' }));
    assert.ok(expires > 25 && expires <= 30, `expires in ${expires}`);
    assert.equal(value(families, 'leasehold_job_last_outcome', { key: 'billing/sync', outcome: 'error' }), '1');
    assert.equal(value(families, 'leasehold_job_last_outcome', { key: 'billing/sync', outcome: 'ok' }), '0');
    assert.equal(
      value(families, 'leasehold_job_last_slot_timestamp_seconds', { key: 'billing/sync' }),
      String(SLOT / 1000),
    );
    const since = Number(value(families, 'leasehold_job_seconds_since_last_run', { key: 'billing/sync' }));
    assert.ok(Math.abs(since - (Date.now() - (SLOT + 255)) / 1000) < 5, `since ${since}`);
    assert.equal(value(families, 'leasehold_status_keys', { kind: 'job' }), '1');
    assert.equal(value(families, 'leasehold_status_keys', { kind: 'reserved' }), '2');
    assert.equal(value(families, 'leasehold_key_held', { key: 'odd<key>&"' }), '0');
    for (const family of families) assert.equal(family.type, 'GAUGE');
  });

  it('a provider’s text follows the gauges; a failing provider leaves a comment, never a broken scrape', async () => {
    const provided = '# HELP leasehold_runs_total Runs.\n# TYPE leasehold_runs_total counter\nleasehold_runs_total 3\n';
    const good = await pageServer({ store: new MemoryStore(), metrics: () => provided });
    const text = (await get(`${good}metrics`)).text;
    assert.ok(text.endsWith(provided));
    assert.equal(value(parsePrometheusTextFormat(text) as Family[], 'leasehold_runs_total'), '3');
    const bad = await pageServer({
      store: new MemoryStore(),
      metrics: async () => {
        throw new Error('exporter down for postgres://u:hunter22@db/x');
      },
    });
    const broken = (await get(`${bad}metrics`)).text;
    assert.match(broken, /^# the metrics provider failed: exporter down for postgres:\/\/u:\*\*\*@db\/x$/m);
    assert.ok(!broken.includes('hunter22'));
    parsePrometheusTextFormat(broken);
  });
});

describe('controls', () => {
  const SECRET = `s-${randomBytes(12).toString('hex')}`;
  const form = (fields: Record<string, string>) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(fields).toString(),
  });

  it('read-only unless enabled: POST controls is 404 and the page has no form', async () => {
    const base = await pageServer({ store: new MemoryStore() });
    const res = await get(`${base}controls`, form({ action: 'pause', key: 'k', by: 'ann', secret: SECRET }));
    assert.equal(res.status, 404);
    assert.match(res.text, /controls are not enabled/);
    assert.doesNotMatch((await get(base)).text, /<form/);
  });

  it('enabled: the secret is required and checked; a good request reaches perform with who asked', async () => {
    const seen: ControlRequest[] = [];
    const perform = async (request: ControlRequest) => {
      seen.push(request);
      if (request.key === 'unknown')
        throw new (await import('../src/errors.js')).ConfigError('key: "unknown" is not a job');
      return `${request.action} ${request.key}: done`;
    };
    const base = await pageServer({ store: await seededStore(), controls: { secret: SECRET, perform } });
    assert.match((await get(base)).text, /<form method="post" action="controls" class="controls">/);
    const body = { action: 'pause', key: 'billing/sync', by: 'ann' };
    const missing = await get(`${base}controls`, form(body));
    assert.deepEqual(
      [missing.status, JSON.parse(missing.text)],
      [401, { ok: false, message: 'controls: the secret is required' }],
    );
    const wrong = await get(`${base}controls`, form({ ...body, secret: `${SECRET}x` }));
    assert.deepEqual([wrong.status, JSON.parse(wrong.text).message], [403, 'controls: wrong secret']);
    assert.equal(seen.length, 0, 'nothing performed without the secret');
    const ok = await get(`${base}controls`, form({ ...body, secret: SECRET }));
    assert.deepEqual([ok.status, JSON.parse(ok.text)], [200, { ok: true, message: 'pause billing/sync: done' }]);
    const bearer = await get(`${base}controls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        action: 'backfill',
        key: 'billing/sync',
        by: 'bob',
        from: '2026-11-23T10:00Z',
        to: '2026-11-23T10:05Z',
      }),
    });
    assert.equal(bearer.status, 200, bearer.text);
    assert.deepEqual(seen, [
      { action: 'pause', key: 'billing/sync', by: 'ann' },
      { action: 'backfill', key: 'billing/sync', by: 'bob', from: '2026-11-23T10:00Z', to: '2026-11-23T10:05Z' },
    ]);
    const refused = await get(`${base}controls`, form({ ...body, key: 'unknown', secret: SECRET }));
    assert.deepEqual([refused.status, JSON.parse(refused.text).message], [400, 'key: "unknown" is not a job']);
    // Without JavaScript the browser gets a small page with a way back.
    const html = await get(`${base}controls`, {
      ...form({ ...body, secret: SECRET }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.match(html.text, /<p class="answer">pause billing\/sync: done<\/p><p><a href="\.\/">Back/);
  });

  it('wired to lh.admin: a pause shows on the page, in status.json and /metrics, with who asked', async () => {
    const store = await seededStore();
    const lh = new Leasehold({ store, placement: false });
    const base = await pageServer({ store, controls: adminControls(lh, SECRET) });
    try {
      const paused = await get(
        `${base}controls`,
        form({ action: 'pause', key: 'billing/sync', by: 'ann', secret: SECRET }),
      );
      assert.deepEqual([paused.status, JSON.parse(paused.text).message], [200, '"billing/sync": paused (by ann)']);
      const doc = JSON.parse((await get(`${base}status.json`)).text) as StatusDocument;
      const job = doc.keys.find((k) => k.key === 'billing/sync');
      assert.equal(job?.control?.paused?.by, 'ann');
      assert.deepEqual([job?.audit[0]?.action, job?.audit[0]?.by, job?.audit[0]?.detail], ['pause', 'ann', 'paused']);
      const human = formatStatus(doc);
      assert.match(human, /^ {2}paused {8}by ann at \d{4}-\d\d-\d\dT[\d:.]+Z$/m);
      assert.match(human, /^ {2}last control {2}pause by ann at \S+: paused$/m);
      const page = (await get(base)).text;
      assert.match(page, /<span class="badges"><span class="badge paused">paused<\/span>/);
      assert.match(page, /Controls<\/dt><dd>paused by <span class="mono">ann<\/span> since <time/);
      assert.match(page, /<summary>1 operator control<\/summary>/);
      assert.match((await get(`${base}metrics`)).text, /^leasehold_job_paused\{key="billing\/sync"\} 1$/m);
      const unknown = await get(`${base}controls`, form({ action: 'trigger', key: 'nope', by: 'ann', secret: SECRET }));
      assert.deepEqual(
        [unknown.status, JSON.parse(unknown.text).message],
        [400, 'unknown key "nope": the store has no record of it'],
      );
      const lease = await get(
        `${base}controls`,
        form({ action: 'pause', key: 'migrations/lock', by: 'ann', secret: SECRET }),
      );
      assert.equal(lease.status, 400);
      assert.match(JSON.parse(lease.text).message, /"migrations\/lock" is not a scheduled job/);
      const resumed = await get(
        `${base}controls`,
        form({ action: 'resume', key: 'billing/sync', by: 'bo', secret: SECRET }),
      );
      assert.match(
        JSON.parse(resumed.text).message,
        /^"billing\/sync": resumed \(was paused by ann at .*\) \(by bo\)$/,
      );
    } finally {
      await lh.stop();
    }
  });

  it('bad fields: one line naming the value, nothing performed', async () => {
    let calls = 0;
    const base = await pageServer({
      store: new MemoryStore(),
      controls: { secret: SECRET, perform: async () => `${++calls}` },
    });
    const cases: [Record<string, string>, RegExp][] = [
      [
        { action: 'explode', key: 'k', by: 'ann' },
        /^action: expected one of pause, resume, trigger, skip-next, backfill, got "explode"$/,
      ],
      [{ action: 'pause', key: '', by: 'ann' }, /^key: must be a non-empty string, got ""$/],
      [{ action: 'pause', key: 'k', by: '' }, /^by: who asks, 1 to 100 printable characters, got ""$/],
      [
        { action: 'backfill', key: 'k', by: 'ann', from: 'yesterday', to: '2026-11-23T10:05Z' },
        /^from: expected an ISO-8601 time .*, got "yesterday"$/,
      ],
    ];
    for (const [fields, message] of cases) {
      const res = await get(`${base}controls`, form({ ...fields, secret: SECRET }));
      assert.equal(res.status, 400, res.text);
      assert.match(JSON.parse(res.text).message, message);
    }
    assert.equal(calls, 0);
    assert.equal((await get(`${base}controls`)).status, 405);
  });
});

describe('options', () => {
  it('are checked first: unknown names, bad refresh, a short secret (never echoed), a bad base path', () => {
    const store = new MemoryStore();
    assert.throws(
      () => statusHandler({ store, refesh: '1s' } as never),
      /statusHandler: unknown option "refesh" \(did you mean "refresh"\?\)/,
    );
    assert.throws(
      () => statusHandler({ store, refresh: '10ms' }),
      /^ConfigError: refresh: "10ms" is outside 250ms to 1h$/,
    );
    assert.throws(() => statusHandler({ store: {} as LeaseStore }), /store must be a LeaseStore/);
    assert.throws(
      () => statusHandler({ store, controls: { secret: 'short-one', perform: async () => '' } }),
      (err: Error) => err.message === 'controls.secret: must be a string of at least 16 characters',
    );
    assert.throws(() => statusHandler({ store, basePath: 'ops/' }), /basePath: expected a path such as "\/leasehold"/);
    assert.throws(() => statusHandler(undefined as never), /an options object is required/);
  });

  it('startStatusServer: a bad port or host is refused before the store is opened', async () => {
    await assert.rejects(
      startStatusServer({ store: 'memory:', port: 70000 }),
      /^ConfigError: port: expected an integer from 0 to 65535, got 70000$/,
    );
    await assert.rejects(startStatusServer({ store: 'memory:', host: '' }), /host: expected an address/);
    await assert.rejects(startStatusServer({ store: 'memory:', prot: 1 } as never), /did you mean "port"/);
  });
});

describe('the standalone server', () => {
  it('listens on 127.0.0.1 by default and refuses a foreign Host header (DNS rebinding)', async () => {
    const server = await startStatusServer({ store: 'memory:', port: 0 });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.equal((await get(server.url)).status, 200);
      assert.equal((await get(server.url.replace('127.0.0.1', 'localhost'))).status, 200);
      const { request } = await import('node:http');
      const status = await new Promise<number | undefined>((resolve, reject) => {
        const req = request(server.url, { headers: { host: 'evil.example:80' } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(status, 403);
    } finally {
      await server.close();
    }
  });

  it('a store it cannot reach: one line on the page, status.json 503, up 0, no credential anywhere (B2)', async () => {
    const secret = `pw-${randomBytes(8).toString('hex')}`;
    const server = await startStatusServer({
      store: `postgres://app:${secret}@127.0.0.1:1/app`,
      port: 0,
      refresh: '300ms',
    });
    try {
      const page = await get(server.url);
      assert.equal(page.status, 200);
      assert.match(page.text, /<p class="alert" role="alert">Store unreachable: [^<\n]+<\/p>/);
      const json = await get(`${server.url}status.json`);
      assert.equal(json.status, 503);
      assert.match(JSON.parse(json.text).error, /./);
      const metrics = await get(`${server.url}metrics`);
      assert.match(metrics.text, /^leasehold_status_up 0$/m);
      const events = (await readEvents(`${server.url}events`, 1)).join('');
      assert.match(events, /Store unreachable/);
      for (const text of [page.text, json.text, metrics.text, events]) {
        assert.ok(!text.includes(secret), 'no password');
        assert.ok(!text.includes(encodeURIComponent(secret)), 'no encoded password');
      }
    } finally {
      await server.close();
    }
  });
});

describe('mounted in an app', () => {
  it('Node http with basePath: the bare path redirects to the slash, paths outside are not answered', async () => {
    const handler = statusHandler({ store: await seededStore(), basePath: '/ops/leasehold' });
    handlers.push(handler);
    const base = await serve((req, res) => handler(req, res, () => res.writeHead(418).end('app')));
    const bare = await get(`${base}/ops/leasehold?x=1`);
    assert.deepEqual([bare.status, bare.headers.get('location')], [308, '/ops/leasehold/?x=1']);
    assert.match((await get(`${base}/ops/leasehold/`)).text, /data-key="billing\/sync"/);
    assert.equal((await get(`${base}/ops/leasehold/status.json`)).status, 200);
    assert.equal((await get(`${base}/elsewhere`)).status, 418);
  });

  it('Express: app.use(path, handler); body parsers before it do not break the controls', async () => {
    const secret = `s-${randomBytes(12).toString('hex')}`;
    const handler = statusHandler({
      store: await seededStore(),
      controls: { secret, perform: async (r) => `${r.action} by ${r.by}` },
    });
    handlers.push(handler);
    const app = express();
    app.use(express.urlencoded({ extended: false }));
    app.use('/leasehold', handler);
    app.get('/health', (_req, res) => {
      res.send('fine');
    });
    const base = await serve(app);
    const bare = await get(`${base}/leasehold`);
    assert.deepEqual([bare.status, bare.headers.get('location')], [308, '/leasehold/']);
    assert.match((await get(`${base}/leasehold/`)).text, /data-key="billing\/sync"/);
    assert.equal((await get(`${base}/health`)).text, 'fine');
    const control = await get(`${base}/leasehold/controls`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ action: 'resume', key: 'billing/sync', by: 'cy', secret }).toString(),
    });
    assert.deepEqual(JSON.parse(control.text), { ok: true, message: 'resume by cy' });
  });

  it('Fastify: register(fastifyStatus(…), { prefix }); controls read their own body', async () => {
    const secret = `s-${randomBytes(12).toString('hex')}`;
    const app = Fastify();
    await app.register(
      fastifyStatus({ store: await seededStore(), controls: { secret, perform: async (r) => `${r.action} ${r.key}` } }),
      { prefix: '/leasehold' },
    );
    app.post('/echo', async (request) => request.body);
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const bare = await get(`${base}/leasehold`);
      assert.deepEqual([bare.status, bare.headers.get('location')], [308, '/leasehold/']);
      assert.match((await get(`${base}/leasehold/`)).text, /data-key="billing\/sync"/);
      assert.equal(
        (await get(`${base}/leasehold/status.json`)).headers.get('content-type'),
        'application/json; charset=utf-8',
      );
      const events = await readEvents(`${base}/leasehold/events`, 1);
      assert.match(events[0] ?? '', /data-key="billing\/sync"/);
      const control = await get(`${base}/leasehold/controls`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ action: 'trigger', key: 'billing/sync', by: 'di', secret }).toString(),
      });
      assert.deepEqual(JSON.parse(control.text), { ok: true, message: 'trigger billing/sync' });
      // The app's own routes keep their JSON parser: the plugin's is scoped to itself.
      const echo = await get(`${base}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      assert.equal(echo.text, '{"a":1}');
    } finally {
      await app.close();
    }
  });
});

describe('readStatus', () => {
  it('one entry per key; leasehold’s own keys apart, with their kind', async () => {
    const doc = await readStatus(await seededStore());
    assert.deepEqual(
      doc.keys.map((k) => k.key),
      ['billing/sync', 'migrations/lock', 'odd<key>&"'],
    );
    assert.deepEqual(
      doc.reserved.map((r) => [r.key, r.kind, r.held, r.jobs]),
      [
        ['billing/sync#leasehold-waiter', 'waiter', true, undefined],
        ['leasehold#hosts/0', 'host', true, 2],
      ],
    );
    const one = await readStatus(await seededStore(), 'leasehold#hosts/0');
    assert.deepEqual([one.keys.map((k) => k.key), one.reserved], [['leasehold#hosts/0'], []]);
  });
});

describe('the schedule in the status', () => {
  const at = Date.parse('2026-11-23T10:05:30.000Z');
  const withSchedule = (schedule: unknown) => ({ ...jobState(), schedule }) as unknown as JsonValue;

  it('the next slot comes from the stored schedule: interval with offset, cron in a timezone', () => {
    const every = summarizeState(withSchedule({ every: 60_000, offset: 15_000 }), null, at);
    assert.deepEqual([every.schedule, every.nextSlot], [{ every: 60_000, offset: 15_000 }, '2026-11-23T10:06:15.000Z']);
    assert.equal(describeSchedule({ every: 60_000, offset: 15_000 }), 'every 1m (offset 15s)');
    const cron = summarizeState(withSchedule({ cron: '0 3 * * *', timezone: 'Europe/Berlin' }), null, at);
    assert.equal(cron.nextSlot, '2026-11-24T02:00:00.000Z');
    assert.equal(
      describeSchedule({ cron: '0 3 * * *', timezone: 'Europe/Berlin' }),
      'cron "0 3 * * *" (Europe/Berlin)',
    );
  });

  it('a schedule this version cannot read shows no next slot, and no error', () => {
    for (const bad of [
      { every: '5m' },
      { cron: 'not a cron', timezone: 'UTC' },
      { cron: '* * * * *', timezone: 'Mars/Base' },
    ]) {
      const summary = summarizeState(withSchedule(bad), null, at);
      assert.equal(summary.nextSlot, null, JSON.stringify(bad));
    }
    assert.equal(summarizeState(withSchedule(undefined), null, at).schedule, null);
  });
});

describe('leasehold ui', () => {
  it('bad options: exit 64 with one line naming the value, before the store is read', async () => {
    const port = await runCli(['ui', '--store', 'memory:', '--port', 'http']);
    assert.deepEqual(
      [port.code, port.stderr],
      [64, 'leasehold: --port: expected an integer from 0 to 65535, got "http"\n'],
    );
    const refresh = await runCli(['ui', '--store', 'memory:', '--refresh', '5']);
    assert.equal(refresh.code, 64);
    assert.match(refresh.stderr, /^leasehold: --refresh: "5" needs a unit/);
  });

  it('--controls needs the secret in LEASEHOLD_UI_SECRET (never a flag): exit 64 without it', async () => {
    const r = await runCli(['ui', '--store', 'memory:', '--port', '0', '--controls']);
    assert.deepEqual(
      [r.code, r.stderr],
      [
        64,
        'leasehold: --controls: set LEASEHOLD_UI_SECRET to a secret of at least 16 characters (the browser must present it)\n',
      ],
    );
  });

  it('a store it cannot reach: exit 69, one line, no credential', async () => {
    const secret = `pw-${randomBytes(8).toString('hex')}`;
    const r = await runCli(['ui', '--store', `postgres://app:${secret}@127.0.0.1:1/app`, '--port', '0']);
    assert.equal(r.code, 69, r.stderr);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(secret));
  });

  it('serves the folder store, says where, and stops on SIGTERM with exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-ui-'));
    try {
      const store = await openStore(`file:${dir}`);
      await seed(store, 'billing/sync', jobState() as unknown as JsonValue);
      await store.close();
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'ui', '--store', `file:${dir}`, '--port', '0'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0] as string);
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      assert.match(line, /^leasehold ui: http:\/\/127\.0\.0\.1:\d+\/ \(file store, read-only; Ctrl-C stops\)$/);
      const url = (/http:\/\/\S+/.exec(line) as RegExpExecArray)[0];
      assert.match((await get(url)).text, /data-key="billing\/sync"/);
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
