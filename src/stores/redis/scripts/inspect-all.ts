/**
 * One page of `inspectAll`: a `SCAN` page of state hashes and the record of each found,
 * in one script, so a database of up to about `scanCount` keys costs one request per
 * master. Read-only; it names its keys at run time (as `SCAN` finds them), which Redis
 * allows for scripts without a shebang, also across slots of one Cluster node.
 * docs/stores/redis.md ("inspectAll").
 * @module
 */
import { createEval } from '../eval.js';
import { array, text } from '../replies.js';
import { decodeRecord, type KeylessRecord, READ_RECORD, RECORD_FIELDS } from './inspect.js';

// ARGV: cursor, MATCH pattern, COUNT. Reply: {next cursor, then per key found: its Redis
// name and the five fields of READ_RECORD}.
const INSPECT_PAGE = `${READ_RECORD}
local page = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local out = {page[1]}
for _, name in ipairs(page[2]) do
  local r = record(name, name .. ':lease')
  if r then
    out[#out + 1] = name
    for i = 1, #r do out[#out + 1] = r[i] end
  end
end
return out
`;

/** One page: where the next starts (`'0'` after the last), and each record found with its Redis name. */
export interface InspectPage {
  readonly cursor: string;
  readonly records: readonly { readonly name: string; readonly record: KeylessRecord }[];
}

function decodePage(reply: unknown): InspectPage {
  const fields = array(reply, 'inspectAll');
  const records: { name: string; record: KeylessRecord }[] = [];
  for (let at = 1; at + RECORD_FIELDS < fields.length; at += RECORD_FIELDS + 1) {
    records.push({ name: text(fields[at]), record: decodeRecord(fields, at + 1, 'inspectAll') });
  }
  return { cursor: text(fields[0]), records };
}

/** `inspectAll`, one page: ARGV cursor, pattern, count; no KEYS. */
export const inspectPageScript = createEval<readonly [cursor: string, pattern: string, count: number], InspectPage>(
  'inspectAll',
  INSPECT_PAGE,
  decodePage,
);
