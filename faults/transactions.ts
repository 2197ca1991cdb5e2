/**
 * Transactional runs under kill -9 (issue 16, T1):
 *
 * ```sh
 * npm run faults:transactions -- --engine <postgres|mysql> --duration 150s \
 *   [--workers 4] [--keys 16] [--period 1s] [--faults kill,pause] [--placement on|off] [--seed 1] \
 *   [--url URL] [--json out.json] [--control] [--keep]
 * ```
 *
 * Worker processes (faults/transactions-worker.ts) run a job per key on the SQL store;
 * each run writes one row for its slot inside `ctx.transaction`. The parent kills
 * workers with SIGKILL — right after a run's write and before its commit, right after a
 * commit and before the release, and at random instants — and pauses some (SIGSTOP past
 * the TTL, mid-transaction), respawning the killed. After a quiet tail it stops the
 * fleet and reads the table: every slot of the fault phase must have exactly one row, or
 * none and a worker's record that the schedule's policy dropped it (an overlap, S5, or
 * outside the catch-up window, S4): 0 missing, 0 duplicate; and the transactions killed
 * or paused between write and commit must have left nothing. Without `--url` a fresh database is made on the local
 * server (`LEASEHOLD_PG_URL`, `LEASEHOLD_MYSQL_URL`) and dropped. See docs/reliability.md
 * ("Transactional runs").
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { parseDuration } from '../src/duration.js';
import { createMysqlDatabase, createPostgresDatabase } from '../test/helpers/sql-databases.js';
import type { TxWorkerConfig, TxWorkerMessage } from './transactions-worker.js';
import { prng } from './prng.js';

/** The faults the run can inject. */
export type TxFault = 'kill' | 'pause';

/** Options of {@link runTransactionFaults}. */
export interface TxRunOptions {
  engine: 'postgres' | 'mysql';
  /** A database to use; without it a fresh one is created on the local server and dropped. */
  url?: string;
  /** Length of the fault phase, ms. */
  durationMs: number;
  /** Worker processes. @defaultValue 4 */
  workers?: number;
  /** Jobs (each every worker schedules). @defaultValue 16 */
  keys?: number;
  /**
   * Job period, ms. Longer than a takeover's backlog of catch-up runs takes, so no slot
   * comes while a catch-up run is going (S5 would count it an overlap). @defaultValue 1000
   */
  periodMs?: number;
  /** Lease TTL, ms. @defaultValue 1500 */
  ttlMs?: number;
  /** Catch-up window, ms: spans many failovers, so a slot whose run died is re-run. @defaultValue 10000 */
  catchUpMs?: number;
  /** @defaultValue ['kill', 'pause'] */
  faults?: TxFault[];
  /** Pause between two faults, ms, drawn uniformly. @defaultValue [1500, 4000] */
  gapMs?: [number, number];
  /**
   * Placement on, with a liveness TTL of two thirds of the job TTL (so a dead host's jobs
   * move within the job's own takeover time), or off. @defaultValue true
   */
  placement?: boolean;
  /**
   * The control (`outside`): rows written outside the transaction, kills only between a
   * write and the run's end. Its duplicates show what the run would catch. @defaultValue false
   */
  control?: boolean;
  /** Keep the workers' event files after a passing run (a failing run always keeps them). @defaultValue false */
  keep?: boolean;
  /** Seed of the fault schedule. @defaultValue random */
  seed?: number;
  /** Progress lines. @defaultValue none */
  log?: (line: string) => void;
}

/** Where a kill landed. */
type KillPoint = 'written' | 'committed' | 'random';

/** What {@link runTransactionFaults} found. */
export interface TxRunResult {
  engine: string;
  seed: number;
  durationMs: number;
  /** Slots of the fault phase, over all jobs: each must have exactly one row (or a policy skip). */
  expectedSlots: number;
  /** Rows in the table, every slot included. */
  rows: number;
  /**
   * Slots of the fault phase without a row (`job@slot`) and without a recorded decision
   * not to run them: lost.
   */
  missing: string[];
  /**
   * Slots of the fault phase without a row that a worker recorded as not to be run by the
   * schedule's policy (`overlap`, S5; `outside-catch-up`, S4): accounted for, not lost.
   */
  skippedByPolicy: string[];
  /** Slots (any) with more than one row. */
  duplicates: { job: string; slot: string; rows: number }[];
  kills: Record<KillPoint, number>;
  /** Kills and pauses between a write and its commit whose row is absent: they landed before the commit. */
  beforeCommit: { killed: number; paused: number };
  pauses: number;
  /** Skipped slots of the fault phase, by reason (from the workers' event files). */
  skipped: Record<string, number>;
  /** The 1-minute load average at the start and at the end. */
  load: [number, number];
  /** The workers' event files (removed after a passing run unless `keep`). */
  dir: string;
  /** True when 0 missing and 0 duplicate. */
  pass: boolean;
}

const here = dirname(fileURLToPath(import.meta.url));
const TABLE = 'tx_rows';

/** A plain connection to the database, for the table and the check. */
interface Db {
  exec(text: string): Promise<void>;
  rows(text: string): Promise<Record<string, unknown>[]>;
  end(): Promise<void>;
}

async function connect(engine: TxRunOptions['engine'], url: string): Promise<Db> {
  if (engine === 'postgres') {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    return {
      exec: async (text) => void (await pool.query(text)),
      rows: async (text) => (await pool.query(text)).rows,
      end: () => pool.end(),
    };
  }
  const pool = mysql.createPool({ uri: url, connectionLimit: 2 });
  return {
    exec: async (text) => void (await pool.query(text)),
    rows: async (text) => (await pool.query(text))[0] as Record<string, unknown>[],
    end: () => pool.end(),
  };
}

const DDL = {
  postgres: `CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, job text NOT NULL, slot text NOT NULL,
    token bigint NOT NULL, worker text NOT NULL)`,
  // No unique key on (job, slot): a second row must be countable, not refused.
  mysql: `CREATE TABLE ${TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, job VARCHAR(200) NOT NULL,
    slot VARCHAR(40) NOT NULL, token BIGINT NOT NULL, worker VARCHAR(100) NOT NULL) ENGINE=InnoDB`,
};

/** One worker process. */
interface Worker {
  id: string;
  proc: ChildProcess;
  ready: boolean;
  paused: boolean;
  exited: Promise<void>;
}

/** A fault waiting for the next run of some worker to reach a point. */
interface Armed {
  point: 'written' | 'committed';
  fault: TxFault;
}

/**
 * Runs the fleet with faults for `durationMs`, then a quiet tail, and checks the table.
 * Never throws for a failed check: see `pass`.
 */
export async function runTransactionFaults(options: TxRunOptions): Promise<TxRunResult> {
  const run = new TxRun(options);
  return run.execute();
}

/** One run's state: workers, armed faults, counts. */
class TxRun {
  readonly #o: Required<Omit<TxRunOptions, 'url' | 'log' | 'seed'>> & { url: string | undefined };
  readonly #log: (line: string) => void;
  readonly #seed: number;
  readonly #rand: () => number;
  readonly #dir = mkdtempSync(join(tmpdir(), 'leasehold-tx-faults-'));
  readonly #workers = new Map<string, Worker>();
  readonly #kills: Record<KillPoint, number> = { written: 0, committed: 0, random: 0 };
  /** Runs killed or paused between their write and their commit: `job|slot|token`. */
  readonly #inWindow = { killed: new Set<string>(), paused: new Set<string>() };
  #pauses = 0;
  #armed: Armed | undefined;
  #nextId = 1;
  #faulting = true;
  #stopping = false;
  #keys: string[] = [];
  #url = '';

  constructor(options: TxRunOptions) {
    this.#o = {
      engine: options.engine,
      url: options.url,
      durationMs: options.durationMs,
      workers: options.workers ?? 4,
      keys: options.keys ?? 16,
      periodMs: options.periodMs ?? 1000,
      ttlMs: options.ttlMs ?? 1500,
      catchUpMs: options.catchUpMs ?? 10_000,
      faults: options.faults ?? ['kill', 'pause'],
      gapMs: options.gapMs ?? [1500, 4000],
      placement: options.placement ?? true,
      control: options.control ?? false,
      keep: options.keep ?? false,
    };
    this.#log = options.log ?? (() => {});
    this.#seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.#rand = prng(this.#seed);
  }

  async execute(): Promise<TxRunResult> {
    const loadStart = loadavg()[0] ?? 0;
    const fresh = this.#o.url
      ? undefined
      : await (this.#o.engine === 'postgres' ? createPostgresDatabase() : createMysqlDatabase());
    this.#url = this.#o.url ?? (fresh?.url as string);
    const db = await connect(this.#o.engine, this.#url);
    try {
      await db.exec(DDL[this.#o.engine]);
      const runId = Date.now().toString(36);
      this.#keys = Array.from({ length: this.#o.keys }, (_, i) => `tx-${runId}-job${i + 1}`);
      await Promise.all(Array.from({ length: this.#o.workers }, () => this.#spawn()));
      await this.#allReady(60_000);
      const firstSlot = this.#slotAfter(Date.now() + this.#o.periodMs);
      this.#log(`${this.#o.engine}: ${this.#o.workers} workers ready; faults for ${this.#o.durationMs} ms`);
      await this.#faultPhase(Date.now() + this.#o.durationMs);
      const lastSlot = this.#slotAfter(Date.now()) - this.#o.periodMs;
      const expected = this.#expected(firstSlot, lastSlot);
      await this.#tail(db, expected);
      await this.#stopAll();
      const result = await this.#check(db, expected, loadStart);
      if (result.pass && !this.#o.keep) rmSync(this.#dir, { recursive: true, force: true });
      return result;
    } finally {
      await this.#stopAll();
      await db.end();
      await fresh?.drop();
    }
  }

  /** The first slot instant at or after `t`. */
  #slotAfter(t: number): number {
    return Math.ceil(t / this.#o.periodMs) * this.#o.periodMs;
  }

  #expected(first: number, last: number): Set<string> {
    const out = new Set<string>();
    for (const key of this.#keys) {
      for (let s = first; s <= last; s += this.#o.periodMs) out.add(`${key}|${new Date(s).toISOString()}`);
    }
    return out;
  }

  async #spawn(): Promise<void> {
    const id = `w${this.#nextId++}`;
    const config: TxWorkerConfig = {
      url: this.#url,
      id,
      keys: this.#keys,
      interval: `${this.#o.periodMs}ms`,
      ttl: `${this.#o.ttlMs}ms`,
      catchUp: `${this.#o.catchUpMs}ms`,
      table: TABLE,
      beforeCommitMs: [30, 120],
      dir: this.#dir,
      placement: this.#o.placement ? `${Math.round((this.#o.ttlMs * 2) / 3)}ms` : false,
      mode: this.#o.control ? 'outside' : 'transaction',
    };
    const errors = openSync(join(this.#dir, `stderr-${id}.txt`), 'a');
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(here, 'transactions-worker.ts'), JSON.stringify(config)],
      { stdio: ['ignore', 'ignore', errors, 'ipc'] },
    );
    closeSync(errors);
    const worker: Worker = {
      id,
      proc,
      ready: false,
      paused: false,
      exited: new Promise((resolve) => proc.once('exit', () => resolve())),
    };
    this.#workers.set(id, worker);
    proc.on('message', (message: TxWorkerMessage) => this.#onMessage(worker, message));
    void worker.exited.then(() => this.#onExit(worker));
  }

  #onMessage(worker: Worker, message: TxWorkerMessage): void {
    if (message.ev === 'ready') {
      worker.ready = true;
      return;
    }
    const armed = this.#armed;
    if (!armed || armed.point !== message.ev || worker.paused || !this.#faulting) return;
    this.#armed = undefined;
    const run = `${message.key}|${message.slot}|${message.token}`;
    if (armed.fault === 'kill') {
      this.#kill(worker, armed.point);
      if (armed.point === 'written') this.#inWindow.killed.add(run);
    } else {
      this.#inWindow.paused.add(run);
      void this.#pause(worker);
    }
  }

  #onExit(worker: Worker): void {
    this.#workers.delete(worker.id);
    if (this.#stopping) return;
    // A killed worker comes back, as a supervisor would restart it.
    const delay = 300 + this.#rand() * 900;
    setTimeout(() => {
      if (!this.#stopping) void this.#spawn();
    }, delay);
  }

  #kill(worker: Worker, point: KillPoint): void {
    this.#kills[point]++;
    worker.proc.kill('SIGKILL');
  }

  /** SIGSTOP past the TTL (1.5–2.5 TTLs): its lease expires and another worker takes over. */
  async #pause(worker: Worker): Promise<void> {
    this.#pauses++;
    worker.paused = true;
    worker.proc.kill('SIGSTOP');
    await sleep(this.#o.ttlMs * (1.5 + this.#rand()));
    worker.proc.kill('SIGCONT');
    worker.paused = false;
  }

  /** Faults one at a time, a random gap apart, until `until`. */
  async #faultPhase(until: number): Promise<void> {
    const [low, high] = this.#o.gapMs;
    while (Date.now() < until) {
      await sleep(low + this.#rand() * (high - low));
      if (Date.now() >= until) break;
      this.#armed = undefined;
      const fault = this.#o.faults[Math.floor(this.#rand() * this.#o.faults.length)];
      if (fault === undefined) continue;
      const draw = this.#rand();
      if (fault === 'pause' || this.#o.control) this.#armed = { point: 'written', fault };
      else if (draw < 0.45) this.#armed = { point: 'written', fault };
      else if (draw < 0.65) this.#armed = { point: 'committed', fault };
      else {
        const live = [...this.#workers.values()].filter((w) => w.ready && !w.paused);
        const victim = live[Math.floor(this.#rand() * live.length)];
        if (victim) this.#kill(victim, 'random');
      }
    }
    this.#faulting = false;
    this.#armed = undefined;
  }

  async #allReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ([...this.#workers.values()].some((w) => !w.ready)) {
      if (Date.now() > deadline) throw new Error('workers did not start');
      await sleep(100);
    }
  }

  /** No faults: waits until every expected slot has a row, or a catch-up window and more passed. */
  async #tail(db: Db, expected: Set<string>): Promise<void> {
    const deadline = Date.now() + this.#o.catchUpMs + this.#o.ttlMs + 10_000;
    while (Date.now() < deadline) {
      await sleep(500);
      const done = await this.#counts(db);
      if ([...expected].every((slot) => (done.get(slot) ?? 0) > 0)) return;
    }
  }

  async #stopAll(): Promise<void> {
    this.#stopping = true;
    const workers = [...this.#workers.values()];
    for (const worker of workers) {
      if (worker.paused) worker.proc.kill('SIGCONT');
      worker.proc.kill('SIGTERM');
    }
    const killer = setTimeout(() => {
      for (const worker of workers) worker.proc.kill('SIGKILL');
    }, 15_000);
    await Promise.all(workers.map((w) => w.exited));
    clearTimeout(killer);
  }

  /** Rows per `job|slot`. */
  async #counts(db: Db): Promise<Map<string, number>> {
    const rows = await db.rows(`SELECT job, slot, count(*) AS n FROM ${TABLE} GROUP BY job, slot`);
    return new Map(rows.map((r) => [`${String(r.job)}|${String(r.slot)}`, Number(r.n)]));
  }

  async #check(db: Db, expected: Set<string>, loadStart: number): Promise<TxRunResult> {
    const counts = await this.#counts(db);
    const runs = new Set(
      (await db.rows(`SELECT job, slot, token FROM ${TABLE}`)).map((r) => `${r.job}|${r.slot}|${Number(r.token)}`),
    );
    const skips = this.#skipEvents();
    const policy = policySkips(skips);
    const noRow = [...expected].filter((slot) => !counts.has(slot));
    const missing = noRow.filter((slot) => !policy.has(slot)).map((slot) => slot.replace('|', '@'));
    const skippedByPolicy = noRow.filter((slot) => policy.has(slot)).map((slot) => slot.replace('|', '@'));
    const duplicates = [...counts]
      .filter(([, n]) => n > 1)
      .map(([slot, rows]) => {
        const [job = '', at = ''] = slot.split('|');
        return { job, slot: at, rows };
      });
    const absent = (set: Set<string>) => [...set].filter((run) => !runs.has(run)).length;
    return {
      engine: this.#o.engine,
      seed: this.#seed,
      durationMs: this.#o.durationMs,
      expectedSlots: expected.size,
      rows: [...counts.values()].reduce((a, b) => a + b, 0),
      missing,
      skippedByPolicy,
      duplicates,
      kills: { ...this.#kills },
      beforeCommit: { killed: absent(this.#inWindow.killed), paused: absent(this.#inWindow.paused) },
      pauses: this.#pauses,
      skipped: skippedByReason(skips, expected),
      load: [loadStart, loadavg()[0] ?? 0],
      dir: this.#dir,
      pass: missing.length === 0 && duplicates.length === 0,
    };
  }

  /** The workers' `skip` events, from their event files. */
  #skipEvents(): SkipEvent[] {
    const out: SkipEvent[] = [];
    for (const name of readdirSync(this.#dir).filter((n) => n.startsWith('tx-'))) {
      for (const line of readFileSync(join(this.#dir, name), 'utf8').split('\n')) {
        if (line.includes('"ev":"skip"')) out.push(JSON.parse(line) as SkipEvent);
      }
    }
    return out;
  }
}

type SkipEvent = { key: string; slot: string; reason: string };

/** Skipped slots of the fault phase, by reason. */
function skippedByReason(skips: readonly SkipEvent[], expected: Set<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const event of skips) {
    if (expected.has(`${event.key}|${event.slot}`)) out[event.reason] = (out[event.reason] ?? 0) + 1;
  }
  return out;
}

/** `job|slot` of every slot a worker decided not to run by the schedule's policy (S4, S5). */
function policySkips(skips: readonly SkipEvent[]): Set<string> {
  const policy = skips.filter((e) => e.reason === 'overlap' || e.reason === 'outside-catch-up');
  return new Set(policy.map((e) => `${e.key}|${e.slot}`));
}

/** The result as the lines the CLI prints. */
export function formatResult(result: TxRunResult): string {
  const lines = [
    `engine ${result.engine}, seed ${result.seed}, faults for ${result.durationMs} ms, ` +
      `load ${result.load[0].toFixed(1)} → ${result.load[1].toFixed(1)}`,
    `slots checked (fault phase)     ${result.expectedSlots}`,
    `rows (all slots)                ${result.rows}`,
    `missing                         ${result.missing.length}${result.missing.length ? ` (${result.missing.slice(0, 5).join(', ')})` : ''}`,
    `skipped by policy, no row       ${result.skippedByPolicy.length}${result.skippedByPolicy.length ? ` (${result.skippedByPolicy.slice(0, 5).join(', ')})` : ''}`,
    `duplicate                       ${result.duplicates.length}`,
    `kill -9 after write, pre-commit ${result.kills.written} (landed before the commit, row absent: ${result.beforeCommit.killed})`,
    `kill -9 after commit, pre-release ${result.kills.committed}`,
    `kill -9 at a random instant     ${result.kills.random}`,
    `SIGSTOP past the TTL mid-tx     ${result.pauses} (row absent: ${result.beforeCommit.paused})`,
    `skipped slots (fault phase)     ${JSON.stringify(result.skipped)}`,
    `events                          ${result.dir}`,
    result.pass ? 'PASS' : 'FAIL',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engine: { type: 'string' },
      duration: { type: 'string', default: '150s' },
      workers: { type: 'string', default: '4' },
      keys: { type: 'string', default: '16' },
      period: { type: 'string', default: '1s' },
      faults: { type: 'string', default: 'kill,pause' },
      placement: { type: 'string', default: 'on' },
      control: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      seed: { type: 'string' },
      url: { type: 'string' },
      json: { type: 'string' },
    },
    strict: true,
  });
  const engine = values.engine;
  if (engine !== 'postgres' && engine !== 'mysql') {
    console.error('faults:transactions: --engine must be postgres or mysql');
    process.exit(2);
  }
  const faults = (values.faults ?? '').split(',').filter(Boolean) as TxFault[];
  if (faults.some((f) => f !== 'kill' && f !== 'pause')) {
    console.error(`faults:transactions: --faults takes kill and pause, got ${values.faults}`);
    process.exit(2);
  }
  const options: TxRunOptions = {
    engine,
    durationMs: parseDuration(values.duration, '--duration'),
    workers: Number(values.workers),
    keys: Number(values.keys),
    periodMs: parseDuration(values.period, '--period'),
    faults,
    placement: values.placement !== 'off',
    control: values.control,
    keep: values.keep,
    log: (line) => console.log(line),
  };
  if (values.seed !== undefined) options.seed = Number(values.seed);
  if (values.url !== undefined) options.url = values.url;
  const result = await runTransactionFaults(options);
  console.log(formatResult(result));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  process.exit(result.pass ? 0 : 1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
