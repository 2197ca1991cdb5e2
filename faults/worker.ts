/**
 * A fault-harness worker: `node --import tsx faults/worker.ts '<json WorkerConfig>'`.
 *
 * Runs one or more Leasehold instances (one per id; several only for the memory store,
 * which lives in one process) with a job per key on the store at `url`. Every run writes
 * to the fenced sink twice (`begin` when it starts, `commit` when its work is done) and
 * every event is appended as a JSON line, stamped with `process.hrtime.bigint()` (one
 * monotonic clock for every process on the machine), to `<dir>/hist-<id>.jsonl`.
 *
 * Events: `ready`, `own` (placement: the jobs this worker owns, after each change of its view),
 * `acq` (an acquire the store granted: sent/recv times, token, leaseId),
 * `mark` / `settle` (the scheduler's fenced start and end records, seen on their way to
 * the store), `stall` (this process did not run for a while: from `sent` to `recv`), `invoke` / `ok` / `fail` (the handler), `lost` (lease:lost), `skip`
 * (slot:skipped with its reason), `sink` (the sink's answer), `stopped`.
 * SIGTERM stops cleanly.
 */
import { appendFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Leasehold } from '../src/leasehold.js';
import { openStore } from '../src/open.js';
// Registers the test-only redis-cluster:// scheme of the harness's redis-cluster mode.
import '../test/helpers/redis-cluster.js';
import type { LeaseStore } from '../src/store.js';

/** What the harness passes to a worker process. */
export interface WorkerConfig {
  /** Store URL (network stores: through the harness's proxy). */
  url: string;
  /** Worker ids hosted by this process (more than one only for `memory:`). */
  ids: string[];
  /** Job keys; every worker schedules every key. */
  keys: string[];
  /** Job period, e.g. `'500ms'`. */
  interval: string;
  /** Lease TTL, e.g. `'1500ms'`. */
  ttl: string;
  /** Catch-up window, e.g. `'4s'`. */
  catchUp: string;
  /** Each run works for a random time in this range (ms), between its two sink writes. */
  workMs: [number, number];
  /** Folder of the history files. */
  dir: string;
  /** Port of the fenced sink on 127.0.0.1. */
  sinkPort: number;
  /** A timer firing this much late is logged as a `stall`. */
  stallMs: number;
  /**
   * Placement's liveness TTL (ms), or false: every worker tries every slot (the race).
   * The harness passes two thirds of the job TTL (within the store's bounds) by default.
   */
  placementTtlMs: number | false;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const hr = () => String(process.hrtime.bigint());

/** One line-protocol connection to the sink; requests are answered in order. */
class SinkClient {
  readonly #sock: Socket;
  readonly #waiting: ((ok: boolean) => void)[] = [];
  #buf = '';
  constructor(port: number) {
    this.#sock = connect(port, '127.0.0.1');
    this.#sock.setNoDelay(true);
    this.#sock.on('data', (d: Buffer) => {
      this.#buf += d.toString();
      for (let i = this.#buf.indexOf('\n'); i >= 0; i = this.#buf.indexOf('\n')) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        this.#waiting.shift()?.(line === '1');
      }
    });
    this.#sock.on('error', () => {
      for (const w of this.#waiting.splice(0)) w(false);
    });
  }
  write(req: { k: string; tok: number; w: string; s: string; p: 'begin' | 'commit' }): Promise<boolean> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#sock.write(`${JSON.stringify(req)}\n`);
    });
  }
  close(): void {
    this.#sock.end();
  }
}

type Recorded = { running?: { slot: string; token?: number } | null; lastSlot?: string | null; lastOutcome?: string };

/**
 * Wraps a store so that granted acquires and the scheduler's fenced records are logged with
 * send/receive times: start records (`mark`) written by writeState or, on the fused path,
 * by the acquire's mark; end records (`settle`) written by writeState or by a release with
 * state.
 */
function observed(store: LeaseStore, log: (ev: object) => void): LeaseStore {
  const record = (key: string, token: number, state: unknown, sent: string, ok: boolean) => {
    const st = state as Recorded | null | undefined;
    if (st?.running && st.running.token === token)
      log({ ev: 'mark', k: key, tok: token, s: st.running.slot, sent, recv: hr(), ok });
    else if (st && !st.running && st.lastSlot)
      log({ ev: 'settle', k: key, tok: token, s: st.lastSlot, out: st.lastOutcome, sent, recv: hr(), ok });
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'acquire') {
        const f: LeaseStore['acquire'] = async (req, opts) => {
          const sent = hr();
          const r = await target.acquire(req, opts);
          if (r.acquired) log({ ev: 'acq', k: req.key, tok: r.token, lid: req.leaseId, sent, recv: hr() });
          const slot = (req.mark as { slot?: unknown } | undefined)?.slot;
          if (r.acquired && typeof slot === 'string') {
            log({ ev: 'mark', k: req.key, tok: r.token, s: slot, sent, recv: hr(), ok: true });
          }
          return r;
        };
        return f;
      }
      if (prop === 'writeState') {
        const f: LeaseStore['writeState'] = async (req, opts) => {
          const sent = hr();
          const ok = await target.writeState(req, opts);
          record(req.key, req.token, req.state, sent, ok);
          return ok;
        };
        return f;
      }
      if (prop === 'release') {
        const f: LeaseStore['release'] = async (req, opts) => {
          const sent = hr();
          const ok = await target.release(req, opts);
          if (req.state !== undefined) record(req.key, req.token, req.state, sent, ok);
          return ok;
        };
        return f;
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const sink = new SinkClient(cfg.sinkPort);
const instances: { lh: Leasehold; store: LeaseStore; log: (ev: object) => void }[] = [];
const shared = cfg.url.startsWith('memory:') ? await openStore(cfg.url) : undefined;

for (const id of cfg.ids) {
  const file = join(cfg.dir, `hist-${id}.jsonl`);
  const log = (ev: object) => appendFileSync(file, `${JSON.stringify({ t: hr(), w: id, pid: process.pid, ...ev })}\n`);
  const raw = shared ?? (await openStore(cfg.url));
  const store = observed(raw, log);
  const placement = cfg.placementTtlMs === false ? false : { ttl: cfg.placementTtlMs };
  const lh = new Leasehold({ store, holder: `${id}:${process.pid}`, placement });
  // Which jobs this worker owns (placement): all of them until its first view of the fleet.
  const owned = new Set(cfg.keys);
  lh.on('placement:changed', (e) => {
    for (const key of e.lost) owned.delete(key);
    for (const key of e.gained) owned.add(key);
    log({ ev: 'own', keys: [...owned].sort(), hosts: e.hosts });
  });
  for (const key of cfg.keys) {
    lh.every(
      cfg.interval,
      key,
      async (ctx) => {
        const s = ctx.slot.toISOString();
        log({ ev: 'invoke', k: key, s, tok: ctx.token, attempt: ctx.attempt });
        try {
          const a = await sink.write({ k: key, tok: ctx.token, w: id, s, p: 'begin' });
          log({ ev: 'sink', k: key, s, tok: ctx.token, p: 'begin', ok: a });
          const [lo, hi] = cfg.workMs;
          await sleep(lo + Math.random() * (hi - lo), undefined, { signal: ctx.signal });
          const b = await sink.write({ k: key, tok: ctx.token, w: id, s, p: 'commit' });
          log({ ev: 'sink', k: key, s, tok: ctx.token, p: 'commit', ok: b });
          log({ ev: 'ok', k: key, s, tok: ctx.token });
        } catch (err) {
          log({ ev: 'fail', k: key, s, tok: ctx.token, err: err instanceof Error ? err.message : String(err) });
          throw err;
        }
      },
      { ttl: cfg.ttl, catchUp: cfg.catchUp },
    );
  }
  lh.on('lease:lost', (e) => log({ ev: 'lost', k: e.key, s: e.slot.toISOString(), tok: e.token }));
  lh.on('slot:skipped', (e) =>
    log({ ev: 'skip', k: e.key, s: e.slot.toISOString(), reason: e.reason, detail: e.detail }),
  );
  // Diagnostics (not read by the checker): store errors and lease losses outside runs.
  lh.on('error', (e) =>
    log({
      ev: 'error',
      k: e.key,
      during: e.during,
      msg: e.error instanceof Error ? e.error.message.slice(0, 200) : String(e.error),
    }),
  );
  lh.on('lost', (e) => log({ ev: 'leaselost', k: e.key, tok: e.token }));
  lh.on('run:success', (e) => log({ ev: 'success', k: e.key, s: e.slot.toISOString(), tok: e.token }));
  instances.push({ lh, store: raw, log });
}

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await Promise.all(instances.map((i) => i.lh.stop({ grace: '1s' }).catch(() => {})));
      for (const i of instances) i.log({ ev: 'stopped' });
      await Promise.all([...new Set(instances.map((i) => i.store))].map((s) => s.close().catch(() => {})));
      sink.close();
      process.exit(0);
    })();
  });
}

// Stall monitor: a timer that should fire every 50 ms; when it fires more than
// `stallMs` late, this process was not running (starved of CPU, stopped, swapped) and
// every worker in it logs a `stall` (from/to), which the checker treats like a pause.
let lastTick = process.hrtime.bigint();
const stallNs = BigInt(Math.round(cfg.stallMs * 1e6));
const monitor = setInterval(() => {
  const now = process.hrtime.bigint();
  if (now - lastTick > 50_000_000n + stallNs)
    for (const i of instances) i.log({ ev: 'stall', sent: String(lastTick), recv: String(now) });
  lastTick = now;
}, 50);
monitor.unref();

await Promise.all(instances.map((i) => i.lh.start()));
for (const i of instances) i.log({ ev: 'ready', wall: Date.now() });
process.send?.({ ready: true });
