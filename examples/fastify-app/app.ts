/**
 * A Fastify 5 app with a background job that runs once per slot across every instance,
 * a route that only one instance at a time may serve, and graceful shutdown through
 * Fastify's own `onClose` hook.
 *
 *   PORT=3000 LEASEHOLD_STORE=file:.leasehold npx tsx examples/fastify-app/app.ts
 *
 * Environment: PORT (default 3000), LEASEHOLD_STORE (a store URL, default file:.leasehold),
 * JOB_EVERY (the job's period, default 10s), WORK_MS (one run's work, default 1000).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
// In your app: import { Leasehold, openStore } from 'leasehold';
import { Leasehold, openStore } from '../../src/index.js';

const port = Number(process.env.PORT ?? 3000);
const every = process.env.JOB_EVERY ?? '10s';
const workMs = Number(process.env.WORK_MS ?? 1000);

const store = await openStore(process.env.LEASEHOLD_STORE ?? 'file:.leasehold');
const lh = new Leasehold({ store, holder: `fastify-${port}:${process.pid}` });

// Every instance schedules the job; each slot runs on one of them.
const job = lh.every(every, 'fastify-app/cleanup', async ({ slot, token, signal }) => {
  console.log(`Cleanup for ${slot.toISOString()} (token ${token})`);
  await sleep(workMs, undefined, { signal });
});

const app = Fastify();
app.get('/', async (_request, reply) => reply.type('text/plain').send(`Hello from the instance on port ${port}\n`));
app.get('/status', async () => ({ instance: port, job: job.key, stats: job.stats }));
// One rebuild at a time across the fleet: a second request while one runs gets 409.
app.post('/rebuild', async (_request, reply) => {
  await using lease = await lh.tryAcquire('fastify-app/rebuild', { ttl: '30s' });
  if (!lease) return reply.code(409).send({ error: 'a rebuild is already running' });
  await sleep(200, undefined, { signal: lease.signal });
  return { rebuilt: true, token: lease.token };
});
// app.close() stops the job (the running slot finishes, up to the grace), releases every
// lease so another instance takes the next slot at once, then closes the store.
app.addHook('onClose', async () => {
  await lh.stop({ grace: '5s' });
  await store.close();
});

await lh.start();
await app.listen({ port, host: '127.0.0.1' });
console.log(`Started: http://localhost:${port}, job every ${every}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log('Stopping');
    void app.close().then(() => {
      console.log('Stopped');
      process.exit(0);
    });
  });
}
