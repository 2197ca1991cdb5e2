/**
 * Starts a private dynalite (a DynamoDB implementation on LevelDB, from devDependencies)
 * on a free port, for tests, the fault harness and the benchmark: in memory, or on disk
 * with `persistent` so a restart keeps every table, like DynamoDB itself.
 *
 * ```ts
 * const srv = await startDynalite({ persistent: true }); // http://127.0.0.1:<port>
 * const store = new DynamoDbStore({ table: 'leases', createTable: true, ...srv.storeOptions });
 * await srv.restart(); // same port, same data
 * await srv.pause();   // SIGSTOP: requests hang unanswered
 * await srv.stop();
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { SupervisedServer } from './supervisor.js';

/** Options of {@link startDynalite}. */
export interface DynaliteOptions {
  /** Keep the data on disk (a temporary folder), so a restart keeps it. @defaultValue false: in memory */
  persistent?: boolean;
  /** Port to listen on. @defaultValue a free port */
  port?: number;
}

/** A running private dynalite. */
export interface DynaliteServer {
  /** Process id while it runs. */
  readonly pid: number | undefined;
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** What a store needs to reach it: endpoint, a region and throwaway credentials (dynalite checks none). */
  readonly storeOptions: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  /** A `dynamodb://<table>` URL for it (`createTable=true`). */
  url(table: string): string;
  /** Stops it (SIGKILL when `hard`). */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Kills and starts it again on the same port: in memory, all data is lost; persistent, none. */
  restart(hard?: boolean): Promise<void>;
  /** SIGSTOP: connections are accepted but never answered. */
  pause(): Promise<void>;
  /** SIGCONT after {@link pause}. */
  resume(): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

/** The throwaway credentials the tests use against dynalite; the store must never show the secret. */
export const DYNALITE_SECRET = 'dynalite-secret-never-shown';

/** Starts a private dynalite; resolves once it listens. */
export async function startDynalite(options: DynaliteOptions = {}): Promise<DynaliteServer> {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-dynalite-'));
  const port = options.port ?? (await freePort());
  const cli = createRequire(import.meta.url).resolve('dynalite/cli.js');
  const server = new SupervisedServer({
    name: 'dynalite',
    command: process.execPath,
    args: () => [cli, '--port', String(port), '--host', '127.0.0.1', ...(options.persistent ? ['--path', dir] : [])],
    ready: (log) => log.includes('Dynalite listening at'),
    startTimeoutMs: 15_000,
    stopTimeoutMs: 5000,
  });
  await server.start();
  const endpoint = `http://127.0.0.1:${port}`;
  const storeOptions = { endpoint, region: 'us-east-1', accessKeyId: 'test', secretAccessKey: DYNALITE_SECRET };
  return {
    get pid() {
      return server.pid;
    },
    port,
    endpoint,
    storeOptions,
    url: (table) =>
      `dynamodb://${table}?region=us-east-1&endpoint=${encodeURIComponent(endpoint)}` +
      `&accessKeyId=test&secretAccessKey=${DYNALITE_SECRET}&createTable=true`,
    kill: (hard = false) => server.kill(hard),
    start: () => server.start(),
    restart: (hard = false) => server.restart(hard),
    pause: async () => server.pause(),
    resume: async () => server.resume(),
    stop: async () => {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
