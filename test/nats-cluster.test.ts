import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ConfigError, StoreUnavailableError } from '../src/errors.js';
import { hasReplicatedCas } from '../src/stores/nats/connection.js';
import { NatsKvStore } from '../src/stores/nats/index.js';
import { raceCasUpdates } from './helpers/nats-cas-race.js';
import { MACHINE_NATS_SERVER, natsServerVersion, startNatsCluster, type NatsCluster } from './helpers/nats-server.js';

// Three-server JetStream clusters. The R3 runs use nats-server 2.10 (Debian trixie's package,
// .tmp/nats-server-2.10/, fetched by scripts/fetch-nats-server.sh); the machine's 2.9.10 is the
// control: its replicated compare-and-set can store two writes of one revision (nats-server
// issue 4320, fixed in 2.9.21), which is why the store refuses R3 buckets on it.

const bucketName = () => `t-${randomUUID().slice(0, 8)}`;
const request = (key: string, holder = 'h', ttlMs = 2000) => ({ key, holder, leaseId: randomUUID(), ttlMs });

/** Retries `work` while a new cluster is still electing its JetStream leaders (StoreUnavailableError). */
async function waitForCluster<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || attempt >= 50) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

describe('nats-server 2.10, 3 servers', () => {
  let cluster: NatsCluster;
  before(async () => {
    cluster = await startNatsCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  it('the cluster runs a server with the replicated compare-and-set fix (2.9.21 or later)', () => {
    assert.ok(hasReplicatedCas(cluster.version), `cluster runs nats-server ${cluster.version}`);
  });

  it('R3 bucket: 6 racing compare-and-set updates of one revision store exactly one, 300 rounds', async () => {
    const race = await raceCasUpdates(cluster.url, { replicas: 3, rounds: 300 });
    console.log(`nats-server ${cluster.version}, R3 bucket, 6 racers:`, race);
    assert.equal(race.rounds, 300);
    assert.equal(race.multiple, 0, 'rounds in which the stream stored more than one racing write');
    assert.equal(race.multipleAcked, 0, 'rounds in which more than one racing write was acknowledged');
    assert.equal(race.none, 0, 'rounds in which no racing write was stored');
  });

  it('an R3 bucket is accepted by the store and replicated on all three servers', async () => {
    const bucket = bucketName();
    const store = new NatsKvStore({ url: `${cluster.url}/${bucket}?replicas=3`, requestTimeoutMs: 3000 });
    try {
      const granted = await waitForCluster(() => store.acquire(request('k')));
      assert.ok(granted.acquired);
      await cluster.waitForStream(`KV_${bucket}`);
      assert.ok(await cluster.streamLeader(`KV_${bucket}`), 'the stream has a leader');
    } finally {
      await store.close();
    }
  });
});

describe(`the machine's nats-server (control), 3 servers`, () => {
  const version = natsServerVersion(MACHINE_NATS_SERVER);
  let cluster: NatsCluster;
  before(async () => {
    // The control needs a server from before the fix; Debian bookworm's is 2.9.10.
    assert.ok(!hasReplicatedCas(version), `${MACHINE_NATS_SERVER} is ${version}: the control needs one before 2.9.21`);
    cluster = await startNatsCluster({ binary: MACHINE_NATS_SERVER });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('R3 bucket: the same race stores two writes of one revision (the race check can see one)', async () => {
    const race = await raceCasUpdates(cluster.url, { replicas: 3, rounds: 400, stopAtFirst: true });
    console.log(`nats-server ${version}, R3 bucket, 6 racers, until the first double:`, race);
    assert.ok(race.multiple > 0, `no round stored two writes in ${race.rounds} rounds`);
  });

  it('an R3 bucket is refused with a one-line ConfigError naming the version and the fix; R1 works', async () => {
    const r3 = new NatsKvStore({ url: `${cluster.url}/${bucketName()}?replicas=3`, requestTimeoutMs: 3000 });
    await assert.rejects(
      waitForCluster(() => r3.acquire(request('k'))),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, /3 replicas.*nats-server 2\.9\.10 .*issue 4320.*nats-server 2\.9\.21 or later/);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      },
    );
    await r3.close();
    // One replica on the same cluster: the stream has no Raft group, its CAS is checked under the stream's lock.
    const r1 = new NatsKvStore({ url: `${cluster.url}/${bucketName()}`, requestTimeoutMs: 3000 });
    const granted = await waitForCluster(() => r1.acquire(request('k')));
    assert.ok(granted.acquired);
    await r1.close();
  });
});

interface Grant {
  key: string;
  token: number;
  sentAt: number;
  repliedAt: number;
  /** Send times of the renewals and the release that succeeded. */
  kept: number[];
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One contender: acquire, hold with renewals, release; every success recorded with its times. */
async function contend(
  store: NatsKvStore,
  keys: string[],
  until: number,
  grants: Grant[],
  errors: Set<string>,
): Promise<void> {
  while (performance.now() < until) {
    const key = keys[Math.floor(Math.random() * keys.length)] as string;
    const asked = request(key, 'c', 1500);
    const sentAt = performance.now();
    try {
      const granted = await store.acquire(asked, { signal: AbortSignal.timeout(1000) });
      if (!granted.acquired) {
        await pause(50);
        continue;
      }
      const grant = { key, token: granted.token, sentAt, repliedAt: performance.now(), kept: [] as number[] };
      grants.push(grant);
      const ref = { key, leaseId: asked.leaseId, token: granted.token };
      for (let i = 0; i < 3; i++) {
        await pause(150);
        const renewSent = performance.now();
        if (!(await store.renew({ ...ref, ttlMs: 1500 }, { signal: AbortSignal.timeout(400) }))) break;
        grant.kept.push(renewSent);
      }
      const releaseSent = performance.now();
      if (await store.release(ref, { signal: AbortSignal.timeout(400) })) grant.kept.push(releaseSent);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      errors.add(err.message.replace(/^.*?: (acquire|renew|release) "[^"]*": /, '$1: ').replace(/: [^:]*Error.*$/, ''));
      await pause(100); // the cluster is electing a leader
    }
  }
}

/** No lease kept (renewed or released) after a later token's grant was answered; tokens in grant order. */
function assertOneHolder(grants: Grant[], keys: string[]): void {
  for (const key of keys) {
    const mine = grants.filter((grant) => grant.key === key).sort((a, b) => a.token - b.token);
    assert.ok(mine.length > 3, `${key}: ${mine.length} grants`);
    for (const [i, grant] of mine.entries()) {
      for (const later of mine.slice(i + 1)) {
        const overlap = grant.kept.find((sent) => sent > later.repliedAt);
        assert.equal(overlap, undefined, `${key}: token ${grant.token} kept after token ${later.token} was granted`);
        assert.ok(!(later.repliedAt < grant.sentAt), `${key}: token ${later.token} granted before ${grant.token}`);
      }
    }
  }
}

it('nats-server 2.10, R3 bucket: the stream leader killed mid-run; no two holders, tokens rise', async () => {
  const cluster = await startNatsCluster();
  const bucket = bucketName();
  const stream = `KV_${bucket}`;
  const url = `${cluster.url}/${bucket}?replicas=3`;
  const stores = Array.from({ length: 4 }, () => new NatsKvStore({ url, requestTimeoutMs: 1000 }));
  try {
    await waitForCluster(() => (stores[0] as NatsKvStore).now());
    await cluster.waitForStream(stream);
    const grants: Grant[] = [];
    const keys = ['job-a', 'job-b'];
    // Long enough for an election after the kill: a follower waits 4-9 s for a lost leader.
    const until = performance.now() + 22_000;
    const errors = new Set<string>();
    const running = Promise.all(stores.map((store) => contend(store, keys, until, grants, errors)));
    await pause(4000);
    const leader = await cluster.streamLeader(stream);
    assert.ok(leader, 'the stream has a leader');
    const killedAt = performance.now();
    await leader.kill(true);
    await pause(4000);
    await leader.start();
    await cluster.waitForStream(stream);
    const healthyMs = Math.round(performance.now() - killedAt);
    await running;
    assertOneHolder(grants, keys);
    const afterKill = grants.filter((grant) => grant.sentAt > killedAt);
    assert.ok(afterKill.length > 3, `${afterKill.length} leases granted after the leader was killed`);
    const firstAfter = Math.round(Math.min(...afterKill.map((grant) => grant.repliedAt)) - killedAt);
    console.log(
      `nats cluster (${cluster.version}): ${grants.length} grants, ${afterKill.length} after the stream leader's ` +
        `SIGKILL (down 4 s): the first ${firstAfter} ms after it; all replicas current after ${healthyMs} ms`,
    );
    console.log('errors while the stream had no leader:', [...errors]);
    for (const message of errors)
      assert.match(message, /no server answered for the stream|no answer (within|before the request was aborted)/);
    // An election (4-9 s, a second round if the first splits) and then a lease's TTL at most.
    assert.ok(firstAfter <= 20_000, `first grant ${firstAfter} ms after the kill`);
  } finally {
    await Promise.all(stores.map((store) => store.close()));
    await cluster.stop();
  }
});
