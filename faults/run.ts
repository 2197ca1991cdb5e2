/**
 * The fault harness (issue 7):
 *
 * ```sh
 * npm run faults -- --store <memory|file|redis|postgres|mysql|azure-blob|…> --duration 60s \
 *   [--workers 5] [--faults kill,pause,restart,partition,delay,clock] [--seed 1] [--json out.json] \
 *   [--placement on|off|<ttl>]
 * ```
 *
 * `redis-cluster`, `etcd-cluster` and `nats-cluster` run the workers against a private
 * three-node cluster the harness starts; there a `restart` is a SIGKILL of the current
 * leader (Redis: a master; etcd: the Raft leader; NATS: the bucket's stream leader) and its
 * return with its data.
 *
 * Starts a private store server (network stores) behind a fault proxy, a fenced sink
 * process and N worker processes running a leasehold schedule; injects faults on a seeded
 * random schedule; then checks the recorded history (faults/checker.ts), prints a table
 * per fault kind and exits non-zero when a must-be-zero figure is not zero.
 * See docs/reliability.md.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration } from '../src/duration.js';
import { STORE_NAMES } from '../src/stores/registry.js';
import {
  check,
  observedTimeouts,
  FAULT_KINDS,
  type CheckResult,
  type FaultKind,
  type FaultRecord,
  type HistEvent,
  type SinkRecord,
  type WorkerLife,
} from './checker.js';
import { startProxy, type FaultProxy } from './proxy.js';
import type { WorkerConfig } from './worker.js';
import { prng } from './prng.js';

// Not registry stores: the Redis store on a private 3-master, 3-replica Redis Cluster, the
// etcd store on a 3-member etcd cluster, the NATS store on a 3-server JetStream cluster (R3 bucket).
const CLUSTERS = ['redis-cluster', 'etcd-cluster', 'nats-cluster'];
const STORES = [...STORE_NAMES, ...CLUSTERS];
type StoreName = string;

/** Fault kinds each store supports, and why the others do not apply. */
export const SUPPORTED: Partial<Record<StoreName, FaultKind[]>> = {
  // One process holds the memory store: workers are Leasehold instances in it, so there
  // is no process to kill or pause on its own, no server and no network.
  memory: [],
  // No server to restart and no network between the workers and the folder.
  file: ['kill', 'pause', 'owner-pause', 'clock'],
  redis: ['kill', 'pause', 'owner-pause', 'restart', 'partition', 'delay', 'clock'],
  // A restart is a SIGKILL of a master (each in turn), a replica's promotion, and the old
  // master's return as a replica. The client talks to every node, so there is no one proxy.
  'redis-cluster': ['kill', 'pause', 'owner-pause', 'restart', 'clock'],
  postgres: ['kill', 'pause', 'owner-pause', 'restart', 'partition', 'delay', 'clock'],
  mysql: ['kill', 'pause', 'owner-pause', 'restart', 'partition', 'delay', 'clock'],
  'azure-blob': ['kill', 'pause', 'owner-pause', 'restart', 'partition', 'delay', 'clock'],
  // A restart keeps the file-storage bucket (stream sequences are the tokens).
  nats: ['kill', 'pause', 'owner-pause', 'restart', 'partition', 'delay', 'clock'],
  // A restart is a SIGKILL that keeps the data dir (etcd fsyncs before it answers), so revisions survive.
  etcd: ['kill', 'pause', 'owner-pause', 'restart', 'partition', 'delay', 'clock'],
  // A restart is a SIGKILL of the Raft leader (a new one is elected), back with its data dir
  // after 1–4 s. The client talks to every member, so there is no one proxy.
  'etcd-cluster': ['kill', 'pause', 'owner-pause', 'restart', 'clock'],
  // A restart is a SIGKILL of the server leading the bucket's R3 stream, back after 1–4 s; the
  // fault lasts until the stream has a leader and all three replicas again.
  'nats-cluster': ['kill', 'pause', 'owner-pause', 'restart', 'clock'],
  // dynalite on disk: a SIGKILL keeps what it acknowledged (LevelDB's log is written before
  // the reply), as DynamoDB keeps every acknowledged write. A clock offset moves only the
  // host's wall clock, which the store never reads (docs/stores/dynamodb.md, "Clock").
  dynamodb: ['kill', 'pause', 'owner-pause', 'restart', 'partition', 'delay', 'clock'],
};

/** Job timing per store: Azure leases last 15 s at least, so its schedule is slower. */
// The catch-up window spans several periods and more than TTL + one period, so a slot
// whose run died with its holder is re-run after failover inside its window.
// `ci` is the length of the store's short run in CI (faults/ci.sh takes its list from here).
interface Profile {
  periodMs: number;
  ttlMs: number;
  catchUpMs: number;
  workMs: [number, number];
  ci: string;
  /**
   * Placement's liveness TTL: two thirds of the job TTL where the store allows it (then a
   * dead owner's jobs move before its job leases expire, and takeover stays the job
   * TTL's); the store's minimum TTL otherwise (etcd 2 s, Azure 15 s).
   */
  placementTtlMs: number;
}
const PROFILE: Partial<Record<StoreName, Profile>> = {
  memory: { periodMs: 200, ttlMs: 1000, catchUpMs: 2400, workMs: [20, 80], ci: '8s', placementTtlMs: 666 },
  file: { periodMs: 300, ttlMs: 1500, catchUpMs: 3600, workMs: [20, 120], ci: '15s', placementTtlMs: 1000 },
  redis: { periodMs: 300, ttlMs: 1500, catchUpMs: 3600, workMs: [20, 120], ci: '15s', placementTtlMs: 1000 },
  // A failover takes cluster-node-timeout (1 s) plus an election: a wider catch-up window.
  'redis-cluster': { periodMs: 300, ttlMs: 1500, catchUpMs: 6000, workMs: [20, 120], ci: '15s', placementTtlMs: 1000 },
  postgres: { periodMs: 500, ttlMs: 2000, catchUpMs: 5000, workMs: [20, 150], ci: '15s', placementTtlMs: 1333 },
  nats: { periodMs: 300, ttlMs: 1500, catchUpMs: 3600, workMs: [20, 120], ci: '15s', placementTtlMs: 1000 },
  mysql: { periodMs: 500, ttlMs: 2000, catchUpMs: 5000, workMs: [20, 150], ci: '15s', placementTtlMs: 1333 },
  // etcd lease TTLs are whole seconds, at least 2 s with the default election timeout.
  etcd: { periodMs: 500, ttlMs: 2000, catchUpMs: 5000, workMs: [20, 150], ci: '15s', placementTtlMs: 2000 },
  // A leader kill costs an election (1 s election timeout, then a vote), and etcd 3.4's new
  // leader restarts every lease's countdown: a dead holder's lease can last one TTL more.
  'etcd-cluster': { periodMs: 500, ttlMs: 2000, catchUpMs: 7000, workMs: [20, 150], ci: '30s', placementTtlMs: 2000 },
  // A stream leader kill costs an election before writes resume: 4-9 s on nats-server 2.10.
  'nats-cluster': { periodMs: 500, ttlMs: 2000, catchUpMs: 7000, workMs: [20, 150], ci: '30s', placementTtlMs: 2000 },
  // The Date header's 1 s resolution can add about 2 s to a takeover: a wider catch-up window.
  dynamodb: { periodMs: 500, ttlMs: 2000, catchUpMs: 6000, workMs: [20, 150], ci: '15s', placementTtlMs: 1333 },
  'azure-blob': {
    periodMs: 3000,
    ttlMs: 15_000,
    catchUpMs: 21_000,
    workMs: [100, 800],
    ci: '45s',
    placementTtlMs: 15000,
  },
};

interface Server {
  port: number;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const usage = `usage: npm run faults -- --store <${STORES.join('|')}> --duration <D> [--workers N] [--keys K] [--period D] [--faults ${FAULT_KINDS.join(',')}] [--seed S] [--json PATH] [--keep] [--placement on|off|<ttl>]`;

function fail(msg: string): never {
  console.error(`faults: ${msg}\n${usage}`);
  process.exit(2);
}

function libfaketime(): string | undefined {
  const candidates = [
    '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
    '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
    '/usr/lib/faketime/libfaketime.so.1',
    '/usr/local/lib/faketime/libfaketime.so.1',
  ];
  return candidates.find((p) => existsSync(p));
}

const { values: args } = parseArgs({
  options: {
    store: { type: 'string' },
    duration: { type: 'string', default: '60s' },
    workers: { type: 'string', default: '5' },
    keys: { type: 'string', default: '2' },
    period: { type: 'string' },
    faults: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    // Fleet placement in the workers: on (the default, with the profile's liveness TTL),
    // off (every worker tries every slot: the race), or a liveness TTL.
    placement: { type: 'string', default: 'on' },
    'list-ci': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (args.help) {
  console.log(usage);
  process.exit(0);
}
if (args['list-ci']) {
  // One `store:duration` per line, for faults/ci.sh; a registry store without a profile is named on stderr.
  for (const name of STORE_NAMES) {
    const profile = PROFILE[name];
    if (profile) console.log(`${name}:${profile.ci}`);
    else console.error(`faults: no profile for the ${name} store; it has no CI run`);
  }
  process.exit(0);
}
const storeName = args.store as StoreName;
if (!STORES.includes(storeName))
  fail(`--store: expected one of ${STORES.join(', ')}, got ${JSON.stringify(args.store)}`);
const supported = SUPPORTED[storeName] ?? [];
const storeProfile = PROFILE[storeName];
if (!storeProfile)
  fail(`--store: the fault harness has no profile for the ${storeName} store yet (add one in faults/run.ts)`);
let durationMs: number;
try {
  durationMs = parseDuration(args.duration, '--duration');
} catch (err) {
  fail((err as Error).message);
}
const nWorkers = Number(args.workers);
if (!Number.isInteger(nWorkers) || nWorkers < 1 || nWorkers > 50)
  fail(`--workers: expected an integer from 1 to 50, got ${JSON.stringify(args.workers)}`);
const nKeys = Number(args.keys);
if (!Number.isInteger(nKeys) || nKeys < 1 || nKeys > 20)
  fail(`--keys: expected an integer from 1 to 20, got ${JSON.stringify(args.keys)}`);
const seed = args.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(args.seed);
if (!Number.isInteger(seed)) fail(`--seed: expected an integer, got ${JSON.stringify(args.seed)}`);
let placementTtlMs: number | false = false;
if (args.placement === 'on') placementTtlMs = storeProfile.placementTtlMs;
else if (args.placement !== 'off') {
  try {
    placementTtlMs = parseDuration(args.placement, '--placement');
  } catch (err) {
    fail((err as Error).message);
  }
}
// A pause of an idle owner past its heartbeat only means something with placement on.
const applicable = supported.filter((kind) => kind !== 'owner-pause' || placementTtlMs !== false);
const kinds: FaultKind[] =
  args.faults === undefined
    ? applicable
    : args.faults === '' || args.faults === 'none'
      ? []
      : (args.faults.split(',').map((s) => s.trim()) as FaultKind[]);
for (const k of kinds) {
  if (!FAULT_KINDS.includes(k)) fail(`--faults: unknown fault ${JSON.stringify(k)}; known: ${FAULT_KINDS.join(', ')}`);
  if (!applicable.includes(k))
    fail(
      `--faults: ${k} does not apply to the ${storeName} store${placementTtlMs === false ? ' without placement' : ''} ` +
        `(it supports: ${applicable.join(', ') || 'none'})`,
    );
}
const faketimeLib = kinds.includes('clock') ? libfaketime() : undefined;
if (kinds.includes('clock') && !faketimeLib) fail('--faults clock needs libfaketime (apt-get install -y faketime)');

const rand = prng(seed);
const profile = storeProfile;
const { ttlMs, catchUpMs } = profile;
let periodMs = profile.periodMs;
if (args.period !== undefined) {
  try {
    periodMs = parseDuration(args.period, '--period');
  } catch (err) {
    fail((err as Error).message);
  }
  // The catch-up window must outlast a failover (TTL + one period) with room to re-run.
  if (periodMs < 50 || catchUpMs < ttlMs + 2 * periodMs)
    fail(
      `--period: expected 50ms to ${Math.floor((catchUpMs - ttlMs) / 2)}ms for the ${storeName} store (TTL ${ttlMs}ms, catch-up ${catchUpMs}ms), got ${JSON.stringify(args.period)}`,
    );
}
const pollMs = 250;
/** A process whose 50 ms timer fires this much late is recorded as stalled. */
const stallMs = Math.round(ttlMs / 4);
const hr0 = process.hrtime.bigint();
const wallAtZero = Date.now();
const mono = () => Number(process.hrtime.bigint() - hr0) / 1e6;
const dir = mkdtempSync(join(tmpdir(), `leasehold-faults-${storeName}-`));
const runId = `${Date.now().toString(36)}${Math.floor(rand() * 1e6).toString(36)}`;
const keys = Array.from({ length: nKeys }, (_, i) => `faults-${runId}-job${i + 1}`);

// --- store server and proxy -------------------------------------------------------
let server: Server | undefined;
let proxy: FaultProxy | undefined;
let url: string;
const env: NodeJS.ProcessEnv = { ...process.env };
async function startStore(): Promise<void> {
  switch (storeName) {
    case 'memory':
      url = 'memory:';
      return;
    case 'file':
      url = `file:${join(dir, 'store')}`;
      return;
    case 'redis': {
      const { startRedisServer } = await import('../test/helpers/redis-server.js');
      const s = await startRedisServer();
      server = { port: s.port, restart: () => s.restart(), stop: () => s.stop() };
      proxy = await startProxy(s.port, rand);
      url = `redis://127.0.0.1:${proxy.port}`;
      return;
    }
    case 'redis-cluster': {
      const { startRedisCluster } = await import('../test/helpers/redis-cluster.js');
      const cluster = await startRedisCluster();
      let turn = 0;
      const killMaster = async () => {
        const masters = (await cluster.nodes()).filter((n) => n.role === 'master' && n.slots.length > 0);
        const victim = masters[turn++ % masters.length];
        if (!victim) return;
        await cluster.killNode(victim.port);
        await cluster.waitForFailover(victim.port);
        await cluster.restartNode(victim.port);
        await cluster.waitHealthy();
      };
      server = { port: cluster.ports[0] as number, restart: killMaster, stop: () => cluster.stop() };
      url = cluster.url;
      return;
    }
    case 'postgres': {
      const { startPostgresServer } = await import('../test/helpers/postgres-server.js');
      const s = await startPostgresServer();
      server = { port: s.port, restart: () => s.restart(true), stop: () => s.stop() };
      proxy = await startProxy(s.port, rand);
      url = `postgres://postgres@127.0.0.1:${proxy.port}/postgres`;
      return;
    }
    case 'mysql': {
      const { startMariaDbServer } = await import('../test/helpers/mariadb-server.js');
      const s = await startMariaDbServer();
      server = { port: s.port, restart: () => s.restart(true), stop: () => s.stop() };
      proxy = await startProxy(s.port, rand);
      url = `mysql://root@127.0.0.1:${proxy.port}/leasehold`;
      return;
    }
    case 'azure-blob': {
      const { startAzurite, DEV_ACCOUNT, DEV_KEY } = await import('../test/helpers/azurite.js');
      const s = await startAzurite({ disk: true });
      // A graceful restart (SIGTERM): Azurite saves its metadata database every 5 s and on
      // exit, so a SIGKILL loses the last seconds of writes it had acknowledged — token
      // counters included — which Azure Storage never does (it acknowledges only durable
      // writes). A hard kill would test the emulator, not the store.
      server = { port: s.port, restart: () => s.restart(false), stop: () => s.stop() };
      proxy = await startProxy(s.port, rand);
      env.AZURE_STORAGE_CONNECTION_STRING = `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=http://127.0.0.1:${proxy.port}/${DEV_ACCOUNT};`;
      url = `azure-blob://faults${runId.toLowerCase().replace(/[^a-z0-9]/g, '')}`.slice(0, 63);
      return;
    }
    case 'nats': {
      const { startNatsServer } = await import('../test/helpers/nats-server.js');
      const s = await startNatsServer();
      server = { port: s.port, restart: () => s.restart(true), stop: () => s.stop() };
      proxy = await startProxy(s.port, rand);
      url = `nats://127.0.0.1:${proxy.port}/faults-${runId}`;
      return;
    }
    case 'etcd': {
      const { startEtcdServer } = await import('../test/helpers/etcd-server.js');
      const s = await startEtcdServer();
      const port = s.members[0]?.clientPort as number;
      server = { port, restart: () => s.restart(true), stop: () => s.stop() };
      proxy = await startProxy(port, rand);
      url = `etcd://127.0.0.1:${proxy.port}/faults-${runId}/`;
      return;
    }
    case 'etcd-cluster': {
      const { startEtcdServer } = await import('../test/helpers/etcd-server.js');
      const cluster = await startEtcdServer({ members: 3 });
      const killLeader = async () => {
        const leader = await cluster.leader();
        await cluster.members[leader]?.kill(true);
        await sleep(between(1000, 4000));
        await cluster.members[leader]?.start();
      };
      server = { port: cluster.members[0]?.clientPort as number, restart: killLeader, stop: () => cluster.stop() };
      url = `${cluster.url}/faults-${runId}/`;
      return;
    }
    case 'nats-cluster': {
      // nats-server 2.10 (scripts/fetch-nats-server.sh, or LEASEHOLD_NATS_SERVER): the machine's
      // 2.9.10 predates the replicated compare-and-set fix, and the store refuses R3 buckets there.
      const { startNatsCluster } = await import('../test/helpers/nats-server.js');
      const cluster = await startNatsCluster();
      const bucket = `faults-${runId}`;
      const killLeader = async () => {
        const leader = await cluster.streamLeader(`KV_${bucket}`);
        if (!leader) return; // no leader right now (an election): no fault this time
        await leader.kill(true);
        await sleep(between(1000, 4000));
        await leader.start();
        // The fault lasts until the stream has a leader and every replica again: on 2.10 an
        // election can outlast the 1-4 s the old leader was away (a follower waits 4-9 s).
        await cluster.waitForStream(`KV_${bucket}`).catch(() => {});
      };
      server = { port: cluster.servers[0]?.port as number, restart: killLeader, stop: () => cluster.stop() };
      url = `${cluster.url}/${bucket}?replicas=3`;
      return;
    }
    case 'dynamodb': {
      const { startDynalite } = await import('../test/helpers/dynalite-server.js');
      const s = await startDynalite({ persistent: true });
      server = { port: s.port, restart: () => s.restart(true), stop: () => s.stop() };
      proxy = await startProxy(s.port, rand);
      url = s.url(`faults-${runId}`).replace(`%3A${s.port}`, `%3A${proxy.port}`);
      return;
    }
  }
}

// --- sink -------------------------------------------------------------------------
const sinkFile = join(dir, 'sink.jsonl');
async function startSink(): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'sink.ts'), sinkFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('sink did not start')), 20_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.once('exit', () => reject(new Error('sink exited')));
  });
  return { proc, port };
}

// --- workers ----------------------------------------------------------------------
interface Worker {
  id: string;
  ids: string[];
  proc: ChildProcess;
  exited: Promise<void>;
  paused: boolean;
  /** The harness killed or stopped it: its exit is not a crash. */
  expectedExit: boolean;
  clock?: string;
}
/** Workers that exited without being killed or stopped by the harness (a crash: must be 0). */
const crashes: { w: string; code: number | null; signal: string | null; at: number }[] = [];
const workers = new Map<string, Worker>();
const lives = new Map<string, WorkerLife>();
const faults: FaultRecord[] = [];
let nextId = 1;
let sinkPort = 0;

async function spawnWorker(clockOffset?: string): Promise<Worker> {
  const ids = storeName === 'memory' ? Array.from({ length: nWorkers }, () => `w${nextId++}`) : [`w${nextId++}`];
  const cfg: WorkerConfig = {
    url,
    ids,
    keys,
    interval: `${periodMs}ms`,
    ttl: `${ttlMs}ms`,
    catchUp: `${catchUpMs}ms`,
    workMs: profile.workMs,
    dir,
    sinkPort,
    stallMs: stallMs,
    placementTtlMs,
  };
  const wenv: NodeJS.ProcessEnv = { ...env };
  if (clockOffset && faketimeLib) {
    wenv.LD_PRELOAD = faketimeLib;
    wenv.FAKETIME = clockOffset;
    wenv.FAKETIME_DONT_FAKE_MONOTONIC = '1';
    wenv.FAKETIME_NO_CACHE = '1';
  }
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'worker.ts'), JSON.stringify(cfg)], {
    env: wenv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const w: Worker = {
    id: ids[0] as string,
    ids,
    proc,
    exited,
    paused: false,
    expectedExit: false,
    ...(clockOffset ? { clock: clockOffset } : {}),
  };
  proc.once('exit', (code, signal) => {
    if (!w.expectedExit) crashes.push({ w: w.id, code, signal, at: mono() });
  });
  const giveUp = new AbortController();
  const ready = await Promise.race([
    new Promise<boolean>((resolve) => proc.once('message', () => resolve(true))),
    exited.then(() => false),
    sleep(180_000, false, { signal: giveUp.signal }).catch(() => false),
  ]);
  giveUp.abort();
  if (!ready) {
    // A worker that never came up (the machine is starved, or it crashed while starting):
    // the run goes on without it; a crash is counted by the exit handler above.
    console.error(`faults: worker ${w.id} did not become ready`);
    w.expectedExit = w.proc.exitCode === null && w.proc.signalCode === null;
    proc.kill('SIGKILL');
    await exited;
    for (const id of ids) lives.set(id, { w: id, start: mono(), end: mono() });
    return w;
  }
  workers.set(w.id, w);
  for (const id of ids) lives.set(id, { w: id, start: mono() });
  void exited.then(() => {
    workers.delete(w.id);
    for (const id of ids) {
      const l = lives.get(id);
      if (l && l.end === undefined) l.end = mono();
    }
  });
  return w;
}

/** The last `bytes` of a file, or '' when it cannot be read. */
function tailOf(file: string, bytes: number): string {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    const len = Math.min(size, bytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    closeSync(fd);
    return buf.toString();
  } catch {
    return '';
  }
}

/** True when the worker's history shows a run started and not yet ended. */
function inRun(id: string): boolean {
  const text = tailOf(join(dir, `hist-${id}.jsonl`), 16_384);
  if (!text) return false;
  const open = new Set<string>();
  for (const line of text.split('\n').slice(1)) {
    const ev = /"ev":"(invoke|ok|fail|lost)","k":"([^"]+)","s":"([^"]+)"/.exec(line);
    if (!ev) continue;
    const id2 = `${ev[2]}|${ev[3]}`;
    if (ev[1] === 'invoke') open.add(id2);
    else open.delete(id2);
  }
  return open.size > 0;
}

/** True when the worker's last view of the fleet (its latest `own` line) gave it a job. */
function ownsJobs(id: string): boolean {
  const text = tailOf(join(dir, `hist-${id}.jsonl`), 65_536);
  const lines = text.split('\n').filter((line) => line.includes('"ev":"own"'));
  const last = lines.at(-1);
  if (!last) return false;
  try {
    return ((JSON.parse(last) as { keys?: string[] }).keys ?? []).length > 0;
  } catch {
    return false;
  }
}

function liveWorkers(): Worker[] {
  return [...workers.values()].filter((w) => !w.paused && w.proc.exitCode === null && w.proc.signalCode === null);
}

/** A worker that is mid-run, waiting up to `waitMs` for one; else undefined. */
async function findHolder(waitMs: number): Promise<Worker | undefined> {
  const until = mono() + waitMs;
  while (mono() < until) {
    const h = liveWorkers().find((w) => inRun(w.id));
    if (h) return h;
    await sleep(10);
  }
  return undefined;
}

const pick = <T>(xs: T[]): T | undefined => xs[Math.floor(rand() * xs.length)];
const between = (a: number, b: number) => a + rand() * (b - a);

/** SIGSTOPs `victim` for `ms`, then SIGCONTs it, and records the fault (and whether it was mid-run). */
async function pauseFor(kind: FaultKind, victim: Worker, ms: number): Promise<void> {
  const holder = inRun(victim.id);
  const t = mono();
  victim.paused = true;
  victim.proc.kill('SIGSTOP');
  await sleep(ms);
  victim.proc.kill('SIGCONT');
  victim.paused = false;
  faults.push({ kind, start: t, end: mono(), worker: victim.id, holder, detail: `${Math.round(ms)}ms` });
}

/** Injects one fault; false when there is no time left for it before `until`. */
async function inject(kind: FaultKind, until: number): Promise<boolean> {
  const left = until - mono();
  switch (kind) {
    case 'kill': {
      const victim = rand() < 0.5 ? ((await findHolder(3 * periodMs)) ?? pick(liveWorkers())) : pick(liveWorkers());
      if (!victim) return true;
      const holder = inRun(victim.id);
      const t = mono();
      victim.expectedExit = true;
      victim.proc.kill('SIGKILL');
      faults.push({ kind, start: t, end: t, worker: victim.id, holder });
      await victim.exited;
      await spawnWorker();
      return true;
    }
    case 'pause': {
      const d = ttlMs * between(1.2, 2);
      if (d + 3 * periodMs > left) return false;
      const victim = (await findHolder(3 * periodMs)) ?? pick(liveWorkers());
      if (victim) await pauseFor(kind, victim, d);
      return true;
    }
    case 'owner-pause': {
      // Placement's fault: a host that owns jobs, idle, is paused past its liveness TTL and
      // one heartbeat, so its jobs move; when it wakes it still believes it owns them, and
      // must not run a slot the new owner ran (P1).
      if (placementTtlMs === false) return true;
      const d = placementTtlMs * (1 + 2 / 3);
      if (d + 3 * periodMs > left) return false;
      const victim = pick(liveWorkers().filter((w) => ownsJobs(w.id) && !inRun(w.id)));
      if (victim) await pauseFor(kind, victim, d);
      return true;
    }
    case 'restart': {
      const t = mono();
      await server?.restart();
      faults.push({ kind, start: t, end: mono() });
      return true;
    }
    case 'partition': {
      const d = ttlMs * between(0.5, 2);
      if (d > left) return false;
      const t = mono();
      proxy?.partition();
      await sleep(d);
      proxy?.heal();
      faults.push({ kind, start: t, end: mono(), detail: `${Math.round(d)}ms` });
      return true;
    }
    case 'delay': {
      const max = between(0.1, 2) * ttlMs;
      const d = ttlMs * between(2, 4);
      if (d > left) return false;
      const t = mono();
      proxy?.delay(max);
      await sleep(d);
      proxy?.delay(0);
      faults.push({ kind, start: t, end: mono(), detail: `up to ${Math.round(max)}ms for ${Math.round(d)}ms` });
      return true;
    }
    case 'clock': {
      if (left < 4 * ttlMs) return false;
      const victim = pick(liveWorkers());
      if (!victim) return true;
      const offset = rand() < 0.5 ? '+30s' : '-30s';
      const t = mono();
      victim.expectedExit = true;
      victim.proc.kill('SIGTERM');
      await victim.exited;
      const skewed = await spawnWorker(offset);
      await sleep(Math.max(0, Math.min(ttlMs * between(3, 6), until - mono())));
      skewed.expectedExit = true;
      skewed.proc.kill('SIGTERM');
      await skewed.exited;
      faults.push({ kind, start: t, end: mono(), worker: skewed.id, detail: offset });
      await spawnWorker();
      return true;
    }
    case 'stall':
    case 'timeout':
      return true;
  }
}

// --- run --------------------------------------------------------------------------
function readJsonl<T>(file: string): T[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // a line cut by SIGKILL
    }
  }
  return out;
}

const toMs = (t: string | undefined): number | undefined =>
  t === undefined ? undefined : Number(BigInt(t) - hr0) / 1e6;

function fmt(n: number | null | undefined): string {
  return n === null || n === undefined ? '-' : String(Math.round(n));
}

function table(r: CheckResult): string {
  const rows: string[][] = [
    ['fault', 'injected', 'on a holder', 'failover p50 ms', 'failover max ms', 'overlaps near'],
  ];
  for (const k of FAULT_KINDS) {
    if (!supported.includes(k)) {
      rows.push([k, 'n/a', '', '', '', '']);
      continue;
    }
    const fs = faults.filter((f) => f.kind === k);
    const lat = k === 'kill' ? r.failover.kill : k === 'pause' ? r.failover.pause : undefined;
    rows.push([
      k,
      String(fs.length),
      k === 'kill' || k === 'pause' ? String(fs.filter((f) => f.holder).length) : '',
      lat ? fmt(lat.p50) : '',
      lat ? fmt(lat.max) : '',
      String(r.overlapsByFault[k] ?? 0),
    ]);
  }
  const st = faults.filter((f) => f.kind === 'stall');
  const to = faults.filter((f) => f.kind === 'timeout');
  rows.push([
    'store timeout (observed)',
    String(to.length),
    `${new Set(to.map((f) => f.worker)).size} workers`,
    '',
    '',
    '',
  ]);
  rows.push([
    'stall (observed)',
    String(st.length),
    `${st.filter((f) => !f.worker).length} machine-wide`,
    '',
    `longest ${fmt(Math.max(0, ...st.map((f) => f.end - f.start)))}`,
    String(r.overlapsByFault.stall ?? 0),
  ]);
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')).join('\n');
}

const children: ChildProcess[] = [];
let sinkProc: ChildProcess | undefined;
async function cleanup(): Promise<void> {
  for (const w of workers.values()) {
    w.proc.kill('SIGCONT');
    w.proc.kill('SIGKILL');
  }
  sinkProc?.kill('SIGKILL');
  await proxy?.close().catch(() => {});
  await server?.stop().catch(() => {});
  for (const c of children) c.kill('SIGKILL');
}

async function main(): Promise<number> {
  const t0 = performance.now();
  // The harness's own stall monitor stands for the machine: when it is starved, so are
  // the store server and the sink.
  let lastTick = mono();
  const monitor = setInterval(() => {
    const now = mono();
    if (now - lastTick > 50 + stallMs) faults.push({ kind: 'stall', start: lastTick, end: now });
    lastTick = now;
  }, 50);
  monitor.unref();
  await startStore();
  const sink = await startSink();
  sinkProc = sink.proc;
  sinkPort = sink.port;
  if (storeName === 'memory') await spawnWorker();
  else await Promise.all(Array.from({ length: nWorkers }, () => spawnWorker()));
  const readyT = mono();
  const readyWall = wallAtZero + readyT;
  const stopAt = readyT + durationMs;
  // Faults stop early enough that the last checked slots' windows are fault-free.
  const faultsUntil = stopAt - catchUpMs - ttlMs - 1000;
  console.log(
    `faults: store=${storeName} seed=${seed} workers=${nWorkers} keys=${nKeys} period=${periodMs}ms ttl=${ttlMs}ms catchUp=${catchUpMs}ms faults=${kinds.join(',') || 'none'} dir=${dir}`,
  );
  await sleep(Math.min(ttlMs, 3000));
  while (kinds.length > 0 && mono() < faultsUntil) {
    const kind = pick(kinds) as FaultKind;
    if (!(await inject(kind, faultsUntil))) {
      await sleep(Math.max(0, Math.min(periodMs, faultsUntil - mono())));
      continue;
    }
    const gap = between(periodMs, Math.max(2 * periodMs, ttlMs));
    await sleep(Math.max(0, Math.min(gap, faultsUntil - mono())));
  }
  await sleep(Math.max(0, stopAt - mono()));
  const endT = mono();
  const stopWall = wallAtZero + endT;
  const exits = [...workers.values()].map((w) => {
    w.expectedExit = true;
    w.proc.kill('SIGCONT');
    w.proc.kill('SIGTERM');
    return Promise.race([w.exited, sleep(15_000).then(() => w.proc.kill('SIGKILL'))]);
  });
  await Promise.all(exits);
  for (const l of lives.values()) if (l.end === undefined || l.end > endT) l.end = endT;
  sink.proc.kill('SIGTERM');
  await new Promise((r) => sink.proc.once('exit', r));

  const history: HistEvent[] = [];
  for (const f of readdirSync(dir).filter((n) => n.startsWith('hist-'))) {
    for (const raw of readJsonl<Record<string, unknown>>(join(dir, f))) {
      const e = { ...raw, t: toMs(raw.t as string) } as unknown as HistEvent;
      if (raw.sent !== undefined) e.sent = toMs(raw.sent as string) as number;
      if (raw.recv !== undefined) e.recv = toMs(raw.recv as string) as number;
      history.push(e);
    }
  }
  // Stalls the workers observed in themselves count as pauses of those workers.
  for (const e of history)
    if (e.ev === 'stall' && e.sent !== undefined && e.recv !== undefined)
      faults.push({ kind: 'stall', start: e.sent, end: e.recv, worker: e.w });
  faults.push(...observedTimeouts(history, ttlMs));
  const sinkRecs = readJsonl<Record<string, unknown>>(sinkFile).map(
    (r) => ({ ...r, t: toMs(r.t as string) }) as unknown as SinkRecord,
  );
  // What the checker is given besides the histories and the sink record (kept for recheck.ts below).
  const window = {
    periodMs,
    ttlMs,
    // The harness's Redis keeps nothing on disk; a cluster failover can drop the last writes.
    ...(storeName === 'redis' || storeName === 'redis-cluster' ? { restartLosesLeases: true } : {}),
    ...(placementTtlMs === false ? {} : { placementTtlMs }),
    catchUpMs,
    pollMs,
    keys,
    slotsFrom: readyWall + periodMs,
    slotsTo: stopWall - catchUpMs - periodMs,
    wallAtZero,
    endT,
  };
  const result = check({ ...window, history, sink: sinkRecs, faults, workers: [...lives.values()] });
  writeFileSync(join(dir, 'faults.json'), JSON.stringify(faults, null, 1));
  // Everything the checker needs besides the histories and the sink record, so that a kept
  // run can be checked again: node --import tsx faults/recheck.ts <dir>
  writeFileSync(
    join(dir, 'check-input.json'),
    JSON.stringify({
      hr0: String(hr0),
      ...window,
      faults: faults.filter((f) => f.kind !== 'stall' || !f.worker),
      workers: [...lives.values()],
    }),
  );
  const counts: Record<string, number> = {};
  for (const k of kinds) counts[k] = faults.filter((f) => f.kind === k).length;
  const stalls = faults.filter((f) => f.kind === 'stall');
  // A run that could judge fewer than half its slots (store unusable, machine starved)
  // proves little: it does not pass.
  const conclusive = result.slots > 0 && result.slots - result.unrunnable >= result.slots / 2;
  const ok = result.ok && crashes.length === 0 && conclusive;
  const doc = {
    store: storeName,
    durationMs: Math.round(endT - readyT),
    workers: nWorkers,
    keys: nKeys,
    seed,
    periodMs,
    ttlMs,
    catchUpMs,
    slots: result.slots,
    runs: result.runs,
    faults: counts,
    staleAccepted: result.staleAccepted,
    tokenRegressions: result.tokenRegressions,
    doubleRunsWithoutFault: result.doubleRunsWithoutFault,
    lostSlots: result.lostSlots,
    unfencedOverlaps: result.unfencedOverlaps,
    unexplainedOverlaps: result.unexplainedOverlaps,
    staleRejected: result.staleRejected,
    overlapSkipped: result.overlapSkipped,
    unrunnable: result.unrunnable,
    doubleRunsAfterFault: result.doubleRunsAfterFault,
    failoverMs: {
      p50: result.failover.all.p50,
      max: result.failover.all.max,
      budget: result.failover.budgetMs,
      kill: result.failover.kill,
      pause: result.failover.pause,
    },
    workerCrashes: crashes.length,
    conclusive,
    storeTimeoutsObserved: faults.filter((f) => f.kind === 'timeout').length,
    stallsObserved: {
      count: stalls.length,
      machineWide: stalls.filter((f) => !f.worker).length,
      longestMs: Math.round(Math.max(0, ...stalls.map((f) => f.end - f.start))),
    },
    ok,
    wallMs: Math.round(performance.now() - t0),
  };
  console.log(
    `\n${storeName}: ${result.slots} slots checked (${nKeys} keys), ${result.runs} runs, ${Math.round((endT - readyT) / 1000)}s, seed ${seed}`,
  );
  console.log(table(result));
  for (const c of crashes)
    console.log(
      `  ! crash: worker ${c.w} exited on its own (${c.signal ?? `code ${c.code}`}) at ${Math.round(c.at)}ms; its stderr is above`,
    );
  console.log(
    `must be 0: workerCrashes=${crashes.length} staleAccepted=${result.staleAccepted} tokenRegressions=${result.tokenRegressions} doubleRunsWithoutFault=${result.doubleRunsWithoutFault} lostSlots=${result.lostSlots} unexplainedOverlaps=${result.unexplainedOverlaps}`,
  );
  console.log(
    `reported:  unfencedOverlaps=${result.unfencedOverlaps} staleRejected=${result.staleRejected} overlapSkipped=${result.overlapSkipped} unrunnable=${result.unrunnable} doubleRunsAfterFault=${result.doubleRunsAfterFault} failover p50/max=${fmt(result.failover.all.p50)}/${fmt(result.failover.all.max)}ms (budget TTL+poll=${result.failover.budgetMs}ms, over: ${result.failover.all.overBudget})`,
  );
  for (const p of result.problems) console.log(`  ! ${p}`);
  if (!conclusive)
    console.log(
      `INCONCLUSIVE: only ${result.slots - result.unrunnable} of ${result.slots} slots could be judged (the rest had no chance to run: store timeouts, outages, stalls)`,
    );
  console.log(ok ? 'PASS' : 'FAIL');
  if (args.json) writeFileSync(args.json, `${JSON.stringify(doc, null, 2)}\n`);
  await cleanup();
  if (ok && !args.keep) rmSync(dir, { recursive: true, force: true });
  else console.log(`history kept in ${dir}`);
  return ok ? 0 : 1;
}

process.once('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});
main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    console.error(`faults: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await cleanup();
    process.exit(2);
  },
);
