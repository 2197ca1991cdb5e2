/**
 * The origin post's web app, in Node: an HTTP server with a background job every 10 s
 * that runs on exactly one instance at a time, coordinated through Azure Blob Storage.
 *
 *   AZURE_STORAGE_CONNECTION_STRING=UseDevelopmentStorage=true PORT=5202 npx tsx examples/azure-web-app/app.ts
 *
 * Environment:
 *   PORT                              HTTP port (default 5202)
 *   AZURE_STORAGE_CONNECTION_STRING   storage account (default: UseDevelopmentStorage=true, i.e. Azurite)
 *   LEASEHOLD_STORE                   store URL (default azure-blob://leasehold)
 *   JOB_EVERY                         the job's period (default 10s)
 *   WORK_MS                           how long one run of the job works (default 2000)
 */
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
// In your app: import { Leasehold, openStore } from 'leasehold';
import { Leasehold, openStore, type SkipReason } from '../../src/index.js';

const port = Number(process.env.PORT ?? 5202);
process.env.AZURE_STORAGE_CONNECTION_STRING ??= 'UseDevelopmentStorage=true';
const every = process.env.JOB_EVERY ?? '10s';
const workMs = Number(process.env.WORK_MS ?? 2000);
const time = (d: Date) => d.toISOString().slice(11, 19);

const store = await openStore(process.env.LEASEHOLD_STORE ?? 'azure-blob://leasehold');
const lh = new Leasehold({ store, holder: `web-${port}:${process.pid}` });

// The post's Worker: the whole of it. Every instance schedules the same job; the
// scheduler takes a blob lease for each tick, so one instance runs it and the others
// learn that the tick is done.
const job = lh.every(every, 'Worker', async ({ slot, token, signal }) => {
  console.log(`Doing work (tick ${time(slot)}, lease token ${token})`);
  await sleep(workMs, undefined, { signal });
  console.log('Finished doing work');
});
const why: Record<SkipReason, string> = {
  'done-elsewhere': 'was done by another instance',
  overlap: 'skipped: the previous run was still going',
  'outside-catch-up': 'skipped: missed by every instance, too late to catch up',
  'store-unavailable': 'skipped: the storage account could not be reached',
  lost: 'skipped: its run died (at-most-once)',
  paused: 'skipped: an operator paused the job',
  'skip-next': 'skipped: an operator asked to skip it',
};
lh.on('slot:skipped', ({ slot, reason }) => console.log(`Tick ${time(slot)} ${why[reason]}`));
lh.on('run:error', ({ slot, error }) =>
  console.log(`Error in tick ${time(slot)}: ${(error as Error)?.message ?? error}`),
);

// The web app itself.
const server = createServer((req, res) => {
  if (req.url === '/status') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ instance: port, job: job.key, stats: job.stats }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`Hello from the instance on port ${port}\n`);
});

server.listen(port, () => console.log(`Started: http://localhost:${port}, job "Worker" every ${every}`));
await lh.start();

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.log('Stopping');
    server.close();
    // Lets a running tick finish (up to 10 s), then releases the lease: the other
    // instance carries on without waiting for it to expire.
    void lh
      .stop()
      .then(() => store.close())
      .then(() => {
        console.log('Stopped');
        process.exit(0);
      });
  });
}
