/**
 * Inspect: the key's current lease (holder, time left), its last token, its state and
 * its mark, read in one script so they agree. The Lua reader of one record is shared with
 * `inspectAll` (./inspect-all.ts), so both read a key the same way.
 * @module
 */
import { decodeState, toToken } from '../../../store-kit/index.js';
import type { LeaseRecord } from '../../../store.js';
import { createEval } from '../eval.js';
import { array, number, text } from '../replies.js';

/**
 * Lua: `record(stateKey, leaseKey)` answers nil for a key never acquired, else the five
 * fields {holder or '', token, pttl (-2 when no lease), state or '', mark or ''}.
 */
export const READ_RECORD = `
local function record(base, lease)
  local m = redis.call('HMGET', base, 'token', 'state', 'mark')
  local l = redis.call('HMGET', lease, 'holder', 'token')
  if not m[1] and not l[2] then return nil end
  local pttl = -2
  if l[2] then pttl = redis.call('PTTL', lease) end
  return {l[1] or '', l[2] or m[1], pttl, m[2] or '', m[3] or ''}
end
`;

/** How many reply fields {@link READ_RECORD} gives per record. */
export const RECORD_FIELDS = 5;

// Replies: never acquired {0}; else {1, the five fields of READ_RECORD}.
const INSPECT = `${READ_RECORD}
local r = record(KEYS[1], KEYS[2])
if not r then return {0} end
return {1, r[1], r[2], r[3], r[4], r[5]}
`;

/** A {@link LeaseRecord} without its key. */
export type KeylessRecord = Omit<LeaseRecord, 'key'>;

/** Decodes the {@link RECORD_FIELDS} fields of one record starting at `fields[at]`. */
export function decodeRecord(fields: readonly unknown[], at: number, what: string): KeylessRecord {
  const holder = text(fields[at]);
  const pttl = number(fields[at + 2], `${what} pttl`);
  const live = holder !== '' && pttl !== -2;
  return {
    holder: live ? holder : null,
    token: toToken(text(fields[at + 1]), what),
    // -1 (no expiry) cannot happen for keys this store wrote; report it as unknown-but-held.
    expiresInMs: live ? Math.max(pttl, 0) : null,
    state: decodeState(text(fields[at + 3])),
    mark: decodeState(text(fields[at + 4])),
  };
}

/** What {@link inspectScript} finds: a record without its key, or null for a key never acquired. */
export type InspectReply = KeylessRecord | null;

function decodeInspect(reply: unknown): InspectReply {
  const fields = array(reply, 'inspect');
  return number(fields[0], 'inspect') === 0 ? null : decodeRecord(fields, 1, 'inspect');
}

/** `inspect`: no ARGV. */
export const inspectScript = createEval<readonly [], InspectReply>('inspect', INSPECT, decodeInspect);
