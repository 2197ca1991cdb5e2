// Bounded waiting (docs/guarantees.md, "Bounded waiting"): real processes on real stores,
// each looping acquire({ wait }) → short critical section → release → acquire again at
// once. Without the hand-off, the releaser re-takes the key before the waiters' next
// poll nearly every time (38 of 714 possible handoffs with four processes); with it, the
// key goes to a waiter. The unit half, on a fake clock, checks the cost in requests.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Leasehold } from '../src/leasehold.js';
import { waiterKey } from '../src/handoff.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { assertSerial, FakeClock, type HammerSection, runHammer } from '../src/testing/index.js';

const PROCESSES = 4;
const ACQUISITIONS = 40;

/** Critical sections, in order, whose process differs from the one before: the handoffs. */
function handoffs(sections: readonly HammerSection[]): number {
  const ordered = [...sections].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return ordered.filter((section, i) => i > 0 && section.pid !== ordered[i - 1]?.pid).length;
}

async function loopingProcesses(url: string, openOptions: { prefix?: string } = {}): Promise<void> {
  const report = await runHammer({
    url,
    openOptions,
    processes: PROCESSES,
    acquisitions: ACQUISITIONS,
    ttlMs: 5000,
    pollIntervalMs: 25,
    holdMs: 5,
  });
  assertSerial(report.sections, PROCESSES * ACQUISITIONS);
  const count = handoffs(report.sections);
  const possible = report.sections.length - 1;
  console.log(`fairness (${url.split(':')[0]}): ${count} of ${possible} possible handoffs`);
  // Each handoff needs a waiter's poll to land inside the releaser's yield; under load a
  // few miss it. Half is far above what re-taking at once gives (about one in twenty).
  assert.ok(count >= possible / 2, `only ${count} of ${possible} possible handoffs`);
}

describe('bounded waiting, real processes', () => {
  it('four looping processes on the folder store hand the key over', async () => {
    await loopingProcesses(`file:${mkdtempSync(join(tmpdir(), 'leasehold-fairness-'))}`);
  });

  it("four looping processes on the machine's Redis (own prefix) hand the key over", async () => {
    await loopingProcesses('redis://127.0.0.1:6379', { prefix: `leasehold-fairness-${process.pid}-${Date.now()}:` });
  });
});

/** A memory store that counts requests by method. */
function counted(clock: FakeClock) {
  const store = new MemoryStore({ clock });
  const calls = { acquire: 0, inspect: 0, release: 0, renew: 0 };
  for (const method of Object.keys(calls) as (keyof typeof calls)[]) {
    const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
    (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      calls[method]++;
      return original(...args);
    };
  }
  return { store, calls };
}

describe('bounded waiting, fake clock', () => {
  it('a releaser that asks again at once yields one poll to an announced waiter, who gets the key', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const { store, calls } = counted(clock);
    const releaser = new Leasehold({ store, clock, holder: 'releaser' });
    const waiter = new Leasehold({ store, clock, holder: 'waiter' });
    const options = { ttl: 5000, wait: 10_000, pollInterval: 100 };
    const first = await releaser.acquire('k', options);
    const waiting = waiter.acquire('k', options);
    await clock.advance(1);
    assert.equal((await store.inspect(waiterKey('k')))?.holder, 'waiter', 'the waiter announced itself');
    await clock.advance(50);
    await first.release();
    const before = { ...calls };
    const again = releaser.acquire('k', options);
    await clock.advance(200);
    const got = await waiting;
    assert.equal(got.holder, 'waiter', 'the waiter got the key');
    assert.equal(calls.inspect - before.inspect, 1, 'the releaser read the announcement once');
    assert.equal((await store.inspect(waiterKey('k')))?.holder, 'releaser', 'the releaser now waits, announced');
    await got.release();
    await clock.advance(200);
    const last = await again;
    assert.equal(last.holder, 'releaser');
    await last.release();
    assert.equal((await store.inspect(waiterKey('k')))?.holder, null, 'announcements are withdrawn');
    assert.equal(clock.pending, 0, 'no timers left');
  });

  it('with no waiter, a re-acquire at once costs one read and no wait; a later one costs nothing', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const { store, calls } = counted(clock);
    const lh = new Leasehold({ store, clock, holder: 'alone' });
    await (await lh.acquire('k', { ttl: 5000, wait: 0 })).release();
    const before = { ...calls };
    const soon = await lh.tryAcquire('k', { ttl: 5000 });
    assert.ok(soon, 'acquired without advancing the clock');
    assert.deepEqual([calls.inspect - before.inspect, calls.acquire - before.acquire], [1, 1]);
    await soon.release();
    await clock.advance(1000);
    const later = { ...calls };
    await (await lh.tryAcquire('k', { ttl: 5000 }))?.release();
    assert.deepEqual([calls.inspect - later.inspect, calls.acquire - later.acquire], [0, 1]);
  });
});
