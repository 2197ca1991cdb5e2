/**
 * The fence on Redis: a value written only when its token is not lower than the token
 * stored beside it, checked and written by one Lua script (atomic on the server). In a
 * cluster, the value and token keys must share a slot: put a hash tag in the key
 * (`{orders}:total`). docs/fencing.md, "Redis".
 * @module
 */
import { ConfigError } from '../errors.js';
import { throwIfAborted, toToken } from '../store-kit/index.js';
import type { RedisClientLike } from '../stores/redis/connection.js';
import { createEval } from '../stores/redis/eval.js';
import { checkResource, checkToken, enforce, type FenceCallOptions, PrefixedFence } from './common.js';
import type { FenceVerdict } from './common.js';

/** What the fence needs of an ioredis client (or cluster): `evalsha` and `eval`. Typed structurally. */
export type RedisFenceClient = Pick<RedisClientLike, 'evalsha' | 'eval'>;

/** Options of {@link fencedSet}. */
export interface FencedSetOptions {
  /** Where the key's highest token is kept. @defaultValue `${key}:fence-token` */
  tokenKey?: string;
  /** Expiry of the value, in ms (the token key never expires: L2). @defaultValue none */
  px?: number;
}

// KEYS[1] the value (or '' for a token-only fence), KEYS[2] the token; ARGV token, value, px.
// Tokens are safe integers, exact in Lua's doubles; the reply carries the stored text, since
// Lua's tostring keeps only 14 digits. Reply: { accepted 0/1, highest }.
const LUA = `
local stored = redis.call('GET', KEYS[2])
if stored and tonumber(ARGV[1]) < tonumber(stored) then return {0, stored} end
redis.call('SET', KEYS[2], ARGV[1])
if KEYS[1] ~= KEYS[2] then
  if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  else redis.call('SET', KEYS[1], ARGV[2]) end
end
return {1, ARGV[1]}`;

const script = createEval<[token: number, value: string, px: number], FenceVerdict>('fenced set', LUA, (reply) => {
  if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`fenced set: unexpected reply ${String(reply)}`);
  return { accepted: Number(reply[0]) === 1, highest: toToken(reply[1], 'redis fence') };
});

/**
 * Sets `key` to `value` unless a higher token was already used on it; says which,
 * without throwing for a stale token.
 */
export async function tryFencedSet(
  redis: RedisFenceClient,
  key: string,
  value: string,
  token: number,
  options: FencedSetOptions = {},
): Promise<FenceVerdict> {
  checkResource(key);
  checkToken(token);
  const px = options.px ?? 0;
  if (!Number.isSafeInteger(px) || px < 0) throw new ConfigError(`px: must be a whole number of ms, got ${String(px)}`);
  const tokenKey = checkResource(options.tokenKey ?? `${key}:fence-token`);
  return script.run(redis as RedisClientLike, [key, tokenKey], [token, value, px]);
}

/**
 * Sets `key` to `value` with fencing: refused when a higher token was already used on it.
 *
 * @example
 * ```ts
 * await fencedSet(redis, '{report}:latest', body, ctx.token);
 * ```
 * @throws StaleTokenError when a higher token was seen; nothing is written
 */
export async function fencedSet(
  redis: RedisFenceClient,
  key: string,
  value: string,
  token: number,
  options?: FencedSetOptions,
): Promise<FenceVerdict> {
  return enforce(key, token, await tryFencedSet(redis, key, value, token, options));
}

/** A {@link FenceStore} on Redis: the highest token of each resource at `prefix + resource`. */
export class RedisFence extends PrefixedFence<RedisFenceClient> {
  /** A fence on `redis`, its keys under `prefix`. @defaultValue prefix `'leasehold:fence:'` */
  constructor(redis: RedisFenceClient, options: { prefix?: string } = {}) {
    super(redis, options.prefix ?? 'leasehold:fence:');
  }

  async advance(resource: string, token: number, options?: FenceCallOptions): Promise<FenceVerdict> {
    throwIfAborted(options?.signal, `fence "${resource}"`);
    const key = this.prefix + checkResource(resource);
    // Value key and token key are one key: only the token is written.
    return tryFencedSet(this.client, key, '', token, { tokenKey: key });
  }
}
