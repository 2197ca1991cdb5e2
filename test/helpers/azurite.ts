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
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

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

/** A running Azurite blob service. */
export interface Azurite {
  /** The port it listens on; kept across restarts. */
  readonly port: number;
  /** Blob endpoint, e.g. `http://127.0.0.1:41234/devstoreaccount1`. */
  readonly blobEndpoint: string;
  /** A connection string for the development account on this instance. */
  readonly connectionString: string;
  /** Stops the process (SIGKILL when `hard`), keeping on-disk data. */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again on the same port (after `kill`, or kills first). */
  start(): Promise<void>;
  /** Kills and starts again on the same port; on-disk data survives, in-memory data does not. */
  restart(hard?: boolean): Promise<void>;
  /** Stops it and removes its temporary folder. */
  stop(): Promise<void>;
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
  let child: ChildProcess | undefined;

  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const args = [
        azuriteBlobMain(),
        '--blobHost', '127.0.0.1',
        '--blobPort', String(port),
        // Azurite closes idle keep-alive sockets after 5 s by default; a request sent on
        // one just as it closes fails with "socket hang up". Azure keeps them far longer.
        '--blobKeepAliveTimeout', '60',
        '--skipApiVersionCheck',
        '--loose',
        '--disableTelemetry',
        ...(options.disk ? ['--location', dir] : ['--inMemoryPersistence', '--extentMemoryLimit', '256']),
      ];
      const c = spawn(process.execPath, ['--import', watchdog(), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      let out = '';
      // Generous: on a loaded 2-core machine, loading Azurite's modules alone can take tens of seconds.
      const timer = setTimeout(() => fail(new Error(`Azurite did not start within 90s:\n${out}`)), 90_000);
      const fail = (err: Error) => {
        clearTimeout(timer);
        c.kill('SIGKILL');
        reject(err);
      };
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        const m = /successfully listens on https?:\/\/[^:]+:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          port = Number(m[1]);
          // Keep draining its output so a full pipe never blocks it; the access log is off by default.
          c.stdout?.removeListener('data', onData);
          c.stdout?.resume();
          c.stderr?.resume();
          resolve();
        }
      };
      c.stdout?.on('data', onData);
      c.stderr?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      c.once('exit', (code, signal) => {
        if (child === c) child = undefined;
        fail(new Error(`Azurite exited early (${code ?? signal}):\n${out}`));
      });
    });

  const kill = async (hard = false): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    child = undefined;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(hard ? 'SIGKILL' : 'SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 5000).unref();
    });
  };

  await launch();
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
    kill,
    start: async () => {
      if (!child) await launch();
    },
    restart: async (hard = false) => {
      await kill(hard);
      await launch();
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
