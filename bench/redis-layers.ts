/**
 * Where a Redis acquire + release spends its time, layer by layer, in one process: C
 * callers looping on their own keys for each of
 *
 * - `leasehold`: `tryAcquire` → `release` through the core (what users call);
 * - `store`: the Redis store's own `acquire` → `release`, no core;
 * - `scripts`: the store's two Lua scripts sent straight from ioredis, no store code;
 * - `redis-semaphore` and `redlock`: the peers, as `bench/peers.ts` runs them.
 *
 * Each gets its own connection. Rounds alternate the layers; each line gives the rate and
 * the process's CPU (user + system, `process.cpuUsage`) per acquire + release. Figures
 * only, for the comparisons in docs/performance.md ("Redis: the convoy the write batching
 * made"); on a shared 2-core machine read them as ratios within one round.
 *
 * `node --import ./bench/register.mjs bench/redis-layers.ts [contenders=8] [roundMs=1500] [rounds=3] [layer]`
 * (LEASEHOLD_REDIS_URL, default redis://127.0.0.1:6379, as the benchmark; keys under `leasehold-layers:<pid>:`, deleted at the end.)
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Leasehold } from '../src/leasehold.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { cleanRedis, REDIS_URL } from './lib.js';
import { redlockCycle, scriptsCycle, semaphoreCycle } from './redis-cycles.js';

const contenders = Number(process.argv[2] ?? 8);
const roundMs = Number(process.argv[3] ?? 1500);
const rounds = Number(process.argv[4] ?? 3);
const only = process.argv[5];
const TTL = 10_000;
const prefix = `leasehold-layers:${process.pid}:`;

type Cycle = (key: string) => Promise<void>;
const clients: Redis[] = [];
function client(): Redis {
  const c = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  clients.push(c);
  return c;
}

const store = new RedisStore({ client: client(), prefix: `${prefix}lh:` });
const lh = new Leasehold({ store });
const timing = { ttlMs: TTL, retryMs: 10 };

const layers: Record<string, Cycle> = {
  leasehold: async (key) => {
    const lease = await lh.tryAcquire(key, { ttl: TTL });
    if (!lease) throw new Error(`leasehold: own key ${key} was busy`);
    await lease.release();
  },
  store: async (key) => {
    const leaseId = randomUUID();
    const granted = await store.acquire({ key, holder: 'bench', leaseId, ttlMs: TTL });
    if (!granted.acquired) throw new Error(`store: own key ${key} was busy`);
    await store.release({ key, leaseId, token: granted.token });
  },
  scripts: scriptsCycle(client(), `${prefix}s:`, timing),
  'redis-semaphore': semaphoreCycle(client(), `${prefix}sem:`, timing),
  redlock: redlockCycle(client(), `${prefix}rl:`, timing),
};

/** Rate and CPU per cycle of `cycle` with `contenders` callers for `ms`. */
async function measure(cycle: Cycle, ms: number): Promise<{ perSec: number; cpuUs: number }> {
  const end = performance.now() + ms;
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: contenders }, async (_, i) => {
      while (performance.now() < end) {
        await cycle(`k${i}`);
        n++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { perSec: (n * 1000) / (performance.now() - t0), cpuUs: (cpu.user + cpu.system) / Math.max(n, 1) };
}

const chosen = Object.entries(layers).filter(([name]) => only === undefined || name === only);
if (chosen.length === 0) throw new Error(`unknown layer "${only}" (known: ${Object.keys(layers).join(', ')})`);
try {
  // Warm-up: connections, scripts and the JIT.
  for (const [, cycle] of chosen) await measure(cycle, 2000);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? chosen : [...chosen].reverse();
    for (const [name, cycle] of order) {
      const { perSec, cpuUs } = await measure(cycle, roundMs);
      console.log(
        `round ${r + 1} c${contenders} ${name.padEnd(15)} ${Math.round(perSec).toString().padStart(6)}/s ` +
          `${cpuUs.toFixed(1).padStart(6)} µs CPU per acquire + release`,
      );
    }
  }
} finally {
  await store.close();
  for (const c of clients) c.disconnect();
  await cleanRedis(prefix);
}
