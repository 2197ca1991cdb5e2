/**
 * Shared pieces of the benchmark: the figure record, statistics, request-counting
 * clients for every SDK, and small timing helpers. Nothing here asserts a timing.
 */
import { randomBytes } from 'node:crypto';
import {
  ContainerClient,
  newPipeline,
  StorageSharedKeyCredential,
  type HttpOperationResponse,
  type RequestPolicy,
  type WebResource,
} from '@azure/storage-blob';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { labelOf } from '../test/helpers/azure-clients.js';
import { DEV_ACCOUNT, DEV_KEY, type Azurite } from '../test/helpers/azurite.js';

/** One measured figure; the JSON output is an array of these. */
export interface Figure {
  /** Section and what was measured, e.g. `ops.acquire.p50`. */
  name: string;
  /** Store (or library) the figure is about. */
  store: string;
  value: number;
  unit: string;
  /** What the ratio compares against (`raw`, `redis-semaphore`, `post`, `goal`…). */
  ratioTo?: string;
  /** value / the other's value, computed in the same run. */
  ratio?: number;
  /** Free-text note shown in the table (goal met/missed, how it was measured). */
  note?: string;
}

/** Collects figures in order. */
export class Figures {
  readonly list: Figure[] = [];
  add(f: Figure): Figure {
    this.list.push(f);
    const r = f.ratio === undefined ? '' : `  ${f.ratio.toFixed(2)}× ${f.ratioTo}`;
    process.stderr.write(
      `  · ${f.store.padEnd(16)} ${f.name.padEnd(44)} ${fmt(f.value).padStart(10)} ${f.unit}${r}${f.note ? `  (${f.note})` : ''}\n`,
    );
    return f;
  }
}

/** A number for the table: up to 3 significant decimals. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  if (Math.abs(v) >= 100) return v.toFixed(1);
  if (Math.abs(v) >= 10) return v.toFixed(2);
  return v.toFixed(3);
}

/** The q-quantile (0..1) of samples, nearest-rank. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const s = [...samples].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i] as number;
}

/** Median of values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Monotonic ms. */
export const now = (): number => performance.now();

/** A short random id for isolated key prefixes and database names. */
export const rid = (): string => randomBytes(4).toString('hex');

/** Counts requests sent by a client. */
export class Counter {
  n = 0;
  readonly byLabel = new Map<string, number>();
  hit(label = 'request'): void {
    this.n++;
    this.byLabel.set(label, (this.byLabel.get(label) ?? 0) + 1);
  }
  reset(): void {
    this.n = 0;
    this.byLabel.clear();
  }
}

/** The machine's Redis, for latency and throughput figures. */
export const REDIS_URL = process.env.LEASEHOLD_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * An ioredis client whose every command is counted where it leaves the client
 * (`sendCommand`, which every command, script and pipeline entry goes through).
 */
export function countingRedis(counter: Counter, url = REDIS_URL): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
  const orig = client.sendCommand.bind(client) as (...a: unknown[]) => unknown;
  (client as unknown as { sendCommand: (...a: unknown[]) => unknown }).sendCommand = (...a: unknown[]) => {
    const cmd = a[0] as { name?: string } | undefined;
    counter.hit(cmd?.name ?? 'command');
    return orig(...a);
  };
  return client;
}

/** How many keys the machine's Redis database holds (placement's roster read scans them all: docs/stores/redis.md). */
export async function redisKeyCount(): Promise<number> {
  const c = new Redis(REDIS_URL);
  try {
    return await c.dbsize();
  } finally {
    c.disconnect();
  }
}

/** Deletes every key under `prefix` on the machine's Redis. */
export async function cleanRedis(prefix: string): Promise<void> {
  const c = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await c.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await c.del(...keys);
    } while (cursor !== '0');
  } finally {
    c.disconnect();
  }
}

/** A `pg` pool whose `query` calls are counted (each is one round trip for a single statement). */
export function countingPgPool(
  counter: Counter,
  url: string,
  max = 10,
): { pool: pg.Pool; queryable: { query: pg.Pool['query'] } } {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5000 });
  pool.on('error', () => {});
  const queryable = {
    // Passes pg's config objects through too (named statements).
    query: ((...args: unknown[]) => {
      counter.hit('query');
      return (pool.query as (...a: unknown[]) => unknown)(...args);
    }) as unknown as pg.Pool['query'],
  };
  return { pool, queryable };
}

/** A `mysql2/promise` pool (multiple statements on) whose `query`/`execute` calls are counted. */
export function countingMysqlPool(
  counter: Counter,
  url: string,
  max = 10,
  extra: { flags?: string[] } = {},
): { pool: mysql.Pool; queryable: { query(sql: string, values?: unknown[]): Promise<[unknown, unknown]> } } {
  const pool = mysql.createPool({
    uri: url,
    connectionLimit: max,
    connectTimeout: 5000,
    multipleStatements: true,
    ...extra,
  });
  const queryable = {
    query: (sql: string, values?: unknown[]) => {
      counter.hit('query');
      return pool.query(sql, values) as unknown as Promise<[unknown, unknown]>;
    },
  };
  return { pool, queryable };
}

/** A container client on Azurite whose every HTTP request is counted by a pipeline policy (one try per request). */
export function countingContainer(counter: Counter, az: Azurite, container: string): ContainerClient {
  const pipeline = newPipeline(new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY), {
    retryOptions: { maxTries: 1, tryTimeoutInMs: 10_000 },
  });
  pipeline.factories.push({
    create: (next: RequestPolicy): RequestPolicy => ({
      sendRequest(req: WebResource): Promise<HttpOperationResponse> {
        counter.hit(labelOf(req));
        return next.sendRequest(req);
      },
    }),
  });
  return new ContainerClient(`${az.blobEndpoint}/${container}`, pipeline);
}

/** Runs `fn` `n` times in sequence, returning each call's duration in ms. */
export async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await fn(i);
    out.push(now() - t0);
  }
  return out;
}

/** Machine load, for the record. */
export async function loadAverage(): Promise<string> {
  const { loadavg } = await import('node:os');
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}
