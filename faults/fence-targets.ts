/**
 * The resources of the fencing fault run (faults/fence.ts), each with the record of what
 * it applied, in its own order: a ledger table written in the fenced transaction
 * (PostgreSQL, MariaDB), Redis's MONITOR stream, the HTTP server's log, or a poller that
 * reads the Azurite blob's body and token metadata in one request. Every target also
 * starts the private Redis that holds the workers' leases.
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlobServiceClient } from '@azure/storage-blob';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { ensureFenceTable, httpFence, MemoryFence, TOKEN_METADATA } from '../src/fence/index.js';
import { DEV_ACCOUNT, DEV_KEY, startAzurite } from '../test/helpers/azurite.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { createMysqlDatabase, createPostgresDatabase } from '../test/helpers/sql-databases.js';
import type { FenceResource } from './fence-worker.js';

/** A running resource (and the lease store). */
export interface FenceTarget {
  /** The Redis server of the leases. */
  readonly leasePort: number;
  /** The resource's server (the workers reach it through proxies). */
  readonly resourcePort: number;
  /** How a worker reaches the resource through a proxy on `port`. */
  resourceUrl(port: number): string;
  /** The tokens the resource applied, in the order it applied them. */
  applied(): Promise<number[]>;
  /** What the record itself shows wrong (an Azure read whose body and token differ). */
  anomalies(): string[];
  stop(): Promise<void>;
}

/** Where a resource lives and how its record is read; the lease Redis is added around it. */
type Resource = Omit<FenceTarget, 'leasePort'>;

/** Starts the lease store and the resource `resource`, fenced under `key`. */
export async function startTarget(resource: FenceResource, key: string): Promise<FenceTarget> {
  const leases = await startRedisServer();
  try {
    const inner = await RESOURCES[resource](key, leases.port);
    return {
      ...inner,
      leasePort: leases.port,
      resourceUrl: (port) => inner.resourceUrl(port),
      applied: () => inner.applied(),
      anomalies: () => inner.anomalies(),
      stop: async () => {
        await inner.stop();
        await leases.stop();
      },
    };
  } catch (err) {
    await leases.stop();
    throw err;
  }
}

const LEDGER = {
  postgres: 'CREATE TABLE fence_ledger (id bigserial PRIMARY KEY, token bigint NOT NULL, worker text NOT NULL)',
  mysql:
    'CREATE TABLE fence_ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, token BIGINT NOT NULL, ' +
    'worker VARCHAR(64) NOT NULL) ENGINE=InnoDB',
};

/** A URL with its port replaced. */
const viaPort = (url: string, port: number) => {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
};

async function postgres(): Promise<Resource> {
  const db = await createPostgresDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await ensureFenceTable(pool);
  await pool.query(LEDGER.postgres);
  return {
    resourcePort: Number(new URL(db.url).port || 5432),
    resourceUrl: (port) => viaPort(db.url, port),
    applied: async () =>
      (await pool.query('SELECT token FROM fence_ledger ORDER BY id')).rows.map((r) => Number(r.token)),
    anomalies: () => [],
    stop: async () => {
      await pool.end();
      await db.drop();
    },
  };
}

async function mariadb(): Promise<Resource> {
  const db = await createMysqlDatabase();
  const pool = mysql.createPool({ uri: db.url, connectionLimit: 2 });
  await ensureFenceTable(pool);
  await pool.query(LEDGER.mysql);
  return {
    resourcePort: Number(new URL(db.url).port || 3306),
    resourceUrl: (port) => viaPort(db.url, port),
    applied: async () => {
      const [rows] = await pool.query('SELECT token FROM fence_ledger ORDER BY id');
      return (rows as { token: number }[]).map((r) => Number(r.token));
    },
    anomalies: () => [],
    stop: async () => {
      await pool.end();
      await db.drop();
    },
  };
}

/** The value key on the lease Redis; MONITOR sees every SET the fenced script makes, in order. */
async function redis(key: string, port: number): Promise<Resource> {
  const seen: number[] = [];
  const client = new Redis(port, '127.0.0.1');
  const monitor = await client.monitor();
  for (const connection of [client, monitor]) connection.on('error', () => {});
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (String(args[0]).toUpperCase() === 'SET' && args[1] === key) seen.push(Number(args[2]));
  });
  return {
    resourcePort: port,
    resourceUrl: (via) => `redis://127.0.0.1:${via}`,
    applied: async () => seen,
    anomalies: () => [],
    stop: async () => {
      monitor.disconnect();
      client.disconnect();
    },
  };
}

async function azureBlob(key: string): Promise<Resource> {
  const azurite = await startAzurite();
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('fence');
  await container.create();
  const blob = container.getBlockBlobClient(key);
  const seen: number[] = [];
  const torn: string[] = [];
  let polling = true;
  // One Get Blob per read: body and metadata of one version (downloadToBuffer would be two requests).
  const read = async () => {
    const reply = await blob.download().catch(() => undefined);
    if (!reply?.readableStreamBody) return;
    const chunks: Buffer[] = [];
    for await (const chunk of reply.readableStreamBody) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    if (body !== reply.metadata?.[TOKEN_METADATA])
      torn.push(`read "${body}" with token ${reply.metadata?.[TOKEN_METADATA]}`);
    seen.push(Number(body));
  };
  const poller = (async () => {
    while (polling) await read();
  })();
  return {
    resourcePort: azurite.port,
    resourceUrl: (port) =>
      `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};` +
      `BlobEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};`,
    applied: async () => {
      polling = false;
      await poller;
      await read();
      return seen;
    },
    anomalies: () => torn,
    stop: async () => {
      polling = false;
      await poller;
      await azurite.stop();
    },
  };
}

/** A node:http server behind `httpFence` (a MemoryFence): it applies a PUT by logging its token. */
async function http(): Promise<Resource> {
  const applied: number[] = [];
  const fenced = httpFence({ store: new MemoryFence() });
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    if (!(await fenced(req, res))) return;
    applied.push(Number(req.headers['leasehold-token']));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    resourcePort: (server.address() as AddressInfo).port,
    resourceUrl: (port) => `http://127.0.0.1:${port}/resource`,
    applied: async () => applied,
    anomalies: () => [],
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const RESOURCES: Record<FenceResource, (key: string, leasePort: number) => Promise<Resource>> = {
  postgres: () => postgres(),
  mysql: () => mariadb(),
  redis: (key, port) => redis(key, port),
  'azure-blob': (key) => azureBlob(key),
  http: () => http(),
};
