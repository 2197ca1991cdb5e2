/**
 * One process of the failover benchmark (section 6):
 * `node --import ./bench/register.mjs bench/failover-worker.ts '<json>'`
 *
 * Schedules one job every second whose handler runs until its signal aborts (so the
 * holder keeps the lease), with placement on (liveness TTL = the job's TTL) or off, printing JSON lines: `ready` once started, `start` (with the
 * wall time) when a handler starts. On SIGTERM it stops gracefully (`stop()`, grace 0:
 * the handler is aborted, the lease released) and exits.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Leasehold } from '../src/leasehold.js';
import { openStore } from '../src/open.js';

const a = JSON.parse(process.argv[2] as string) as {
  url: string;
  prefix?: string;
  key: string;
  ttl: string;
  /** Placement on (its liveness TTL: the job's) or off (both processes try every slot). */
  placement: boolean;
};
const store = await openStore(a.url, a.prefix ? { prefix: a.prefix } : {});
const lh = new Leasehold({
  store,
  holder: `failover-${process.pid}`,
  placement: a.placement ? { ttl: a.ttl } : false,
});
const say = (o: object) => process.stdout.write(`${JSON.stringify({ pid: process.pid, t: Date.now(), ...o })}\n`);
lh.every(
  '1s',
  a.key,
  async (ctx) => {
    say({ ev: 'start', slot: ctx.slot.getTime(), token: ctx.token });
    await sleep(600_000, undefined, { signal: ctx.signal }).catch(() => {});
  },
  { ttl: a.ttl },
);
process.once('SIGTERM', () => {
  const t = Date.now();
  void lh.stop({ grace: 0 }).then(async () => {
    say({ ev: 'stopped', stopMs: Date.now() - t });
    await store.close();
    process.exit(0);
  });
});
await lh.start();
say({ ev: 'ready' });
