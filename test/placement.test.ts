/**
 * Placement (P1–P3): the pure assignment, and fleets of Leasehold instances on one
 * memory store under a fake clock — cost per slot, balance, takeover after a death or a
 * stop, and that stale views never cause a second run.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ConfigError, HOSTS_PREFIX, Leasehold, type JobOptions, type PlacementEvent } from '../src/index.js';
import { assignOwners, jobSetDigest } from '../src/scheduler/rendezvous.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { FakeClock, FaultyStore } from '../src/testing/index.js';

const START = Date.UTC(2026, 0, 1);
const keys = (n: number, prefix = 'job') => Array.from({ length: n }, (_, index) => `${prefix}-${index}`);
const hostNames = (n: number) => Array.from({ length: n }, (_, index) => `host-${index}:${1000 + index}:ab${index}`);

/** `list[index]`, which must exist. */
function nth<T>(list: readonly T[], index: number): T {
  const value = list[index];
  assert.ok(value !== undefined, `no element ${index}`);
  return value;
}

function loads(owners: Map<string, string>): number[] {
  const counts = new Map<string, number>();
  for (const owner of owners.values()) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  return [...counts.values()];
}

function moved(before: Map<string, string>, after: Map<string, string>): number {
  let count = 0;
  for (const [key, owner] of before) if (after.get(key) !== owner) count++;
  return count;
}

describe('rendezvous assignment (pure)', () => {
  it('is the same whatever order hosts and jobs come in', () => {
    const jobs = keys(200);
    const hosts = hostNames(7);
    const a = assignOwners(jobs, hosts);
    const b = assignOwners([...jobs].reverse(), [...hosts].reverse());
    assert.deepEqual([...a.entries()].sort(), [...b.entries()].sort());
    assert.equal(assignOwners(jobs, []).size, 0);
  });

  it('balances exactly: every host gets ⌊J/H⌋ or ⌈J/H⌉ jobs', () => {
    for (const [jobCount, hostCount] of [
      [200, 3],
      [40, 12],
      [480, 12],
      [5, 8],
      [10_000, 30],
    ] as const) {
      const owners = assignOwners(keys(jobCount), hostNames(hostCount));
      const counts = loads(owners);
      const floor = Math.floor(jobCount / hostCount);
      for (const count of counts)
        assert.ok(count === floor || count === floor + 1, `${jobCount}/${hostCount}: ${count}`);
      assert.equal(owners.size, jobCount);
    }
  });

  it('a host leaving or joining moves about its share of the jobs', () => {
    const jobs = keys(3000);
    const hosts = hostNames(10);
    const before = assignOwners(jobs, hosts);
    const leave = moved(before, assignOwners(jobs, hosts.slice(1)));
    const join = moved(before, assignOwners(jobs, [...hosts, 'newcomer:1:x']));
    // The leaver's share is 1/10 (300 jobs), a joiner's 1/11 (273); the load bound adds a little.
    assert.ok(leave >= 300 && leave <= 1.5 * 300, `leave moved ${leave}`);
    assert.ok(join >= 250 && join <= 1.5 * 273, `join moved ${join}`);
  });

  it('digests a job set independently of order, and tells sets apart', () => {
    assert.equal(jobSetDigest(['a', 'b', 'c']), jobSetDigest(['c', 'a', 'b', 'a']));
    assert.notEqual(jobSetDigest(['a', 'b', 'c']), jobSetDigest(['a', 'b']));
    assert.notEqual(jobSetDigest(['ab', 'c']), jobSetDigest(['a', 'bc']));
  });
});

interface Fleet {
  clock: FakeClock;
  inner: MemoryStore;
  stores: FaultyStore[];
  hosts: Leasehold[];
  /** Every run, in order: job, slot offset in ms, host index. */
  runs: { key: string; slot: number; host: number }[];
  /** Each host's placement events, with the fake time (ms from START) each came at. */
  events: (PlacementEvent & { at: number })[][];
}

/** One placement event, short: when, how many hosts, who joined or left and why. */
function viewChange(event: PlacementEvent & { at: number }): string {
  const left = event.left.map((l) => `-${l.holder} (${l.reason})`);
  return `+${Math.round(event.at)}ms ${event.hosts} hosts ${[...event.joined.map((h) => `+${h}`), ...left].join(' ')}`;
}

function fleet(
  hostCount: number,
  jobCount: number,
  options: { period?: number; job?: JobOptions; placement?: boolean | { ttl: number } } = {},
): Fleet {
  const clock = new FakeClock(START);
  const inner = new MemoryStore({ clock: { wallNow: () => clock.wallNow() } });
  const stores = Array.from({ length: hostCount }, () => new FaultyStore(inner));
  const placement = options.placement ?? { ttl: 3000 };
  const hosts = stores.map((store, index) => new Leasehold({ store, clock, holder: `host${index}`, placement }));
  const runs: Fleet['runs'] = [];
  const events: Fleet['events'] = hosts.map(() => []);
  hosts.forEach((lh, host) => {
    lh.on('placement:changed', (event) => events[host]?.push({ ...event, at: clock.wallNow() - START }));
    for (const key of keys(jobCount)) {
      lh.every(options.period ?? 1000, key, (ctx) => void runs.push({ key, slot: ctx.slot.getTime() - START, host }), {
        ttl: 2000,
        ...options.job,
      });
    }
  });
  return { clock, inner, stores, hosts, runs, events };
}

async function startAll(target: Fleet): Promise<void> {
  let started = false;
  const starting = Promise.all(target.hosts.map((lh) => lh.start())).then(() => {
    started = true;
  });
  await target.clock.advanceUntil(() => started, 10_000, 10);
  await starting;
}

async function stopAll(clock: FakeClock, hosts: Leasehold[]): Promise<void> {
  let done = false;
  const stopped = Promise.all(hosts.map((lh) => lh.stop())).finally(() => {
    done = true;
  });
  await clock.advanceUntil(() => done, 60_000, 50);
  await stopped;
}

function requests(stores: FaultyStore[]): number {
  let total = 0;
  for (const store of stores) for (const count of Object.values(store.calls)) total += count;
  return total;
}

/** Every job's slots in [from, to] ran exactly once. */
function assertOnce(runs: Fleet['runs'], jobCount: number, from: number, to: number, period = 1000): void {
  for (const key of keys(jobCount)) {
    for (let slot = from; slot <= to; slot += period) {
      const count = runs.filter((run) => run.key === key && run.slot === slot).length;
      assert.equal(count, 1, `${key} slot +${slot} ran ${count} times`);
    }
  }
}

describe('placement (fake clock, memory store)', () => {
  // The first start() in a process loads the OpenTelemetry API: a dynamic import, real I/O
  // through the test loader. Done here on the real clock, so no fleet below sees fake time
  // pass while its hosts wait for it: on a loaded machine that was 2–3 s of fake time, and
  // the hosts saw each other only after the measured window had begun (runs per host 80,
  // 80, 110, the hosts' first views at +2.2–2.9 s instead of +0.1 s).
  before(async () => {
    const warm = new Leasehold({ store: new MemoryStore() });
    await warm.start();
    await warm.stop();
  });

  it('3 hosts × 30 jobs: every slot once, the jobs spread evenly, about two requests per job-slot (P2)', async () => {
    const target = fleet(3, 30);
    await startAll(target);
    await target.clock.advance(2050);
    const before = requests(target.stores);
    const acquiresBefore = target.stores.reduce((sum, store) => sum + store.calls.acquire, 0);
    const runsBefore = target.runs.length;
    await target.clock.advance(10_000);
    const slotsRun = target.runs.length - runsBefore;
    const acquires = target.stores.reduce((sum, store) => sum + store.calls.acquire, 0) - acquiresBefore;
    const perSlot = (requests(target.stores) - before) / slotsRun;
    await stopAll(target.clock, target.hosts);
    assertOnce(target.runs, 30, 3000, 11_000);
    assert.equal(slotsRun, 300, 'every job-slot in the 10 s ran');
    // Two per slot (acquire with the start record, release with the end record), plus each
    // host's heartbeat (a renewal and a roster read every second at a 3 s liveness TTL).
    assert.ok(perSlot <= 2.25, `requests per job-slot: ${perSlot}`);
    // Balance once every host has read a roster with all three (the first to start owns
    // everything until its next heartbeat), and before any has stopped: a host that leaves
    // first hands its jobs to the others for the slots until they stop too.
    const steady = target.runs.filter((run) => run.slot >= 3000 && run.slot <= 11_000);
    const perHost = [0, 1, 2].map((host) => steady.filter((run) => run.host === host).length);
    // On failure, say when each host's view of the fleet changed (a flake seen twice under load).
    const views = target.events.map((list, host) => `host${host}: ${list.map(viewChange).join('; ')}`);
    assert.ok(
      Math.max(...perHost) / Math.min(...perHost) <= 1.1,
      `runs per host ${perHost.join(', ')}; placement changes: ${views.join(' | ')}`,
    );
    assert.equal(acquires, slotsRun, 'no acquire is spent on jobs a host does not own');
  });

  it('without placement every host tries every slot: the cost grows with the fleet', async () => {
    const target = fleet(3, 10, { placement: false });
    await startAll(target);
    await target.clock.advance(2050);
    const before = requests(target.stores);
    const runsBefore = target.runs.length;
    await target.clock.advance(5000);
    const perSlot = (requests(target.stores) - before) / (target.runs.length - runsBefore);
    await stopAll(target.clock, target.hosts);
    assertOnce(target.runs, 10, 3000, 6000);
    assert.ok(perSlot >= 3.5, `requests per job-slot without placement: ${perSlot}`);
    assert.equal(await target.inner.inspect(`${HOSTS_PREFIX}0`), null, 'no host joined a roster');
  });

  it('a dead host’s jobs run elsewhere within TTL + one heartbeat (P3)', async () => {
    const target = fleet(3, 12);
    await startAll(target);
    await target.clock.advance(3050);
    const victim = 1;
    const owned = new Set(target.runs.filter((run) => run.host === victim && run.slot >= 2000).map((run) => run.key));
    assert.equal(owned.size, 4, 'the victim owned its share');
    // Death, as the others see it: every request of the victim fails from now on.
    nth(target.stores, victim).mode = 'fail';
    const diedAt = target.clock.now();
    await target.clock.advance(8000);
    await stopAll(target.clock, target.hosts);
    const died = diedAt - 50; // offsets are slot instants: the last slot before death is +3000
    const takeover = 3000 + 1000; // liveness TTL + one heartbeat (ttl/3)
    for (const key of owned) {
      const after = target.runs.filter((run) => run.key === key && run.slot > died).map((run) => run.slot);
      const first = Math.min(...after);
      assert.ok(first <= died + takeover + 1050, `${key}: first slot run elsewhere +${first} (died at +${died})`);
      for (let slot = first; slot <= 10_000; slot += 1000) {
        const count = target.runs.filter((run) => run.key === key && run.slot === slot).length;
        assert.equal(count, 1, `${key} slot +${slot} after the takeover ran ${count} times`);
      }
    }
    const left = nth(target.events, 0).flatMap((event) => event.left);
    assert.ok(
      left.some((host) => host.holder === 'host1' && /expired/.test(host.reason)),
      JSON.stringify(left),
    );
    const gained = nth(target.events, 0)
      .flatMap((event) => event.gained)
      .concat(nth(target.events, 2).flatMap((e) => e.gained));
    // What the victim owned moved to the survivors (with the load bound, a few jobs may also
    // move between survivors).
    for (const key of owned) assert.ok(gained.includes(key), `${key} announced as gained (${gained.join(', ')})`);
  });

  it('a stopped host’s jobs move at the next heartbeat, and the event says it stopped', async () => {
    const target = fleet(3, 9);
    await startAll(target);
    await target.clock.advance(3050);
    const owned = new Set(target.runs.filter((run) => run.host === 2 && run.slot >= 2000).map((run) => run.key));
    let stopped = false;
    const stopping = nth(target.hosts, 2)
      .stop()
      .then(() => {
        stopped = true;
      });
    await target.clock.advanceUntil(() => stopped, 5000, 10);
    await stopping;
    const stopAt = target.clock.now();
    await target.clock.advance(5000);
    await stopAll(target.clock, target.hosts.slice(0, 2));
    for (const key of owned) {
      const next = target.runs.filter((run) => run.key === key && run.slot > stopAt).map((run) => run.slot);
      assert.ok(
        Math.min(...next) <= stopAt + 1000 + 1050,
        `${key} next ran at +${Math.min(...next)} (stop +${stopAt})`,
      );
    }
    const left = nth(target.events, 0).flatMap((event) => event.left);
    assert.ok(
      left.some((host) => host.holder === 'host2' && host.reason === 'stopped'),
      JSON.stringify(left),
    );
    const roster = await target.inner.inspectAll({ prefix: HOSTS_PREFIX });
    assert.equal(roster.filter((record) => record.holder === 'host2').length, 0, 'its slot was released');
  });

  it('stale views never cause a second run: the job lease decides (P1)', async () => {
    const target = fleet(3, 12);
    // host0 cannot read the roster after its first view: it keeps believing it owns a third.
    await startAll(target);
    nth(target.stores, 0).modes.inspectAll = 'fail';
    await target.clock.advance(1050);
    // host2 leaves; host1 now owns everything, host0 still believes its old view.
    let stopped = false;
    void nth(target.hosts, 2)
      .stop()
      .then(() => {
        stopped = true;
      });
    await target.clock.advanceUntil(() => stopped, 5000, 10);
    await target.clock.advance(6000);
    delete nth(target.stores, 0).modes.inspectAll; // the view heals
    await target.clock.advance(4000);
    await stopAll(target.clock, target.hosts.slice(0, 2));
    const seen = new Set<string>();
    for (const run of target.runs) {
      const id = `${run.key}@${run.slot}`;
      assert.ok(!seen.has(id), `${id} ran twice`);
      seen.add(id);
    }
    assertOnce(target.runs, 12, 2000, 11_000);
  });

  it('placement options are checked before any request', () => {
    const store = new MemoryStore();
    assert.throws(() => new Leasehold({ store, placement: { ttl: '0s' } }), ConfigError);
    assert.throws(() => new Leasehold({ store, placement: 'yes' as never }), /placement: expected true, false/);
    assert.throws(() => new Leasehold({ store, placement: { tll: '5s' } as never }), /did you mean "ttl"/);
  });
});
