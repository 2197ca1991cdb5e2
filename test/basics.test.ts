import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConfigError,
  LeaseholdError,
  LeaseLostError,
  StoreUnavailableError,
  AcquireTimeoutError,
  formatDuration,
  knownSchemes,
  openStore,
  parseDuration,
  redactText,
  redactUrl,
} from '../src/index.js';
import { FileStore, dirNameToKey, keyToDirName } from '../src/stores/file/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';

describe('durations', () => {
  it('parses numbers and unit strings', () => {
    assert.equal(parseDuration(250, 'x'), 250);
    assert.equal(parseDuration('500ms', 'x'), 500);
    assert.equal(parseDuration('30s', 'x'), 30_000);
    assert.equal(parseDuration('5m', 'x'), 300_000);
    assert.equal(parseDuration('1h', 'x'), 3_600_000);
    assert.equal(parseDuration('1.5s', 'x'), 1500);
    assert.equal(parseDuration('1m30s', 'x'), 90_000);
    assert.equal(parseDuration('2d', 'x'), 172_800_000);
    assert.equal(parseDuration(0, 'x', { allowZero: true }), 0);
  });
  it('rejects bad values with a ConfigError naming option and value', () => {
    for (const bad of [
      'abc',
      '-1s',
      '',
      '5 parsecs',
      '1s2',
      null,
      undefined,
      {},
      Number.NaN,
      Number.POSITIVE_INFINITY,
      -5,
    ]) {
      assert.throws(
        () => parseDuration(bad, 'ttl'),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith('ttl:'),
        String(bad),
      );
    }
    assert.throws(() => parseDuration(0, 'ttl'), /ttl: duration must be positive, got 0/);
  });
  it('formats for humans', () => {
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(1500), '1.5s');
    assert.equal(formatDuration(15_000), '15s');
    assert.equal(formatDuration(150_000), '2m30s');
  });
});

describe('errors', () => {
  it('have stable codes, names and causes', () => {
    const cause = new Error('boom');
    const cases: [LeaseholdError, string, string][] = [
      [new LeaseLostError('k', 3, 'gone', { cause }), 'LEASE_LOST', 'LeaseLostError'],
      [new AcquireTimeoutError('k', 100, 'h'), 'ACQUIRE_TIMEOUT', 'AcquireTimeoutError'],
      [new StoreUnavailableError('down', { cause }), 'STORE_UNAVAILABLE', 'StoreUnavailableError'],
      [new ConfigError('bad'), 'CONFIG', 'ConfigError'],
    ];
    for (const [err, code, name] of cases) {
      assert.ok(err instanceof LeaseholdError);
      assert.equal(err.code, code);
      assert.equal(err.name, name);
    }
    assert.equal(cases[0]?.[0].cause, cause);
  });
});

describe('openStore and redaction', () => {
  it('opens memory: and file: URLs', async () => {
    assert.ok((await openStore('memory:')) instanceof MemoryStore);
    const f = await openStore('file:.leasehold-test-tmp');
    assert.ok(f instanceof FileStore);
    assert.match(f.dir, /\.leasehold-test-tmp$/);
    assert.equal(((await openStore('file:///tmp/lh')) as FileStore).dir, '/tmp/lh');
    assert.equal(((await openStore('file:/tmp/lh2')) as FileStore).dir, '/tmp/lh2');
    const a = await openStore('memory:shared-x');
    const b = await openStore('memory:shared-x');
    await a.acquire({ key: 'k', holder: 'a', leaseId: '1', ttlMs: 10_000 });
    assert.equal((await b.inspect('k'))?.holder, 'a', 'memory:<name> is shared in-process');
  });
  it('unknown schemes are a ConfigError listing the known ones, without credentials', async () => {
    await assert.rejects(
      openStore('nope:'),
      (e: unknown) =>
        e instanceof ConfigError &&
        /unknown scheme "nope:"/.test(e.message) &&
        /file:/.test(e.message) &&
        /memory:/.test(e.message),
    );
    await assert.rejects(
      openStore('nope://user:hunter2@host/db'),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('hunter2'),
    );
    await assert.rejects(openStore(''), ConfigError);
    await assert.rejects(openStore('file://otherhost/x'), ConfigError);
    assert.ok(knownSchemes().includes('file'));
  });
  it('redacts passwords, keys and signatures', () => {
    assert.equal(redactUrl('redis://user:hunter2@host:6379/0'), 'redis://user:***@host:6379/0');
    assert.equal(redactUrl('redis://:hunter2@host'), 'redis://:***@host');
    assert.equal(
      redactUrl('https://acct.blob.core.windows.net/c?sv=2022&sig=abc%2Bdef&se=1'),
      'https://acct.blob.core.windows.net/c?sv=2022&sig=***&se=1',
    );
    const cs =
      'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5==;EndpointSuffix=core.windows.net';
    assert.ok(!redactUrl(cs).includes('c2VjcmV0a2V5'));
    assert.ok(!redactText('failed for postgres://u:pw123@h/db and pw123', ['pw123']).includes('pw123'));
  });
});

describe('folder store key names', () => {
  it('round-trips keys and keeps case-different keys apart', () => {
    for (const key of ['a', 'A', 'job/nightly report', '..', '.hidden', 'ü*?:<>|"', '%41', 'x'.repeat(60)]) {
      const name = keyToDirName(key);
      assert.ok(!name.includes('/') && name !== '.' && name !== '..' && !name.startsWith('.'), name);
      assert.equal(name.toLowerCase(), name.replace(/\^[a-z]/g, (m) => m).toLowerCase());
      assert.equal(dirNameToKey(name), key);
    }
    assert.notEqual(keyToDirName('A').toLowerCase(), keyToDirName('a').toLowerCase());
    const long = keyToDirName('k'.repeat(400));
    assert.ok(long.length <= 200);
    assert.equal(dirNameToKey(long), undefined);
  });
});
