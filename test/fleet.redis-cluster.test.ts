import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkAtMostOnceKill, checkOncePerSlot, checkTakeover, perSlot, runFleet } from './helpers/fleet.js';
import { startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js';

// The fleet tests on a real Redis Cluster (3 masters, 3 replicas): every worker opens a
// RedisStore on an ioredis Cluster client (the test-only redis-cluster:// scheme).
let cluster: RedisCluster;
before(async () => {
  cluster = await startRedisCluster();
});
after(async () => {
  await cluster?.stop();
});

it('redis cluster: 3 processes, a job every 1s for 20s: each middle slot ran exactly once; stop leaves no lease', async () => {
  await checkOncePerSlot(cluster.url, { ttl: '3s', ttlMs: 3000 });
});

it('redis cluster: kill -9 of the runner mid-slot is taken over within TTL + one poll, with a higher token', async () => {
  const { takeoverMs } = await checkTakeover(cluster.url, { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' });
  console.log(`redis cluster takeover after kill -9: ${takeoverMs}ms (ttl 1500ms)`);
  assert.ok(takeoverMs <= 1500 + 1000, `takeover ${takeoverMs}ms`);
});

it('redis cluster, at-most-once: a slot whose runner is killed mid-run is recorded lost, never re-run', async () => {
  await checkAtMostOnceKill(cluster.url, { ttl: '1500ms', ttlMs: 1500, catchUp: '5s' });
});

it('redis cluster: SIGKILL of the master serving the job mid-run: a replica takes over, runs never overlap, tokens only go up', async () => {
  // The fleet's key is its own: a state hash that was not there before it started.
  const stateKeys = async () => {
    const names: string[] = [];
    for (const master of (await cluster.nodes()).filter((n) => n.role === 'master')) {
      const [, found] = await (await cluster.node(master.port)).scan(
        '0',
        'MATCH',
        'leasehold:{fleet-*}',
        'COUNT',
        1000,
      );
      names.push(...found.filter((name) => !name.endsWith(':lease')));
    }
    return names;
  };
  const earlier = new Set(await stateKeys());
  const fleet = runFleet({
    url: cluster.url,
    processes: 3,
    durationMs: 22_000,
    interval: '1s',
    ttl: '3s',
    ttlMs: 3000,
    catchUp: '10s',
    workMs: 200,
  });
  fleet.catch(() => {}); // awaited below; a failed start is reported there
  let stateKey: string | undefined;
  for (let tries = 0; !stateKey && tries < 600; tries++) {
    stateKey = (await stateKeys()).find((name) => !earlier.has(name));
    if (!stateKey) await sleep(100);
  }
  assert.ok(stateKey, 'the fleet wrote its key');
  const victim = await cluster.masterOf(stateKey);
  await sleep(5000);
  const killedWall = Date.now();
  await cluster.killNode(victim.port);
  const promoted = await cluster.waitForFailover(victim.port);
  const failoverMs = Date.now() - killedWall;
  console.log(
    `redis cluster: master ${victim.port} of ${stateKey} killed; replica ${promoted.port} took over in ${failoverMs}ms`,
  );
  const r = await fleet;
  await cluster.restartNode(victim.port);
  await cluster.waitHealthy();

  const runs = r.lines.filter((l) => l.ev === 'start').sort((a, b) => (a.t < b.t ? -1 : 1));
  // One lease may run several due slots in a row (a catch-up after the failover), so a
  // token repeats only on the same process, for consecutive runs; it never goes down.
  for (let i = 1; i < runs.length; i++) {
    const [before, next] = [runs[i - 1], runs[i]];
    const went = `token went from ${before?.token} (pid ${before?.pid}) to ${next?.token} (pid ${next?.pid})`;
    assert.ok((before?.token ?? 0) <= (next?.token ?? 0), went);
    if (before?.token === next?.token) assert.equal(before?.pid, next?.pid, went);
  }
  // Runs never overlap: each start comes after the previous run's end.
  const ends = r.lines.filter((l) => l.ev === 'end');
  for (let i = 1; i < runs.length; i++) {
    const previous = runs[i - 1];
    const end = ends.find((e) => e.slot === previous?.slot && e.pid === previous?.pid);
    if (end) assert.ok(end.t <= (runs[i]?.t ?? 0n), `${runs[i]?.slot} started before ${previous?.slot} ended`);
  }
  // Every middle slot ran (the catch-up window outlasts the failover); the ones well
  // before and after it ran exactly once.
  const slots = perSlot(r.lines);
  const window: [number, number] = [killedWall - 2000, killedWall + failoverMs + 3000 + 2000];
  for (const slot of r.middle) {
    const count = slots.get(slot)?.ends.length ?? 0;
    const at = Date.parse(slot);
    const overlap = r.lines.some((l) => l.ev === 'skip' && l.slot === slot && l.reason === 'overlap');
    if (at < window[0] || at > window[1])
      assert.equal(count, 1, `slot ${slot} outside the failover ran ${count} times`);
    else assert.ok(count >= 1 || overlap, `slot ${slot} in the failover window neither ran nor was overlap-skipped`);
  }
});
