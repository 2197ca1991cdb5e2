/**
 * The bad-input matrix (issue 18): every kind of bad argument, through the API and the
 * CLI, on every store. Each refusal must be one line, name the offending value, exit 64
 * on the CLI, and come before any store request: the API's store is wrapped in a
 * counter of every method call, and after the CLI cases the store must hold no key.
 * One private server per store, shared by every case; the regressions of the store
 * fixes (folder on an impossible path, a Redis database past the server's count, a lone
 * surrogate given to the folder store directly) are at the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, isStoreUnavailable, Leasehold, openStore, type LeaseStore } from '../src/index.js';
import { FileStore } from '../src/stores/file/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { startAzurite, type Azurite } from './helpers/azurite.js';
import { buildCli, type BuiltCli } from './helpers/cli.js';
import { DYNALITE_SECRET, startDynalite, type DynaliteServer } from './helpers/dynalite-server.js';
import { startEtcdServer, type EtcdServer } from './helpers/etcd-server.js';
import { startNatsServer, type NatsServer } from './helpers/nats-server.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { createMysqlDatabase, createPostgresDatabase, type TestDatabase } from './helpers/sql-databases.js';

const SECRET = `bad-input-pw-${randomBytes(4).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'leasehold-bad-input-'));
const servers: {
  cli?: BuiltCli;
  redis?: RedisServer;
  azurite?: Azurite;
  etcd?: EtcdServer;
  nats?: NatsServer;
  dynalite?: DynaliteServer;
  postgres?: TestDatabase;
  mysql?: TestDatabase;
} = {};
const container = `bad${randomBytes(4).toString('hex')}`;

/** A store under test: its URL (as the CLI takes it) and URLs it must refuse, with what each message names. */
interface Target {
  name: string;
  url: () => string;
  env?: () => Record<string, string>;
  badUrls: () => [url: string, names: string][];
}

const TARGETS: Target[] = [
  { name: 'memory', url: () => 'memory:bad-input', badUrls: () => [['memroy:x', 'memroy:']] },
  {
    name: 'file',
    url: () => `file:${join(dir, 'store')}`,
    badUrls: () => [
      ['file://fileserver/share', 'fileserver'],
      ['file:', 'file:'],
    ],
  },
  {
    name: 'redis',
    url: () => servers.redis?.url as string,
    badUrls: () => [
      [`redis://:${SECRET}@127.0.0.1:99999`, '99999'],
      [`redis://:${SECRET}@127.0.0.1:6379?wiat=1`, 'wiat'],
      [`redis://:${SECRET}@[::1`, 'redis://'],
      [`redis://:${SECRET}@127.0.0.1:6379/abc`, 'abc'],
    ],
  },
  {
    name: 'postgres',
    url: () => String(servers.postgres?.url).replace('postgres@', `postgres:${SECRET}@`),
    badUrls: () => [
      [`postgres://u:${SECRET}@127.0.0.1:99999/db`, '99999'],
      [`postgres://u:${SECRET}@127.0.0.1:0x10/db`, '0x10'],
      [`postgres://u:${SECRET}@127.0.0.1/db?sslmod=require`, 'sslmod'],
    ],
  },
  {
    name: 'mysql',
    url: () => servers.mysql?.url as string,
    badUrls: () => [
      [`mysql://u:${SECRET}@127.0.0.1:99999/db`, '99999'],
      [`mysql://u:${SECRET}@127.0.0.1/db?conectTimeout=1`, 'conectTimeout'],
    ],
  },
  {
    name: 'azure-blob',
    url: () => `azure-blob://${container}`,
    env: () => ({ AZURE_STORAGE_CONNECTION_STRING: servers.azurite?.connectionString as string }),
    badUrls: () => [
      [`azure-blob://${container}?wiat=1`, 'wiat'],
      ['azure-blob://', '""'],
    ],
  },
  {
    name: 'etcd',
    url: () => `${servers.etcd?.url}/bad-input/`,
    badUrls: () => [
      [`etcd://u:${SECRET}@127.0.0.1:99999`, '99999'],
      [`etcd://u:${SECRET}@127.0.0.1:2379?wiat=1`, 'wiat'],
    ],
  },
  {
    name: 'nats',
    url: () => `${servers.nats?.url}/badinput`,
    badUrls: () => [
      [`nats://u:${SECRET}@127.0.0.1:99999/b`, '99999'],
      [`nats://u:${SECRET}@127.0.0.1/b?replica=3`, 'replica'],
    ],
  },
  {
    name: 'dynamodb',
    url: () => servers.dynalite?.url('badinput') as string,
    badUrls: () => [
      [`dynamodb://t1x?region=us-east-1&secretAccessKey=${SECRET}&regoin=x`, 'regoin'],
      [`dynamodb://user:${SECRET}@t1x`, 'credentials'],
    ],
  },
];

/** The store wrapped so that every method call is counted: a refusal must come before any. */
function counting(store: LeaseStore): { store: LeaseStore; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (property !== 'close') calls.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

/** Asserts `run` is refused with a one-line ConfigError naming `names`; resolves with it. */
async function refused(run: () => unknown, names: string): Promise<Error> {
  let error: unknown;
  try {
    await run();
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof ConfigError, `accepted or not a ConfigError: ${String(error)}`);
  assert.ok(!error.message.includes('\n'), `more than one line: ${JSON.stringify(error.message)}`);
  assert.ok(error.message.includes(names), `does not name ${JSON.stringify(names)}: ${error.message}`);
  for (const secret of [SECRET, DYNALITE_SECRET]) {
    assert.ok(!error.message.includes(secret), `shows a secret: ${error.message}`);
  }
  return error;
}

const handler = () => {};
const cyclic: Record<string, unknown> = { a: 1 };
cyclic.self = cyclic;

/** Cases on a Leasehold over the store: [kind, what, call, the text the message must contain]. */
const API_CASES: [kind: string, what: string, run: (lh: Leasehold, store: LeaseStore) => unknown, names: string][] = [
  ['duration', 'negative ttl', (lh) => lh.tryAcquire('d1', { ttl: -1 }), '-1'],
  ['duration', 'NaN ttl', (lh) => lh.tryAcquire('d2', { ttl: Number.NaN }), 'NaN'],
  ['duration', "ttl '30d' (past 2^31-1 ms)", (lh) => lh.tryAcquire('d3', { ttl: '30d' }), '30d'],
  ['duration', "unitless ttl '3000'", (lh) => lh.tryAcquire('d4', { ttl: '3000' }), '3000'],
  ['duration', "ttl 'abc'", (lh) => lh.tryAcquire('d5', { ttl: 'abc' }), 'abc'],
  ['duration', "wait '30d'", (lh) => lh.acquire('d6', { ttl: '30s', wait: '30d' }), '30d'],
  ['duration', "job timeout '30d'", (lh) => lh.every('1m', 'd7', handler, { timeout: '30d' }), '30d'],
  ['duration', "interval 'abc'", (lh) => lh.every('abc', 'd8', handler), 'abc'],
  ['key', 'empty', (lh) => lh.tryAcquire('', { ttl: '30s' }), '""'],
  ['key', '513 characters', (lh) => lh.tryAcquire('k'.repeat(513), { ttl: '30s' }), '513'],
  ['key', 'a newline', (lh) => lh.tryAcquire('a\nb', { ttl: '30s' }), '"a\\nb"'],
  ['key', 'a NUL', (lh) => lh.tryAcquire('a\u0000b', { ttl: '30s' }), '"a\\u0000b"'],
  ['key', 'a lone surrogate', (lh) => lh.tryAcquire('a\ud800b', { ttl: '30s' }), 'surrogate'],
  ['key', 'a lone surrogate (job)', (lh) => lh.every('1m', 'b\udc00', handler), 'surrogate'],
  ['cron', 'bad expression', (lh) => lh.cron('61 * * * *', 'c1', handler), '61 * * * *'],
  ['cron', '7 fields', (lh) => lh.cron('0 0 0 1 1 * 2030', 'c2', handler), '0 0 0 1 1 * 2030'],
  ['cron', 'bad timezone', (lh) => lh.cron('0 * * * *', 'c3', handler, { timezone: 'Mars/Olympus' }), 'Mars/Olympus'],
  ['options', "typo 'wiat'", (lh) => lh.acquire('o1', { ttl: '30s', wiat: '1s' } as never), 'wiat'],
  ['options', "typo 'timout'", (lh) => lh.every('1m', 'o2', handler, { timout: '1s' } as never), 'timout'],
  ['options', "signal 'abort'", (lh) => lh.tryAcquire('o3', { ttl: '30s', signal: 'abort' as never }), 'abort'],
  ['options', "Leasehold 'holdr'", (_lh, store) => new Leasehold({ store, holdr: 'x' } as never), 'holdr'],
  ['options', 'holder with a newline', (_lh, store) => new Leasehold({ store, holder: 'h\nx' }), '"h\\nx"'],
  ['handler', 'every: a string', (lh) => lh.every('1m', 'h1', 'nope' as never), 'string'],
  ['handler', 'withLease: a string', (lh) => lh.withLease('h2', 'nope' as never, { ttl: '30s' }), 'nope'],
  ['handler', 'withLease: no options', (lh) => lh.withLease('h3', handler, undefined as never), 'withLease'],
];

/** State cases: refused by `lease.writeState` before its store call. */
const STATE_CASES: [what: string, state: unknown, names: string][] = [
  ['a cycle', cyclic, 'self'],
  ['too big', { blob: 'x'.repeat(2_000_000) }, 'state'],
  ['a BigInt', { n: 10n }, 'BigInt'],
];

/** CLI cases on the file and Redis stores (the others take {@link CLI_FEW}, for time): [what, arguments after the command name, the text stderr must contain]. */
const CLI_CASES: [what: string, args: string[], names: string][] = [
  ['empty key', ['run', '--key', '', '--', 'true'], '""'],
  ['control character in key', ['run', '--key', 'cli-\u0001', '--', 'true'], '\\u0001'],
  ["ttl '30d'", ['run', '--key', 'cli-1', '--ttl', '30d', '--', 'true'], '30d'],
  ["unitless ttl '3000'", ['run', '--key', 'cli-2', '--ttl', '3000', '--', 'true'], '3000'],
  ["ttl 'abc'", ['run', '--key', 'cli-3', '--ttl', 'abc', '--', 'true'], 'abc'],
  ['negative ttl', ['run', '--key', 'cli-4', '--ttl=-5s', '--', 'true'], '-5s'],
  ["typo '--wiat'", ['run', '--key', 'cli-5', '--wiat', '1s', '--', 'true'], 'wiat'],
  ['7-field cron', ['cron', '--key', 'cli-6', '--cron', '0 0 0 1 1 * 2030', '--', 'true'], '0 0 0 1 1 * 2030'],
  ['bad timezone', ['cron', '--key', 'cli-7', '--cron', '0 * * * *', '--tz', 'Mars/Olympus', '--', 'true'], 'Mars'],
  ["typo '--timout'", ['cron', '--key', 'cli-8', '--every', '1m', '--timout', '1s', '--', 'true'], 'timout'],
  ["timeout '30d'", ['cron', '--key', 'cli-9', '--every', '1m', '--timeout', '30d', '--', 'true'], '30d'],
  ['status, empty key', ['status', '--key', ''], '""'],
];

/** The CLI cases run on every store. */
const CLI_FEW = new Set(['empty key', "ttl '30d'", "typo '--wiat'", '7-field cron']);

/** Runs `cases` with at most `width` at a time. */
async function inBatches<T>(items: readonly T[], width: number, each: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(each));
}

before(async () => {
  const started = await Promise.all([
    buildCli(),
    startRedisServer({ password: SECRET }),
    startAzurite(),
    startEtcdServer(),
    startNatsServer({ user: 'lh', password: SECRET }),
    startDynalite(),
    createPostgresDatabase(),
    createMysqlDatabase(),
  ]);
  [servers.cli, servers.redis, servers.azurite, servers.etcd, servers.nats, servers.dynalite] = started;
  [, , , , , , servers.postgres, servers.mysql] = started;
  process.env.AZURE_STORAGE_CONNECTION_STRING = servers.azurite?.connectionString;
  const { BlobServiceClient } = await import('@azure/storage-blob');
  await BlobServiceClient.fromConnectionString(servers.azurite?.connectionString as string)
    .getContainerClient(container)
    .create();
});

after(async () => {
  servers.cli?.cleanup();
  await Promise.allSettled([
    servers.redis?.stop(),
    servers.azurite?.stop(),
    servers.etcd?.stop(),
    servers.nats?.stop(),
    servers.dynalite?.stop(),
    servers.postgres?.drop(),
    servers.mysql?.drop(),
  ]);
  rmSync(dir, { recursive: true, force: true });
});

for (const target of TARGETS) {
  describe(`bad input on ${target.name}`, () => {
    let store: LeaseStore;
    let calls: string[];
    let lh: Leasehold;
    before(async () => {
      ({ store, calls } = counting(await openStore(target.url())));
      lh = new Leasehold({ store });
    });
    after(async () => {
      await lh.stop();
      await store.close();
    });

    for (const [kind, what, run, names] of API_CASES) {
      it(`API ${kind}: ${what}`, async () => {
        calls.length = 0;
        await refused(() => run(lh, store), names);
        assert.deepEqual(calls, [], 'a store request was sent before the refusal');
      });
    }

    it('API state: a cycle, too big, a BigInt are refused before the write', async () => {
      const lease = await lh.tryAcquire('state', { ttl: '30s' });
      assert.ok(lease);
      try {
        for (const [what, state, names] of STATE_CASES) {
          calls.length = 0;
          const error = await refused(() => lease.writeState(state as never), names);
          assert.deepEqual(calls, [], `${what}: a store request was sent before the refusal (${error.message})`);
        }
      } finally {
        await lease.release();
      }
    });

    it('API URLs: malformed, unknown parameter, bad port, credentials', async () => {
      for (const [url, names] of [...target.badUrls(), [`${target.name}x://h`, `${target.name}x:`]] as const) {
        await refused(() => openStore(url), names);
      }
    });

    it('CLI: every case exits 64 with one line naming the value, and writes nothing', async () => {
      const cli = servers.cli as BuiltCli;
      const env = target.env?.() ?? {};
      const bad = target.badUrls().map(([url, names]): [string, string[], string] => [url, ['status'], names]);
      const cases: [string, string[], string, string][] = [
        ...CLI_CASES.filter(([what]) => ['file', 'redis'].includes(target.name) || CLI_FEW.has(what)).map(
          ([what, args, names]): [string, string[], string, string] => [what, args, names, target.url()],
        ),
        ...bad.map(([url, args, names]): [string, string[], string, string] => [`URL ${url}`, args, names, url]),
      ];
      const problems: string[] = [];
      await inBatches(cases, 8, async ([what, args, names, url]) => {
        const result = await cli.run([...args, '--store', url], { env });
        const lines = result.stderr.trimEnd().split('\n');
        if (result.code !== 64) problems.push(`${what}: exit ${result.code} (${result.stderr.trim()})`);
        else if (lines.length !== 1) problems.push(`${what}: ${lines.length} lines: ${result.stderr}`);
        else if (!result.stderr.includes(names)) problems.push(`${what}: does not name ${names}: ${result.stderr}`);
        if (`${result.stdout}${result.stderr}`.includes(SECRET)) problems.push(`${what}: shows the password`);
      });
      assert.deepEqual(problems, []);
      // (memory: is private to each CLI process, so there this shows nothing; every other store is shared.)
      assert.deepEqual(
        (await store.list()).filter((key) => key.startsWith('cli-')),
        [],
      );
    });
  });
}

describe('store fixes', () => {
  it('file:/proc/nope/x fails at once with a one-line StoreUnavailableError naming the path', async () => {
    const store = await openStore('file:/proc/nope/x');
    const lh = new Leasehold({ store });
    const t0 = performance.now();
    await assert.rejects(lh.tryAcquire('k', { ttl: '30s' }), (err: unknown) => {
      assert.ok(isStoreUnavailable(err), String(err));
      assert.match((err as Error).message, /^file store: acquire "k": ENOENT.*'\/proc\/nope'$/);
      return true;
    });
    // Node's own recursive mkdir never settles there; the core's timeouts made it ~20 s.
    assert.ok(performance.now() - t0 < 3000, `took ${Math.round(performance.now() - t0)} ms`);
    await store.close();
  });

  it('redis://…/99 on a 16-database server is a ConfigError, not database 0', async () => {
    const store = new RedisStore({ url: `${servers.redis?.url}/99`, prefix: 'db99:' });
    try {
      for (const call of [() => store.now(), () => store.inspect('k')]) {
        await assert.rejects(call(), (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, /has no database 99/);
          assert.ok(!err.message.includes(SECRET) && !err.message.includes('\n'), err.message);
          return true;
        });
      }
    } finally {
      await store.close();
    }
    const fine = new RedisStore({ url: `${servers.redis?.url}/15`, prefix: 'db15:' });
    assert.equal(typeof (await fine.now()), 'number');
    await fine.close();
    const result = await (servers.cli as BuiltCli).run(['status', '--store', `${servers.redis?.url}/99`]);
    assert.equal(result.code, 64, result.stderr);
    assert.match(result.stderr, /^leasehold: .*has no database 99.*\n$/);
  });

  it('the folder store called directly refuses a lone-surrogate key as a ConfigError', async () => {
    const store = new FileStore({ dir: join(dir, 'direct') });
    const request = { key: 'a\ud800', holder: 'h', leaseId: '00000000-0000-4000-8000-000000000000', ttlMs: 1000 };
    for (const call of [
      () => store.acquire(request),
      () => store.inspect('a\udfff'),
      () => store.forceRelease('\ud800'),
    ]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, /lone UTF-16 surrogate/);
        return true;
      });
    }
  });
});
