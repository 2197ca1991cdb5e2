/**
 * Acquire: grant a free key (a new token, L2) and write the grant's mark with it (the
 * fused acquire), recognise a retry by the same lease id (L9), or answer busy with the
 * holder and the time left; the fenced state and the mark come with every answer
 * (`stateOnAcquire`). With a third key (one server: the store's index of its keys), a key
 * acquired for the first time is added to the index (read by `inspectAll`). With a fourth
 * (`unlessWaiter`: the lease hash of the key's waiter announcement), yield to another
 * holder's announced waiter instead of granting.
 * Token design: docs/stores/redis.md ("Tokens across data loss").
 * @module
 */
import { decodeState, toToken } from '../../../store-kit/index.js';
import type { AcquireResult } from '../../../store.js';
import { createEval, REPLICATE_EFFECTS } from '../eval.js';
import { array, number, text } from '../replies.js';

// KEYS: state hash, lease hash[, the index of the store's keys[, the waiter announcement's
// lease hash]]. ARGV: holder, leaseId,
// ttlMs[, mark]. Replies: granted {1, token, nowMs, state, mark before this grant}; busy {0,
// holder, pttl, nowMs, state, mark}; yielded to an announced waiter {2, its holder, nowMs,
// state, mark}.
// A new token is max(last + 1, TIME in µs), so it stays above every earlier token even
// after the server lost its data; when the clock wins (nearly always) its decimal text is
// TIME's two parts side by side, cheaper than string.format. redis.replicate_commands()
// lets Redis 3.2–4 replicate writes made after TIME; Redis 5+ always does, and Redis 7+
// (which has REDIS_VERSION_NUM) is not asked at all. Only integers and strings are
// returned: a RESP3 client (ioredis 6) would see a Lua boolean as a boolean, not nil.
// The mark is its own hash field beside the state (never merged in Lua: cjson would round
// 16-digit tokens); a missing field, as data written before marks existed has, reads as ''.
const ACQUIRE = `
${REPLICATE_EFFECTS}
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nowMs = math.floor(nowUs / 1000)
local cur = redis.call('HMGET', KEYS[2], 'id', 'holder', 'token')
local m = redis.call('HMGET', KEYS[1], 'token', 'state', 'mark')
local state = m[2] or ''
local mark = m[3] or ''
if KEYS[4] and cur[1] ~= ARGV[2] then
  local waiter = redis.call('HGET', KEYS[4], 'holder')
  if waiter and waiter ~= ARGV[1] then return {2, waiter, nowMs, state, mark} end
end
if cur[1] then
  if cur[1] ~= ARGV[2] then
    return {0, cur[2] or '', redis.call('PTTL', KEYS[2]), nowMs, state, mark}
  end
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  if ARGV[4] then redis.call('HSET', KEYS[1], 'mark', ARGV[4]) end
  return {1, cur[3], nowMs, state, mark}
end
if not m[1] and KEYS[3] then redis.call('ZADD', KEYS[3], 0, KEYS[1]) end
local token = tonumber(m[1] or '0') + 1
local ts
if nowUs > token then
  ts = t[1] .. string.rep('0', 6 - #t[2]) .. t[2]
else
  ts = string.format('%.0f', token)
end
if ARGV[4] then
  redis.call('HSET', KEYS[1], 'token', ts, 'mark', ARGV[4])
else
  redis.call('HSET', KEYS[1], 'token', ts)
end
redis.call('HSET', KEYS[2], 'holder', ARGV[1], 'id', ARGV[2], 'token', ts)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1, ts, nowMs, state, mark}
`;

function decodeAcquire(reply: unknown): AcquireResult {
  const fields = array(reply, 'acquire');
  const state = decodeState(text(fields[fields.length - 2]));
  const mark = decodeState(text(fields[fields.length - 1]));
  const outcome = number(fields[0], 'acquire');
  if (outcome === 2) {
    return { acquired: false, waiter: text(fields[1]), storeTime: number(fields[2], 'acquire time'), state, mark };
  }
  if (outcome === 1) {
    const [, token, nowMs] = fields;
    const storeTime = number(nowMs, 'acquire time');
    return { acquired: true, token: toToken(text(token), 'acquire'), storeTime, state, mark };
  }
  const [, holderText, pttlText, nowMs] = fields;
  const holder = text(holderText);
  const pttl = number(pttlText, 'acquire pttl');
  return {
    acquired: false,
    storeTime: number(nowMs, 'acquire time'),
    state,
    mark,
    ...(holder ? { holder } : {}),
    // PTTL -1 (a lease key without expiry, which this store never writes): time left unknown.
    ...(pttl >= 0 ? { expiresInMs: pttl } : {}),
  };
}

/** `acquire` arguments: holder, leaseId, ttlMs (whole ms), and the encoded mark when the grant writes one. */
export type AcquireArgs =
  | readonly [holder: string, leaseId: string, ttlMs: number]
  | readonly [holder: string, leaseId: string, ttlMs: number, mark: string];

/** `acquire`: ARGV holder, leaseId, ttlMs[, mark]; the reply is the store's {@link AcquireResult}. */
export const acquireScript = createEval<AcquireArgs, AcquireResult>('acquire', ACQUIRE, decodeAcquire);
