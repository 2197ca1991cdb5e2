/**
 * The README's node-cron quick start, run by test/examples.test.ts. Start it in two
 * terminals: every fire runs in one of them.
 *
 *   LEASEHOLD_STORE=file:.leasehold npx tsx examples/quick-start/node-cron.ts
 */
// README: begin
import cron from 'node-cron';
import { Leasehold, openStore } from '../../src/index.js';
import { leaseholdCoordinator } from '../../src/node-cron/index.js';

const store = await openStore(process.env.LEASEHOLD_STORE ?? 'file:.leasehold');
const lh = new Leasehold({ store });
const coordinator = leaseholdCoordinator(lh);
cron.setRunCoordinator(coordinator);

// Every 2 seconds, on one of the processes running this.
cron.schedule(
  '*/2 * * * * *',
  (ctx) => {
    const lease = coordinator.leaseOf(ctx); // lease.token fences what the run writes; lease.signal: loss
    console.log(`sync ${ctx.date.toISOString()} on ${process.pid} (token ${lease?.token})`);
  },
  { name: 'sync', distributed: true },
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await cron.shutdown(); // no new fires; waits for running ones
    await lh.stop(); // releases every lease
    await store.close();
  });
}
// README: end
console.log(`scheduled on ${process.pid}`);
