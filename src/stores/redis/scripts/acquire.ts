/**
 * Acquire: grant a free key (a new token, L2), recognise a retry by the same lease id (L9),
 * or answer busy with the holder and the time left; the fenced state comes with every
 * answer (`stateOnAcquire`). Token design: docs/stores/redis.md ("Tokens across data loss").
 * @module
 */
import { decodeState, toToken } from '../../../store-kit/index.js';
import type { AcquireResult } from '../../../store.js';
import { createEval } from '../eval.js';
import { array, number, text } from '../replies.js';

// ARGV: holder, leaseId, ttlMs. Replies: granted {1, token, nowMs, state};
// busy {0, holder, pttl, nowMs, state}.
// A new token is max(last + 1, TIME in µs), so it stays above every earlier token even
// after the server lost its data. redis.replicate_commands() lets Redis 3.2–4 replicate
// writes made after TIME; newer servers always do. Only integers and strings are
// returned: a RESP3 client (ioredis 6) would see a Lua boolean as a boolean, not nil.
const ACQUIRE = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nowMs = math.floor(nowUs / 1000)
local cur = redis.call('HMGET', KEYS[2], 'id', 'holder', 'token')
local state = redis.call('HGET', KEYS[1], 'state') or ''
if cur[1] then
  if cur[1] == ARGV[2] then
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
    return {1, cur[3], nowMs, state}
  end
  return {0, cur[2] or '', redis.call('PTTL', KEYS[2]), nowMs, state}
end
local token = tonumber(redis.call('HGET', KEYS[1], 'token') or '0') + 1
if nowUs > token then token = nowUs end
local ts = string.format('%.0f', token)
redis.call('HSET', KEYS[1], 'token', ts)
redis.call('HSET', KEYS[2], 'holder', ARGV[1], 'id', ARGV[2], 'token', ts)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1, ts, nowMs, state}
`;

function decodeAcquire(reply: unknown): AcquireResult {
  const fields = array(reply, 'acquire');
  const state = decodeState(text(fields[fields.length - 1]));
  if (number(fields[0], 'acquire') === 1) {
    const [, token, nowMs] = fields;
    return { acquired: true, token: toToken(text(token), 'acquire'), storeTime: number(nowMs, 'acquire time'), state };
  }
  const [, holderText, pttlText, nowMs] = fields;
  const holder = text(holderText);
  const pttl = number(pttlText, 'acquire pttl');
  return {
    acquired: false,
    storeTime: number(nowMs, 'acquire time'),
    state,
    ...(holder ? { holder } : {}),
    // PTTL -1 (a lease key without expiry, which this store never writes): time left unknown.
    ...(pttl >= 0 ? { expiresInMs: pttl } : {}),
  };
}

/** `acquire`: ARGV holder, leaseId, ttlMs (whole ms); the reply is the store's {@link AcquireResult}. */
export const acquireScript = createEval<readonly [holder: string, leaseId: string, ttlMs: number], AcquireResult>(
  'acquire',
  ACQUIRE,
  decodeAcquire,
);
