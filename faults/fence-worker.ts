/**
 * A worker of the fencing-helpers fault run (faults/fence.ts):
 * `node --import tsx faults/fence-worker.ts '<json FenceWorkerConfig>'`, with an IPC channel.
 *
 * Loops: takes the lease on one key (a real Leasehold lease on Redis, renewed), and while
 * it holds it writes its token to one resource through one fencing helper a few times,
 * each write after a short "preparation" (the gap between checking the lease and the
 * write going out, where a pause lands). Tells the parent when it holds the lease (so
 * faults can aim at the holder) and logs every write's verdict, one JSON line each, to
 * `<dir>/fence-<id>.jsonl`. SIGTERM stops it.
 * @module
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobServiceClient } from '@azure/storage-blob';
import { Redis } from 'ioredis';
import mysql2 from 'mysql2/promise';
import pg from 'pg';
import { type FenceBlobClient, type FenceVerdict, fenceHeaders, tryFence, tryFencedSet } from '../src/fence/index.js';
import { tryFencedUpload } from '../src/fence/index.js';
import { Leasehold } from '../src/leasehold.js';
import { openStore } from '../src/open.js';

/** The resources a fence run writes to, one helper each. */
export type FenceResource = 'postgres' | 'mysql' | 'redis' | 'azure-blob' | 'http';

/** What the parent passes to a worker. */
export interface FenceWorkerConfig {
  resource: FenceResource;
  /** The lease store (`redis://…`, through this worker's proxy). */
  leaseUrl: string;
  /** The resource: a database URL, a Redis URL, an Azurite connection string or an HTTP URL (through a proxy). */
  resourceUrl: string;
  /** The lease key and the fenced resource's name. */
  key: string;
  id: string;
  ttlMs: number;
  /** Writes per lease, drawn uniformly. */
  writes: [number, number];
  /** The preparation before each write, ms. */
  prepareMs: [number, number];
  dir: string;
  /** The control: write without the fence (Redis only: a plain SET), so stale writes land. */
  control: boolean;
}

/** What a worker tells its parent. */
export type FenceWorkerMessage = { ev: 'ready' } | { ev: 'holding'; token: number } | { ev: 'released' };

/** One write as a worker logs it. */
export interface WriteLine {
  ev: 'write';
  w: string;
  token: number;
  /** When the write was sent and answered (ms since the epoch). */
  sent: number;
  done: number;
  accepted: boolean;
  highest: number;
}

/** One Azure upload attempt inside a fenced write (the fork check reads these). */
export interface UploadLine {
  ev: 'upload';
  w: string;
  token: number;
  /** The ETag the upload was conditional on (absent: `If-None-Match: *`). */
  ifMatch?: string;
  /** 201, 409, 412, or 0 when it threw otherwise. */
  status: number;
  /** The new ETag when it was written. */
  etag?: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as FenceWorkerConfig;
const file = join(config.dir, `fence-${config.id}.jsonl`);
const log = (event: object) => appendFileSync(file, `${JSON.stringify({ w: config.id, ...event })}\n`);
const tell = (message: FenceWorkerMessage) => process.send?.(message);
const between = ([low, high]: [number, number]) => low + Math.random() * (high - low);

/** A fenced write of `token` to the resource: the helper's verdict. */
type Write = (token: number) => Promise<FenceVerdict>;

async function sqlWriter(): Promise<{ write: Write; close(): Promise<void> }> {
  const table = 'fence_ledger';
  if (config.resource === 'postgres') {
    const pool = new pg.Pool({ connectionString: config.resourceUrl, max: 2 });
    pool.on('error', () => {});
    const write: Write = async (token) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const verdict = await tryFence(client, config.key, token);
        if (verdict.accepted)
          await client.query(`INSERT INTO ${table} (token, worker) VALUES ($1, $2)`, [token, config.id]);
        await client.query(verdict.accepted ? 'COMMIT' : 'ROLLBACK');
        client.release();
        return verdict;
      } catch (err) {
        client.release(err as Error);
        throw err;
      }
    };
    return { write, close: () => pool.end() };
  }
  const pool = mysql2.createPool({ uri: config.resourceUrl, connectionLimit: 2 });
  const write: Write = async (token) => {
    const connection = await pool.getConnection();
    try {
      await connection.beginTransaction();
      const verdict = await tryFence(connection, config.key, token);
      if (verdict.accepted)
        await connection.query(`INSERT INTO ${table} (token, worker) VALUES (?, ?)`, [token, config.id]);
      await (verdict.accepted ? connection.commit() : connection.rollback());
      connection.release();
      return verdict;
    } catch (err) {
      connection.destroy();
      throw err;
    }
  };
  return { write, close: () => pool.end() };
}

/** Wraps the blob client so each upload's condition and outcome is logged (the real requests go through). */
function recorded(blob: FenceBlobClient, token: () => number): FenceBlobClient {
  return {
    name: blob.name,
    getProperties: (options) => blob.getProperties(options),
    upload: async (body, length, options) => {
      const ifMatch = options?.conditions?.ifMatch;
      const base = { ev: 'upload', token: token(), ...(ifMatch === undefined ? {} : { ifMatch }) };
      try {
        const written = await blob.upload(body, length, options);
        log({ ...base, status: 201, etag: written.etag });
        return written;
      } catch (err) {
        log({ ...base, status: Number((err as { statusCode?: number }).statusCode ?? 0) });
        throw err;
      }
    },
  };
}

async function writer(): Promise<{ write: Write; close(): Promise<void> }> {
  switch (config.resource) {
    case 'postgres':
    case 'mysql':
      return sqlWriter();
    case 'redis': {
      const redis = new Redis(config.resourceUrl, { maxRetriesPerRequest: null });
      redis.on('error', () => {});
      const write: Write = config.control
        ? async (token) => {
            await redis.set(config.key, String(token));
            return { accepted: true, highest: token };
          }
        : (token) => tryFencedSet(redis, config.key, String(token), token);
      return { write, close: async () => void redis.disconnect() };
    }
    case 'azure-blob': {
      const container = BlobServiceClient.fromConnectionString(config.resourceUrl).getContainerClient('fence');
      let current = 0;
      const blob = recorded(container.getBlockBlobClient(config.key), () => current);
      const write: Write = (token) => {
        current = token;
        return tryFencedUpload(blob, String(token), token);
      };
      return { write, close: async () => {} };
    }
    case 'http': {
      const write: Write = async (token) => {
        const reply = await fetch(config.resourceUrl, { method: 'PUT', headers: fenceHeaders(config.key, token) });
        const body = (await reply.json()) as { highest?: number };
        if (reply.status === 200) return { accepted: true, highest: token };
        if (reply.status === 409 && typeof body.highest === 'number') return { accepted: false, highest: body.highest };
        throw new Error(`HTTP ${reply.status}: ${JSON.stringify(body)}`);
      };
      return { write, close: async () => {} };
    }
  }
}

const store = await openStore(config.leaseUrl);
const lh = new Leasehold({ store, holder: `${config.id}:${process.pid}`, placement: false });
const resource = await writer();
let stopping = false;

/** One lease: a few writes with its token, each after its preparation. */
async function holdAndWrite(): Promise<void> {
  await lh.withLease(
    config.key,
    async (lease) => {
      tell({ ev: 'holding', token: lease.token });
      const writes = Math.round(between(config.writes));
      for (let i = 0; i < writes && !lease.signal.aborted && !stopping; i++) {
        // Checked, then prepared, then sent: a pause or a partition in between sends a stale write.
        await sleep(between(config.prepareMs));
        const sent = Date.now();
        try {
          const verdict = await resource.write(lease.token);
          const line: WriteLine = { ev: 'write', w: config.id, token: lease.token, sent, done: Date.now(), ...verdict };
          log(line);
        } catch (err) {
          log({ ev: 'write-error', token: lease.token, sent, msg: String(err).slice(0, 200) });
        }
      }
      tell({ ev: 'released' });
    },
    { ttl: `${config.ttlMs}ms`, wait: '30s' },
  );
}

process.once('SIGTERM', () => {
  stopping = true;
});
process.on('disconnect', () => {
  stopping = true;
});
tell({ ev: 'ready' });
while (!stopping) {
  try {
    await holdAndWrite();
  } catch (err) {
    log({ ev: 'lease-error', msg: String(err).slice(0, 200) });
    await sleep(20);
  }
}
await lh.stop({ grace: '1s' }).catch(() => {});
await resource.close().catch(() => {});
await store.close().catch(() => {});
process.exit(0);
