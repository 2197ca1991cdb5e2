/**
 * The store's connection to NATS: the three SDK packages loaded on first use, one
 * connection (reconnecting in the background, opened again after it closes), the bucket
 * found or created and checked, and the few KV requests the store sends. Why each
 * setting: docs/stores/nats.md ("Options", "Bucket").
 * @module
 */
import { ConfigError, LeaseholdError, StoreUnavailableError } from '../../errors.js';
import { errorText, importPeer, once, unavailable, type Once } from '../../store-kit/index.js';
import type { ParsedNatsUrl } from './url.js';

/** The part of an SDK KV entry the store reads. */
export interface KvEntryLike {
  readonly created: Date;
  readonly revision: number;
  readonly operation: 'PUT' | 'DEL' | 'PURGE';
  string(): string;
}

/** The part of the SDK's KV bucket the store uses. */
export interface KvLike {
  get(key: string): Promise<KvEntryLike | null>;
  put(key: string, data: string, options?: { previousSeq?: number }): Promise<number>;
  keys(filter?: string): Promise<AsyncIterable<string> & { stop(): void }>;
}

/** One message an ordered push consumer delivers, as the store reads it. */
interface ConsumedLike {
  readonly subject: string;
  readonly seq: number;
  /** Server time the message was stored at. */
  readonly time: Date;
  readonly info: { readonly pending: number };
  readonly headers?: { get(name: string): string } | undefined;
  string(): string;
}

interface PushConsumerLike {
  info(cached: true): Promise<{ readonly num_pending: number; readonly created: string }>;
  consume(options: { callback: (message: ConsumedLike) => void }): Promise<{ stop(): void }>;
  delete(): Promise<unknown>;
}

interface JetStreamLike {
  consumers: { getPushConsumer(stream: string, options: Record<string, unknown>): Promise<PushConsumerLike> };
}

/** The last revision of one KV key, as {@link NatsConnection.lastValues} reads it. */
export interface LastValue {
  /** The KV key. */
  readonly key: string;
  readonly revision: number;
  /** Server time (epoch ms) the revision was stored at. */
  readonly created: number;
  readonly operation: 'PUT' | 'DEL' | 'PURGE';
  readonly value: string;
}

interface ConnectionLike {
  close(): Promise<void>;
  closed(): Promise<undefined | Error>;
  /** The connected server's INFO: its version. */
  readonly info?: { readonly version: string } | undefined;
}

/**
 * The first nats-server release whose compare-and-set (`Nats-Expected-Last-Subject-Sequence`)
 * holds on a replicated stream: before it, two writes racing with the same expected revision
 * could both be stored (nats-io/nats-server#4320, fixed in 2.9.21 by #4319), which would
 * grant one lease twice. docs/stores/nats.md ("Bucket").
 */
const REPLICATED_CAS_SINCE = [2, 9, 21] as const;

/** True when `version` (`major.minor.patch…`) is at least {@link REPLICATED_CAS_SINCE}. */
export function hasReplicatedCas(version: string): boolean {
  const parts = version.split(/[.-]/).map((part) => Number.parseInt(part, 10));
  for (const [index, wanted] of REPLICATED_CAS_SINCE.entries()) {
    const part = parts[index];
    if (part === undefined || !Number.isFinite(part)) return false;
    if (part !== wanted) return part > wanted;
  }
  return true;
}

interface StreamInfoLike {
  readonly config: { readonly storage: string; readonly max_age: number; readonly num_replicas: number };
}

interface ManagerLike {
  streams: { info(name: string): Promise<StreamInfoLike> };
}

interface Sdk {
  connect(options: Record<string, unknown>): Promise<ConnectionLike>;
  jetstream(connection: ConnectionLike, options: Record<string, unknown>): JetStreamLike;
  jetstreamManager(connection: ConnectionLike, options: Record<string, unknown>): Promise<ManagerLike>;
  Kvm: new (
    client: unknown,
  ) => {
    create(bucket: string, options: Record<string, unknown>): Promise<KvLike>;
    open(bucket: string, options: Record<string, unknown>): Promise<KvLike>;
  };
}

const PEERS = ['@nats-io/transport-node', '@nats-io/jetstream', '@nats-io/kv'] as const;

/** Imports the three SDK packages. @throws ConfigError naming the one that is not installed. */
export async function loadNats(): Promise<Sdk> {
  const [transport, jetstream, kv] = await Promise.all([
    importPeer(
      'nats',
      PEERS[0],
      () => import('@nats-io/transport-node'),
      (mod) => (typeof mod.connect === 'function' ? { connect: mod.connect as Sdk['connect'] } : undefined),
    ),
    importPeer(
      'nats',
      PEERS[1],
      () => import('@nats-io/jetstream'),
      (mod) =>
        typeof mod.jetstream === 'function' && typeof mod.jetstreamManager === 'function'
          ? {
              jetstream: mod.jetstream as Sdk['jetstream'],
              jetstreamManager: mod.jetstreamManager as Sdk['jetstreamManager'],
            }
          : undefined,
    ),
    importPeer(
      'nats',
      PEERS[2],
      () => import('@nats-io/kv'),
      (mod) => (typeof mod.Kvm === 'function' ? { Kvm: mod.Kvm as Sdk['Kvm'] } : undefined),
    ),
  ]);
  return { ...transport, ...jetstream, ...kv };
}

/** What the store needs to open its connection. */
export interface NatsSettings {
  readonly url: ParsedNatsUrl;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

interface Session {
  readonly connection: ConnectionLike;
  readonly kv: KvLike;
  readonly js: JetStreamLike;
}

/** True for the server's answer to a CAS write whose expected revision is not the entry's. */
export function isConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 10071 || code === 10164 || (err instanceof Error && /wrong last sequence/i.test(err.message));
}

const AUTH_FAILED = /authorization|authentication|auth(entication)? (violation|expired)/i;
const NO_RESPONDERS = /jetstream is not enabled|no responders/i;
const NO_LEADER = 'no server answered for the stream (a cluster electing its leader, or JetStream off)';

/** The store's one connection and bucket, opened on first use. */
export class NatsConnection {
  /** Where messages say the store is: `nats <URL with its secrets masked>`. */
  readonly where: string;
  readonly #settings: NatsSettings;
  readonly #session: Once<Session>;
  /** The last opening started, so {@link close} can close a connection still being opened. */
  #opening: Promise<Session> | undefined;
  #closed = false;

  constructor(settings: NatsSettings) {
    this.#settings = settings;
    this.where = `nats ${settings.url.shown}`;
    this.#session = once(() => this.#open());
  }

  async #open(): Promise<Session> {
    const { url, requestTimeoutMs, connectTimeoutMs } = this.#settings;
    const sdk = await loadNats();
    const connection = await sdk.connect({
      servers: [...url.servers],
      user: url.user,
      pass: url.pass,
      token: url.token,
      name: 'leasehold',
      timeout: connectTimeoutMs,
      // Keep reconnecting in the background; a request made meanwhile waits for the
      // connection and fails at its own timeout.
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      // A black-holed connection is noticed after about two pings and replaced.
      pingInterval: 5000,
      maxPingOut: 2,
    });
    try {
      const options = { timeout: requestTimeoutMs };
      const js = sdk.jetstream(connection, options);
      const manager = await sdk.jetstreamManager(connection, options);
      const stream = `KV_${url.bucket}`;
      const info = await manager.streams.info(stream).catch((err: unknown) => {
        if (err instanceof Error && /stream not found/i.test(err.message)) return undefined;
        throw err;
      });
      this.#checkReplicas(info?.config.num_replicas ?? url.replicas, connection.info?.version ?? 'unknown');
      if (info) {
        this.#checkBucket(info);
      } else {
        // history 1: only the last revision matters; file storage: tokens survive restarts (L2).
        const settings = { history: 1, storage: 'file', replicas: url.replicas, allow_direct: false };
        await new sdk.Kvm(js).create(url.bucket, settings);
      }
      // Reads go to the stream's leader (no direct get), so they never return a stale revision.
      const kv = await new sdk.Kvm(js).open(url.bucket, { allow_direct: false });
      const session = { connection, kv, js };
      // Opened again on the next request after the connection closes for good.
      void connection.closed().then(() => {
        if (this.#session.value === session) this.#session.reset();
      });
      return session;
    } catch (err) {
      await connection.close().catch(() => {});
      throw err;
    }
  }

  /** Refuses a replicated bucket on a server whose compare-and-set does not hold there ({@link hasReplicatedCas}). */
  #checkReplicas(replicas: number, version: string): void {
    if (replicas <= 1 || hasReplicatedCas(version)) return;
    const minimum = REPLICATED_CAS_SINCE.join('.');
    const bucket = `bucket "${this.#settings.url.bucket}" has ${replicas} replicas`;
    const why = `nats-server ${version} may accept two compare-and-set writes of one revision on a replicated stream`;
    throw new ConfigError(
      `nats store: ${bucket}, and ${why} (nats-server issue 4320): use nats-server ${minimum} or later, or 1 replica`,
    );
  }

  #checkBucket(info: StreamInfoLike): void {
    const bucket = `nats store: bucket "${this.#settings.url.bucket}"`;
    if (info.config.storage !== 'file') {
      throw new ConfigError(
        `${bucket} uses ${info.config.storage} storage; tokens must survive restarts: use file storage`,
      );
    }
    if (info.config.max_age > 0) {
      throw new ConfigError(`${bucket} has a TTL (max_age); lease records and state must not expire: use one without`);
    }
  }

  /** The bucket, connecting on first use. @throws StoreUnavailableError after {@link close}. */
  async kv(): Promise<KvLike> {
    return (await this.#current()).kv;
  }

  /** The session, opening it on first use. @throws StoreUnavailableError after {@link close}. */
  #current(): Promise<Session> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError(`${this.where}: the store is closed`));
    this.#opening = this.#session();
    return this.#opening;
  }

  /**
   * The last revision of every KV key matching `filter` (a KV key pattern, `>` for all),
   * through one short-lived ordered push consumer: one request creates it, the server
   * pushes the values, a request in the background deletes it. `serverTime` is a reading
   * of the server's clock no later than the answer: the consumer's creation time, or the
   * newest value's timestamp when later.
   * @throws StoreUnavailableError when the values do not all arrive within the request timeout.
   */
  async lastValues(filter: string): Promise<{ values: LastValue[]; serverTime: number }> {
    const session = await this.#current();
    const { bucket } = this.#settings.url;
    const subjects = `$KV.${bucket}.`;
    const consumer = await session.js.consumers.getPushConsumer(`KV_${bucket}`, {
      filter_subjects: `${subjects}${filter}`,
      deliver_policy: 'last_per_subject',
    });
    const info = await consumer.info(true);
    const values: LastValue[] = [];
    let serverTime = Date.parse(info.created);
    try {
      if (info.num_pending > 0) {
        await this.#consumeAll(consumer, (message) => {
          const operation = (message.headers?.get('KV-Operation') || 'PUT') as LastValue['operation'];
          const created = message.time.getTime();
          serverTime = Math.max(serverTime, created);
          const key = message.subject.slice(subjects.length);
          values.push({ key, revision: message.seq, created, operation, value: message.string() });
        });
      }
    } finally {
      void consumer.delete().catch(() => {});
    }
    return { values, serverTime };
  }

  /** Feeds every pushed message to `take` until the consumer has none pending; bounded by the request timeout. */
  async #consumeAll(consumer: PushConsumerLike, take: (message: ConsumedLike) => void): Promise<void> {
    const { requestTimeoutMs } = this.#settings;
    let done: () => void = () => {};
    const drained = new Promise<void>((resolve) => {
      done = resolve;
    });
    const messages = await consumer.consume({
      callback: (message) => {
        take(message);
        if (message.info.pending === 0) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(`no answer within ${requestTimeoutMs}ms`)),
        requestTimeoutMs,
      );
    });
    try {
      await Promise.race([drained, late]);
    } finally {
      clearTimeout(timer);
      messages.stop();
    }
  }

  /** A failed request as one line with every secret masked; Leasehold errors pass through. */
  failure(label: string, err: unknown): LeaseholdError {
    if (err instanceof LeaseholdError) return err;
    const secrets = this.#settings.url.secrets;
    const detail = errorText(err, secrets);
    if (AUTH_FAILED.test(detail)) return unavailable(`${label}: authentication failed`, err, secrets);
    if (/connection refused|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/i.test(detail)) {
      return unavailable(`${label}: cannot reach the server`, err, secrets);
    }
    if (/timeout|timed out/i.test(detail)) {
      return unavailable(`${label}: no answer within ${this.#settings.requestTimeoutMs}ms`, err, secrets);
    }
    // The SDK's words for "no responders": nobody serves the bucket's stream right now, which on a
    // cluster is mostly a stream leader election (4-9 s on nats-server 2.10), not JetStream being off.
    if (NO_RESPONDERS.test(detail)) return unavailable(`${label}: ${NO_LEADER}`, err, secrets);
    return unavailable(label, err, secrets);
  }

  /** Closes the connection (draining nothing: the store has no subscriptions to drain). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const session = await this.#opening?.catch(() => undefined);
    this.#session.reset();
    await session?.connection.close().catch(() => {});
  }
}
