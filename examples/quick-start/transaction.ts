/**
 * The README's transactional-run quick start, run by test/transaction.quick-start.test.ts.
 * The leases live in the PostgreSQL database that holds the job's table, so each run's
 * rows commit together with its slot's end record. Start it in two terminals:
 *
 *   psql "$DATABASE_URL" -c 'CREATE TABLE invoice_runs (slot timestamptz, token bigint)'
 *   DATABASE_URL=postgres://… npx tsx examples/quick-start/transaction.ts
 */
// README: begin
import type { PoolClient } from 'pg';
import { Leasehold, openStore } from '../../src/index.js';

const store = await openStore(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
const lh = new Leasehold({ store });

lh.every('2s', 'invoice-run', async (ctx) => {
  if (!ctx.transaction) throw new Error('ctx.transaction needs the PostgreSQL or MySQL store');
  // The rows and the slot's end record commit together, after the lease is checked inside
  // the transaction: a run that lost its lease or died before COMMIT leaves no row.
  const written = await ctx.transaction(async (client: PoolClient) => {
    const insert = 'INSERT INTO invoice_runs (slot, token) VALUES ($1, $2)';
    return (await client.query(insert, [ctx.slot, ctx.token])).rowCount;
  });
  console.log(`slot ${ctx.slot.toISOString()}: ${written} row (token ${ctx.token})`);
});

await lh.start();
process.once('SIGTERM', () => void lh.stop().then(() => store.close()));
// README: end
