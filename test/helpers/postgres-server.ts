/**
 * Starts a private PostgreSQL server (the machine's binaries: `initdb`, `postgres`) in a
 * temporary folder on a free port, for tests, the fault harness and the benchmark. Its
 * data survives {@link PostgresServer.restart}, like any PostgreSQL.
 *
 * PostgreSQL refuses to run as root: when the tests run as root, the server runs as the
 * `postgres` user (override with `LEASEHOLD_PG_USER`). Binaries are looked up in
 * `LEASEHOLD_PG_BIN`, then `/usr/lib/postgresql/<newest>/bin`, then PATH.
 *
 * ```ts
 * const srv = await startPostgresServer({ password: 'pw' }); // scram-sha-256 auth
 * srv.url;                 // postgres://postgres:pw@127.0.0.1:<port>/postgres
 * srv.urlFor('other_db');  // same server, another database
 * await srv.restart();     // fast shutdown, start again; data kept
 * await srv.restart(true); // immediate shutdown (crash-like), start again; data kept
 * await srv.pause();       // SIGSTOP every server process: connections hang (black hole)
 * await srv.resume();
 * await srv.stop();        // and remove the folder
 * ```
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { controlsOf, SupervisedServer, type PrivateServer } from './supervisor.js';

/** Options of {@link startPostgresServer}. */
export interface PostgresServerOptions {
  /** Port on 127.0.0.1. @defaultValue a free port */
  port?: number;
  /** Password of the `postgres` superuser; with it, TCP logins need it (scram-sha-256). @defaultValue none (trust) */
  password?: string;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
}

/** A running private PostgreSQL server; its data survives restarts. */
export interface PostgresServer extends PrivateServer {
  readonly port: number;
  /** `postgres://postgres[:password]@127.0.0.1:<port>/postgres`. */
  readonly url: string;
  /** The URL of another database on this server (create it first). */
  urlFor(database: string, password?: string): string;
  /** Shuts it down: fast (clients disconnected, clean) or, when `hard`, immediate (crash-like; recovery on next start). */
  kill(hard?: boolean): Promise<void>;
}

function binDir(): string {
  if (process.env.LEASEHOLD_PG_BIN) return process.env.LEASEHOLD_PG_BIN;
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin');
  }
  return '';
}

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const user = process.env.LEASEHOLD_PG_USER ?? 'postgres';
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  return { uid, gid };
}

/** Creates a cluster in a temporary folder and starts it; resolves once it accepts connections. */
export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const bin = binDir();
  const exe = (name: string) => (bin ? join(bin, name) : name);
  const owner = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-pg-'));
  const data = join(dir, 'data');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const initArgs = ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions', '--locale=C'];
  if (options.password) {
    const pw = join(dir, 'pw');
    writeFileSync(pw, options.password, { mode: 0o600 });
    if (owner) chownSync(pw, owner.uid, owner.gid);
    initArgs.push('--auth-host=scram-sha-256', '--auth-local=trust', `--pwfile=${pw}`);
  } else {
    initArgs.push('--auth=trust');
  }
  execFileSync(exe('initdb'), initArgs, { stdio: 'pipe', ...(owner ?? {}) });
  if (options.password) rmSync(join(dir, 'pw'), { force: true });
  const port = options.port ?? (await freePort());
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: dir,
    fsync: 'off',
    full_page_writes: 'off',
    max_connections: '100',
    shared_buffers: '16MB',
    ...options.settings,
  };
  const server = new SupervisedServer({
    name: 'postgres',
    command: exe('postgres'),
    args: () => ['-D', data, ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])],
    cwd: dir,
    ...(owner ? { user: owner } : {}),
    ready: (log) => log.includes('database system is ready to accept connections'),
    startTimeoutMs: 20_000,
    // SIGINT: fast shutdown; SIGQUIT: immediate shutdown (no checkpoint, crash recovery on start).
    stopSignal: 'SIGINT',
    hardSignal: 'SIGQUIT',
    stopTimeoutMs: 10_000,
  });

  const urlFor = (database: string, password = options.password) =>
    `postgres://postgres${password ? `:${encodeURIComponent(password)}` : ''}@127.0.0.1:${port}/${database}`;

  const controls = controlsOf(server, dir);
  await controls.start();
  return { port, url: urlFor('postgres'), urlFor, ...controls };
}
