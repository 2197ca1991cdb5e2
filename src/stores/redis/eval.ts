/**
 * One Lua script as one typed call (redis-semaphore's `createEval` shape): sent with
 * `EVALSHA`, and once more with `EVAL` when the server does not have it cached
 * (`NOSCRIPT`: the first use after a restart or `SCRIPT FLUSH`), its reply decoded into
 * a named object. Every script but `inspectAll`'s runs on the two keys of one lease key ({@link LeaseKeys}).
 * @module
 */
import { createHash } from 'node:crypto';
import { errorText } from '../../store-kit/index.js';
import type { RedisClientLike } from './connection.js';
import type { LeaseKeys } from './keys.js';

/** A script's arguments (`ARGV`). */
export type ScriptArgs = readonly (string | number)[];

/** A Lua script with its reply decoder, made by {@link createEval}. */
export interface Eval<Args extends ScriptArgs, Reply> {
  /** The operation's name, for messages. */
  readonly name: string;
  /** The script's source. */
  readonly lua: string;
  /** SHA-1 of {@link lua}, the name `EVALSHA` knows it by. */
  readonly sha: string;
  /**
   * Runs the script on one lease key's Redis keys ({@link LeaseKeys}; plus the waiter
   * announcement's for a checked acquire, none for `inspectAll`) and decodes its reply.
   */
  run(client: RedisClientLike, keys: readonly string[], args: Args): Promise<Reply>;
}

const NOSCRIPT = /^NOSCRIPT/;

/**
 * Lua, first line of a script that writes after a non-deterministic command (`TIME`,
 * `SCAN`): Redis 3.2–4 then need `redis.replicate_commands()`; Redis 5+ always replicate
 * effects, and Redis 7+ (which has `REDIS_VERSION_NUM`) is not asked at all.
 */
export const REPLICATE_EFFECTS =
  'if not redis.REDIS_VERSION_NUM and redis.replicate_commands then pcall(redis.replicate_commands) end';

/**
 * Binds a script to its decoder. `decode` receives the raw reply (`unknown`) and throws
 * when it has not the expected shape.
 */
export function createEval<Args extends ScriptArgs, Reply>(
  name: string,
  lua: string,
  decode: (reply: unknown) => Reply,
): Eval<Args, Reply> {
  const sha = createHash('sha1').update(lua).digest('hex');
  return {
    name,
    lua,
    sha,
    async run(client, keys, args) {
      let reply: unknown;
      try {
        reply = await client.evalsha(sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!NOSCRIPT.test(errorText(err))) throw err;
        reply = await client.eval(lua, keys.length, ...keys, ...args);
      }
      return decode(reply);
    },
  };
}
