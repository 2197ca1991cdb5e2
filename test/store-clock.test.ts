/** The store-clock estimator's bounds: the lower bound it schedules by, and how wide the interval is. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { SchedulerPort } from '../src/scheduler/port.js';
import { StoreClock } from '../src/scheduler/store-clock.js';
import { FakeClock } from '../src/testing/index.js';

function estimator(resolutionMs = 1) {
  const clock = new FakeClock(0);
  const port = {
    clock,
    store: { name: 'test', capabilities: { clock: 'store', persistent: true, clockResolutionMs: resolutionMs } },
  };
  const host = { stopping: false, stopSignal: new AbortController().signal, nap: async () => {} };
  return { clock, storeClock: new StoreClock(port as unknown as SchedulerPort, host) };
}

it('keeps the largest lower bound and the smallest upper bound of the offset; their gap is the uncertainty', () => {
  const { storeClock } = estimator();
  assert.equal(storeClock.uncertaintyMs, undefined, 'no sample yet');
  // The store is 300 ms ahead. A slow sample: sent at 990, answered at 1010 (store read 1300).
  storeClock.observe(1300, 1010, 990);
  assert.equal(storeClock.offsetMs, 290);
  assert.equal(storeClock.uncertaintyMs, 21, 'round trip 20 ms + resolution 1 ms');
  // A fast one tightens both sides.
  storeClock.observe(2300, 2001, 1999);
  assert.equal(storeClock.offsetMs, 299);
  assert.equal(storeClock.uncertaintyMs, 3);
  // A looser one changes nothing.
  storeClock.observe(3300, 3050, 2950);
  assert.equal(storeClock.uncertaintyMs, 3);
});

it('a coarse store clock widens the upper bound by its resolution', () => {
  const { storeClock } = estimator(1000);
  // An Azure-like Date header: 1 s resolution, read 400 ms into the second.
  storeClock.observe(5000, 5401, 5399);
  assert.equal(storeClock.offsetMs, -401);
  assert.equal(storeClock.uncertaintyMs, 1002);
});

it('a forced sample without a send time forgets the upper bound (the host clock stepped)', () => {
  const { storeClock } = estimator();
  storeClock.observe(1300, 1010, 990);
  storeClock.observe(900, 1010, undefined, true);
  assert.equal(storeClock.offsetMs, -110);
  assert.equal(storeClock.uncertaintyMs, undefined);
});
