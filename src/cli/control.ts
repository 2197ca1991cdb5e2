/**
 * `leasehold pause|resume|trigger|skip-next|backfill`: operator controls on a scheduled job,
 * through the store (src/admin/admin.ts). One line per control; `--json` prints the result.
 * @module
 */
import { userInfo, hostname } from 'node:os';
import type { ControlAction } from '../admin/controls.js';
import type { ControlResult } from '../admin/admin.js';
import { Leasehold } from '../leasehold.js';
import { openStore } from '../open.js';

/** What a control command takes from the command line. */
export interface ControlInput {
  store: string;
  action: ControlAction;
  key: string;
  by?: string | undefined;
  wait?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  json: boolean;
}

/** Who asks, when `--by` is not given: the operator's login on this machine. */
function defaultBy(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the host still says where it came from.
  }
  return `${user}@${hostname()}`;
}

/** Runs one control and prints what it did. */
export async function controlCommand(input: ControlInput, write: (text: string) => void): Promise<number> {
  const store = await openStore(input.store);
  const lh = new Leasehold({ store, placement: false });
  try {
    const options = { by: input.by ?? defaultBy(), ...(input.wait === undefined ? {} : { wait: input.wait }) };
    let result: ControlResult;
    switch (input.action) {
      case 'pause':
        result = await lh.admin.pause(input.key, options);
        break;
      case 'resume':
        result = await lh.admin.resume(input.key, options);
        break;
      case 'trigger':
        result = await lh.admin.trigger(input.key, options);
        break;
      case 'skip-next':
        result = await lh.admin.skipNext(input.key, options);
        break;
      case 'backfill':
        result = await lh.admin.backfill(input.key, { ...options, from: input.from ?? '', to: input.to ?? '' });
        break;
    }
    if (input.json) write(`${JSON.stringify(result)}\n`);
    else write(`${describe(result)}\n`);
    return 0;
  } finally {
    await lh.stop().catch(() => {});
    await store.close().catch(() => {});
  }
}

/** One line: `"report": paused (by alice@host)`, with a trigger's id or a backfill's slots. */
function describe(result: ControlResult): string {
  const id = result.id ? `, id ${result.id}` : '';
  const slots = result.slots ? `: ${result.slots.map((slot) => slot.toISOString()).join(', ')}` : '';
  return `"${result.key}": ${result.detail} (by ${result.by}${id})${slots}`;
}
