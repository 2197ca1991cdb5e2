import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { NatsKvStore } from '../src/stores/nats/index.js';
import { runConformance } from '../src/testing/index.js';
import { startNatsCluster, type NatsCluster } from './helpers/nats-server.js';
import { freePort } from './helpers/ports.js';

// The conformance suite on a three-server JetStream cluster (nats-server 2.10, see
// test/helpers/nats-server.ts) with an R3 bucket: every write is a Raft commit of the
// bucket's stream. The restart is a SIGKILL of the stream's leader, three times in turn:
// tokens (stream sequences) and state survive three leader changes (L2, L8).
let cluster: NatsCluster;
let closedPort: number;
before(async () => {
  cluster = await startNatsCluster();
  closedPort = await freePort();
});
after(async () => {
  await cluster?.stop();
});

const bucket = `conformance-${randomUUID().slice(0, 8)}`;
const prefix = `conf-${randomUUID().slice(0, 8)}.`;

/**
 * How long a restarted server may take to catch its replica up: a loaded CI run saw one
 * still behind (lag 91, not current) 30 s after its restart. Four waits stay inside the
 * test's 240 s.
 */
const HEAL_MS = 45_000;

/** Kills the stream's leader (SIGKILL), brings it back, and waits for a leader and every replica: 3 times. */
async function killLeaders(): Promise<void> {
  const stream = `KV_${bucket}`;
  for (let round = 0; round < 3; round++) {
    await cluster.waitForStream(stream, HEAL_MS);
    const leader = await cluster.streamLeader(stream);
    if (!leader) throw new Error(`stream ${stream} has no leader`);
    await leader.kill(true);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await leader.start();
  }
  await cluster.waitForStream(stream, HEAL_MS);
}

runConformance(it, {
  // requestTimeoutMs: a Raft commit of three servers on a shared machine, not one fsync.
  create: () => new NatsKvStore({ url: `${cluster.url}/${bucket}?replicas=3`, prefix, requestTimeoutMs: 5000 }),
  restart: killLeaders,
  unreachable: () => new NatsKvStore({ url: `nats://127.0.0.1:${closedPort}/${bucket}`, prefix }),
});
