/**
 * Reproduction of a scheduler bug the fault harness found (docs/reliability.md, "Findings"):
 * `node --import tsx faults/repro-first-slot.ts` — exits 1 while the bug is present.
 *
 * The scheduler estimates the store's clock from ONE `store.now()` sample taken at
 * `start()`, assuming the server read its clock halfway through the round trip. The first
 * request to a network store also loads the SDK and opens, authenticates and warms the
 * connection, so it is slow and the server reads its clock near the END: the estimate
 * runs ahead by about half that time. The host then computes a slot that is not due yet
 * as "due", acquires the lease, holds it while waiting for that slot (S3), and runs it;
 * for a job with no history yet the slots in between are never run and never counted as
 * skipped (S4). Seen in the harness as lost slots at the start of postgres and mysql runs
 * under load (first request 2–4 s).
 *
 * Here the memory store's first `now()` answers the true time after a 3 s wait (as a
 * server would after a slow connect): the job every 500 ms should run every slot from its
 * first run on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Leasehold } from '../src/leasehold.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import type { LeaseStore } from '../src/store.js';

const inner = new MemoryStore();
let first = true;
const store = new Proxy(inner, {
  get(target, prop) {
    if (prop === 'now') {
      return async () => {
        if (first) {
          first = false;
          await sleep(3000); // connect + auth + SDK load; the server stamps its time at the end
        }
        return Date.now();
      };
    }
    const v = Reflect.get(target, prop, target) as unknown;
    return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
  },
}) as LeaseStore;

const lh = new Leasehold({ store, holder: 'repro' });
const ran: { slot: number; at: number }[] = [];
const skipped: number[] = [];
lh.every('500ms', 'job', (ctx) => void ran.push({ slot: ctx.slot.getTime(), at: Date.now() }), {
  ttl: '2s',
  catchUp: '5s',
});
lh.on('slot:skipped', (e) => skipped.push(e.slot.getTime()));
const started = Date.now();
await lh.start();
const ready = Date.now();
await sleep(4000);
await lh.stop();
await store.close();

const firstDue = Math.ceil(ready / 500) * 500; // the first slot after start() returned
const expected: number[] = [];
for (let s = firstDue; s <= (ran.at(-1)?.slot ?? firstDue); s += 500) expected.push(s);
const missing = expected.filter((s) => !ran.some((r) => r.slot === s) && !skipped.includes(s));
console.log(
  `start() took ${ready - started} ms; first run: slot +${(ran[0]?.slot ?? 0) - ready} ms after start() returned, run at +${(ran[0]?.at ?? 0) - ready} ms`,
);
console.log(
  `slots from the first due one: ${expected.length}, run: ${ran.length}, neither run nor skipped: ${missing.length}`,
);
if (missing.length > 0) {
  console.log(
    `BUG: slots ${missing.map((s) => `+${s - ready}ms`).join(', ')} were never run and never counted as skipped`,
  );
  process.exit(1);
}
console.log('ok: every slot since start ran or was counted');
