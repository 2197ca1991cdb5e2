/**
 * The stores under test, each opened on a server of this machine with a client whose
 * requests are counted, plus (where the issue asks for one) the same lease done with
 * the raw client, for the overhead ratio.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import type { Redis } from 'ioredis';
import type { LeaseStore } from '../src/store.js';
import { STORE_NAMES } from '../src/stores/registry.js';
import { startAzurite, type Azurite } from '../test/helpers/azurite.js';
import { startEtcdServer, type EtcdServer } from '../test/helpers/etcd-server.js';
import { createMysqlDatabase, createPostgresDatabase, type TestDatabase } from '../test/helpers/sql-databases.js';
import {
  cleanRedis,
  countingContainer,
  countingMysqlPool,
  countingPgPool,
  countingRedis,
  Counter,
  rid,
} from './lib.js';

/** Every built-in store, in table order (from the store registry). */
export const ALL_STORES: readonly string[] = STORE_NAMES;
/** A store name from the registry. */
export type StoreName = string;

/** The raw client doing one lease by hand: what leasehold is compared against. */
export interface RawLease {
  /** What the raw client does, for the table. */
  readonly how: string;
  /** True when granted. */
  acquire(key: string, id: string, ttlMs: number): Promise<boolean>;
  renew(key: string, id: string, ttlMs: number): Promise<boolean>;
  release(key: string, id: string): Promise<boolean>;
}

/** A store opened for the benchmark. */
export interface Target {
  name: StoreName;
  store: LeaseStore;
  /** Requests counted at the client; null for stores without a network client (memory, file). */
  counter: Counter | null;
  /** Unit of {@link counter}. */
  unit: string;
  /** TTL that the store accepts and that does not expire during a measurement. */
  ttlMs: number;
  raw?: RawLease;
  close(): Promise<void>;
}

/**
 * Servers shared by the sections. Azurite is started once, on first need, through the
 * test helpers' supervisor (test/helpers/supervisor.ts), which stops it even when the
 * benchmark is killed; SQL databases and Redis prefixes live on the machine's servers.
 */
export class Servers {
  #az: Promise<Azurite> | undefined;
  #etcd: Promise<EtcdServer> | undefined;
  readonly #dbs: TestDatabase[] = [];
  readonly #redisPrefixes: string[] = [];

  /** A private single-member etcd, started once on first need. */
  etcd(): Promise<EtcdServer> {
    this.#etcd ??= startEtcdServer();
    return this.#etcd;
  }

  azurite(): Promise<Azurite> {
    this.#az ??= startAzurite();
    return this.#az;
  }

  async pgDatabase(): Promise<TestDatabase> {
    const db = await createPostgresDatabase();
    this.#dbs.push(db);
    return db;
  }

  async mysqlDatabase(): Promise<TestDatabase> {
    const db = await createMysqlDatabase();
    this.#dbs.push(db);
    return db;
  }

  /** A fresh key prefix on the machine's Redis, deleted at the end. */
  redisPrefix(what: string): string {
    const p = `leasehold-bench:${rid()}:${what}:`;
    this.#redisPrefixes.push(p);
    return p;
  }

  async close(): Promise<void> {
    for (const p of this.#redisPrefixes) await cleanRedis(p).catch(() => {});
    for (const db of this.#dbs) await db.drop().catch(() => {});
    if (this.#az) await (await this.#az).stop().catch(() => {});
    if (this.#etcd) await (await this.#etcd).stop().catch(() => {});
  }
}

const REDIS_CAD = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const REDIS_CAP = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

type RawRedis = Redis & {
  benchCad(key: string, id: string): Promise<number>;
  benchCap(key: string, id: string, ttl: number): Promise<number>;
};

/** Opens one store with a counting client. */
export async function openTarget(name: StoreName, servers: Servers): Promise<Target> {
  switch (name) {
    case 'memory': {
      const { MemoryStore } = await import('../src/stores/memory/index.js');
      const store = new MemoryStore();
      return { name, store, counter: null, unit: 'store calls', ttlMs: 30_000, close: () => store.close() };
    }
    case 'file': {
      const { FileStore } = await import('../src/stores/file/index.js');
      const dir = mkdtempSync(join(tmpdir(), 'leasehold-bench-'));
      const store = new FileStore({ dir });
      return {
        name,
        store,
        counter: null,
        unit: 'store calls',
        ttlMs: 30_000,
        close: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    case 'redis': {
      const { RedisStore } = await import('../src/stores/redis/index.js');
      const counter = new Counter();
      const client = countingRedis(counter) as RawRedis;
      const prefix = servers.redisPrefix('ops');
      const store = new RedisStore({ client, prefix });
      // The raw way: SET NX PX to acquire, compare-and-delete / compare-and-pexpire
      // scripts (EVALSHA through ioredis defineCommand) to release and renew.
      client.defineCommand('benchCad', { numberOfKeys: 1, lua: REDIS_CAD });
      client.defineCommand('benchCap', { numberOfKeys: 1, lua: REDIS_CAP });
      const rawKey = (k: string) => `${prefix}raw:${k}`;
      const raw: RawLease = {
        how: 'SET NX PX; EVALSHA compare-and-pexpire; EVALSHA compare-and-delete',
        acquire: async (k, id, ttl) => (await client.set(rawKey(k), id, 'PX', ttl, 'NX')) === 'OK',
        renew: async (k, id, ttl) => (await client.benchCap(rawKey(k), id, ttl)) === 1,
        release: async (k, id) => (await client.benchCad(rawKey(k), id)) === 1,
      };
      return {
        name,
        store,
        counter,
        unit: 'Redis commands',
        ttlMs: 30_000,
        raw,
        close: async () => {
          await store.close();
          client.disconnect();
        },
      };
    }
    case 'postgres': {
      const { PostgresStore } = await import('../src/stores/postgres/index.js');
      const db = await servers.pgDatabase();
      const counter = new Counter();
      const { pool, queryable } = countingPgPool(counter, db.url);
      // Prepared statements, as the store uses on the pool it opens from a URL.
      const store = new PostgresStore({ pool: queryable, preparedStatements: true });
      await pool.query(
        'CREATE TABLE bench_raw (key text COLLATE "C" PRIMARY KEY, holder text, expires_at timestamptz)',
      );
      const raw: RawLease = {
        how: 'one INSERT … ON CONFLICT DO UPDATE … WHERE expired RETURNING; UPDATE … WHERE holder',
        acquire: async (k, id, ttl) =>
          ((
            await queryable.query(
              `INSERT INTO bench_raw AS t (key, holder, expires_at) VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
               ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
               WHERE t.expires_at IS NULL OR t.expires_at <= clock_timestamp() RETURNING 1`,
              [k, id, ttl],
            )
          ).rowCount ?? 0) === 1,
        renew: async (k, id, ttl) =>
          ((
            await queryable.query(
              `UPDATE bench_raw SET expires_at = clock_timestamp() + $3 * interval '1 millisecond' WHERE key = $1 AND holder = $2 AND expires_at > clock_timestamp()`,
              [k, id, ttl],
            )
          ).rowCount ?? 0) === 1,
        release: async (k, id) =>
          ((
            await queryable.query(
              'UPDATE bench_raw SET holder = NULL, expires_at = NULL WHERE key = $1 AND holder = $2',
              [k, id],
            )
          ).rowCount ?? 0) === 1,
      };
      return {
        name,
        store,
        counter,
        unit: 'SQL queries',
        ttlMs: 30_000,
        raw,
        close: async () => {
          await store.close();
          await pool.end();
        },
      };
    }
    case 'mysql': {
      const { MysqlStore } = await import('../src/stores/mysql/index.js');
      const db = await servers.mysqlDatabase();
      const counter = new Counter();
      const { pool, queryable } = countingMysqlPool(counter, db.url);
      const store = new MysqlStore({ pool: queryable, multipleStatements: true });
      await pool.query(
        'CREATE TABLE bench_raw (k VARCHAR(255) PRIMARY KEY, holder VARCHAR(64), expires_at DATETIME(6)) ENGINE=InnoDB',
      );
      // The raw client's own pool, without CLIENT_FOUND_ROWS, so an upsert that changed
      // nothing reports 0 affected rows (one round trip, no read-back).
      const rawPool = countingMysqlPool(counter, db.url, 10, { flags: ['-FOUND_ROWS'] });
      const rawQ = rawPool.queryable;
      const affected = (r: [unknown, unknown]) => (r[0] as { affectedRows: number }).affectedRows;
      const raw: RawLease = {
        how: 'one INSERT … ON DUPLICATE KEY UPDATE IF(expired, …); UPDATE … WHERE holder',
        acquire: async (k, id, ttl) =>
          affected(
            await rawQ.query(
              `INSERT INTO bench_raw (k, holder, expires_at) VALUES (?, ?, NOW(6) + INTERVAL ? MICROSECOND)
               ON DUPLICATE KEY UPDATE holder = IF(expires_at IS NULL OR expires_at <= NOW(6), VALUES(holder), holder),
               expires_at = IF(holder = VALUES(holder), VALUES(expires_at), expires_at)`,
              [k, id, ttl * 1000],
            ),
          ) > 0,
        renew: async (k, id, ttl) =>
          affected(
            await rawQ.query(
              'UPDATE bench_raw SET expires_at = NOW(6) + INTERVAL ? MICROSECOND WHERE k = ? AND holder = ? AND expires_at > NOW(6)',
              [ttl * 1000, k, id],
            ),
          ) === 1,
        release: async (k, id) =>
          affected(
            await rawQ.query('UPDATE bench_raw SET holder = NULL, expires_at = NULL WHERE k = ? AND holder = ?', [
              k,
              id,
            ]),
          ) === 1,
      };
      return {
        name,
        store,
        counter,
        unit: 'SQL queries',
        ttlMs: 30_000,
        raw,
        close: async () => {
          await store.close();
          await pool.end();
          await rawPool.pool.end();
        },
      };
    }
    case 'azure-blob': {
      const { AzureBlobStore } = await import('../src/stores/azure-blob/index.js');
      const az = await servers.azurite();
      const counter = new Counter();
      const container = `bench${rid()}`;
      const client: ContainerClient = countingContainer(counter, az, container);
      await client.createIfNotExists();
      const store = new AzureBlobStore({ containerClient: client });
      const rawBlob = (k: string) => client.getBlockBlobClient(`raw/${k}`);
      const created = new Set<string>();
      const raw: RawLease = {
        how: 'SDK acquireLease (proposed id) / renewLease / releaseLease',
        acquire: async (k, id, ttl) => {
          if (!created.has(k)) {
            await rawBlob(k)
              .upload('', 0)
              .catch(() => {});
            created.add(k);
          }
          try {
            await rawBlob(k)
              .getBlobLeaseClient(id)
              .acquireLease(ttl / 1000);
            return true;
          } catch (err) {
            if ((err as { statusCode?: number }).statusCode === 409) return false;
            throw err;
          }
        },
        renew: async (k, id) => {
          await rawBlob(k).getBlobLeaseClient(id).renewLease();
          return true;
        },
        release: async (k, id) => {
          await rawBlob(k).getBlobLeaseClient(id).releaseLease();
          return true;
        },
      };
      return { name, store, counter, unit: 'HTTP requests', ttlMs: 30_000, raw, close: () => store.close() };
    }
    case 'etcd':
      return openEtcdTarget(servers);
    case 'nats':
      return openNatsTarget();
    case 'dynamodb':
      return openDynamoDbTarget();
    default:
      throw new Error(`no benchmark target for the "${name}" store yet: add one to openTarget in bench/targets.ts`);
  }
}

/**
 * DynamoDB: a private dynalite (test/helpers/dynalite-server.ts), a client whose commands
 * are counted by middleware, and the raw lease the DynamoDB docs show (a conditional put
 * with a host-clock expiry; conditional update; conditional delete).
 */
async function openDynamoDbTarget(): Promise<Target> {
  const { DynamoDbStore } = await import('../src/stores/dynamodb/index.js');
  const sdk = await import('@aws-sdk/client-dynamodb');
  const { startDynalite } = await import('../test/helpers/dynalite-server.js');
  const server = await startDynalite();
  const counter = new Counter();
  const { endpoint, region, accessKeyId, secretAccessKey } = server.storeOptions;
  const client = new sdk.DynamoDBClient({ endpoint, region, credentials: { accessKeyId, secretAccessKey } });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      counter.hit(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'benchCount' },
  );
  const table = `bench-${rid()}`;
  const store = new DynamoDbStore({ table, client, createTable: true });
  await store.now(); // creates the table: set-up, not per operation
  const key = (k: string) => ({ pk: { S: `raw/${k}` } });
  const refused = (err: unknown) => (err as Error).name === 'ConditionalCheckFailedException';
  const conditional = (send: () => Promise<unknown>) =>
    send().then(
      () => true,
      (err: unknown) => (refused(err) ? false : Promise.reject(err)),
    );
  const raw: RawLease = {
    how: 'PutItem if absent or expired (host clock) / UpdateItem if owner / DeleteItem if owner',
    acquire: (k, id, ttl) =>
      conditional(() =>
        client.send(
          new sdk.PutItemCommand({
            TableName: table,
            Item: { ...key(k), owner: { S: id }, expires: { N: String(Date.now() + ttl) } },
            ConditionExpression: 'attribute_not_exists(pk) OR expires < :now',
            ExpressionAttributeValues: { ':now': { N: String(Date.now()) } },
          }),
        ),
      ),
    renew: (k, id, ttl) =>
      conditional(() =>
        client.send(
          new sdk.UpdateItemCommand({
            TableName: table,
            Key: key(k),
            UpdateExpression: 'SET expires = :expires',
            ConditionExpression: '#owner = :id',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':id': { S: id }, ':expires': { N: String(Date.now() + ttl) } },
          }),
        ),
      ),
    release: (k, id) =>
      conditional(() =>
        client.send(
          new sdk.DeleteItemCommand({
            TableName: table,
            Key: key(k),
            ConditionExpression: '#owner = :id',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':id': { S: id } },
          }),
        ),
      ),
  };
  return {
    name: 'dynamodb',
    store,
    counter,
    unit: 'HTTP requests',
    ttlMs: 30_000,
    raw,
    close: async () => {
      await store.close();
      client.destroy();
      await server.stop();
    },
  };
}

/**
 * etcd: a private member (test/helpers/etcd-server.ts), a client whose KV and lease RPCs
 * are counted, and the raw lease the etcd3 docs show (grant, put with the lease if absent,
 * keep-alive, revoke).
 */
async function openEtcdTarget(servers: Servers): Promise<Target> {
  const { EtcdStore } = await import('../src/stores/etcd/index.js');
  const { Etcd3 } = await import('etcd3');
  const etcd = await servers.etcd();
  const counter = new Counter();
  const client = new Etcd3({ hosts: etcd.url.replace('etcd://', 'http://') });
  const count = <T extends object>(target: T, what: string): T =>
    new Proxy(target, {
      get: (object, method: string) => {
        const value = Reflect.get(object, method) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          counter.hit(`${what}.${method}`);
          return (value as (...a: unknown[]) => unknown).apply(object, args);
        };
      },
    });
  const counted = { kv: count(client.kv, 'kv'), leaseClient: count(client.leaseClient, 'lease'), close: () => {} };
  const store = new EtcdStore({ url: etcd.url, client: counted, prefix: `bench-${rid()}/` });
  const leases = new Map<string, ReturnType<typeof client.lease>>();
  const raw: RawLease = {
    how: 'etcd3 lease(ttl) + txn put-if-absent; keepaliveOnce; revoke',
    acquire: async (k, _id, ttl) => {
      const lease = client.lease(Math.ceil(ttl / 1000), { autoKeepAlive: false });
      const key = `bench-raw/${k}`;
      const leaseId = await lease.grant();
      const put = await client.if(key, 'Create', '==', 0).then(client.put(key).value('x').lease(leaseId)).commit();
      if (put.succeeded) leases.set(k, lease);
      else await lease.revoke();
      return put.succeeded;
    },
    renew: async (k) => {
      await leases.get(k)?.keepaliveOnce();
      return leases.has(k);
    },
    release: async (k) => {
      await leases.get(k)?.revoke();
      return leases.delete(k);
    },
  };
  return {
    name: 'etcd',
    store,
    counter,
    unit: 'gRPC requests',
    ttlMs: 30_000,
    raw,
    close: async () => {
      await store.close();
      client.close();
    },
  };
}

/**
 * NATS JetStream KV: a private nats-server (test/helpers/nats-server.ts), every message
 * this process publishes counted where it leaves the client (the SDK's protocol handler,
 * which every request goes through), and the raw lease the KV API offers (create;
 * update on the revision; delete on the revision — with no expiry: 2.9 has no TTL per key).
 */
async function openNatsTarget(): Promise<Target> {
  const { NatsKvStore } = await import('../src/stores/nats/index.js');
  const { ProtocolHandler } = await import('@nats-io/nats-core/internal');
  const { connect } = await import('@nats-io/transport-node');
  const { Kvm } = await import('@nats-io/kv');
  const { startNatsServer } = await import('../test/helpers/nats-server.js');
  const server = await startNatsServer();
  const counter = new Counter();
  const prototype = ProtocolHandler.prototype as unknown as {
    publish: (subject: string, ...rest: unknown[]) => unknown;
  };
  const publish = prototype.publish;
  prototype.publish = function counted(this: unknown, subject: string, ...rest: unknown[]) {
    counter.hit(subject.startsWith('$JS.API.') ? subject.split('.').slice(2, 5).join('.') : 'kv.put');
    return publish.call(this, subject, ...rest);
  };
  const bucket = `bench-${rid()}`;
  const store = new NatsKvStore({ url: `${server.url}/${bucket}` });
  const connection = await connect({ servers: `127.0.0.1:${server.port}` });
  const kv = await new Kvm(connection).create(`${bucket}-raw`, { history: 1 });
  const revisions = new Map<string, number>();
  const raw: RawLease = {
    how: 'kv.create; kv.update(revision); kv.delete(previousSeq) — no expiry',
    acquire: async (k) => {
      const revision = await kv.create(k, 'x').catch(() => undefined);
      if (revision !== undefined) revisions.set(k, revision);
      return revision !== undefined;
    },
    renew: async (k) => {
      const revision = revisions.get(k);
      if (revision === undefined) return false;
      revisions.set(k, await kv.update(k, 'x', revision));
      return true;
    },
    release: async (k) => {
      const revision = revisions.get(k);
      if (revision === undefined) return false;
      await kv.delete(k, { previousSeq: revision });
      return revisions.delete(k);
    },
  };
  return {
    name: 'nats',
    store,
    counter,
    unit: 'NATS messages published',
    ttlMs: 30_000,
    raw,
    close: async () => {
      await store.close();
      await connection.close();
      prototype.publish = publish;
      await server.stop();
    },
  };
}
