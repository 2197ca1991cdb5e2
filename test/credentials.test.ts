/**
 * The credential scan (issue 18): for every store that takes credentials in its URL or
 * connection string, errors from a wrong password, an unreachable server and a malformed
 * setting are printed every way a logger or a user might — message, stack, String, JSON
 * of the error and of its cause, util.inspect walking causes — and through the CLI
 * (stdout and stderr of `status`, `status --json` and `run`). None may contain the secret,
 * nor its percent-encoded or lower-cased forms.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Leasehold, openStore } from '../src/index.js';
import { startAzurite, type Azurite } from './helpers/azurite.js';
import { buildCli, type BuiltCli } from './helpers/cli.js';
import { startNatsServer, type NatsServer } from './helpers/nats-server.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

/** A secret with characters that URLs encode and that base64 keys contain. */
const secret = (tag: string) => `${tag}+${randomBytes(9).toString('base64url')}/X=`;
const enc = encodeURIComponent;
let cli: BuiltCli;
let redis: RedisServer;
let nats: NatsServer;
let natsToken: NatsServer;
let azurite: Azurite;
const REDIS_PW = secret('redis');
const NATS_PW = secret('nats');
const NATS_TOKEN = `tok${randomBytes(9).toString('hex')}`;

/** One way to get an error with a secret in its settings. */
interface Case {
  what: string;
  secret: string;
  url: () => string;
  env?: () => Record<string, string>;
}

const ACCOUNT_KEY = randomBytes(64).toString('base64');
const azureEnv = (connectionString: string) => () => ({ AZURE_STORAGE_CONNECTION_STRING: connectionString });
const endpoint = () => `BlobEndpoint=${azurite.blobEndpoint};`;

const CASES: Case[] = [
  { what: 'redis: wrong password', secret: 'wrong-pw-1', url: () => `redis://:wrong-pw-1@127.0.0.1:${redis.port}` },
  {
    what: 'redis: user and wrong password',
    secret: REDIS_PW,
    url: () => `redis://u:${enc(REDIS_PW)}@127.0.0.1:${redis.port}`,
  },
  { what: 'redis: unreachable', secret: REDIS_PW, url: () => `redis://:${enc(REDIS_PW)}@127.0.0.1:1` },
  {
    what: 'postgres: wrong user',
    secret: REDIS_PW,
    url: () => `postgres://nobody:${enc(REDIS_PW)}@127.0.0.1:5432/postgres`,
  },
  { what: 'postgres: unreachable', secret: REDIS_PW, url: () => `postgres://u:${enc(REDIS_PW)}@127.0.0.1:1/db` },
  { what: 'mysql: wrong password', secret: REDIS_PW, url: () => `mysql://root:${enc(REDIS_PW)}@127.0.0.1:3306/mysql` },
  { what: 'mysql: unreachable', secret: REDIS_PW, url: () => `mysql://root:${enc(REDIS_PW)}@127.0.0.1:1/mysql` },
  {
    what: 'azure: wrong AccountKey',
    secret: ACCOUNT_KEY,
    url: () => 'azure-blob://creds',
    env: () =>
      azureEnv(`DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${ACCOUNT_KEY};${endpoint()}`)(),
  },
  {
    what: "azure: 'AccountKey <key>' (a space for '=')",
    secret: ACCOUNT_KEY,
    url: () => 'azure-blob://creds',
    env: () =>
      azureEnv(`DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey ${ACCOUNT_KEY};${endpoint()}`)(),
  },
  { what: 'azure: the key alone', secret: ACCOUNT_KEY, url: () => 'azure-blob://creds', env: azureEnv(ACCOUNT_KEY) },
  {
    what: 'azure: SAS, unreachable',
    secret: REDIS_PW,
    url: () => `http://127.0.0.1:1/devstoreaccount1/creds?sv=2022-11-02&sp=rwdl&sr=c&sig=${enc(REDIS_PW)}`,
  },
  {
    what: 'azure: SAS connection string, unreachable',
    secret: REDIS_PW,
    url: () => 'azure-blob://creds',
    env: azureEnv(
      `BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;SharedAccessSignature=sv=2022&sig=${enc(REDIS_PW)}`,
    ),
  },
  {
    what: 'nats: wrong password',
    secret: 'wrong-nats-pw',
    url: () => `nats://lh:wrong-nats-pw@127.0.0.1:${nats.port}/b`,
  },
  { what: 'nats: right user, unreachable', secret: NATS_PW, url: () => `nats://lh:${enc(NATS_PW)}@127.0.0.1:1/b` },
  {
    what: 'nats: wrong token',
    secret: 'wrongtoken123',
    url: () => `nats://wrongtoken123@127.0.0.1:${natsToken.port}/b`,
  },
  { what: 'etcd: unreachable', secret: REDIS_PW, url: () => `etcd://root:${enc(REDIS_PW)}@127.0.0.1:1` },
  {
    what: 'dynamodb: unreachable',
    secret: REDIS_PW,
    url: () =>
      `dynamodb://t1x?region=us-east-1&endpoint=${enc('http://127.0.0.1:1')}&accessKeyId=AK&secretAccessKey=${enc(REDIS_PW)}`,
  },
];

/** The forms of `value` that must never appear. */
function forms(value: string): string[] {
  return [...new Set([value, enc(value), value.toLowerCase(), enc(value).toLowerCase(), value.slice(0, 24)])];
}

/** Every printed form of an error, its causes walked. */
function printed(err: unknown): string[] {
  const out: string[] = [String(err), inspect(err, { depth: 10 }), safeJson(err)];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    const e = current as { message?: unknown; stack?: unknown; cause?: unknown };
    out.push(String(e.message), String(e.stack), safeJson(e.cause), inspect(e.cause, { depth: 10 }));
    current = e.cause;
  }
  return out;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch (err) {
    return String(err);
  }
}

function assertClean(texts: readonly string[], value: string, what: string): void {
  for (const text of texts) {
    for (const form of forms(value))
      assert.ok(!text.includes(form), `${what}: shows ${JSON.stringify(form)}:\n${text}`);
  }
}

/** The error from opening the store and taking one lease (with the env set for the connection string). */
async function errorOf(entry: Case): Promise<unknown> {
  const saved = process.env.AZURE_STORAGE_CONNECTION_STRING;
  Object.assign(process.env, entry.env?.() ?? {});
  try {
    const store = await openStore(entry.url());
    try {
      await new Leasehold({ store }).tryAcquire('creds', { ttl: '15s' });
    } finally {
      await store.close();
    }
  } catch (err) {
    return err;
  } finally {
    if (saved === undefined) delete process.env.AZURE_STORAGE_CONNECTION_STRING;
    else process.env.AZURE_STORAGE_CONNECTION_STRING = saved;
  }
  return undefined;
}

before(async () => {
  [cli, redis, nats, natsToken, azurite] = await Promise.all([
    buildCli(),
    startRedisServer({ password: REDIS_PW }),
    startNatsServer({ user: 'lh', password: NATS_PW }),
    startNatsServer({ token: NATS_TOKEN }),
    startAzurite(),
  ]);
});

after(async () => {
  cli?.cleanup();
  await Promise.allSettled([redis?.stop(), nats?.stop(), natsToken?.stop(), azurite?.stop()]);
});

describe('no credential in any error form', () => {
  for (const entry of CASES) {
    it(`${entry.what}: API errors, CLI output (status, status --json, run, pause, backfill)`, async () => {
      const err = await errorOf(entry);
      assert.ok(err instanceof Error, `${entry.what}: no error`);
      assertClean(printed(err), entry.secret, entry.what);
      const env = entry.env?.() ?? {};
      const runs = await Promise.all([
        cli.run(['status', '--store', entry.url()], { env }),
        cli.run(['status', '--json', '--store', entry.url()], { env }),
        cli.run(['run', '--key', 'creds', '--ttl', '15s', '--store', entry.url(), '--', 'true'], { env }),
        cli.run(['pause', '--key', 'creds', '--store', entry.url()], { env }),
        cli.run(
          [
            'backfill',
            '--key',
            'creds',
            '--from',
            '2026-01-01T00:00:00Z',
            '--to',
            '2026-01-01T00:01:00Z',
            '--store',
            entry.url(),
          ],
          { env },
        ),
      ]);
      for (const result of runs) {
        assert.notEqual(result.code, 0, `${entry.what}: the CLI succeeded`);
        assertClean([result.stdout, result.stderr], entry.secret, `${entry.what} (CLI)`);
      }
    });
  }
});
