/**
 * What renew, release and the fenced write share: the ownership check (L6) and their
 * 0/1 reply.
 * @module
 */
import { number } from '../replies.js';

/**
 * Lua that ends the script with 0 unless the lease hash (`KEYS[2]`) holds lease id
 * `ARGV[1]` with token `ARGV[2]`: only the current holder with the current token acts.
 */
export const UNLESS_OWNER_RETURN_0 = `
local cur = redis.call('HMGET', KEYS[2], 'id', 'token')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
`;

/** A decoder of the 0/1 reply of the script named `name`: true when it acted. */
export function decodeActed(name: string): (reply: unknown) => boolean {
  return (reply) => number(reply, name) === 1;
}
