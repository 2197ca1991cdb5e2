/**
 * A worker of the transactional-runs fault run (faults/transactions.ts):
 * `node --import tsx faults/transactions-worker.ts '<json TxWorkerConfig>'`, started with
 * an IPC channel.
 *
 * Runs one Leasehold on the PostgreSQL or MySQL store at `url` with a job per key. Each
 * run writes one row for its slot inside `ctx.transaction`, tells the parent `written`
 * (so the parent can kill it between the write and the commit), waits a little, and
 * returns; the commit follows. After the commit it tells the parent `committed` and
 * waits a little before the release (another place to be killed). Events also go, one
 * JSON line each, to `<dir>/tx-<id>.jsonl` (diagnostics only; the checker reads the table).
 * SIGTERM stops cleanly.
 * @module
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql2 from 'mysql2/promise';
import pg from 'pg';
import { Leasehold } from '../src/leasehold.js';
import type { LeaseStore } from '../src/store.js';
import { MysqlStore } from '../src/stores/mysql/index.js';
import { PostgresStore } from '../src/stores/postgres/index.js';

/** What the parent passes to a worker. */
export interface TxWorkerConfig {
  /** `postgres://…` or `mysql://…` of the database holding both the leases and the rows. */
  url: string;
  /** This worker's id (a respawned worker gets a new one). */
  id: string;
  /** Job keys; every worker schedules every key. */
  keys: string[];
  /** Job period, e.g. `'500ms'`. */
  interval: string;
  /** Lease TTL, e.g. `'1500ms'`. */
  ttl: string;
  /** Catch-up window, e.g. `'10s'`. */
  catchUp: string;
  /** The table the runs write their rows to. */
  table: string;
  /** After its write, a run waits a random time in this range (ms) before returning to the commit. */
  beforeCommitMs: [number, number];
  /** Folder of the event files. */
  dir: string;
  /**
   * Placement's liveness TTL (a dead host's jobs move after it), or false: every worker
   * tries every slot. Placement's default TTL (15 s) is longer than this run's catch-up window.
   */
  placement: string | false;
  /**
   * `transaction`: the row is written in `ctx.transaction`. `outside`: the control — the
   * row is written on a pool of its own before the run ends (at-least-once, as without
   * T1), so a kill between the write and the end record leaves a row the re-run repeats.
   */
  mode: 'transaction' | 'outside';
}

/** What a worker tells its parent. */
export type TxWorkerMessage =
  | { ev: 'ready' }
  | { ev: 'written' | 'committed'; key: string; slot: string; token: number };

const config = JSON.parse(process.argv[2] ?? '{}') as TxWorkerConfig;
const file = join(config.dir, `tx-${config.id}.jsonl`);
const log = (event: object) =>
  appendFileSync(file, `${JSON.stringify({ t: Date.now(), w: config.id, pid: process.pid, ...event })}\n`);
const tell = (message: TxWorkerMessage) => process.send?.(message);
const between = ([low, high]: [number, number]) => low + Math.random() * (high - low);

const mysql = config.url.startsWith('mysql:') || config.url.startsWith('mariadb:');
// Room for several transactions at once besides renewals and heartbeats, within the
// server's connection limit (PostgreSQL's default 100) for a fleet of workers.
const maxConnections = Math.min(config.keys.length + 6, 12);
const store: LeaseStore = mysql
  ? new MysqlStore({ url: config.url, maxConnections })
  : new PostgresStore({ url: config.url, maxConnections });
const insert = `INSERT INTO ${config.table} (job, slot, token, worker) VALUES (${mysql ? '?, ?, ?, ?' : '$1, $2, $3, $4'})`;

/** The control's own pool (mode `outside`). */
type Queryable = { query(text: string, values: unknown[]): Promise<unknown> };
const outside: (Queryable & { end(): Promise<void> }) | undefined =
  config.mode !== 'outside'
    ? undefined
    : mysql
      ? mysql2.createPool({ uri: config.url, connectionLimit: 4 })
      : new pg.Pool({ connectionString: config.url, max: 4 });

/** The run's write, then the window in which the parent may kill this worker. */
async function write(client: unknown, key: string, slot: string, token: number): Promise<void> {
  await (client as Queryable).query(insert, [key, slot, token, config.id]);
  tell({ ev: 'written', key, slot, token });
  await sleep(between(config.beforeCommitMs));
}

const lh = new Leasehold({
  store,
  holder: `${config.id}:${process.pid}`,
  placement: config.placement === false ? false : { ttl: config.placement },
});
for (const key of config.keys) {
  lh.every(
    config.interval,
    key,
    async (ctx) => {
      const slot = ctx.slot.toISOString();
      const { token } = ctx;
      if (!ctx.transaction) throw new Error('ctx.transaction missing on a SQL store');
      log({ ev: 'invoke', key, slot, token, attempt: ctx.attempt });
      if (outside) await write(outside, key, slot, token);
      else await ctx.transaction((client) => write(client, key, slot, token));
      log({ ev: 'committed', key, slot, token });
      tell({ ev: 'committed', key, slot, token });
      await sleep(between([5, 40]));
    },
    // buffer-one: a slot that comes while a catch-up run is still going runs after it (skip would drop it, S5).
    { ttl: config.ttl, catchUp: config.catchUp, overlap: 'buffer-one' },
  );
}
lh.on('run:error', (e) =>
  log({
    ev: 'run-error',
    key: e.key,
    slot: e.slot.toISOString(),
    token: e.token,
    outcome: e.outcome,
    msg: e.error instanceof Error ? e.error.message.slice(0, 200) : String(e.error),
  }),
);
lh.on('slot:skipped', (e) => log({ ev: 'skip', key: e.key, slot: e.slot.toISOString(), reason: e.reason }));
lh.on('placement:changed', (e) =>
  log({
    ev: 'placement',
    hosts: e.hosts,
    joined: e.joined,
    left: e.left.map((l) => `${l.holder}:${l.reason}`),
    owned: e.owned,
    gained: e.gained.map((k) => k.slice(-4)),
    lost: e.lost.map((k) => k.slice(-4)),
  }),
);
lh.on('error', (e) => log({ ev: 'error', key: e.key, during: e.during, msg: String(e.error).slice(0, 200) }));
lh.on('lease:lost', (e) => log({ ev: 'lost', key: e.key, slot: e.slot.toISOString(), token: e.token }));

let stopping = false;
process.once('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    await lh.stop({ grace: '2s' }).catch(() => {});
    await store.close().catch(() => {});
    await outside?.end().catch(() => {});
    log({ ev: 'stopped' });
    process.exit(0);
  })();
});
// The parent gone (killed): leave too, rather than run on unwatched.
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));

await lh.start();
log({ ev: 'ready' });
tell({ ev: 'ready' });
