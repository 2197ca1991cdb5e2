import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

// Six processes take turns on one key through openStore('redis://…') on a private
// redis-server; every critical section is logged on the host's monotonic clock.
let server: RedisServer;
before(async () => {
  server = await startRedisServer();
});
after(async () => {
  await server?.stop();
});
const prefix = () => `lh-hammer-${randomUUID().slice(0, 8)}:`;

describe('six processes hammering one key', () => {
  it('never overlap and see strictly increasing tokens', async (t) => {
    const p = prefix();
    const key = 'hammer';
    const script = fileURLToPath(new URL('./fixtures/redis-hammer.ts', import.meta.url));
    // Each worker connects, prints "ready" and waits for the start line, then runs
    // `perProcess` critical sections (times on process.hrtime.bigint(), one monotonic
    // clock for every process on the host).
    const perProcess = 40;
    const workers = Array.from({ length: 6 }, () => {
      const c = spawn(process.execPath, ['--import', 'tsx', script, server.url, p, key, String(perProcess)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      const ready = new Promise<void>((resolve, reject) => {
        c.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.startsWith('ready\n')) resolve();
        });
        c.once('exit', (code) => reject(new Error(`worker exited before ready (${code}): ${err}`)));
      });
      ready.catch(() => {});
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const done = new Promise<{ out: string; err: string; code: number | null }>((resolve) =>
        c.once('exit', (code) => resolve({ out: out.replace(/^ready\n/, ''), err, code })),
      );
      return { c, ready, done };
    });
    const t0 = performance.now();
    await Promise.all(workers.map((w) => w.ready));
    const t1 = performance.now();
    for (const w of workers) w.c.stdin.end('go\n');
    const runs = await Promise.all(workers.map((w) => w.done));
    t.diagnostic(
      `processes ready after ${Math.round(t1 - t0)} ms; hammering took ${Math.round(performance.now() - t1)} ms`,
    );
    for (const r of runs) assert.equal(r.code, 0, r.err);
    const sections = runs
      .flatMap((r) => r.out.trim().split('\n').filter(Boolean))
      .map((l) => JSON.parse(l) as { pid: number; start: string; end: string; token: number })
      .map((s) => ({ ...s, s: BigInt(s.start), e: BigInt(s.end) }))
      .sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : 0));
    const pids = new Set(sections.map((s) => s.pid));
    t.diagnostic(
      `${sections.length} critical sections from ${pids.size} processes; per process: ${runs.map((r) => r.out.trim().split('\n').filter(Boolean).length).join(',')}`,
    );
    assert.equal(sections.length, 6 * perProcess);
    assert.equal(pids.size, 6);
    for (let i = 1; i < sections.length; i++) {
      const prev = sections[i - 1] as (typeof sections)[number];
      const cur = sections[i] as (typeof sections)[number];
      assert.ok(cur.s > prev.e, `overlap: ${prev.pid} [${prev.s}, ${prev.e}] and ${cur.pid} [${cur.s}, ${cur.e}]`);
      assert.ok(cur.token > prev.token, `token ${cur.token} after ${prev.token}`);
    }
  });
});
