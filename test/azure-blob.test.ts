import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { ContainerClient, ContainerSASPermissions, StorageSharedKeyCredential } from '@azure/storage-blob';
import { ConfigError, StoreUnavailableError } from '../src/errors.js';
import { Leasehold } from '../src/leasehold.js';
import { openStore } from '../src/open.js';
import { AzureBlobStore, blobNameToKey, fromUrl, keyToBlobName } from '../src/stores/azure-blob/index.js';
import { DEV_ACCOUNT, DEV_KEY, startAzurite } from './helpers/azurite.js';
import { freePort } from './helpers/ports.js';
import { instrumentedClient } from './helpers/azure-clients.js';

const az = await startAzurite();
after(() => az.stop());
const run = randomUUID().slice(0, 8);
const TTL = 15_000;
const store = (prefix = `unit-${run}/`) =>
  new AzureBlobStore({ connectionString: az.connectionString, containerName: 'unit', prefix });
const req = (key: string, holder = 'h', leaseId: string = randomUUID()) => ({ key, holder, leaseId, ttlMs: TTL });
const SECRET = 'c2VjcmV0LWtleS1zaG91bGQtbmV2ZXItbGVhaw=='; // base64 "secret-key-should-never-leak"

/** Everything an error could show: message, stack, causes, inspected form. */
function everything(err: unknown): string {
  let out = inspect(err, { depth: 8, showHidden: true });
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause)
    out += `\n${(e as Error).message}\n${(e as Error).stack}`;
  return out;
}

describe('request economy (requests counted by an SDK pipeline policy)', () => {
  it('busy 1, acquire 3 first ever and 2 steady state, renew 1, writeState 1, release 1, retry 1', async (t) => {
    const ic = instrumentedClient(az, 'economy');
    await ic.client.createIfNotExists();
    const s = new AzureBlobStore({ containerClient: ic.client, prefix: `eco-${run}/` });
    const key = 'job';
    const counts: Record<string, number> = {};
    const measure = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const before = ic.log.length;
      const r = await fn();
      counts[name] = ic.log.length - before;
      t.diagnostic(`${name}: ${counts[name]} request(s): ${ic.log.slice(before).join(', ')}`);
      return r;
    };
    const idA = randomUUID();
    const a = await measure('acquire (first ever on the key)', () => s.acquire(req(key, 'a', idA)));
    assert.ok(a.acquired);
    if (!a.acquired) return;
    assert.equal(a.token, 1);
    await measure('acquire (busy)', async () => assert.equal((await s.acquire(req(key, 'b'))).acquired, false));
    await measure('acquire (retry, same leaseId)', async () => {
      const r = await s.acquire(req(key, 'a', idA));
      assert.ok(r.acquired && r.token === a.token);
    });
    await measure('renew', async () =>
      assert.equal(await s.renew({ key, leaseId: idA, token: a.token, ttlMs: TTL }), true),
    );
    await measure('writeState', async () =>
      assert.equal(await s.writeState({ key, leaseId: idA, token: a.token, state: { n: 1 } }), true),
    );
    await measure('renew (after a write)', async () =>
      assert.equal(await s.renew({ key, leaseId: idA, token: a.token, ttlMs: TTL }), true),
    );
    await measure('release', async () => assert.equal(await s.release({ key, leaseId: idA, token: a.token }), true));
    const idB = randomUUID();
    const b = await measure('acquire (steady state)', () => s.acquire(req(key, 'b', idB)));
    assert.ok(b.acquired && b.token === 2);
    assert.deepEqual(b.acquired && b.state, { n: 1 });
    await measure('inspect', () => s.inspect(key));
    await measure('now', () => s.now());
    // Another instance (no remembered ETag) must read once, then act.
    const other = new AzureBlobStore({ containerClient: ic.client, prefix: `eco-${run}/` });
    await measure('renew (another store instance)', async () =>
      assert.equal(await other.renew({ key, leaseId: idB, token: 2, ttlMs: TTL }), true),
    );
    await measure('release (steady state)', async () =>
      assert.equal(await s.release({ key, leaseId: idB, token: 2 }), true),
    );

    assert.equal(counts['acquire (busy)'], 1);
    assert.equal(counts['acquire (first ever on the key)'], 3);
    // The lease answer shows the ETag of the version this store wrote last: no read needed.
    assert.equal(counts['acquire (steady state)'], 2);
    assert.equal(counts['acquire (retry, same leaseId)'], 1);
    assert.equal(counts.renew, 1);
    assert.equal(counts['renew (after a write)'], 1);
    assert.equal(counts.writeState, 1);
    assert.equal(counts.release, 1);
    assert.equal(counts['release (steady state)'], 1);
    assert.equal(counts['renew (another store instance)'], 2);
    assert.equal(counts.inspect, 1);
    assert.equal(counts.now, 1);
  });

  it('a slot: acquire with mark 2 and release with state 2; 3 each after another instance wrote; inspectAll', async (t) => {
    const ic = instrumentedClient(az, 'economy');
    await ic.client.createIfNotExists();
    const prefix = `fused-${run}/`;
    const s = new AzureBlobStore({ containerClient: ic.client, prefix });
    const other = new AzureBlobStore({ containerClient: ic.client, prefix });
    const measure = async <T>(name: string, fn: () => Promise<T>): Promise<{ result: T; count: number }> => {
      const before = ic.log.length;
      const result = await fn();
      const count = ic.log.length - before;
      t.diagnostic(`${name}: ${count} request(s): ${ic.log.slice(before).join(', ')}`);
      return { result, count };
    };
    const slot = async (store: AzureBlobStore, name: string, n: number) => {
      const leaseId = randomUUID();
      const start = await measure(`${name}: acquire with mark`, () =>
        store.acquire({ ...req('job', name, leaseId), mark: { slot: n } }),
      );
      assert.ok(start.result.acquired);
      if (!start.result.acquired) throw new Error('busy');
      const ref = { key: 'job', leaseId, token: start.result.token };
      const end = await measure(`${name}: release with state`, () => store.release({ ...ref, state: { lastSlot: n } }));
      assert.equal(end.result, true);
      return { start, end };
    };
    const first = await slot(s, 'first ever', 1);
    assert.equal(first.start.count, 3, 'first ever: Acquire Lease (404), Put Blob, Acquire Lease');
    assert.equal(first.end.count, 2, 'Put Blob under the lease, Release Lease');
    const steady = await slot(s, 'steady state', 2);
    assert.equal(steady.start.count, 2, 'Acquire Lease, Set Metadata: the blob is the version this store wrote');
    assert.equal(steady.end.count, 2);
    assert.equal(steady.start.result.acquired && steady.start.result.token, 2);
    assert.deepEqual(steady.start.result.acquired && steady.start.result.state, { lastSlot: 1 });
    assert.equal(steady.start.result.acquired && steady.start.result.mark, null, 'the release with state cleared it');
    const elsewhere = await slot(other, 'another instance', 3);
    assert.equal(
      elsewhere.start.count,
      3,
      'another instance reads the blob once: Acquire Lease, Get Blob, Set Metadata',
    );
    assert.equal(elsewhere.end.count, 2);
    const back = await slot(s, 'back after another wrote', 4);
    assert.equal(back.start.count, 3, 'the remembered version is stale: read again');
    assert.equal(back.start.result.acquired && back.start.result.token, 4);
    assert.deepEqual(back.start.result.acquired && back.start.result.state, { lastSlot: 3 });

    // inspectAll: one listing; a key with a state costs one read more, a key without none.
    for (const host of ['hosts/a', 'hosts/b']) {
      assert.ok((await s.acquire({ ...req(host, host), mark: { digest: host } })).acquired);
    }
    const roster = await measure('inspectAll (two keys, no state)', () => s.inspectAll({ prefix: 'hosts/' }));
    assert.equal(roster.count, 1, 'List Blobs with metadata only');
    assert.deepEqual(roster.result.map((record) => [record.key, record.holder, record.mark]).sort(), [
      ['hosts/a', 'hosts/a', { digest: 'hosts/a' }],
      ['hosts/b', 'hosts/b', { digest: 'hosts/b' }],
    ]);
    const all = await measure('inspectAll (every key)', () => s.inspectAll({ prefix: '' }));
    assert.equal(all.count, 2, 'List Blobs, then Get Blob for the one key with a state');
    const job = all.result.find((record) => record.key === 'job');
    assert.deepEqual([job?.state, job?.mark, job?.holder, job?.token], [{ lastSlot: 4 }, null, null, 4]);
  });

  it('the first acquire in a missing container creates it, race-free, from many stores at once', async () => {
    const name = `fresh${run}`;
    const stores = Array.from(
      { length: 8 },
      () => new AzureBlobStore({ connectionString: az.connectionString, containerName: name }),
    );
    const results = await Promise.all(stores.map((s, i) => s.acquire(req('k', `c${i}`))));
    assert.equal(results.filter((r) => r.acquired).length, 1);
  });
});

describe('retry-safe acquire (L9): replies lost at each step', () => {
  for (const [step, label] of [
    ['the lease (first ever)', 'PUT lease:acquire'],
    ['the blob creation', 'PUT blob#first'],
    ['the lease (steady state)', 'PUT lease:acquire#2'],
    ['the token write', 'PUT metadata'],
  ] as const) {
    it(`a lost reply to ${step}: the retry gets the same lease, and the token is issued once`, async () => {
      const ic = instrumentedClient(az, 'retry');
      await ic.client.createIfNotExists();
      const s = new AzureBlobStore({ containerClient: ic.client, prefix: `retry-${run}/` });
      const key = randomUUID();
      let prev = 0;
      if (label === 'PUT metadata' || label.endsWith('#2')) {
        // Make the key exist and be free, so the lease is taken on the ordinary path.
        const id0 = randomUUID();
        const r0 = await s.acquire(req(key, 'x', id0));
        assert.ok(r0.acquired);
        prev = r0.acquired ? r0.token : 0;
        await s.release({ key, leaseId: id0, token: prev });
      }
      const want = label.replace(/#.*/, '');
      ic.dropReply = (l) => l === want;
      const id = randomUUID();
      await assert.rejects(s.acquire(req(key, 'a', id)), StoreUnavailableError);
      assert.equal(ic.dropReply, undefined, `a reply to ${want} was dropped`);
      const again = await s.acquire(req(key, 'a', id));
      assert.ok(again.acquired, 'the retry recognises its own lease');
      if (!again.acquired) return;
      assert.equal(again.token, prev + 1, 'exactly one token for the acquisition');
      assert.equal((await s.inspect(key))?.holder, 'a');
      assert.equal(await s.release({ key, leaseId: id, token: again.token }), true);
      const next = await s.acquire(req(key, 'b'));
      assert.ok(next.acquired && next.token === again.token + 1);
    });
  }
});

describe('TTLs (B1)', () => {
  it('10s and 61s are ConfigErrors naming 15s–60s; no request is sent', async () => {
    const ic = instrumentedClient(az, 'ttl');
    const s = new AzureBlobStore({ containerClient: ic.client });
    const lh = new Leasehold({ store: s });
    for (const ttl of ['10s', '61s', 10_000, 61_000, '1m1s']) {
      await assert.rejects(lh.tryAcquire('k', { ttl }), (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.match(e.message, /15s(–| to )(60s|1m)\b/); // the core's range, in either of its spellings
        assert.ok(e.message.includes(JSON.stringify(ttl)) || e.message.includes(String(ttl)), e.message);
        return true;
      });
    }
    assert.deepEqual(ic.log, []);
  });

  it('15s and 60s are accepted; a TTL that is not whole seconds is a ConfigError, never rounded', async () => {
    const s = store();
    const lh = new Leasehold({ store: s });
    for (const ttl of ['15s', '60s']) {
      const l = await lh.tryAcquire(`ok-${ttl}`, { ttl });
      assert.ok(l);
      await l?.release();
    }
    await assert.rejects(
      lh.tryAcquire('k', { ttl: '15.5s' }),
      (e: unknown) => e instanceof ConfigError && /whole seconds/.test(e.message),
    );
    await assert.rejects(
      s.acquire({ ...req('k'), ttlMs: 10_000 }),
      (e: unknown) => e instanceof ConfigError && /15s–60s/.test(e.message),
    );
    await assert.rejects(s.acquire({ ...req('k'), ttlMs: 30_500 }), ConfigError);
  });

  it('a renew with another TTL than the acquire is a ConfigError (Azure renews for the acquired duration)', async () => {
    const s = store();
    const id = randomUUID();
    const a = await s.acquire(req('ttl-change', 'h', id));
    assert.ok(a.acquired);
    if (!a.acquired) return;
    await assert.rejects(s.renew({ key: 'ttl-change', leaseId: id, token: a.token, ttlMs: 30_000 }), ConfigError);
    assert.equal(await s.renew({ key: 'ttl-change', leaseId: id, token: a.token, ttlMs: TTL }), true);
  });

  it('a leaseId that is not a UUID is a ConfigError', async () => {
    await assert.rejects(store().acquire({ ...req('k'), leaseId: 'not-a-uuid' }), ConfigError);
  });
});

describe('marks in the metadata', () => {
  it('a mark with quotes, backslashes, percent signs and non-ASCII reads back the same from inspect and inspectAll', async () => {
    const s = store(`marks-${run}/`);
    const mark = { slot: 's "1"', path: 'C:\\x\\y', pct: '100% %41', text: "ünï 💡 'q' (x) *!~" };
    const leaseId = randomUUID();
    const granted = await s.acquire({ ...req('k', 'h', leaseId), mark });
    assert.ok(granted.acquired);
    assert.deepEqual((await s.inspect('k'))?.mark, mark);
    const [listed] = await s.inspectAll({ prefix: 'k' });
    assert.deepEqual(listed?.mark, mark, 'the listing carries the same mark (no state: no read)');
    assert.equal(granted.acquired && (await s.release({ key: 'k', leaseId, token: granted.token })), true);
    assert.deepEqual((await s.inspectAll({ prefix: 'k' }))[0]?.mark, mark, 'a plain release keeps it');
  });

  it('a blob written before marks existed reads with a null mark; a grant adds one and keeps the counter', async () => {
    const prefix = `old-${run}/`;
    const s = store(prefix);
    const container = new ContainerClient(
      `${az.blobEndpoint}/unit`,
      new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY),
    );
    await container.createIfNotExists();
    // The previous version's layout: token, lease id, holder and TTL in the metadata, the state as content.
    const metadata = {
      leaseholdtoken: '7',
      leaseholdlease: randomUUID(),
      leaseholdholder: 'old',
      leaseholdttl: '15000',
    };
    const state = '{"lastSlot":"s0"}';
    await container.getBlockBlobClient(`${prefix}job`).upload(state, state.length, { metadata });
    assert.deepEqual(await s.inspect('job'), {
      key: 'job',
      holder: null,
      token: 7,
      expiresInMs: null,
      state: { lastSlot: 's0' },
      mark: null,
    });
    const leaseId = randomUUID();
    const granted = await s.acquire({ ...req('job', 'new', leaseId), mark: { slot: 's1' } });
    assert.ok(granted.acquired);
    if (!granted.acquired) return;
    assert.deepEqual([granted.token, granted.state, granted.mark], [8, { lastSlot: 's0' }, null]);
    assert.deepEqual((await s.inspect('job'))?.mark, { slot: 's1' });
    assert.equal(await s.writeState({ key: 'job', leaseId, token: 8, state: { lastSlot: 's1' } }), true);
    const props = await container.getBlockBlobClient(`${prefix}job`).getProperties();
    assert.equal(props.metadata?.leaseholdmark, undefined, 'writeState drops the mark from the metadata');
    assert.equal(props.metadata?.leaseholdtoken, '8');
  });

  it('a mark that would push the metadata past 8 KiB is a ConfigError before any request', async () => {
    const ic = instrumentedClient(az, 'economy');
    const s = new AzureBlobStore({ containerClient: ic.client, prefix: `big-${run}/` });
    // Three UTF-8 bytes each, nine characters escaped. The key's escaped form is past 480
    // characters: a hashed name, and the key itself kept in the metadata.
    const key = '€'.repeat(512);
    const holder = '€'.repeat(256);
    const mark = { m: '€'.repeat(330) }; // within 1 KiB of JSON, three times that escaped
    const before = ic.log.length;
    await assert.rejects(
      s.acquire({ key, holder, leaseId: randomUUID(), ttlMs: TTL, mark }),
      (err: unknown) => err instanceof ConfigError && /mark: the blob's metadata would be \d+ bytes/.test(err.message),
    );
    assert.equal(ic.log.length, before, 'no request was sent');
  });
});

describe('key names', () => {
  it('keys map to distinct, reversible blob names; dots at the ends and reserved characters are escaped', () => {
    const keys = [
      'job',
      'a/b',
      'a%2Fb',
      'A B',
      'a b',
      '.',
      '..',
      'x.',
      '.x',
      'a.b',
      'ü:*?"<>|',
      '~',
      "!'()*",
      'emoji-😀',
    ];
    const names = keys.map(keyToBlobName);
    assert.equal(new Set(names).size, keys.length);
    for (const [i, n] of names.entries()) {
      assert.match(n, /^[A-Za-z0-9_.%-]+$/, n);
      assert.ok(!n.startsWith('.') && !n.endsWith('.'), n);
      assert.equal(blobNameToKey(n), keys[i]);
    }
    assert.equal(keyToBlobName('nightly-report'), 'nightly-report');
    assert.equal(keyToBlobName('billing.sync'), 'billing.sync');
  });

  it('a key that cannot be a blob name (lone surrogate) is a ConfigError', async () => {
    assert.throws(() => keyToBlobName('bad\ud800'), ConfigError);
    await assert.rejects(store().acquire(req('bad\udfff')), ConfigError);
    await assert.rejects(store().inspect('bad\ud800'), ConfigError);
  });

  it('long keys are hashed into names of bounded length, and still listed and inspected', async () => {
    const s = store(`long-${run}/`);
    const keys = [`${'ж'.repeat(300)}-1`, `${'ж'.repeat(300)}-2`, 'x'.repeat(512)];
    for (const key of keys) {
      const n = keyToBlobName(key);
      assert.ok(n.length < 300, `${n.length}`);
      assert.equal(blobNameToKey(n), undefined);
      const r = await s.acquire(req(key, 'long'));
      assert.ok(r.acquired);
      assert.equal((await s.inspect(key))?.holder, 'long');
    }
    assert.equal(new Set(keys.map(keyToBlobName)).size, 3);
    assert.deepEqual((await s.list()).sort(), [...keys].sort());
    assert.deepEqual(await s.list({ prefix: 'x' }), [keys[2]]);
  });

  it('invalid prefixes and container names are ConfigErrors', () => {
    for (const prefix of ['/abs', '../up', 'a/../b', 'tab\there', 'back\\slash', 'x'.repeat(300)]) {
      assert.throws(
        () => new AzureBlobStore({ connectionString: az.connectionString, containerName: 'unit', prefix }),
        ConfigError,
        prefix,
      );
    }
    for (const containerName of ['', 'ab', 'Upper', 'a--b', '-a', 'a_b', undefined]) {
      assert.throws(
        () => new AzureBlobStore({ connectionString: az.connectionString, containerName: containerName as string }),
        ConfigError,
        String(containerName),
      );
    }
  });
});

describe('credentials never appear (B2)', () => {
  it('a malformed connection string gives a clear ConfigError that does not echo the key', async () => {
    const bad = [
      `AccountKey=${SECRET}`,
      `DefaultEndpointsProtocol=https;AccountKey=${SECRET};EndpointSuffix=core.windows.net`,
      `AccountName=acct;AccountKey=${SECRET};BlobEndpoint=not a url`,
      `AccountName=acct;${SECRET}`,
      `garbage ${SECRET}`,
      `SharedAccessSignature=sv=2020&sig=${encodeURIComponent(SECRET)}`,
    ];
    for (const cs of bad) {
      assert.throws(
        () => new AzureBlobStore({ connectionString: cs, containerName: 'unit' }),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError, String(e));
          assert.match(e.message, /connectionString is malformed/);
          const all = everything(e).toLowerCase();
          const secrets = [SECRET, encodeURIComponent(SECRET), SECRET.slice(0, 12)].map((text) => text.toLowerCase());
          assert.ok(!secrets.some((secret) => all.includes(secret)), `leaked: ${e.message}`);
          return true;
        },
      );
      process.env.AZURE_STORAGE_CONNECTION_STRING = cs;
      await assert.rejects(
        openStore('azure-blob://unit'),
        (e: unknown) => e instanceof ConfigError && !everything(e).includes(SECRET),
      );
    }
    delete process.env.AZURE_STORAGE_CONNECTION_STRING;
  });

  it('a malformed connection string names the keys it found, never a value, even one split at its padding', () => {
    const unpadded = SECRET.replace(/=+$/, '');
    const leaks = (text: string) => text.toLowerCase().includes(unpadded.slice(0, 12).toLowerCase());
    const bad = [
      `AccountName=acct;AccountKey ${SECRET}`, // a space for "=": the base64 padding splits it into a name
      SECRET, // the key pasted alone, padded…
      unpadded, // …and without its padding
      `AccountName=acct;${unpadded}`,
    ];
    for (const cs of bad) {
      assert.throws(
        () => new AzureBlobStore({ connectionString: cs, containerName: 'unit' }),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError, String(e));
          assert.match(e.message, /connectionString is malformed/);
          assert.ok(!leaks(everything(e)), `leaked: ${e.message}`);
          return true;
        },
      );
    }
    const named = `DefaultEndpointsProtocol=https;AccountKey=${SECRET};EndpointSuffix=core.windows.net`;
    assert.throws(
      () => new AzureBlobStore({ connectionString: named, containerName: 'unit' }),
      /got the keys DefaultEndpointsProtocol, AccountKey, EndpointSuffix$/,
    );
    assert.throws(
      () => new AzureBlobStore({ connectionString: `AcountName=acct;AccountKey=${SECRET}`, containerName: 'unit' }),
      /AcountName \(did you mean AccountName\?\)/,
    );
  });

  it('unknown options are refused, with the name they resemble', () => {
    const options = { connectionString: az.connectionString, containerName: 'unit', requestTimeout: 500 };
    assert.throws(
      () => new AzureBlobStore(options as never),
      /unknown option "requestTimeout" \(did you mean "requestTimeoutMs"\?\)/,
    );
  });

  it('a wrong account key: errors are StoreUnavailableError and show neither key', async () => {
    const wrong = az.connectionString.replace(DEV_KEY, SECRET);
    const s = new AzureBlobStore({ connectionString: wrong, containerName: 'unit' });
    for (const op of [() => s.acquire(req('k')), () => s.inspect('k'), () => s.now(), () => s.list()]) {
      await assert.rejects(op(), (e: unknown) => {
        assert.ok(e instanceof StoreUnavailableError, String(e));
        assert.match(e.message, /403|refused the credential/);
        const all = everything(e);
        assert.ok(!all.includes(SECRET) && !all.includes(DEV_KEY), `leaked: ${all.slice(0, 500)}`);
        return true;
      });
    }
  });

  it('a SAS URL works, and its signature never shows in errors, logs or the store name', async () => {
    const cred = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY);
    const owner = new ContainerClient(`${az.blobEndpoint}/sas`, cred);
    await owner.createIfNotExists();
    const sasUrl = await owner.generateSasUrl({
      permissions: ContainerSASPermissions.parse('racwdl'),
      expiresOn: new Date(Date.now() + 3_600_000),
    });
    const sig = new URL(sasUrl).searchParams.get('sig') as string;
    const s = await fromUrl(sasUrl.replace(/\?/, `/sas-${run}/?`));
    assert.equal(s.prefix, `sas-${run}/`);
    const lh = new Leasehold({ store: s });
    const lease = await lh.tryAcquire('via-sas', { ttl: '15s' });
    assert.ok(lease);
    await lease?.release();
    // A read-only SAS: acquiring fails with 403, and the message hides the signature.
    const ro = await owner.generateSasUrl({
      permissions: ContainerSASPermissions.parse('r'),
      expiresOn: new Date(Date.now() + 3_600_000),
    });
    const roSig = new URL(ro).searchParams.get('sig') as string;
    const rs = await fromUrl(ro);
    await assert.rejects(
      rs.acquire(req('k')),
      (e: unknown) =>
        e instanceof StoreUnavailableError &&
        !everything(e).includes(roSig) &&
        !everything(e).includes(encodeURIComponent(roSig)),
    );
    // An https URL with a SAS, registered with openStore; the host does not resolve here.
    const fake = `https://acct.blob.core.windows.net/leases?sv=2022-11-02&sig=${encodeURIComponent(SECRET)}`;
    const hs = await openStore(fake);
    assert.equal(hs.name, 'azure-blob');
    await assert.rejects(
      hs.acquire(req('k'), { signal: AbortSignal.timeout(3000) }),
      (e: unknown) =>
        e instanceof StoreUnavailableError &&
        !everything(e).includes(SECRET) &&
        !everything(e).includes(encodeURIComponent(SECRET)),
    );
    await assert.rejects(
      openStore(`https://acct.blob.core.windows.net/?sig=${SECRET}`),
      (e: unknown) => e instanceof ConfigError && !e.message.includes(SECRET),
    );
    assert.ok(!sasUrl.includes(s.name) || !s.name.includes(sig));
  });
});

describe('openStore / fromUrl', () => {
  it('azure-blob://<container>[/<prefix>] uses AZURE_STORAGE_CONNECTION_STRING', async () => {
    process.env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
    try {
      const s = (await openStore(`azure-blob://viaurl/p-${run}/`)) as AzureBlobStore;
      assert.equal(s.name, 'azure-blob');
      assert.equal(s.containerName, 'viaurl');
      assert.equal(s.prefix, `p-${run}/`);
      const r = await s.acquire(req('k'));
      assert.ok(r.acquired);
      assert.deepEqual(await s.list(), ['k']);
      await s.close();
      const d = (await openStore('azure-blob://viaurl', { prefix: 'custom/' })) as AzureBlobStore;
      assert.equal(d.prefix, 'custom/');
      assert.equal(((await openStore('azure-blob://viaurl')) as AzureBlobStore).prefix, 'leasehold/');
    } finally {
      delete process.env.AZURE_STORAGE_CONNECTION_STRING;
    }
    await assert.rejects(
      openStore('azure-blob://viaurl'),
      (e: unknown) => e instanceof ConfigError && /AZURE_STORAGE_CONNECTION_STRING/.test(e.message),
    );
    await assert.rejects(openStore('azure-blob://Bad_Name'), ConfigError);
  });

  it('UseDevelopmentStorage=true opens a store on the Azurite development account', async () => {
    const s = await fromUrl('azure-blob://devcontainer', {
      env: { AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' },
    });
    assert.equal(s.containerName, 'devcontainer');
    await s.close();
  });

  it('an https URL without SAS needs @azure/identity: a clear ConfigError when it is missing, DefaultAzureCredential when present', async () => {
    const missing = () =>
      Promise.reject(
        Object.assign(new Error("Cannot find package '@azure/identity'"), { code: 'ERR_MODULE_NOT_FOUND' }),
      );
    await assert.rejects(
      fromUrl('https://acct.blob.core.windows.net/leases', { loadIdentity: missing }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /@azure\/identity/);
        assert.match(e.message, /npm install @azure\/identity/);
        return true;
      },
    );
    let built = 0;
    class FakeCredential {
      constructor() {
        built++;
      }
      async getToken() {
        return null;
      }
    }
    const s = await fromUrl('https://acct.blob.core.windows.net/leases/team-a/', {
      loadIdentity: async () => ({ DefaultAzureCredential: FakeCredential }),
    });
    assert.equal(built, 1);
    assert.equal(s.containerName, 'leases');
    assert.equal(s.prefix, 'team-a/');
  });
});

describe('no request outlives its deadline', () => {
  it('a server that never answers: the per-call signal and the per-try timeout both end the request', async () => {
    const sockets = new Set<Socket>();
    const hole = createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    try {
      const cs = az.connectionString.replace(`:${az.port}/`, `:${port}/`);
      const s = new AzureBlobStore({ connectionString: cs, containerName: 'unit', requestTimeoutMs: 60_000 });
      let t0 = performance.now();
      await assert.rejects(s.acquire(req('k'), { signal: AbortSignal.timeout(300) }), StoreUnavailableError);
      assert.ok(performance.now() - t0 < 3000, `signal: ${Math.round(performance.now() - t0)}ms`);
      t0 = performance.now();
      await assert.rejects(
        s.renew({ key: 'k', leaseId: randomUUID(), token: 1, ttlMs: TTL }, { signal: AbortSignal.timeout(300) }),
        StoreUnavailableError,
      );
      assert.ok(performance.now() - t0 < 3000, `renew: ${Math.round(performance.now() - t0)}ms`);
      const quick = new AzureBlobStore({ connectionString: cs, containerName: 'unit', requestTimeoutMs: 500 });
      t0 = performance.now();
      await assert.rejects(quick.now(), StoreUnavailableError);
      assert.ok(performance.now() - t0 < 4000, `requestTimeoutMs: ${Math.round(performance.now() - t0)}ms`);
      // Through the core: tryAcquire gives up within ttl/3 per attempt (two attempts).
      const lh = new Leasehold({ store: s });
      t0 = performance.now();
      await assert.rejects(lh.tryAcquire('k', { ttl: '15s' }), StoreUnavailableError);
      assert.ok(performance.now() - t0 < 2 * 5000 + 3000, `core: ${Math.round(performance.now() - t0)}ms`);
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => hole.close(r));
    }
  });

  it('an already-aborted signal rejects without a request', async () => {
    const ic = instrumentedClient(az, 'unit');
    const s = new AzureBlobStore({ containerClient: ic.client });
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(s.acquire(req('k'), { signal: ac.signal }), StoreUnavailableError);
    await assert.rejects(s.inspect('k', { signal: ac.signal }), StoreUnavailableError);
    assert.deepEqual(ic.log, []);
  });

  it('an unreachable port is StoreUnavailableError, never busy', async () => {
    const port = await freePort();
    const s = new AzureBlobStore({
      connectionString: az.connectionString.replace(`:${az.port}/`, `:${port}/`),
      containerName: 'unit',
    });
    await assert.rejects(
      s.acquire(req('k')),
      (e: unknown) => e instanceof StoreUnavailableError && /ECONNREFUSED|connect/i.test(e.message),
    );
  });
});

describe('break, clock, client ownership', () => {
  it('after forceRelease the broken lease cannot renew, write or release, and the next holder gets a higher token', async () => {
    const s = store();
    const key = `broken-${randomUUID().slice(0, 6)}`;
    const id = randomUUID();
    const a = await s.acquire(req(key, 'a', id));
    assert.ok(a.acquired);
    if (!a.acquired) return;
    assert.equal(await s.writeState({ key, leaseId: id, token: a.token, state: 'before' }), true);
    assert.equal(await store().forceRelease(key), true);
    const ref = { key, leaseId: id, token: a.token };
    assert.equal(await s.renew({ ...ref, ttlMs: TTL }), false);
    assert.equal(await s.writeState({ ...ref, state: 'after' }), false);
    assert.equal(
      await s.release(ref),
      false,
      'Azure lets a broken lease be released by its id; the store must not report it as ended',
    );
    const fresh = store();
    assert.equal(await fresh.release(ref), false);
    const rec = await s.inspect(key);
    assert.equal(rec?.holder, null);
    assert.equal(rec?.state, 'before');
    const b = await s.acquire(req(key, 'b'));
    assert.ok(b.acquired && b.token > a.token);
  });

  it('now() follows the Date header: within a second or two of the host, never ahead of it by more than the latency', async () => {
    const s = store();
    const before = Date.now();
    const t = await s.now();
    assert.ok(t % 1000 === 0, 'whole seconds');
    assert.ok(t <= Date.now() + 50 && t >= before - 2000, `${t} vs ${before}`);
  });

  it('close() never closes a client the user passed', async () => {
    const ic = instrumentedClient(az, 'unit');
    const s = new AzureBlobStore({ containerClient: ic.client, prefix: `own-${run}/` });
    await s.close();
    await ic.client.createIfNotExists();
    assert.ok(await ic.client.exists());
  });
});

describe("interop with the origin post's worker (one blob, prefix '')", () => {
  it('a post-style worker (raw SDK: 60 s lease on "Worker", renew, release) and leasehold take turns, never both', async () => {
    const container = new ContainerClient(
      `${az.blobEndpoint}/post-${run}`,
      new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY),
    );
    await container.createIfNotExists();
    // The post's Lease.AcquireLease: create the empty blob if missing, then a one-minute lease.
    const blob = container.getBlockBlobClient('Worker');
    const postAcquire = async () => {
      if (!(await blob.exists())) await blob.upload('', 0);
      const leaseClient = blob.getBlobLeaseClient();
      try {
        await leaseClient.acquireLease(60);
        return leaseClient;
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 409) return null; // "already leased"
        throw err;
      }
    };
    const lh = new Leasehold({ store: new AzureBlobStore({ containerClient: container, prefix: '' }) });
    let lastToken = 0;
    for (let round = 0; round < 3; round++) {
      const post = await postAcquire();
      assert.ok(post, `round ${round}: the post's worker could not take the free blob`);
      await post.renewLease();
      assert.equal(await lh.tryAcquire('Worker', { ttl: '15s' }), null, 'leasehold got a blob the post holds');
      await post.releaseLease();

      const lease = await lh.tryAcquire('Worker', { ttl: '15s' });
      assert.ok(lease, `round ${round}: leasehold could not take the blob the post released`);
      assert.ok(lease.token > lastToken, 'tokens still increase across turns');
      lastToken = lease.token;
      assert.equal(await postAcquire(), null, "the post's worker got a blob leasehold holds");
      assert.equal(await lease.release(), true);
    }
    // Leasehold's blob name for the key is the post's own: no second blob appeared.
    const names: string[] = [];
    for await (const item of container.listBlobsFlat()) names.push(item.name);
    assert.deepEqual(names, ['Worker']);
    await lh.stop();
  });
});
