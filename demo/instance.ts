/**
 * One instance of the demo app: a job every 2 s guarded by leasehold's scheduler.
 * Prints one JSON line per event on stdout for the demo controller (demo/demo.ts).
 * Usage: node --import tsx demo/instance.ts <name> <storeUrl> <ttlMs> <catchUpMs> <placementTtlMs>
 */
import '../test/fixtures/orphan-guard.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { Leasehold, openStore } from '../src/index.js';

const [name, url, ...numbers] = process.argv.slice(2) as [string, string, string, string, string];
const [ttl, catchUp, placementTtl] = numbers.map(Number) as [number, number, number];
const say = (ev: object) =>
  process.stdout.write(`${JSON.stringify({ name, pid: process.pid, t: String(process.hrtime.bigint()), ...ev })}\n`);

const store = await openStore(url);
// Placement (on by default) with a liveness TTL the demo chose: a killed instance's job moves
// to another within about that TTL and a heartbeat (docs/placement.md).
const lh = new Leasehold({ store, holder: `instance-${name}:${process.pid}`, placement: { ttl: placementTtl } });

// The whole job: the work and its period. The scheduler does the rest.
lh.every(
  '2s',
  'report',
  async ({ slot, token, signal }) => {
    say({ ev: 'start', slot: slot.toISOString(), token });
    await sleep(200, undefined, { signal }); // "build the report"
    say({ ev: 'end', slot: slot.toISOString(), token });
  },
  { ttl, catchUp },
);

lh.on('slot:skipped', (e) => say({ ev: 'skip', slot: e.slot.toISOString(), reason: e.reason }));
lh.on('lease:lost', (e) => say({ ev: 'lost', slot: e.slot.toISOString(), token: e.token }));

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(
    sig,
    () =>
      void lh
        .stop()
        .then(() => store.close())
        .then(() => process.exit(0)),
  );
}
await lh.start();
say({ ev: 'ready' });
