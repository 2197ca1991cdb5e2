/**
 * One page of `inspectAll` (and `list`): the records of the lease keys under a prefix, read
 * in one script per page, each as `inspect` reads it. Two ways to find the keys:
 *
 * - **index** (one server): `ZRANGEBYLEX` on the store's index of its keys
 *   (`<prefix>{}index`, kept by `acquire`), so a page costs what the keys under the prefix
 *   cost, whatever else the database holds. Members whose keys were deleted leave it here.
 * - **scan**: a `SCAN` page of the whole database. On one server this also adds every state
 *   hash it finds to the index, and the last page marks the index complete
 *   (`<prefix>{}index:scanned`, for `rescanMs`); until then, and again after that mark
 *   expires, reads scan. On a Cluster (no index: its keys would sit in other slots) reads
 *   always scan, one master at a time.
 *
 * It names the keys it reads at run time, which Redis allows for scripts without a shebang,
 * also across the slots of one Cluster node. docs/stores/redis.md ("inspectAll").
 * @module
 */
import { createEval, REPLICATE_EFFECTS } from '../eval.js';
import { array, text } from '../replies.js';
import { decodeRecord, type KeylessRecord, READ_RECORD, RECORD_FIELDS } from './inspect.js';

// KEYS: none (Cluster), or the index and its completeness mark (one server). ARGV: mode
// ('auto': index when the mark is there, else scan; 'index' or 'scan': as the first page
// chose), cursor ('0' first; then the reply's), MATCH pattern (scan), the Redis-name prefix
// of the keys asked for, page size, the mark's lifetime in ms. Reply: {mode, next cursor
// ('0' after the last page), then per key found: its Redis name and READ_RECORD's five
// fields}. Redis 3.2–4 need replicate_commands() to write after SCAN (see acquire.ts).
const INSPECT_PAGE = `
${REPLICATE_EFFECTS}
${READ_RECORD}
local mode, cursor, lo, count = ARGV[1], ARGV[2], ARGV[4], tonumber(ARGV[5])
local index = KEYS[1]
if mode == 'auto' then
  if index and redis.call('EXISTS', KEYS[2]) == 1 then mode = 'index' else mode = 'scan' end
end
local out = {mode, '0'}
local function add(name)
  local r = record(name, name .. ':lease')
  if not r then return false end
  out[#out + 1] = name
  for i = 1, #r do out[#out + 1] = r[i] end
  return true
end
if mode == 'index' then
  local from = '[' .. lo
  if cursor ~= '0' then from = '(' .. cursor end
  local names = redis.call('ZRANGEBYLEX', index, from, '(' .. lo .. '\\255', 'LIMIT', 0, count)
  for _, name in ipairs(names) do
    if not add(name) then redis.call('ZREM', index, name) end
  end
  if #names == count then out[2] = names[#names] end
  return out
end
local page = redis.call('SCAN', cursor, 'MATCH', ARGV[3], 'COUNT', count)
out[2] = page[1]
for _, name in ipairs(page[2]) do
  if string.sub(name, 1, #lo) ~= lo then
    if index then redis.call('ZADD', index, 0, name) end
  elseif add(name) and index then
    redis.call('ZADD', index, 0, name)
  end
end
if index and page[1] == '0' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[6]) end
return out
`;

/** How a listing finds its keys: the store's index, or a `SCAN` of the database. */
export type ListingMode = 'index' | 'scan';

/** One page: the mode the listing uses, where the next page starts, and each record found with its Redis name. */
export interface InspectPage {
  readonly mode: ListingMode;
  /** `'0'` after the last page. */
  readonly cursor: string;
  readonly records: readonly { readonly name: string; readonly record: KeylessRecord }[];
}

function decodePage(reply: unknown): InspectPage {
  const fields = array(reply, 'inspectAll');
  const mode = text(fields[0]);
  if (mode !== 'index' && mode !== 'scan') throw new Error(`inspectAll: unexpected mode ${JSON.stringify(mode)}`);
  const records: { name: string; record: KeylessRecord }[] = [];
  for (let at = 2; at + RECORD_FIELDS < fields.length; at += RECORD_FIELDS + 1) {
    records.push({ name: text(fields[at]), record: decodeRecord(fields, at + 1, 'inspectAll') });
  }
  return { mode, cursor: text(fields[1]), records };
}

/** `inspectAll`'s arguments: mode, cursor, scan pattern, name prefix, page size, the completeness mark's lifetime (ms). */
export type InspectPageArgs = readonly [
  mode: 'auto' | ListingMode,
  cursor: string,
  pattern: string,
  namePrefix: string,
  count: number,
  rescanMs: number,
];

/** `inspectAll`, one page: KEYS none or [index, its mark]; see {@link InspectPageArgs}. */
export const inspectPageScript = createEval<InspectPageArgs, InspectPage>('inspectAll', INSPECT_PAGE, decodePage);
