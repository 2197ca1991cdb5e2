/**
 * Starts Azurite's blob service from `node_modules` (no global install) on a free
 * port, for tests, the fault harness and the benchmark.
 *
 * ```ts
 * const az = await startAzurite();            // in memory
 * const disk = await startAzurite({ disk: true }); // on disk, survives restart()
 * process.env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
 * await az.restart();
 * await az.stop();
 * ```
 */
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { controlsOf, SupervisedServer, type PrivateServer } from './supervisor.js';

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const DEV_ACCOUNT = 'devstoreaccount1';
/** Azurite's well-known development key (public, documented by Microsoft; not a secret). */
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Options of {@link startAzurite}. */
export interface AzuriteOptions {
  /** Persist to a temporary folder (removed by `stop()`), so data survives `restart()`. @defaultValue false (in memory) */
  disk?: boolean;
  /** Port to listen on. @defaultValue a free port chosen by the OS */
  port?: number;
}

/** A running Azurite blob service; on-disk data survives restarts, in-memory data does not. */
export interface Azurite extends PrivateServer {
  /** The port it listens on; kept across restarts. */
  readonly port: number;
  /** Blob endpoint, e.g. `http://127.0.0.1:41234/devstoreaccount1`. */
  readonly blobEndpoint: string;
  /** A connection string for the development account on this instance. */
  readonly connectionString: string;
}

const require = createRequire(import.meta.url);

/**
 * A module to preload (`node --import <this> …`) into a child process — Azurite, an
 * app instance — that ends it when the process that started it is gone (a test file
 * killed by the runner's timeout, a crashed harness), so nothing is left behind holding
 * memory and a port.
 */
export function watchdog(): string {
  const code = `const p=${process.pid};setInterval(()=>{try{process.kill(p,0)}catch{process.exit(0)}},1000).unref();`;
  return `data:text/javascript,${encodeURIComponent(code)}`;
}

/** Path of Azurite's blob-service entry point inside node_modules. */
export function azuriteBlobMain(): string {
  return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
}

/** Starts Azurite's blob service; resolves once it listens. */
export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-azurite-'));
  let port = options.port ?? 0;
  const listening = /successfully listens on https?:\/\/[^:]+:(\d+)/;
  const server = new SupervisedServer({
    name: 'Azurite',
    command: process.execPath,
    // The port is 0 at first start; a restart reuses the one Azurite reported.
    args: () => [
      azuriteBlobMain(),
      ...['--blobHost', '127.0.0.1', '--blobPort', String(port)],
      // Azurite closes idle keep-alive sockets after 5 s by default; a request sent on
      // one just as it closes fails with "socket hang up". Azure keeps them far longer.
      ...['--blobKeepAliveTimeout', '60'],
      ...['--skipApiVersionCheck', '--loose', '--disableTelemetry'],
      ...(options.disk ? ['--location', dir] : ['--inMemoryPersistence', '--extentMemoryLimit', '256']),
    ],
    cwd: dir,
    ready: (log) => listening.test(log),
    // Generous: on a loaded 2-core machine, loading Azurite's modules alone can take tens of seconds.
    startTimeoutMs: 90_000,
    stopTimeoutMs: 5000,
  });
  const controls = controlsOf(server, dir, () => {
    port = Number(listening.exec(server.log)?.[1]);
  });
  await controls.start();
  const endpoint = () => `http://127.0.0.1:${port}/${DEV_ACCOUNT}`;
  return {
    get port() {
      return port;
    },
    get blobEndpoint() {
      return endpoint();
    },
    get connectionString() {
      return `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=${endpoint()};`;
    },
    ...controls,
  };
}
