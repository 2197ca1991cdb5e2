/**
 * Reproduction attempt for a worker crash the fault harness saw on `restart` with the
 * postgres store: `Error: Connection terminated unexpectedly` emitted as an unhandled
 * 'error' event on a pg Client. `node --import tsx faults/repro-pg-crash.ts`: exits 1
 * when the process would have crashed (an uncaught exception), 0 otherwise.
 */
import { startPostgresServer } from '../test/helpers/postgres-server.js';
import { PostgresStore } from '../src/stores/postgres/index.js';

let uncaught: unknown;
process.on('uncaughtException', (err) => {
  uncaught ??= err;
});
const srv = await startPostgresServer();
const store = new PostgresStore({ url: srv.url });
let stop = false;
const loops = Array.from({ length: 8 }, async (_, i) => {
  let n = 0;
  while (!stop) {
    n++;
    try {
      const r = await store.acquire(
        { key: `k${i}`, holder: 'h', leaseId: `l${i}-${n}`, ttlMs: 1000 },
        { signal: AbortSignal.timeout(50 + (n % 5) * 30) },
      );
      if (r.acquired)
        await store.release(
          { key: `k${i}`, leaseId: `l${i}-${n}`, token: r.token },
          { signal: AbortSignal.timeout(200) },
        );
    } catch {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
});
for (let i = 0; i < 6 && !uncaught; i++) {
  await new Promise((r) => setTimeout(r, 700));
  await srv.restart(i % 2 === 0);
}
stop = true;
await Promise.all(loops);
await store.close();
await srv.stop();
if (uncaught) {
  console.log(`BUG: uncaught exception: ${uncaught instanceof Error ? uncaught.stack : String(uncaught)}`);
  process.exit(1);
}
console.log('ok: no uncaught exception across 6 server restarts');
