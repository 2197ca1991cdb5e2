/**
 * The README's leader-election quick start, run by test/examples.test.ts. Start it in two
 * terminals; stop the leader (Ctrl-C or SIGTERM) and the other one takes over.
 *
 *   LEASEHOLD_STORE=file:.leasehold npx tsx examples/quick-start/election.ts
 */
// README: begin
import { Leasehold, openStore } from '../../src/index.js';

const store = await openStore(process.env.LEASEHOLD_STORE ?? 'file:.leasehold');
const lh = new Leasehold({ store });

lh.elect('billing-leader', {
  ttl: '15s',
  onElected(ctx) {
    // ctx.token: this term's fencing token; ctx.signal aborts before the lease's deadline.
    console.log(`leader: ${ctx.holder}, term ${ctx.token}`);
    const work = setInterval(() => {
      if (ctx.held) console.log(`term ${ctx.token}: billing`); // check ctx.held before each step
    }, 1000);
    ctx.signal.addEventListener('abort', () => clearInterval(work));
  },
  onDemoted(demotion) {
    console.log(`term ${demotion.token} ended: ${demotion.reason}`); // 'lost' | 'resigned' | 'failed'
  },
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await lh.stop(); // resigns: another process is elected within a second
    await store.close();
  });
}
// README: end
console.log(`campaigning as ${lh.holder}`);
