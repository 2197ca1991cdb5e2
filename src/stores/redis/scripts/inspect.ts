/**
 * Inspect: the key's current lease (holder, time left), its last token and its state,
 * read in one script so they agree.
 * @module
 */
import { decodeState, toToken } from '../../../store-kit/index.js';
import type { LeaseRecord } from '../../../store.js';
import { createEval } from '../eval.js';
import { array, number, text } from '../replies.js';

// Replies: never acquired {0}; else {1, holder or '', token, pttl (-2 when no lease), state or ''}.
const INSPECT = `
local m = redis.call('HMGET', KEYS[1], 'token', 'state')
local l = redis.call('HMGET', KEYS[2], 'holder', 'token')
if not m[1] and not l[2] then return {0} end
local pttl = -2
if l[2] then pttl = redis.call('PTTL', KEYS[2]) end
return {1, l[1] or '', l[2] or m[1], pttl, m[2] or ''}
`;

/** What {@link inspectScript} finds: a {@link LeaseRecord} without its key, or null for a key never acquired. */
export type InspectReply = Omit<LeaseRecord, 'key'> | null;

function decodeInspect(reply: unknown): InspectReply {
  const fields = array(reply, 'inspect');
  const [found, holderText, token, pttlText, stateText] = fields;
  if (number(found, 'inspect') === 0) return null;
  const holder = text(holderText);
  const pttl = number(pttlText, 'inspect pttl');
  const live = holder !== '' && pttl !== -2;
  return {
    holder: live ? holder : null,
    token: toToken(text(token), 'inspect'),
    // -1 (no expiry) cannot happen for keys this store wrote; report it as unknown-but-held.
    expiresInMs: live ? Math.max(pttl, 0) : null,
    state: decodeState(text(stateText)),
  };
}

/** `inspect`: no ARGV. */
export const inspectScript = createEval<readonly [], InspectReply>('inspect', INSPECT, decodeInspect);
