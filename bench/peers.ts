/**
 * Section 3: acquire + release throughput against redis-semaphore's Mutex and
 * @sesamecare-oss/redlock (one Redis instance), on the same Redis in the same run.
 *
 * - **own key**: C contenders, each looping acquire → release on its own key
 *   (no contention: measures the cost of one lease cycle at concurrency C).
 * - **one key**: C contenders looping blocking acquire → release on one shared key;
 *   every library retries every 10 ms (leasehold: pollInterval 10 ms, ±25 % jitter; its
 *   calls waiting in one process queue, and a release hands the key to the first at once).
 *
 * Each library gets its own ioredis client (one connection, as an application would
 * have), counted at `sendCommand`. A round runs every library for D seconds per
 * concurrency, in rotating order; figures are medians over rounds.
 *
 * On one key, throughput alone rewards a library that lets the contender that just
 * released take the key again at once while the others wait out their retry delay; so
 * each library's **fairness** is reported beside it: the fewest cycles any contender
 * completed, over the mean (1 = every contender got its share, 0 = one was starved).
 */
import type { Redis } from 'ioredis';
import { Leasehold } from '../src/leasehold.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { countingRedis, Counter, median, now, type Figures } from './lib.js';
import { redlockCycle, semaphoreCycle } from './redis-cycles.js';
import type { Servers } from './targets.js';

interface Lib {
  name: string;
  counter: Counter;
  /** One acquire + release on `key`; `wait` blocks (polling) until the key is free. */
  cycle(key: string, wait: boolean): Promise<void>;
  close(): Promise<void>;
}

const TTL = 10_000;
const RETRY_MS = 10;

async function makeLibs(servers: Servers): Promise<Lib[]> {
  const libs: Lib[] = [];
  {
    const counter = new Counter();
    const client = countingRedis(counter);
    const store = new RedisStore({ client, prefix: servers.redisPrefix('peer-lh') });
    const lh = new Leasehold({ store });
    libs.push({
      name: 'leasehold',
      counter,
      cycle: async (key, wait) => {
        const lease = wait
          ? await lh.acquire(key, { ttl: TTL, wait: 30_000, pollInterval: RETRY_MS })
          : await lh.tryAcquire(key, { ttl: TTL });
        if (!lease) throw new Error('leasehold: own key was busy');
        await lease.release();
      },
      close: async () => {
        await store.close();
        client.disconnect();
      },
    });
  }
  const timing = { ttlMs: TTL, retryMs: RETRY_MS };
  const peers: [string, string, typeof semaphoreCycle][] = [
    ['redis-semaphore', 'peer-sem', semaphoreCycle],
    ['redlock', 'peer-redlock', redlockCycle],
  ];
  for (const [name, tag, make] of peers) {
    const counter = new Counter();
    const client: Redis = countingRedis(counter);
    const cycle = make(client, servers.redisPrefix(tag), timing);
    libs.push({
      name,
      counter,
      cycle,
      close: async () => {
        client.disconnect();
      },
    });
  }
  return libs;
}

/** Ops/s of `lib` with `c` contenders for `ms` ms. */
async function throughput(
  lib: Lib,
  c: number,
  ms: number,
  shared: boolean,
  tag: string,
): Promise<{ opsPerSec: number; reqPerOp: number; fairness: number }> {
  const end = now() + ms;
  const perContender = new Array<number>(c).fill(0);
  const c0 = lib.counter.n;
  const t0 = now();
  await Promise.all(
    Array.from({ length: c }, async (_, i) => {
      const key = shared ? `${tag}-shared` : `${tag}-own-${i}`;
      while (now() < end) {
        await lib.cycle(key, shared);
        perContender[i] = (perContender[i] as number) + 1;
      }
    }),
  );
  const elapsed = now() - t0;
  const ops = perContender.reduce((sum, n) => sum + n, 0);
  const fairness = ops === 0 ? Number.NaN : Math.min(...perContender) / (ops / c);
  return { opsPerSec: (ops * 1000) / elapsed, reqPerOp: (lib.counter.n - c0) / Math.max(ops, 1), fairness };
}

/** The goal (issue 13): ≥ 1.0× on own keys at every concurrency, and on one key at 8 and 64. */
function goalNote(shared: boolean, c: number, ratio: number): string {
  const met = ratio >= 1 ? 'goal ≥ 1.0× met' : 'goal ≥ 1.0× MISSED';
  if (!shared) return met;
  return c > 1 ? `contended, retry 10 ms for all; ${met}` : 'contended, retry 10 ms for all';
}

/** Runs section 3. */
export async function benchPeers(figs: Figures, servers: Servers, o: { quick: boolean }): Promise<void> {
  const libs = await makeLibs(servers);
  const rounds = o.quick ? 1 : 3;
  const ms = o.quick ? 300 : 1500;
  const conc = [1, 8, 64];
  try {
    // Warm-up: connections, scripts, and the JIT (leasehold's paths need a second or two
    // of work before they are optimised; a short warm-up under-reports it several-fold).
    for (const lib of libs) await throughput(lib, 8, o.quick ? 500 : 3000, false, 'warm');
    for (const shared of [false, true]) {
      const mode = shared ? 'one-key' : 'own-key';
      for (const c of conc) {
        type Samples = { ops: number[]; req: number[]; fair: number[] };
        const res = new Map<string, Samples>(libs.map((l) => [l.name, { ops: [], req: [], fair: [] }]));
        for (let r = 0; r < rounds; r++) {
          // Rotate the order so no library always runs first or last.
          const order = libs.map((_, i) => libs[(i + r + c) % libs.length] as Lib);
          for (const lib of order) {
            const t = await throughput(lib, c, ms, shared, `${mode}-${c}-${r}`);
            res.get(lib.name)?.ops.push(t.opsPerSec);
            res.get(lib.name)?.req.push(t.reqPerOp);
            res.get(lib.name)?.fair.push(t.fairness);
          }
        }
        const lhOps = res.get('leasehold')?.ops ?? [];
        for (const lib of libs) {
          const v = res.get(lib.name) as Samples;
          figs.add({
            name: `peers.${mode}.c${c}.ops_per_s`,
            store: lib.name,
            value: median(v.ops),
            unit: 'acquire+release/s',
          });
          figs.add({
            name: `peers.${mode}.c${c}.requests`,
            store: lib.name,
            value: median(v.req),
            unit: 'Redis commands/cycle',
          });
          if (shared && c > 1) {
            figs.add({
              name: `peers.${mode}.c${c}.fairness`,
              store: lib.name,
              value: median(v.fair),
              unit: 'fewest cycles / mean',
              note: 'a contender that got no cycle: 0',
            });
          }
          if (lib.name !== 'leasehold') {
            // leasehold throughput / peer throughput, per round, then the median.
            const ratio = median(lhOps.map((x, i) => x / (v.ops[i] as number)));
            figs.add({
              name: `peers.${mode}.c${c}.leasehold_vs`,
              store: 'redis',
              value: median(lhOps),
              unit: 'acquire+release/s',
              ratioTo: lib.name,
              ratio,
              note: goalNote(shared, c, ratio),
            });
          }
        }
      }
    }
  } finally {
    for (const lib of libs) await lib.close();
  }
}
