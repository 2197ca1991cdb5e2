import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startEtcdServer, type EtcdServer } from './helpers/etcd-server.js';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  checkAtMostOnceKill,
  checkOncePerSlot,
  checkPlacementTakeover,
  checkTakeover,
  perSlot,
  runFleet,
} from './helpers/fleet.js';

// A private single-member etcd; each run uses fresh random keys. TTLs are whole seconds
// and at least 2 s (etcd's minimum lease TTL with the default election timeout).
let server: EtcdServer;
before(async () => {
  server = await startEtcdServer();
});
after(async () => {
  await server?.stop();
});

it('etcd: 3 processes, a job every 1s for 20s: each middle slot ran exactly once; stop leaves no lease', async () => {
  await checkOncePerSlot(server.url, { ttl: '3s', ttlMs: 3000 });
});

it('etcd: kill -9 of the runner mid-slot is taken over within TTL + revoke lag + one poll, with a higher token', async () => {
  const { takeoverMs } = await checkTakeover(server.url, { ttl: '2s', ttlMs: 2000, catchUp: '5s' });
  console.log(`etcd takeover after kill -9: ${takeoverMs}ms (ttl 2000ms)`);
  // The leader deletes an expired lease's keys within about 500 ms of its expiry.
  assert.ok(takeoverMs <= 2000 + 500 + 1000, `takeover ${takeoverMs}ms`);
});

it('etcd, at-most-once: a slot whose runner is killed mid-run is recorded lost, never re-run', async () => {
  await checkAtMostOnceKill(server.url, { ttl: '2s', ttlMs: 2000, catchUp: '5s' });
});

it('etcd 3-member cluster, leader killed mid-run: no slot twice, tokens rise, every slot outside the election once', async () => {
  const cluster = await startEtcdServer({ members: 3 });
  try {
    const run = runFleet({
      url: cluster.url,
      processes: 3,
      durationMs: 24_000,
      interval: '1s',
      ttl: '3s',
      ttlMs: 3000,
      workMs: 200,
    });
    await sleep(10_000); // the workers are up by now, usually well before
    const leader = await cluster.leader();
    const killedAt = Date.now();
    await cluster.members[leader]?.kill(true);
    await sleep(4000);
    await cluster.members[leader]?.start();
    const backAt = Date.now();
    const result = await run;
    const slots = perSlot(result.lines);
    // The fault window: from a slot before the kill to one TTL and two slots after the member is back.
    const excused = (slot: string) => Date.parse(slot) >= killedAt - 1000 && Date.parse(slot) <= backAt + 3000 + 2000;
    let runsOutside = 0;
    for (const slot of result.middle) {
      const starts = slots.get(slot)?.starts.length ?? 0;
      assert.ok(starts <= 1, `slot ${slot} started ${starts} times`);
      if (!excused(slot)) {
        assert.equal(starts, 1, `slot ${slot}, outside the fault window, started ${starts} times`);
        runsOutside++;
      }
    }
    assert.ok(runsOutside >= 8, `only ${runsOutside} slots outside the fault window`);
    const starts = result.lines
      .filter((line) => line.ev === 'start')
      .sort((x, y) => (x.slot ?? '').localeCompare(y.slot ?? ''));
    // One lease may run several due slots in a row (a catch-up after the election), so a
    // token repeats only on the same process; it never goes down.
    for (let i = 1; i < starts.length; i++) {
      const [prior, next] = [starts[i - 1], starts[i]];
      const went = `token ${next?.token} of ${next?.slot} (pid ${next?.pid}) after ${prior?.token} (pid ${prior?.pid})`;
      assert.ok((next?.token ?? 0) >= (prior?.token ?? 0), went);
      if (next?.token === prior?.token) assert.equal(next?.pid, prior?.pid, went);
    }
    const lost = Math.round((backAt - killedAt) / 1000);
    console.log(
      `etcd cluster fleet: leader killed for ${lost}s; ${runsOutside} slots outside the window ran once each`,
    );
  } finally {
    await cluster.stop();
  }
});

it('etcd, placement: 3 processes share 6 jobs; kill -9 of an owner moves its jobs within TTL + one heartbeat + 1 s (P3)', async () => {
  const { takeoverMs, moved } = await checkPlacementTakeover(server.url, { ttl: '2s', ttlMs: 2000 });
  console.log(`etcd placement takeover after kill -9: ${takeoverMs}ms for ${moved} jobs (liveness ttl 2s)`);
});
