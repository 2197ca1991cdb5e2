/**
 * One acquire + release on Redis, as each library under comparison does it: leasehold's
 * two store scripts called straight from ioredis, redis-semaphore's `Mutex` and
 * redlock's `Redlock`. Shared by the peer section (`peers.ts`), the layer probe
 * (`redis-layers.ts`) and the scripts' floor (`redis-scripts.ts`), so every figure
 * compares the same calls.
 */
import { randomUUID } from 'node:crypto';
import { Redlock } from '@sesamecare-oss/redlock';
import type { Redis } from 'ioredis';
import { Mutex } from 'redis-semaphore';
import { acquireScript } from '../src/stores/redis/scripts/acquire.js';
import { releaseScript } from '../src/stores/redis/scripts/release.js';

/** One acquire + release on `key`; `wait` blocks (polling every `retryMs`) until the key is free. */
export type RedisCycle = (key: string, wait?: boolean) => Promise<void>;

/** How long a lease lives and how often a blocked caller asks again, in ms. */
export interface CycleTiming {
  ttlMs: number;
  retryMs: number;
}

/** redis-semaphore's `Mutex` on `client`, keys under `prefix`; renewal every ttl/3 as leasehold does. */
export function semaphoreCycle(client: Redis, prefix: string, { ttlMs, retryMs }: CycleTiming): RedisCycle {
  return async (key, wait = false) => {
    const mutex = new Mutex(client, `${prefix}${key}`, {
      lockTimeout: ttlMs,
      acquireTimeout: wait ? 30_000 : retryMs,
      retryInterval: retryMs,
      refreshInterval: Math.floor(ttlMs / 3),
      ...(wait ? {} : { acquireAttemptsLimit: 1 }),
    });
    await mutex.acquire();
    await mutex.release();
  };
}

/** redlock on one Redis (`client`), keys under `prefix`; a blocked caller retries with ±50 % jitter. */
export function redlockCycle(client: Redis, prefix: string, { ttlMs, retryMs }: CycleTiming): RedisCycle {
  const once = new Redlock([client], { retryCount: 0 });
  const waiting = new Redlock([client], {
    retryCount: 3000,
    retryDelay: retryMs,
    retryJitter: Math.round(retryMs / 2),
  });
  return async (key, wait = false) => {
    const lock = await (wait ? waiting : once).acquire([`${prefix}${key}`], ttlMs);
    await lock.release();
  };
}

/** leasehold's acquire and release scripts sent from ioredis, fresh lease ids, no store code; never waits. */
export function scriptsCycle(client: Redis, prefix: string, { ttlMs }: Pick<CycleTiming, 'ttlMs'>): RedisCycle {
  return async (key) => {
    const leaseId = randomUUID();
    const keys = [`${prefix}{${key}}`, `${prefix}{${key}}:lease`];
    const granted = await acquireScript.run(client, keys, ['bench', leaseId, ttlMs]);
    if (!granted.acquired) throw new Error(`scripts: own key ${key} was busy`);
    await releaseScript.run(client, keys, [leaseId, String(granted.token)]);
  };
}
