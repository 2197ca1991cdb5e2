/**
 * The fencing helpers under faults (issue 16):
 *
 * ```sh
 * npm run faults:fence -- --resource <postgres|mysql|redis|azure-blob|http> --duration 60s \
 *   [--workers 4] [--faults kill,pause,partition] [--seed 1] [--json out.json] [--keep] [--control]
 * ```
 *
 * Worker processes (faults/fence-worker.ts) take turns holding a lease on one key (a
 * real Leasehold lease on a private Redis) and write their token to one resource through
 * its helper: `fence()` in a PostgreSQL or MariaDB transaction that also appends to a
 * ledger, `tryFencedSet` on a Redis key, `tryFencedUpload` on an Azurite blob, or a PUT
 * to an HTTP server behind `httpFence`. Each worker reaches the lease store and the
 * resource through fault proxies of its own. The parent kills workers (SIGKILL, then a
 * respawn), pauses them past the TTL (SIGSTOP) and partitions them (both proxies
 * black-holed past the TTL), aiming at the current holder, so that a write prepared or
 * in flight before the fault arrives after a newer holder's. Then it checks:
 *
 * - **0 stale writes accepted**: the tokens the resource applied, in its own order (the
 *   ledger's order, Redis's MONITOR, the HTTP server's log, Azurite's ETag chain and a
 *   one-request poller), never go down; on Azure no two accepted uploads were
 *   conditional on the same ETag;
 * - **every rejected write is the stale one**: a refusal names a higher token that the
 *   resource applied.
 *
 * See docs/fencing.md ("What is tested") and docs/reliability.md.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration } from '../src/duration.js';
import type { FenceResource, FenceWorkerConfig, FenceWorkerMessage, UploadLine, WriteLine } from './fence-worker.js';
import { type FenceTarget, startTarget } from './fence-targets.js';
import { type FaultProxy, startProxy } from './proxy.js';
import { prng } from './prng.js';

/** The faults the run injects. */
export type FenceFault = 'kill' | 'pause' | 'partition';
const FAULTS: readonly FenceFault[] = ['kill', 'pause', 'partition'];
const RESOURCES: readonly FenceResource[] = ['postgres', 'mysql', 'redis', 'azure-blob', 'http'];

/** Options of {@link runFenceFaults}. */
export interface FenceRunOptions {
  resource: FenceResource;
  /** How long faults are injected, ms. */
  durationMs: number;
  /** @defaultValue 4 */
  workers?: number;
  /** The lease TTL, ms; pauses and partitions last 2–3 of it. @defaultValue 1000 */
  ttlMs?: number;
  /** @defaultValue every fault */
  faults?: FenceFault[];
  /** Pause between two faults, ms. @defaultValue [800, 2000] */
  gapMs?: [number, number];
  /** @defaultValue random */
  seed?: number;
  /**
   * The control (Redis only): the workers write with a plain SET, no fence, under the same
   * faults; its stale writes show the check can fail. @defaultValue false
   */
  control?: boolean;
  /** Keep the workers' files after a passing run. @defaultValue false */
  keep?: boolean;
  log?: (line: string) => void;
}

/** What {@link runFenceFaults} found. */
export interface FenceRunResult {
  resource: FenceResource;
  seed: number;
  durationMs: number;
  writes: number;
  accepted: number;
  refused: number;
  /** Writes that failed outright (a connection cut by a kill, a partition's timeout…). */
  errors: number;
  faults: Record<FenceFault, number>;
  /**
   * Per fault kind: writes of the holder hit by it that were prepared or in flight across
   * the fault and answered after it, and how many of those the resource refused.
   */
  acrossFaults: Record<FenceFault, { writes: number; refused: number }>;
  /** The resource's applied tokens that came after a higher one (must be empty). */
  staleAccepted: string[];
  /** Refusals that do not name a higher applied token (must be empty). */
  badRefusals: string[];
  /** Azure: accepted uploads conditional on an ETag another accepted upload also used (must be empty). */
  forks: string[];
  /** How many entries the resource's own record holds (applied writes; Azure: the poller's reads). */
  applied: number;
  load: [number, number];
  dir: string;
  pass: boolean;
}

const here = dirname(fileURLToPath(import.meta.url));

/** How long the run waits for a first holder before its faults start anyway. */
const STARTUP_WAIT_MS = 60_000;

/** One worker slot: its process (respawned after a kill) and its two proxies. */
interface Slot {
  index: number;
  id: string;
  proc: ChildProcess | undefined;
  exited: Promise<void>;
  leaseProxy: FaultProxy;
  resourceProxy: FaultProxy;
  /** The token it holds now, from its `holding` messages. */
  holding: number | undefined;
  /** Under a pause or a partition now. */
  faulted: boolean;
}

/** One injected fault, on the worker that held `token` (if it held one). */
interface FaultRecord {
  kind: FenceFault;
  id: string;
  token: number | undefined;
  start: number;
  end: number;
}

/** Runs the workers with faults for `durationMs` and checks the resource's history. */
export async function runFenceFaults(options: FenceRunOptions): Promise<FenceRunResult> {
  return new FenceRun(options).execute();
}

class FenceRun {
  readonly #o: Required<Omit<FenceRunOptions, 'log' | 'seed'>>;
  readonly #log: (line: string) => void;
  readonly #seed: number;
  readonly #rand: () => number;
  readonly #dir = mkdtempSync(join(tmpdir(), 'leasehold-fence-faults-'));
  readonly #slots: Slot[] = [];
  readonly #faults: FaultRecord[] = [];
  readonly #key = `fence-${Date.now().toString(36)}`;
  #target: FenceTarget | undefined;
  #nextId = 1;
  #stopping = false;

  constructor(options: FenceRunOptions) {
    this.#o = {
      resource: options.resource,
      durationMs: options.durationMs,
      workers: options.workers ?? 4,
      ttlMs: options.ttlMs ?? 1000,
      faults: options.faults ?? [...FAULTS],
      gapMs: options.gapMs ?? [800, 2000],
      keep: options.keep ?? false,
      control: options.control ?? false,
    };
    if (this.#o.control && this.#o.resource !== 'redis') throw new Error('control: the Redis resource only');
    this.#log = options.log ?? (() => {});
    this.#seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.#rand = prng(this.#seed);
  }

  async execute(): Promise<FenceRunResult> {
    const loadStart = loadavg()[0] ?? 0;
    const target = await startTarget(this.#o.resource, this.#key);
    this.#target = target;
    try {
      for (let index = 0; index < this.#o.workers; index++) {
        const leaseProxy = await startProxy(target.leasePort, this.#rand);
        const resourceProxy = await startProxy(target.resourcePort, this.#rand);
        const slot: Slot = {
          index,
          id: '',
          proc: undefined,
          exited: Promise.resolve(),
          leaseProxy,
          resourceProxy,
          holding: undefined,
          faulted: false,
        };
        this.#slots.push(slot);
        this.#spawn(slot);
      }
      // Faults start once a worker holds the lease: on a loaded machine the workers take
      // seconds to start, and faults on workers still starting test nothing.
      await this.#holder(STARTUP_WAIT_MS);
      this.#log(`${this.#o.resource}: ${this.#o.workers} workers; faults for ${this.#o.durationMs} ms`);
      await this.#faultPhase(Date.now() + this.#o.durationMs);
      await sleep(this.#o.ttlMs);
      await this.#stopAll();
      const result = this.#check(await target.applied(), loadStart);
      if (result.pass && !this.#o.keep) rmSync(this.#dir, { recursive: true, force: true });
      return result;
    } finally {
      await this.#stopAll();
      await Promise.all(this.#slots.flatMap((s) => [s.leaseProxy.close(), s.resourceProxy.close()]));
      await target.stop();
    }
  }

  #spawn(slot: Slot): void {
    const target = this.#target as FenceTarget;
    slot.id = `w${this.#nextId++}`;
    slot.holding = undefined;
    const config: FenceWorkerConfig = {
      resource: this.#o.resource,
      leaseUrl: `redis://127.0.0.1:${slot.leaseProxy.port}`,
      resourceUrl: target.resourceUrl(slot.resourceProxy.port),
      key: this.#key,
      id: slot.id,
      ttlMs: this.#o.ttlMs,
      // Long enough turns that a fault usually finds a holder mid-write.
      writes: [10, 40],
      prepareMs: [2, 30],
      dir: this.#dir,
      control: this.#o.control,
    };
    const errors = openSync(join(this.#dir, `stderr-${slot.id}.txt`), 'a');
    const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'fence-worker.ts'), JSON.stringify(config)], {
      stdio: ['ignore', 'ignore', errors, 'ipc'],
    });
    closeSync(errors);
    slot.proc = proc;
    slot.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const id = slot.id;
    proc.on('message', (message: FenceWorkerMessage) => {
      if (slot.id !== id) return;
      if (message.ev === 'holding') slot.holding = message.token;
      else if (message.ev === 'released') slot.holding = undefined;
    });
    void slot.exited.then(() => {
      if (this.#stopping || slot.id !== id) return;
      setTimeout(() => !this.#stopping && this.#spawn(slot), 300 + this.#rand() * 700);
    });
  }

  /**
   * Faults a random gap apart, on the current holder when there is one (waiting up to half
   * a second for one): a fault on a worker that waits for the lease sends nothing stale.
   */
  async #faultPhase(until: number): Promise<void> {
    const [low, high] = this.#o.gapMs;
    while (Date.now() < until) {
      await sleep(low + this.#rand() * (high - low));
      const kind = this.#pick();
      const victim = (await this.#holder(500)) ?? this.#randomFree();
      if (!kind || !victim) continue;
      void this.#inject(kind, victim);
    }
    while (this.#slots.some((s) => s.faulted)) await sleep(50);
  }

  #free(): Slot[] {
    return this.#slots.filter((s) => !s.faulted && s.proc && s.proc.exitCode === null);
  }

  #randomFree(): Slot | undefined {
    const free = this.#free();
    return free[Math.floor(this.#rand() * free.length)];
  }

  /** The worker holding the lease now, waiting up to `waitMs` for one. */
  async #holder(waitMs: number): Promise<Slot | undefined> {
    const end = Date.now() + waitMs;
    for (;;) {
      const holder = this.#free().find((s) => s.holding !== undefined);
      if (holder || Date.now() >= end) return holder;
      await sleep(10);
    }
  }

  /** A fault kind: pauses and partitions twice as often as kills (only they can send a stale write). */
  #pick(): FenceFault | undefined {
    const weights = this.#o.faults.map((kind) => (kind === 'kill' ? 1 : 2));
    let draw = this.#rand() * weights.reduce((a, b) => a + b, 0);
    for (const [i, kind] of this.#o.faults.entries()) {
      draw -= weights[i] as number;
      if (draw < 0) return kind;
    }
    return this.#o.faults[0];
  }

  async #inject(kind: FenceFault, slot: Slot): Promise<void> {
    const record: FaultRecord = { kind, id: slot.id, token: slot.holding, start: Date.now(), end: 0 };
    this.#faults.push(record);
    if (kind === 'kill') {
      slot.proc?.kill('SIGKILL');
      record.end = Date.now();
      return;
    }
    slot.faulted = true;
    // 2–3 TTLs: long enough for the next holder to take over and write, even on a loaded machine.
    const lasts = this.#o.ttlMs * (2 + this.#rand());
    if (kind === 'pause') slot.proc?.kill('SIGSTOP');
    else for (const proxy of [slot.leaseProxy, slot.resourceProxy]) proxy.partition();
    await sleep(lasts);
    if (kind === 'pause') slot.proc?.kill('SIGCONT');
    else for (const proxy of [slot.leaseProxy, slot.resourceProxy]) proxy.heal();
    record.end = Date.now();
    slot.faulted = false;
  }

  async #stopAll(): Promise<void> {
    this.#stopping = true;
    for (const slot of this.#slots) {
      slot.leaseProxy.heal();
      slot.resourceProxy.heal();
      slot.proc?.kill('SIGCONT');
      slot.proc?.kill('SIGTERM');
    }
    const killer = setTimeout(() => {
      for (const slot of this.#slots) slot.proc?.kill('SIGKILL');
    }, 10_000);
    await Promise.all(this.#slots.map((s) => s.exited));
    clearTimeout(killer);
  }

  #lines(): { writes: WriteLine[]; uploads: UploadLine[]; errors: number } {
    const writes: WriteLine[] = [];
    const uploads: UploadLine[] = [];
    let errors = 0;
    for (const name of readdirSync(this.#dir).filter((n) => n.startsWith('fence-'))) {
      for (const text of readFileSync(join(this.#dir, name), 'utf8').split('\n')) {
        if (!text) continue;
        const line = JSON.parse(text) as WriteLine | UploadLine | { ev: string };
        if (line.ev === 'write') writes.push(line as WriteLine);
        else if (line.ev === 'upload') uploads.push(line as UploadLine);
        else if (line.ev === 'write-error') errors++;
      }
    }
    return { writes, uploads, errors };
  }

  #check(applied: number[], loadStart: number): FenceRunResult {
    const { writes, uploads, errors } = this.#lines();
    const appliedSet = new Set(applied);
    const staleAccepted = applied.flatMap((token, i) =>
      i > 0 && token < (applied[i - 1] as number) ? [`${token} applied after ${applied[i - 1]}`] : [],
    );
    const refused = writes.filter((w) => !w.accepted);
    staleAccepted.push(...(this.#target?.anomalies() ?? []));
    // On Azure a refusal's highest was read from the blob's own metadata, so it was applied.
    const readFromResource = this.#o.resource === 'azure-blob';
    const badRefusals = refused
      .filter((w) => !(w.highest > w.token && (readFromResource || appliedSet.has(w.highest))))
      .map((w) => `${w.w}: token ${w.token} refused naming ${w.highest}`);
    return {
      resource: this.#o.resource,
      seed: this.#seed,
      durationMs: this.#o.durationMs,
      writes: writes.length,
      accepted: writes.length - refused.length,
      refused: refused.length,
      errors,
      faults: {
        kill: this.#count('kill'),
        pause: this.#count('pause'),
        partition: this.#count('partition'),
      },
      acrossFaults: this.#acrossFaults(writes),
      staleAccepted,
      badRefusals,
      forks: forksOf(uploads),
      applied: applied.length,
      load: [loadStart, loadavg()[0] ?? 0],
      dir: this.#dir,
      pass: staleAccepted.length === 0 && badRefusals.length === 0 && forksOf(uploads).length === 0,
    };
  }

  #count(kind: FenceFault): number {
    return this.#faults.filter((f) => f.kind === kind).length;
  }

  /**
   * For each pause and partition of a holder: its writes with the held token that were
   * prepared or in flight across the fault and answered after it ended.
   */
  #acrossFaults(writes: WriteLine[]): FenceRunResult['acrossFaults'] {
    const out: FenceRunResult['acrossFaults'] = {
      kill: { writes: 0, refused: 0 },
      pause: { writes: 0, refused: 0 },
      partition: { writes: 0, refused: 0 },
    };
    for (const fault of this.#faults) {
      if (fault.token === undefined || fault.kind === 'kill') continue;
      const across = writes.filter(
        (w) => w.w === fault.id && w.token === fault.token && w.done >= fault.end && w.sent <= fault.end + 100,
      );
      out[fault.kind].writes += across.length;
      out[fault.kind].refused += across.filter((w) => !w.accepted).length;
    }
    return out;
  }
}

/** Accepted uploads that were conditional on the same ETag (or both created the blob). */
export function forksOf(uploads: UploadLine[]): string[] {
  const byCondition = new Map<string, UploadLine[]>();
  for (const upload of uploads.filter((u) => u.status === 201)) {
    const condition = upload.ifMatch ?? '(none: If-None-Match *)';
    byCondition.set(condition, [...(byCondition.get(condition) ?? []), upload]);
  }
  return [...byCondition]
    .filter(([, list]) => list.length > 1)
    .map(([condition, list]) => `${condition}: ${list.map((u) => `${u.w}/${u.token}`).join(', ')}`);
}

/** The result as the lines the CLI prints. */
export function formatResult(r: FenceRunResult): string {
  const across = (kind: FenceFault) => `${r.acrossFaults[kind].writes} (refused ${r.acrossFaults[kind].refused})`;
  return [
    `resource ${r.resource}, seed ${r.seed}, faults for ${r.durationMs} ms, load ${r.load[0].toFixed(1)} → ${r.load[1].toFixed(1)}`,
    `writes ${r.writes}: accepted ${r.accepted}, refused ${r.refused}, failed ${r.errors}; ` +
      `${r.resource === 'azure-blob' ? 'poller reads' : 'applied by the resource'} ${r.applied}`,
    `faults: kill -9 ${r.faults.kill}, pause ${r.faults.pause}, partition ${r.faults.partition}`,
    `holder's write across a pause ${across('pause')}, across a partition ${across('partition')}`,
    `stale writes accepted           ${r.staleAccepted.length}${r.staleAccepted.length ? ` (${r.staleAccepted.slice(0, 3).join('; ')})` : ''}`,
    `refusals not naming a higher applied token ${r.badRefusals.length}${r.badRefusals.length ? ` (${r.badRefusals.slice(0, 3).join('; ')})` : ''}`,
    ...(r.resource === 'azure-blob' ? [`accepted uploads on one ETag    ${r.forks.length}`] : []),
    `files                           ${r.dir}`,
    r.pass ? 'PASS' : 'FAIL',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      resource: { type: 'string' },
      duration: { type: 'string', default: '60s' },
      workers: { type: 'string', default: '4' },
      faults: { type: 'string', default: FAULTS.join(',') },
      seed: { type: 'string' },
      json: { type: 'string' },
      keep: { type: 'boolean', default: false },
      control: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const resource = values.resource as FenceResource;
  if (!RESOURCES.includes(resource)) {
    console.error(`faults:fence: --resource must be one of ${RESOURCES.join(', ')}`);
    process.exit(2);
  }
  const faults = (values.faults ?? '').split(',').filter(Boolean) as FenceFault[];
  if (faults.some((f) => !FAULTS.includes(f))) {
    console.error(`faults:fence: --faults takes ${FAULTS.join(', ')}, got ${values.faults}`);
    process.exit(2);
  }
  const options: FenceRunOptions = {
    resource,
    durationMs: parseDuration(values.duration, '--duration'),
    workers: Number(values.workers),
    faults,
    keep: values.keep,
    control: values.control,
    log: (line) => console.log(line),
  };
  if (values.seed !== undefined) options.seed = Number(values.seed);
  const result = await runFenceFaults(options);
  console.log(formatResult(result));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  process.exit(result.pass ? 0 : 1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
