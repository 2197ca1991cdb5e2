/**
 * Starts a private MariaDB server (the machine's `mariadb-install-db` and `mariadbd`)
 * in a temporary folder on a free port, for tests, the fault harness and the benchmark.
 * Its data survives {@link MariaDbServer.restart} (InnoDB, durable commits).
 *
 * ```ts
 * const srv = await startMariaDbServer({ password: 'pw' });
 * srv.url;                // mysql://root:pw@127.0.0.1:<port>/leasehold
 * await srv.restart();    // SIGTERM (clean), start again; data kept
 * await srv.restart(true);// SIGKILL (crash), start again; InnoDB recovers
 * await srv.pause();      // SIGSTOP: connections hang unanswered (black hole)
 * await srv.resume();
 * await srv.stop();       // and remove the folder
 * ```
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { controlsOf, SupervisedServer, type PrivateServer } from './supervisor.js';

/** Options of {@link startMariaDbServer}. */
export interface MariaDbServerOptions {
  /** Port on 127.0.0.1. @defaultValue a free port */
  port?: number;
  /** Password for `root` over TCP. @defaultValue none */
  password?: string;
  /** A database created at first start. @defaultValue `'leasehold'` */
  database?: string;
}

/** A running private MariaDB server; its data survives restarts (InnoDB recovers after a hard one). */
export interface MariaDbServer extends PrivateServer {
  readonly port: number;
  /** Unix socket path (root logs in without a password there). */
  readonly socket: string;
  /** `mysql://root[:password]@127.0.0.1:<port>/<database>`. */
  readonly url: string;
}

/** Installs a data folder and starts `mariadbd`; resolves once it accepts connections. */
export async function startMariaDbServer(options: MariaDbServerOptions = {}): Promise<MariaDbServer> {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-maria-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const asRoot = process.getuid?.() === 0;
  const database = options.database ?? 'leasehold';
  execFileSync(
    'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${data}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...(asRoot ? ['--user=root'] : []),
    ],
    { stdio: 'pipe' },
  );
  const port = options.port ?? (await freePort());
  const server = new SupervisedServer({
    name: 'mariadbd',
    command: 'mariadbd',
    args: () => [
      '--no-defaults',
      `--datadir=${data}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      '--skip-log-bin',
      '--innodb-buffer-pool-size=16M',
      '--innodb-log-file-size=16M',
      '--skip-name-resolve',
      '--max-connections=200',
      ...(asRoot ? ['--user=root'] : []),
    ],
    cwd: dir,
    ready: (log) => log.includes('ready for connections'),
    startTimeoutMs: 30_000,
    stopTimeoutMs: 15_000,
  });

  const controls = controlsOf(server, dir);
  await controls.start();
  // First start: a database, and root over TCP with the password (the socket keeps
  // passwordless root for the helper itself).
  const sql = [
    `CREATE DATABASE IF NOT EXISTS \`${database}\``,
    `CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'`,
    `GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION`,
    ...(options.password
      ? [`ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '${options.password.replace(/'/g, "''")}'`]
      : []),
  ].join(';\n');
  execFileSync('mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot', '-e', sql], { stdio: 'pipe' });

  return {
    port,
    socket,
    url: `mysql://root${options.password ? `:${encodeURIComponent(options.password)}` : ''}@127.0.0.1:${port}/${database}`,
    ...controls,
  };
}
