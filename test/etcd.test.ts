import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { ConfigError, LeaseLostError, StoreUnavailableError } from '../src/errors.js';
import { Leasehold } from '../src/leasehold.js';
import { openStore } from '../src/open.js';
import { EtcdStore, parseEtcdUrl } from '../src/stores/etcd/index.js';
import { startEtcdServer, type EtcdServer } from './helpers/etcd-server.js';
import { freePort } from './helpers/ports.js';
import { oneLineUnavailable as sharedOneLineUnavailable } from './helpers/assertions.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const prefix = () => `lh-test-${randomUUID().slice(0, 8)}/`;
const req = (key: string, holder = 'h', leaseId: string = randomUUID(), ttlMs = 2000) => ({
  key,
  holder,
  leaseId,
  ttlMs,
});

let server: EtcdServer;
before(async () => {
  server = await startEtcdServer();
});
after(async () => {
  await server?.stop();
});

/** As the shared check, and the cause's message must not contain `secret` either. */
function oneLineUnavailable(secret?: string) {
  const shared = sharedOneLineUnavailable(secret);
  return (e: unknown) => {
    shared(e);
    if (secret) {
      const cause = String(((e as Error).cause as Error | undefined)?.message);
      assert.ok(!cause.includes(secret), 'password leaked into the cause');
    }
    return true;
  };
}

describe('URLs and options', () => {
  it('parses members, default port, credentials, TLS and the prefix path', () => {
    const one = parseEtcdUrl('etcd://127.0.0.1');
    assert.deepEqual(one.hosts, ['127.0.0.1:2379']);
    assert.equal(one.tls, false);
    assert.equal(one.prefix, undefined);
    const many = parseEtcdUrl('etcds://us%40r:p%3Aw@a.example:1,[::1]:2,B.example/my%20app/');
    assert.deepEqual(many.hosts, ['a.example:1', '[::1]:2', 'b.example:2379']);
    assert.equal(many.tls, true);
    assert.equal(many.username, 'us@r');
    assert.equal(many.password, 'p:w');
    assert.equal(many.prefix, 'my app/');
  });

  it('refuses malformed URLs in one line, password masked', () => {
    const bad = [
      'etcd://',
      'etcd://a:2379,,b:2379',
      'etcd://host:99999',
      'etcd://host:2379?timeout=5',
      'etcd://:pw-secret-1@host',
      'http://host:2379',
      'etcd://ho st',
    ];
    for (const url of bad) {
      assert.throws(
        () => new EtcdStore({ url }),
        (e: unknown) => e instanceof ConfigError && !e.message.includes('\n') && !e.message.includes('pw-secret-1'),
        url,
      );
    }
  });

  it('refuses unknown options with a suggestion, bad values naming the option, and two prefixes', () => {
    const url = 'etcd://127.0.0.1:2379';
    assert.throws(
      () => new EtcdStore({ url, requestTimeout: 5 } as never),
      /unknown option "requestTimeout" \(did you mean "requestTimeoutMs"\?\)/,
    );
    assert.throws(() => new EtcdStore({ url, requestTimeoutMs: -1 }), /requestTimeoutMs: must be a positive number/);
    assert.throws(() => new EtcdStore({ url, listPageSize: 0.5 }), /listPageSize: must be a positive integer/);
    assert.throws(() => new EtcdStore({ url, prefix: 'a\nb' }), /prefix: must be a string/);
    assert.throws(
      () => new EtcdStore({ url: 'etcd://h/one/', prefix: 'two/' }),
      /prefix "two\/" differs from the path/,
    );
    assert.equal(new EtcdStore({ url: 'etcd://h/one/', prefix: 'one/' }).prefix, 'one/');
    assert.equal(new EtcdStore({ url: 'etcd://h' }).prefix, 'leasehold/');
  });

  it('openStore opens etcd:// URLs; a TTL below the 2 s minimum is a ConfigError', async () => {
    const store = await openStore(server.url, { prefix: prefix() });
    try {
      assert.equal(store.name, 'etcd');
      const lh = new Leasehold({ store });
      await assert.rejects(lh.tryAcquire('k', { ttl: '1500ms' }), ConfigError);
      const lease = await lh.tryAcquire('k', { ttl: '2s' });
      assert.ok(lease);
      await lease?.release();
    } finally {
      await store.close();
    }
  });
});

describe('store down', () => {
  it('an unreachable member: one-line StoreUnavailableError, password masked, bounded by requestTimeoutMs', async () => {
    const port = await freePort();
    const store = new EtcdStore({ url: `etcd://root:pw-secret-2@127.0.0.1:${port}`, requestTimeoutMs: 1500 });
    try {
      const t0 = performance.now();
      await assert.rejects(store.acquire(req('k')), oneLineUnavailable('pw-secret-2'));
      await assert.rejects(store.inspect('k'), oneLineUnavailable('pw-secret-2'));
      await assert.rejects(store.now(), oneLineUnavailable('pw-secret-2'));
      assert.ok(performance.now() - t0 < 3 * 1500 + 1000, `took ${Math.round(performance.now() - t0)}ms`);
    } finally {
      await store.close();
    }
  });

  it('a paused member (black hole): every request gives up at requestTimeoutMs', async () => {
    const paused = await startEtcdServer();
    const store = new EtcdStore({ url: paused.url, prefix: prefix(), requestTimeoutMs: 800 });
    try {
      assert.equal((await store.acquire(req('k'))).acquired, true);
      paused.pause();
      const t0 = performance.now();
      await assert.rejects(
        store.renew({ key: 'k', leaseId: randomUUID(), token: 1, ttlMs: 2000 }),
        oneLineUnavailable(),
      );
      await assert.rejects(
        store.writeState({ key: 'k', leaseId: randomUUID(), token: 1, state: 1 }),
        oneLineUnavailable(),
      );
      assert.ok(performance.now() - t0 < 2 * 800 + 800, `took ${Math.round(performance.now() - t0)}ms`);
    } finally {
      paused.resume();
      await store.close();
      await paused.stop();
    }
  });
});

describe('lost leases and auth', () => {
  for (const how of ['stopped', 'paused'] as const) {
    it(`L4: a holder whose renewals fail (member ${how}) is told before its deadline`, async () => {
      const member = await startEtcdServer();
      const store = new EtcdStore({ url: member.url, prefix: prefix(), requestTimeoutMs: 1000 });
      const lh = new Leasehold({ store, holder: 'l4' });
      try {
        const lease = await lh.tryAcquire('l4-key', { ttl: 3000 });
        assert.ok(lease);
        if (!lease) return;
        let abortedAt: number | undefined;
        lease.signal.addEventListener('abort', () => {
          abortedAt = performance.now();
        });
        await sleep(1200); // at least one renewal succeeds first
        if (how === 'stopped') await member.kill(true);
        else member.pause();
        const until = lease.deadline + 1000;
        while (!lease.signal.aborted && performance.now() < until) await sleep(10);
        assert.equal(lease.signal.aborted, true, 'lease signal aborted');
        assert.ok(
          abortedAt !== undefined && abortedAt < lease.deadline,
          `aborted at ${abortedAt}, deadline ${lease.deadline}`,
        );
        assert.ok(lease.signal.reason instanceof LeaseLostError);
      } finally {
        member.resume();
        await store.close();
        await member.stop();
      }
    });
  }

  it('with etcd auth: a wrong password fails in one line without the password; the right one works', async () => {
    const secure = await startEtcdServer();
    const endpoint = secure.url.replace('etcd://', '');
    const wrong = new EtcdStore({ url: `etcd://root:wrong-pass-7@${endpoint}`, prefix: prefix() });
    const right = new EtcdStore({ url: `etcd://root:right-pass-9@${endpoint}`, prefix: prefix() });
    try {
      // What `etcdctl user add root` and `etcdctl auth enable` do, through the client (no etcdctl needed).
      const admin = new Etcd3({ hosts: `http://${endpoint}` });
      try {
        await admin.role('root').create();
        await admin.user('root').create('right-pass-9');
        await admin.user('root').addRole('root');
        await admin.auth.authEnable();
      } finally {
        admin.close();
      }
      await assert.rejects(wrong.acquire(req('k')), oneLineUnavailable('wrong-pass-7'));
      assert.equal((await right.acquire(req('k'))).acquired, true);
    } finally {
      await wrong.close();
      await right.close();
      await secure.stop();
    }
  });
});

describe('tokens and layout', () => {
  it('tokens are etcd revisions: they grow after expiry deleted the lease key and after compaction', async () => {
    const store = new EtcdStore({ url: server.url, prefix: prefix() });
    const raw = new Etcd3({ hosts: server.url.replace('etcd://', 'http://') });
    try {
      const first = await store.acquire(req('k', 'a'));
      assert.ok(first.acquired);
      await sleep(2000 + 1500); // the lease runs out; the leader deletes the key
      const expired = await store.inspect('k');
      assert.equal(expired?.holder, null);
      assert.equal(expired?.token, first.token, 'the last token issued is kept after expiry');
      const now = await raw.get('anything').exec();
      await raw.kv.compact({ revision: now.header.revision, physical: true });
      const second = await store.acquire(req('k', 'b'));
      assert.ok(second.acquired && second.token > first.token, 'a higher token after expiry and compaction');
      const other = await store.acquire(req('other', 'b'));
      assert.ok(other.acquired && other.token > second.token, 'revisions are shared by every key');
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('state and mark keys are not attached to the lease; no etcd lease outlives its use for long', async () => {
    const p = prefix();
    const store = new EtcdStore({ url: server.url, prefix: p });
    const raw = new Etcd3({ hosts: server.url.replace('etcd://', 'http://') });
    const leaseCount = async () => (await raw.leaseClient.leaseLeases()).leases.length;
    try {
      const id = randomUUID();
      const a = await store.acquire({ ...req('k', 'a', id), mark: { slot: 's1' } });
      assert.ok(a.acquired);
      assert.equal(await store.writeState({ key: 'k', leaseId: id, token: a.token, state: { v: 1 } }), true);
      const before = await leaseCount();
      assert.equal((await store.acquire(req('k', 'b'))).acquired, false);
      await sleep(300); // the busy attempt's lease is revoked in the background
      assert.equal(await leaseCount(), before);
      const lease = await raw.get(`${p}lease/k`).exec();
      const state = await raw.get(`${p}state/k`).exec();
      assert.notEqual(lease.kvs[0]?.lease, '0');
      assert.equal(state.kvs[0]?.lease, '0');
      const b = await store.acquire({ ...req('j', 'a'), mark: { slot: 's2' } });
      assert.ok(b.acquired);
      assert.equal((await raw.get(`${p}mark/j`).exec()).kvs[0]?.lease, '0', 'the mark outlives the lease');
      // Release leaves the etcd lease without a key: the renewal check fails at once and
      // etcd lets the lease run out by itself (TTL 2 s) instead of a revoke request.
      const released = lease.kvs[0]?.lease as string;
      assert.equal(await store.release({ key: 'k', leaseId: id, token: a.token, state: { v: 2 } }), true);
      assert.equal(await store.renew({ key: 'k', leaseId: id, token: a.token, ttlMs: 2000 }), false);
      const ttl = async () => Number((await raw.leaseClient.leaseTimeToLive({ ID: released })).TTL);
      assert.ok((await ttl()) > 0, 'the released lease is still there, with no key');
      await sleep(2000 + 1000);
      assert.equal(await ttl(), -1, 'it ran out by itself');
      assert.deepEqual((await store.inspect('j'))?.mark, { slot: 's2' }, 'a mark outlives its lease');
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('a retried acquire (L9) writes its mark again, in the same transaction', async () => {
    const store = new EtcdStore({ url: server.url, prefix: prefix() });
    try {
      const id = randomUUID();
      const first = await store.acquire({ ...req('k', 'a', id), mark: { try: 1 } });
      assert.ok(first.acquired);
      const retry = await store.acquire({ ...req('k', 'a', id), mark: { try: 2 } });
      assert.ok(retry.acquired && retry.token === first.token);
      assert.deepEqual(retry.mark, { try: 1 }, 'the answer carries the mark the retry replaced');
      assert.deepEqual((await store.inspect('k'))?.mark, { try: 2 });
      const busy = await store.acquire({ ...req('k', 'b'), mark: { try: 3 } });
      assert.ok(!busy.acquired);
      assert.deepEqual((await store.inspect('k'))?.mark, { try: 2 }, 'a busy acquire wrote nothing');
    } finally {
      await store.close();
    }
  });

  it('requests per operation, counted at the client', async () => {
    const client = new Etcd3({ hosts: server.url.replace('etcd://', 'http://') });
    let sent = 0;
    const counted = <T extends object>(target: T): T =>
      new Proxy(target, {
        get: (object, method) => {
          const value = Reflect.get(object, method) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            sent++;
            return (value as (...a: unknown[]) => unknown).apply(object, args);
          };
        },
      });
    const kv = counted(client.kv);
    const leaseClient = counted(client.leaseClient);
    const store = new EtcdStore({ url: server.url, client: { kv, leaseClient, close: () => {} }, prefix: prefix() });
    const take = async (work: () => Promise<unknown>) => {
      sent = 0;
      await work();
      return sent;
    };
    try {
      const id = randomUUID();
      let token = 0;
      const counts = {
        'acquire with mark': await take(async () => {
          const granted = await store.acquire({ ...req('k', 'a', id), mark: { slot: 's' } });
          token = granted.acquired ? granted.token : 0;
        }),
        'acquire, busy (+ background revoke)': await take(() => store.acquire(req('k', 'b')).then(() => sleep(100))),
        renew: await take(() => store.renew({ key: 'k', leaseId: id, token, ttlMs: 2000 })),
        writeState: await take(() => store.writeState({ key: 'k', leaseId: id, token, state: { n: 1 } })),
        'inspect, held': await take(() => store.inspect('k')),
        'inspectAll, 1 held of 2': await take(async () => {
          const otherId = randomUUID();
          const other = await store.acquire(req('k2', 'c', otherId));
          assert.ok(other.acquired);
          assert.ok(await store.release({ key: 'k2', leaseId: otherId, token: other.token }));
          sent = 0;
          assert.equal((await store.inspectAll({ prefix: 'k' })).length, 2);
        }),
        'release with state': await take(() => store.release({ key: 'k', leaseId: id, token, state: { n: 2 } })),
        'inspect, free': await take(() => store.inspect('k')),
      };
      console.log('etcd requests per operation:', counts);
      assert.deepEqual(counts, {
        'acquire with mark': 2,
        'acquire, busy (+ background revoke)': 3,
        renew: 2,
        writeState: 1,
        'inspect, held': 2,
        'inspectAll, 1 held of 2': 2,
        'release with state': 1,
        'inspect, free': 1,
      });
    } finally {
      await store.close();
      client.close();
    }
  });

  it('renew extends the etcd lease; inspect reports its time left by etcd', async () => {
    const store = new EtcdStore({ url: server.url, prefix: prefix() });
    try {
      const id = randomUUID();
      const a = await store.acquire(req('k', 'a', id, 3000));
      assert.ok(a.acquired);
      await sleep(1500);
      assert.equal(await store.renew({ key: 'k', leaseId: id, token: a.token, ttlMs: 3000 }), true);
      const record = await store.inspect('k');
      assert.ok(record?.expiresInMs !== null && (record?.expiresInMs ?? 0) >= 2000, `left ${record?.expiresInMs}`);
      await sleep(2000); // past the first TTL: the renewal kept it
      assert.equal((await store.inspect('k'))?.holder, 'a');
    } finally {
      await store.close();
    }
  });
});

describe('3-member cluster, leader killed mid-run', () => {
  interface Grant {
    key: string;
    worker: number;
    token: number;
    sent: number;
    received: number;
    releaseSent?: number;
    released?: boolean;
  }

  /** One contender: acquire, hold 150–350 ms, release; store errors (the election) are retried. */
  async function contend(store: EtcdStore, worker: number, keys: string[], until: number, grants: Grant[]) {
    while (performance.now() < until) {
      const key = keys[Math.floor(Math.random() * keys.length)] as string;
      const leaseId = randomUUID();
      const sent = performance.now();
      try {
        const answer = await store.acquire(req(key, `w${worker}`, leaseId, 2000), {
          signal: AbortSignal.timeout(3000),
        });
        if (!answer.acquired) {
          await sleep(20);
          continue;
        }
        const grant: Grant = { key, worker, token: answer.token, sent, received: performance.now() };
        grants.push(grant);
        await sleep(150 + Math.random() * 200);
        grant.releaseSent = performance.now();
        grant.released = await store.release(
          { key, leaseId, token: answer.token },
          { signal: AbortSignal.timeout(3000) },
        );
      } catch (err) {
        assert.ok(err instanceof StoreUnavailableError, `unexpected ${String(err)}`);
        await sleep(100);
      }
    }
  }

  it('no two holders of a key, tokens never go down, service back within a bounded time', async () => {
    const cluster = await startEtcdServer({ members: 3 });
    const stores = Array.from(
      { length: 4 },
      () => new EtcdStore({ url: cluster.url, prefix: 'cluster/', requestTimeoutMs: 2000 }),
    );
    const grants: Grant[] = [];
    const keys = ['a', 'b'];
    try {
      const start = performance.now();
      const until = start + 16_000;
      const work = stores.map((store, worker) => contend(store, worker, keys, until, grants));
      await sleep(5000);
      const leader = await cluster.leader();
      const killedAt = performance.now();
      await cluster.members[leader]?.kill(true);
      await sleep(5000);
      await cluster.members[leader]?.start();
      await Promise.all(work);

      assert.ok(grants.filter((grant) => grant.received < killedAt).length >= 3, `${grants.length} grants in all`);
      const afterKill = grants.filter((grant) => grant.sent > killedAt).sort((x, y) => x.received - y.received)[0];
      assert.ok(afterKill, 'leases were granted again after the leader died');
      const back = Math.round(afterKill.received - killedAt);
      console.log(`etcd 3-member cluster: first grant ${back}ms after the leader was killed; ${grants.length} grants`);
      assert.ok(back < 10_000, `service back after ${back}ms`);
      assert.ok(grants.filter((grant) => grant.sent > killedAt).length >= 3, 'leases kept being granted');
      for (const key of keys) {
        const onKey = grants.filter((grant) => grant.key === key).sort((x, y) => x.token - y.token);
        for (let i = 1; i < onKey.length; i++) {
          const before = onKey[i - 1] as Grant;
          const next = onKey[i] as Grant;
          // A grant answered before another was sent has the lower token (real-time order).
          assert.ok(
            !(next.received < before.sent),
            `key ${key}: token ${next.token} answered before ${before.token} was asked`,
          );
          // A lease released successfully was held until its release was sent: nobody else had it meanwhile.
          if (before.released && before.releaseSent !== undefined) {
            assert.ok(
              next.received > before.releaseSent,
              `key ${key}: tokens ${before.token} and ${next.token} overlap`,
            );
          }
        }
      }
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await cluster.stop();
    }
  });
});
