/**
 * Runs several processes (test/fixtures/sql-hammer-child.ts) that take turns on one key
 * of a store opened from a URL, and checks their critical sections: never overlapping,
 * tokens strictly increasing in time order. Also: a short schedule on one key, for the
 * SQL stores' request counts per slot.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Leasehold } from '../../src/leasehold.js';
import type { LeaseStore } from '../../src/store.js';

const CHILD = fileURLToPath(new URL('../fixtures/sql-hammer-child.ts', import.meta.url));

/** One critical section as a child reported it. */
export interface Section {
  pid: number;
  start: bigint;
  end: bigint;
  token: number;
}

/** Phases of the last {@link hammer} run: processes starting, then taking turns. */
export const timing = { startupMs: 0, runMs: 0 };

/** Starts `processes` children, lets them go at once, and returns every section, sorted by start. */
export async function hammer(
  url: string,
  key: string,
  processes: number,
  acquisitions: number,
  timeoutMs = 150_000,
): Promise<Section[]> {
  const t0 = performance.now();
  const children = Array.from({ length: processes }, () =>
    spawn(process.execPath, ['--import', 'tsx', CHILD, url, key, String(acquisitions)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  const outputs = children.map(() => ({ out: '', err: '' }));
  const timer = setTimeout(() => {
    for (const c of children) c.kill('SIGKILL');
  }, timeoutMs);
  try {
    const ready = children.map(
      (c, i) =>
        new Promise<void>((resolve, reject) => {
          const o = outputs[i] as { out: string; err: string };
          c.stdout.on('data', (d: Buffer) => {
            o.out += d.toString();
            if (o.out.startsWith('ready\n')) resolve();
          });
          c.stderr.on('data', (d: Buffer) => {
            o.err += d.toString();
          });
          c.once('exit', (code) => reject(new Error(`hammer child exited (${code}) before ready: ${o.err}`)));
        }),
    );
    const exited = children.map(
      (c) => new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code))),
    );
    await Promise.all(ready);
    const go = performance.now();
    for (const c of children) c.stdin.end('go\n');
    const codes = await Promise.all(exited);
    timing.startupMs = Math.round(go - t0);
    timing.runMs = Math.round(performance.now() - go);
    for (const [i, code] of codes.entries()) {
      assert.equal(code, 0, `hammer child ${i} exited with ${code}: ${outputs[i]?.err}`);
    }
  } finally {
    clearTimeout(timer);
  }
  const sections: Section[] = [];
  for (const o of outputs) {
    assert.match(o.out, /\ndone\n$/, `child did not finish: ${o.out.slice(-200)} ${o.err}`);
    for (const line of o.out.split('\n')) {
      if (!line.startsWith('{')) continue;
      const j = JSON.parse(line) as { pid: number; start: string; end: string; token: number };
      sections.push({ pid: j.pid, start: BigInt(j.start), end: BigInt(j.end), token: j.token });
    }
  }
  return sections.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/** Asserts no two sections overlap and tokens strictly increase in time order. */
export function assertSerial(sections: Section[], expected: number): void {
  assert.equal(sections.length, expected, 'every acquisition reported');
  for (let i = 1; i < sections.length; i++) {
    const prev = sections[i - 1] as Section;
    const cur = sections[i] as Section;
    assert.ok(
      cur.start > prev.end,
      `overlap: pid ${prev.pid} token ${prev.token} ended at ${prev.end}, pid ${cur.pid} token ${cur.token} started at ${cur.start}`,
    );
    assert.ok(cur.token > prev.token, `token ${cur.token} (pid ${cur.pid}) after ${prev.token} (pid ${prev.pid})`);
  }
}

/**
 * Schedules one job every 500 ms on `store` until it has run `runs` times, then stops.
 * `beforeStart` runs just before `start()`, to mark where a request count begins.
 * Resolves to the job's key and how many runs it had (a slot under way at stop may add one).
 */
export async function runScheduledSlots(
  store: LeaseStore,
  beforeStart: () => void,
  runs = 4,
): Promise<{ key: string; runs: number }> {
  const lh = new Leasehold({ store });
  const key = `slot-${randomUUID()}`;
  let n = 0;
  let enough: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    enough = resolve;
  });
  lh.every('500ms', key, async () => {
    if (++n === runs) enough();
  });
  beforeStart();
  await lh.start();
  await done;
  await lh.stop();
  return { key, runs: n };
}

/**
 * Requests one Leasehold on `store` sends for `n` re-takes of a key right after its own
 * release (each an acquire then a release), counted by `sent` (the client's request count).
 * Within 1.25 polls of a release, bounded waiting checks the key's waiter announcement
 * (L11): inside the acquire on stores with `checksWaiters`, else with one read first.
 */
export async function retakeRequests(store: LeaseStore, sent: () => number, n = 5): Promise<number> {
  const lh = new Leasehold({ store, holder: 'retake' });
  const key = `rtw-${randomUUID()}`;
  await (await lh.tryAcquire(key, { ttl: 5000 }))?.release();
  const before = sent();
  for (let i = 0; i < n; i++) {
    const lease = await lh.tryAcquire(key, { ttl: 5000 });
    assert.ok(lease, 'nobody else wants the key');
    await lease.release();
  }
  return sent() - before;
}
