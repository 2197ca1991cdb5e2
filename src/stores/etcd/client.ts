/**
 * The etcd connection: `etcd3` loaded on first use, a client opened from a URL (or the
 * user's), and one request with its own deadline and the caller's signal, every failure
 * a one-line `StoreUnavailableError` with credentials masked. Retries: docs/stores/etcd.md.
 * @module
 */
import { StoreUnavailableError } from '../../errors.js';
import { importPeer, once, raceSignal, throwIfAborted, unavailable, type Once } from '../../store-kit/index.js';
import type { CallOptionsLike, EtcdClientLike } from './rpc.js';
import type { ParsedEtcdUrl } from './url.js';

interface EtcdModule {
  Etcd3: new (options: Record<string, unknown>) => EtcdClientLike;
  isRecoverableError: (err: Error) => boolean;
}

/** Loads `etcd3` (an optional peer) once. @throws ConfigError naming the package when it is missing. */
export const loadEtcd = once(() =>
  importPeer<EtcdModule>(
    'etcd',
    'etcd3',
    () => import('etcd3'),
    (mod) => (typeof mod.Etcd3 === 'function' ? (mod as unknown as EtcdModule) : undefined),
  ),
);

/** The one policy shape `etcd3` calls: `execute(fn)`. */
interface Policy {
  execute<T>(fn: (context: { signal: AbortSignal; attempt: number }) => Promise<T> | T): Promise<T>;
}

/**
 * Tries up to `attempts` times while the error is a connection failure (each attempt on
 * the next member), never past the request's deadline, which every attempt shares. This
 * replaces the client's own circuit breaker, which refused every request for 5 s after
 * three failures, long after a restarted member was back.
 */
function failover(attempts: number, recoverable: (err: Error) => boolean): Policy {
  return {
    async execute(fn) {
      const signal = new AbortController().signal;
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn({ signal, attempt });
        } catch (err) {
          if (attempt >= attempts || !(err instanceof Error) || !recoverable(err)) throw err;
        }
      }
    },
  };
}

/** Passes every call straight through: failover between members is {@link failover}'s job. */
const direct: Policy = { execute: async (fn) => fn({ signal: new AbortController().signal, attempt: 1 }) };

/** Opens an `Etcd3` client for a parsed URL. */
async function openClient(url: ParsedEtcdUrl, dialTimeoutMs: number): Promise<EtcdClientLike> {
  const { Etcd3, isRecoverableError } = await loadEtcd();
  const scheme = url.tls ? 'https' : 'http';
  return new Etcd3({
    hosts: url.hosts.map((host) => `${scheme}://${host}`),
    dialTimeout: dialTimeoutMs,
    ...(url.username !== undefined ? { auth: { username: url.username, password: url.password ?? '' } } : {}),
    faultHandling: {
      host: () => direct,
      global: failover(Math.max(2, url.hosts.length), isRecoverableError),
    },
  });
}

/** Where a store's client comes from: the user's, or one opened from a URL. */
export type EtcdSource = { client: EtcdClientLike } | { url: ParsedEtcdUrl };

/** One etcd connection and how its requests are sent. */
export class EtcdConnection {
  /** Where messages say the store is (`etcd 127.0.0.1:2379`, credentials never included). */
  readonly where: string;
  readonly #source: EtcdSource;
  readonly #secrets: readonly (string | undefined)[];
  readonly #timeoutMs: number;
  readonly #client: Once<EtcdClientLike>;
  /** Set by {@link close}: a later request must not open a client nobody would close. */
  #closed = false;

  /** @param secrets - strings to mask in every message (the URL's password). */
  constructor(where: string, source: EtcdSource, secrets: readonly (string | undefined)[], timeoutMs: number) {
    this.where = where;
    this.#source = source;
    this.#secrets = secrets;
    this.#timeoutMs = timeoutMs;
    this.#client = once(async () => ('client' in source ? source.client : openClient(source.url, timeoutMs)));
  }

  /** The masked form of a client error, for a message that starts with `label`. */
  failure(label: string, err: unknown): Error {
    const error = unavailable(label, err, this.#secrets);
    // grpc-js appends empty diagnostics to a failed connect: "Last error: null. Resolution note: ".
    error.message = error.message.replace(/ Last error: null\./, '').replace(/ Resolution note: ?$/, '');
    return error;
  }

  /**
   * Sends one request with its own deadline (passed to gRPC, so no retry outlives it) and
   * the caller's signal. `send` gets the call options to pass on.
   */
  async call<T>(
    label: string,
    signal: AbortSignal | undefined,
    send: (client: EtcdClientLike, options: CallOptionsLike) => Promise<T>,
  ): Promise<T> {
    throwIfAborted(signal, label);
    if (this.#closed) throw new StoreUnavailableError(`${label}: the store was closed`);
    let timer: NodeJS.Timeout | undefined;
    try {
      const client = await this.#client();
      const answer = new Promise<T>((resolve, reject) => {
        timer = setTimeout(
          () => reject(new StoreUnavailableError(`${label}: no answer within ${this.#timeoutMs}ms`)),
          this.#timeoutMs,
        );
        timer.unref();
        send(client, { deadline: Date.now() + this.#timeoutMs }).then(resolve, reject);
      });
      return await raceSignal(answer, signal, label);
    } catch (err) {
      throw this.failure(label, err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the client opened from a URL; a client the user passed stays open. */
  async close(): Promise<void> {
    this.#closed = true;
    if ('client' in this.#source) return;
    const client = this.#client.value;
    this.#client.reset();
    client?.close();
  }
}
