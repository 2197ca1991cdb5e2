/**
 * The floor of the Redis store's protocol against the peers', with no library code on
 * either side: the store's own acquire and release scripts called straight from ioredis
 * (fresh lease ids, own keys), against `SET NX PX` + a compare-and-delete script (what
 * redis-semaphore and redlock send). C contenders, alternating rounds, median.
 *
 * `node --import ./bench/register.mjs bench/redis-scripts.ts [contenders=1,8,64] [roundMs=1000]`
 * (LEASEHOLD_REDIS_URL, default redis://127.0.0.1:6379, as the benchmark; keys under `leasehold-floor:<pid>:`, deleted at the end.)
 * docs/performance.md, "Redis against redis-semaphore and redlock: the scripts' own floor".
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { cleanRedis, median, REDIS_URL } from './lib.js';
import { scriptsCycle } from './redis-cycles.js';

const contenders = (process.argv[2] ?? '1,8,64').split(',').map(Number);
const roundMs = Number(process.argv[3] ?? 1000);
const ROUNDS = 7;
const client = new Redis(REDIS_URL);
const prefix = `leasehold-floor:${process.pid}:`;
const CAD = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

type Cycle = (key: string) => Promise<void>;
// Sent as EVALSHA, as the peers do.
client.defineCommand('compareAndDelete', { numberOfKeys: 1, lua: CAD });
const cad = client as unknown as { compareAndDelete(key: string, id: string): Promise<number> };
const peers: Cycle = async (key) => {
  const id = randomUUID();
  await client.set(`${prefix}p:${key}`, id, 'PX', 10_000, 'NX');
  await cad.compareAndDelete(`${prefix}p:${key}`, id);
};
const scripts: Cycle = scriptsCycle(client, `${prefix}l:`, { ttlMs: 10_000 });

/** Cycles per second of `cycle` with `c` contenders on their own keys for `ms`. */
async function rate(cycle: Cycle, c: number, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let n = 0;
  await Promise.all(
    Array.from({ length: c }, async (_, i) => {
      while (performance.now() < end) {
        await cycle(`k${i}`);
        n++;
      }
    }),
  );
  return (n * 1000) / ms;
}

try {
  await rate(peers, 8, 1000);
  await rate(scripts, 8, 1000);
  for (const c of contenders) {
    const ratios: number[] = [];
    const p: number[] = [];
    const s: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const first = r % 2 === 0;
      const a = await rate(first ? peers : scripts, c, roundMs);
      const b = await rate(first ? scripts : peers, c, roundMs);
      const [pr, sr] = first ? [a, b] : [b, a];
      p.push(pr);
      s.push(sr);
      ratios.push(sr / pr);
    }
    const shown = ratios.map((x) => x.toFixed(2)).join(' ');
    console.log(
      `c${c}: SET NX PX + compare-and-delete ${Math.round(median(p))}/s, leasehold's scripts ` +
        `${Math.round(median(s))}/s, ratio ${median(ratios).toFixed(2)} (rounds ${shown})`,
    );
  }
} finally {
  client.disconnect();
  await cleanRedis(prefix);
}
