import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { ConfigError, StaleTokenError } from '../src/errors.js';
import { fencedSet, RedisFence, tryFencedSet } from '../src/fence/index.js';
import { checkHistory, pausedHolders } from './helpers/fence-scenario.js';

const REDIS_URL = process.env.LEASEHOLD_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('fence on Redis', () => {
  let redis: Redis;
  const base = `lh-test-fence-${randomUUID().slice(0, 8)}`;
  before(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    const keys = await redis.keys(`${base}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('sets the value only for a token not lower than the stored one', async () => {
    const key = `${base}:unit`;
    assert.deepEqual(await fencedSet(redis, key, 'a', 5), { accepted: true, highest: 5 });
    assert.deepEqual(await fencedSet(redis, key, 'b', 5), { accepted: true, highest: 5 });
    await assert.rejects(fencedSet(redis, key, 'stale', 4), (err: unknown) => {
      assert.ok(err instanceof StaleTokenError);
      assert.equal(err.resource, key);
      assert.equal(err.highest, 5);
      return true;
    });
    assert.equal(await redis.get(key), 'b');
    assert.equal(await redis.get(`${key}:fence-token`), '5');
    assert.deepEqual(await tryFencedSet(redis, key, 'c', 2 ** 53 - 1), { accepted: true, highest: 2 ** 53 - 1 });
    assert.deepEqual(await tryFencedSet(redis, key, 'd', 2 ** 53 - 2), { accepted: false, highest: 2 ** 53 - 1 });
    assert.equal(await redis.get(key), 'c');
  });

  it('a value expiry leaves the token in place', async () => {
    const key = `${base}:px`;
    await fencedSet(redis, key, 'v', 3, { px: 50, tokenKey: `${key}:t` });
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(await redis.get(key), null);
    assert.deepEqual(await tryFencedSet(redis, key, 'w', 2, { tokenKey: `${key}:t` }), { accepted: false, highest: 3 });
    await assert.rejects(fencedSet(redis, key, 'v', 4, { px: -1 }), ConfigError);
  });

  it('paused holders: 0 stale writes accepted, every rejected write is the stale one', async () => {
    const key = `${base}:scenario`;
    // The value is the token; an observer reading it all along must never see it go down.
    const seen: number[] = [];
    let running = true;
    const observer = (async () => {
      const reader = new Redis(REDIS_URL);
      while (running) {
        const value = await reader.get(key);
        if (value !== null) seen.push(Number(value));
      }
      await reader.quit();
    })();
    const results = await pausedHolders((token) => tryFencedSet(redis, key, String(token), token));
    running = false;
    await observer;
    seen.push(Number(await redis.get(key)));
    checkHistory(results, seen);
    const highest = Math.max(...results.filter((r) => r.verdict.accepted).map((r) => r.token));
    assert.equal(Number(await redis.get(key)), highest);
  });

  it('RedisFence keeps only tokens, under its prefix', async () => {
    const store = new RedisFence(redis, { prefix: `${base}:store:` });
    assert.deepEqual(await store.advance('r', 2), { accepted: true, highest: 2 });
    assert.deepEqual(await store.advance('r', 1), { accepted: false, highest: 2 });
    assert.equal(await redis.get(`${base}:store:r`), '2');
  });
});
