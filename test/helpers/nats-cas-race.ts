/**
 * The race behind the NATS store's version floor for replicated buckets (nats-server issue
 * 4320): on a KV bucket, several clients send a compare-and-set update of one key with the
 * same expected revision at once. Exactly one may be stored. Servers before 2.9.21 checked
 * the expected revision before proposing the write to the stream's Raft group, not among
 * the proposals in flight, so on a replicated stream two or more could be stored.
 *
 * ```ts
 * const result = await raceCasUpdates(cluster.url, { replicas: 3, rounds: 100 });
 * // result.multiple: rounds in which the server stored more than one of the racing writes
 * ```
 */
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';

/** Options of {@link raceCasUpdates}. */
export interface CasRaceOptions {
  /** Replicas of the bucket the race runs on. */
  replicas: number;
  /** Rounds to run. */
  rounds: number;
  /** Racing clients, each on its own connection, spread over the servers. @defaultValue 6 */
  racers?: number;
  /** Stop at the first round that stored more than one write. @defaultValue false */
  stopAtFirst?: boolean;
}

/** What {@link raceCasUpdates} saw. */
export interface CasRaceResult {
  /** Rounds run. */
  rounds: number;
  /** Rounds in which more than one racing write was acknowledged. */
  multipleAcked: number;
  /** Rounds in which the stream stored more than one racing write (by its sequence numbers). */
  multiple: number;
  /** Rounds in which no write was stored (every racer failed). */
  none: number;
  /** Rejections other than "wrong last sequence" (timeouts, a leader change…), with their messages. */
  otherErrors: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Creates the bucket, retrying while a new cluster still elects its JetStream meta leader. */
async function createBucket(connection: NatsConnection, bucket: string, replicas: number): Promise<KV> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Kvm(connection).create(bucket, { history: 1, replicas, storage: 'file' as never });
    } catch (err) {
      if (attempt >= 50) throw err;
      await sleep(300);
    }
  }
}

/**
 * Runs `rounds` rounds on a fresh bucket of the cluster (or server) at `url`: a base write
 * of a key, then every racer's `update` of it with the base's revision, sent together. The
 * count of stored writes comes from the stream itself: only this function writes to the
 * bucket, so the next round's base revision minus this round's, minus one, is how many
 * racing writes the stream stored — acknowledged or not.
 */
export async function raceCasUpdates(url: string, options: CasRaceOptions): Promise<CasRaceResult> {
  const servers = url.replace('nats://', '').split(',');
  const racers = options.racers ?? 6;
  const connections = await Promise.all(
    Array.from({ length: racers + 1 }, (_, i) => connect({ servers: [servers[i % servers.length] as string] })),
  );
  const result: CasRaceResult = { rounds: 0, multipleAcked: 0, multiple: 0, none: 0, otherErrors: [] };
  try {
    const bucket = `race-${randomUUID().slice(0, 8)}`;
    const writer = await createBucket(connections[0] as NatsConnection, bucket, options.replicas);
    const kvs = await Promise.all(connections.slice(1).map((connection) => new Kvm(connection).open(bucket)));
    for (let round = 0; round < options.rounds; round++) {
      const key = `k${round % 5}`;
      const base = await writer.put(key, 'base');
      const answers = await Promise.allSettled(kvs.map((kv, i) => kv.update(key, `racer-${i}`, base)));
      const stored = (await writer.put('after', '')) - base - 1;
      const acked = answers.filter((answer) => answer.status === 'fulfilled').length;
      for (const answer of answers) {
        const message = answer.status === 'rejected' ? String((answer.reason as Error)?.message) : '';
        if (message && !/wrong last sequence/i.test(message)) result.otherErrors.push(message);
      }
      result.rounds++;
      if (acked > 1) result.multipleAcked++;
      if (stored > 1) result.multiple++;
      if (stored === 0) result.none++;
      if (options.stopAtFirst && stored > 1) break;
    }
  } finally {
    await Promise.all(connections.map((connection) => connection.close().catch(() => {})));
  }
  return result;
}
