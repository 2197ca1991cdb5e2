/**
 * An Express 5 app with a background job that runs once per slot across every instance,
 * a route that only one instance at a time may serve, and graceful shutdown.
 *
 *   PORT=3000 LEASEHOLD_STORE=file:.leasehold npx tsx examples/express-app/app.ts
 *
 * Environment: PORT (default 3000), LEASEHOLD_STORE (a store URL, default file:.leasehold),
 * JOB_EVERY (the job's period, default 10s), WORK_MS (one run's work, default 1000).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
// In your app: import { Leasehold, openStore } from 'leasehold';
import { Leasehold, openStore } from '../../src/index.js';

const port = Number(process.env.PORT ?? 3000);
const every = process.env.JOB_EVERY ?? '10s';
const workMs = Number(process.env.WORK_MS ?? 1000);

const store = await openStore(process.env.LEASEHOLD_STORE ?? 'file:.leasehold');
const lh = new Leasehold({ store, holder: `express-${port}:${process.pid}` });

// Every instance schedules the job; each slot runs on one of them.
const job = lh.every(every, 'express-app/cleanup', async ({ slot, token, signal }) => {
  console.log(`Cleanup for ${slot.toISOString()} (token ${token})`);
  await sleep(workMs, undefined, { signal });
});

const app = express();
app.get('/', (_req, res) => {
  res.type('text').send(`Hello from the instance on port ${port}\n`);
});
app.get('/status', (_req, res) => {
  res.json({ instance: port, job: job.key, stats: job.stats });
});
// One rebuild at a time across the fleet: a second request while one runs gets 409.
// Express 5 passes a rejected promise (e.g. the store is down) to its error handler.
app.post('/rebuild', async (_req, res) => {
  await using lease = await lh.tryAcquire('express-app/rebuild', { ttl: '30s' });
  if (!lease) {
    res.status(409).json({ error: 'a rebuild is already running' });
    return;
  }
  await sleep(200, undefined, { signal: lease.signal });
  res.json({ rebuilt: true, token: lease.token });
});

await lh.start();
const server = app.listen(port, () => console.log(`Started: http://localhost:${port}, job every ${every}`));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log('Stopping');
    // Stop taking requests, let the running slot finish (up to the grace), release every
    // lease so another instance takes the next slot at once, then close the store.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    void Promise.all([closed, lh.stop({ grace: '5s' })])
      .then(() => store.close())
      .then(() => {
        console.log('Stopped');
        process.exit(0);
      });
  });
}
