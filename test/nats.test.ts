import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { ConfigError, StoreUnavailableError } from '../src/errors.js';
import { openStore } from '../src/open.js';
import { hasReplicatedCas } from '../src/stores/nats/connection.js';
import { NatsKvStore, parseNatsUrl } from '../src/stores/nats/index.js';
import { startNatsServer, type NatsServer } from './helpers/nats-server.js';
import { freePort } from './helpers/ports.js';

let server: NatsServer;
let secured: NatsServer;
let closedPort: number;
before(async () => {
  [server, secured] = await Promise.all([startNatsServer(), startNatsServer({ user: 'lh', password: 's3cret-pw' })]);
  closedPort = await freePort();
});
after(async () => {
  await Promise.all([server?.stop(), secured?.stop()]);
});

const bucketName = () => `t-${randomUUID().slice(0, 8)}`;
const request = (key: string, holder = 'h', ttlMs = 2000) => ({ key, holder, leaseId: randomUUID(), ttlMs });

it('URLs: servers, credentials, token, bucket and replicas are parsed; secrets are masked', () => {
  const parsed = parseNatsUrl('nats://u:p%40ss@n1:4333,n2,[::1]:5000/leases?replicas=3');
  assert.deepEqual(parsed.servers, ['n1:4333', 'n2:4222', '[::1]:5000']);
  assert.equal(parsed.user, 'u');
  assert.equal(parsed.pass, 'p@ss');
  assert.equal(parsed.bucket, 'leases');
  assert.equal(parsed.replicas, 3);
  assert.equal(parsed.shown, 'nats://u:***@n1:4333,n2,[::1]:5000/leases?replicas=3');
  const token = parseNatsUrl('nats://tok-123456@localhost');
  assert.equal(token.token, 'tok-123456');
  assert.equal(token.bucket, 'leasehold');
  assert.equal(token.shown, 'nats://***@localhost');
});

it('B1: malformed URLs and options are one-line ConfigErrors naming the value, secrets masked', async () => {
  const bad: [string, RegExp][] = [
    ['redis://x', /not a nats: URL/],
    ['nats:///b', /names no server/],
    ['nats://h:99999/b', /server "h:99999"/],
    ['nats://h/bad.bucket', /bucket "bad.bucket"/],
    ['nats://h/b?replicas=7', /replicas "7"/],
    ['nats://h/b?replica=3', /unknown parameter "replica".*did you mean "replicas"/],
    ['nats://tok-secret-1@h/b?replicas=0', /replicas "0"/],
  ];
  for (const [url, pattern] of bad) {
    assert.throws(
      () => new NatsKvStore({ url }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, url);
        assert.match(err.message, pattern);
        assert.doesNotMatch(err.message, /tok-secret-1|\n/);
        return true;
      },
    );
  }
  const url = 'nats://h/b';
  assert.throws(() => new NatsKvStore({ url, prefix: 'a..b' }), /prefix/);
  assert.throws(() => new NatsKvStore({ url, prefix: 'has=equals' }), /prefix/);
  assert.throws(() => new NatsKvStore({ url, requestTimeoutMs: -1 }), /requestTimeoutMs/);
  assert.throws(() => new NatsKvStore({ url, timeoutMs: 5 } as never), /unknown option "timeoutMs"/);
  const store = new NatsKvStore({ url: `${server.url}/${bucketName()}` });
  await assert.rejects(store.acquire(request('\uD800')), ConfigError);
  await assert.rejects(store.acquire(request('\u4E00'.repeat(400))), /escapes to more than/);
  await store.close();
});

it('keys with any characters round-trip through their escaped KV keys', async () => {
  const store = await openStore(`${server.url}/${bucketName()}`, { prefix: 'p.' });
  const keys = ['a.b', 'a b', 'x=y', 'ünï', '>', '*', 'a/b', 'emoji-😀', '%41'];
  for (const key of keys) assert.ok((await store.acquire(request(key))).acquired, key);
  assert.deepEqual((await store.list()).sort(), [...keys].sort());
  assert.deepEqual(await store.list({ prefix: 'a' }).then((found) => found.sort()), ['a b', 'a.b', 'a/b']);
  await store.close();
});

it('L10: an unreachable server and a wrong password are one-line StoreUnavailableErrors, password masked', async () => {
  const down = new NatsKvStore({ url: `nats://lh:s3cret-pw@127.0.0.1:${closedPort}/b` });
  const wrong = new NatsKvStore({ url: `nats://lh:wrong-pw@127.0.0.1:${secured.port}/b` });
  for (const [store, pattern] of [
    [down, /nats nats:\/\/lh:\*\*\*@127\.0\.0\.1:\d+\/b: acquire "k": /],
    [wrong, /authentication failed/i],
  ] as const) {
    const started = performance.now();
    await assert.rejects(store.acquire(request('k')), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError);
      assert.match(err.message, pattern);
      assert.doesNotMatch(`${err.message} ${String((err as Error).cause)}`, /s3cret-pw|wrong-pw|\n/);
      return true;
    });
    assert.ok(performance.now() - started < 5000);
    await store.close();
  }
  const right = new NatsKvStore({ url: `nats://lh:s3cret-pw@127.0.0.1:${secured.port}/b` });
  assert.ok((await right.acquire(request('k'))).acquired);
  await right.close();
});

it('L10: a paused server makes requests fail at requestTimeoutMs; the store recovers after', async () => {
  const store = new NatsKvStore({ url: `${server.url}/${bucketName()}`, requestTimeoutMs: 500 });
  const granted = await store.acquire(request('paused'));
  assert.ok(granted.acquired);
  server.pause();
  try {
    const started = performance.now();
    await assert.rejects(store.inspect('paused'), /no answer within 500ms/);
    assert.ok(performance.now() - started < 2000);
  } finally {
    server.resume();
  }
  assert.equal((await store.inspect('paused'))?.holder, 'h');
  await store.close();
});

/** Counts the requests a store sends: every message on the bucket's subjects and the JetStream API. */
async function counter(bucket: string): Promise<{ connection: NatsConnection; take(): Promise<number> }> {
  const connection = await connect({ servers: `127.0.0.1:${server.port}` });
  let seen = 0;
  for (const subject of [`$KV.${bucket}.>`, '$JS.API.>'])
    connection.subscribe(subject, { callback: () => void seen++ });
  await connection.flush();
  return {
    connection,
    async take() {
      await connection.flush();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const count = seen;
      seen = 0;
      return count;
    },
  };
}

it('requests per operation, counted on the server side', async () => {
  const bucket = bucketName();
  const store = new NatsKvStore({ url: `${server.url}/${bucket}` });
  const other = new NatsKvStore({ url: `${server.url}/${bucket}` });
  await store.now();
  await other.now();
  const count = await counter(bucket);
  const lease = { key: 'counted', leaseId: randomUUID() };
  const granted = await store.acquire({ ...lease, holder: 'a', ttlMs: 5000, mark: { slot: 's1' } });
  assert.ok(granted.acquired);
  const ref = { ...lease, token: granted.acquired ? granted.token : 0 };
  const counts: Record<string, number> = { 'acquire with mark (free key)': await count.take() };
  assert.equal((await other.acquire(request('counted', 'b'))).acquired, false);
  counts['acquire (busy, recent clock reading)'] = await count.take();
  assert.equal(await store.renew({ ...ref, ttlMs: 5000 }), true);
  counts.renew = await count.take();
  assert.equal(await store.writeState({ ...ref, state: { n: 1 } }), true);
  counts.writeState = await count.take();
  assert.equal(await store.renew({ ...ref, ttlMs: 5000 }), true);
  counts['renew after writeState'] = await count.take();
  assert.equal(await store.release(ref), true);
  counts.release = await count.take();
  const next = { ...request('counted', 'a'), ttlMs: 5000, mark: { slot: 's2' } };
  const again = await store.acquire(next);
  assert.ok(again.acquired);
  counts['acquire with mark (released by this store)'] = await count.take();
  const nextRef = { key: next.key, leaseId: next.leaseId, token: again.acquired ? again.token : 0 };
  assert.equal(await store.release({ ...nextRef, state: { n: 2 } }), true);
  counts['release with state'] = await count.take();
  assert.equal((await store.inspectAll({ prefix: 'count' })).length, 1);
  counts.inspectAll = await count.take();
  await store.now();
  counts.now = await count.take();
  console.log('nats requests per operation:', counts);
  assert.deepEqual(counts, {
    'acquire with mark (free key)': 2,
    'acquire (busy, recent clock reading)': 1,
    renew: 1,
    writeState: 2,
    'renew after writeState': 1,
    release: 1,
    'acquire with mark (released by this store)': 1,
    'release with state': 1,
    inspectAll: 2,
    now: 2,
  });
  await Promise.all([store.close(), other.close(), count.connection.close()]);
});

it('L2: tokens keep increasing after the key is deleted, the stream purged and the server restarted', async () => {
  const bucket = bucketName();
  const url = `${server.url}/${bucket}`;
  const tokens: number[] = [];
  const grant = async (store: NatsKvStore) => {
    const asked = request('purged');
    const granted = await store.acquire(asked);
    assert.ok(granted.acquired);
    const token = granted.acquired ? granted.token : 0;
    tokens.push(token);
    return { key: asked.key, leaseId: asked.leaseId, token };
  };
  const store = new NatsKvStore({ url, prefix: '' });
  assert.equal(await store.release(await grant(store)), true);
  await grant(store);
  assert.equal(await store.forceRelease('purged'), true);
  const admin = await connect({ servers: `127.0.0.1:${server.port}` });
  const kv = await new Kvm(admin).open(bucket);
  await kv.delete('purged');
  assert.equal(await store.inspect('purged'), null, 'a deleted record reads as never acquired');
  await grant(store);
  await kv.purge('purged');
  await (await jetstreamManager(admin)).streams.purge(`KV_${bucket}`);
  await admin.close();
  await store.close();
  await server.restart();
  const again = new NatsKvStore({ url, prefix: '' });
  await grant(again);
  await again.close();
  assert.ok(
    tokens.every((token, i) => i === 0 || token > (tokens[i - 1] as number)),
    `tokens ${tokens}`,
  );
});

it('records of the previous version (no mark) read as no mark; inspectAll judges expiry on server time', async () => {
  const bucket = bucketName();
  const store = new NatsKvStore({ url: `${server.url}/${bucket}`, prefix: 'p.' });
  await store.now(); // creates the bucket
  const admin = await connect({ servers: `127.0.0.1:${server.port}` });
  try {
    const kv = await new Kvm(admin).open(bucket);
    const old = { v: 1, holder: null, lease: null, token: 0, ttl: 0, since: 0, state: { lastSlot: 'x' } };
    const revision = await kv.put('p.old', JSON.stringify(old));
    const record = await store.inspect('old');
    assert.deepEqual(record, {
      key: 'old',
      holder: null,
      token: revision,
      expiresInMs: null,
      state: old.state,
      mark: null,
    });
    const granted = await store.acquire({ ...request('old', 'a', 1000), mark: { slot: 'y' } });
    assert.ok(granted.acquired && granted.mark === null && granted.token > revision);
    assert.ok((await store.acquire(request('held', 'b', 60_000))).acquired);
    const before = await store.inspectAll({ prefix: '' });
    assert.deepEqual(before.map((r) => [r.key, r.holder]).sort(), [
      ['held', 'b'],
      ['old', 'a'],
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1300)); // past the 1 s TTL by the server's clock
    const after = new Map((await store.inspectAll({ prefix: '' })).map((r) => [r.key, r]));
    assert.equal(after.get('old')?.holder, null, 'expired by the server time the read carries');
    assert.deepEqual(after.get('old')?.mark, { slot: 'y' });
    assert.equal(after.get('held')?.holder, 'b');
    const left = after.get('held')?.expiresInMs ?? 0;
    assert.ok(left > 55_000 && left <= 60_000, `held: ${left} ms left`);
  } finally {
    await admin.close();
    await store.close();
  }
});

it('a bucket on memory storage or with a TTL is refused: tokens and state must outlive restarts and time', async () => {
  const admin = await connect({ servers: `127.0.0.1:${server.port}` });
  const kvm = new Kvm(admin);
  const memory = bucketName();
  const aging = bucketName();
  await kvm.create(memory, { storage: 'memory' as never });
  await kvm.create(aging, { ttl: 60_000 });
  await admin.close();
  for (const [bucket, pattern] of [
    [memory, /memory storage/],
    [aging, /TTL/],
  ] as const) {
    const store = new NatsKvStore({ url: `${server.url}/${bucket}` });
    await assert.rejects(
      store.acquire(request('k')),
      (err: unknown) => err instanceof ConfigError && pattern.test(err.message),
    );
    await store.close();
  }
});

// The cluster runs (2.10, and the machine's 2.9.10 as the control) are in test/nats-cluster.test.ts.
it('the replicated compare-and-set fix is recognised by server version (2.9.21 and later)', () => {
  for (const version of ['2.9.21', '2.9.22-beta.1', '2.10.0', '2.12.3', '3.0.0']) assert.ok(hasReplicatedCas(version));
  for (const version of ['2.9.10', '2.9.20', '2.8.4', '1.4.1', 'unknown', '']) assert.ok(!hasReplicatedCas(version));
});
