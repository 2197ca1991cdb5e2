/**
 * The README's semaphore quick start, run by test/examples.test.ts. Start it in four
 * terminals at once: three exports run together, the fourth waits for a permit.
 *
 *   LEASEHOLD_STORE=file:.leasehold npx tsx examples/quick-start/semaphore.ts
 */
// README: begin
import { setTimeout as sleep } from 'node:timers/promises';
import { Leasehold, openStore } from '../../src/index.js';

const store = await openStore(process.env.LEASEHOLD_STORE ?? 'file:.leasehold');
const lh = new Leasehold({ store });
const exports = lh.semaphore('exports', { permits: 3, ttl: '30s' });

{
  await using permit = await exports.acquire({ wait: '1m' }); // or tryAcquire(): a permit or null
  console.log(`export on ${permit.key} (token ${permit.token})`);
  await sleep(2000, undefined, { signal: permit.signal }); // the export: pass permit.token to what it writes
  console.log(`export on ${permit.key} done`);
} // the permit is released here
await store.close();
// README: end
