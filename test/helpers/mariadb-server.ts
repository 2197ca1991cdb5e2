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
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/** Options of {@link startMariaDbServer}. */
export interface MariaDbServerOptions {
  /** Port on 127.0.0.1. @defaultValue a free port */
  port?: number;
  /** Password for `root` over TCP. @defaultValue none */
  password?: string;
  /** A database created at first start. @defaultValue `'leasehold'` */
  database?: string;
}

/** A running private MariaDB server. */
export interface MariaDbServer {
  readonly port: number;
  /** Unix socket path (root logs in without a password there). */
  readonly socket: string;
  /** `mysql://root[:password]@127.0.0.1:<port>/<database>`. */
  readonly url: string;
  /** Stops it: SIGTERM (clean) or SIGKILL when `hard`. */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again after {@link kill}. */
  start(): Promise<void>;
  /** {@link kill} then {@link start}; data kept. */
  restart(hard?: boolean): Promise<void>;
  /** SIGSTOP: the kernel still accepts connections but nothing is answered. */
  pause(): Promise<void>;
  /** SIGCONT after {@link pause}. */
  resume(): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) {
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
});

/** Installs a data folder and starts `mariadbd`; resolves once it accepts connections. */
export async function startMariaDbServer(options: MariaDbServerOptions = {}): Promise<MariaDbServer> {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-maria-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const asRoot = process.getuid?.() === 0;
  const database = options.database ?? 'leasehold';
  execFileSync(
    'mariadb-install-db',
    ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...(asRoot ? ['--user=root'] : [])],
    { stdio: 'pipe' },
  );
  const port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;

  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const args = [
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
      ];
      const c = spawn('mariadbd', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      running.add(c);
      let out = '';
      const timer = setTimeout(() => fail(new Error(`mariadbd did not start within 30s:\n${out}`)), 30_000);
      const fail = (err: Error) => {
        clearTimeout(timer);
        c.kill('SIGKILL');
        reject(err);
      };
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        if (/ready for connections/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      c.stdout?.on('data', onData);
      c.stderr?.on('data', onData);
      c.once('error', (err) => fail(err));
      c.once('exit', (code, signal) => {
        running.delete(c);
        if (child === c) child = undefined;
        fail(new Error(`mariadbd exited (${code ?? signal}):\n${out}`));
      });
    });

  const kill = async (hard = false): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    child = undefined;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGCONT');
      c.kill(hard ? 'SIGKILL' : 'SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 15_000).unref();
    });
  };

  await launch();
  // First start: a database, and root over TCP with the password (the socket keeps
  // passwordless root for the helper itself).
  const sql = [
    `CREATE DATABASE IF NOT EXISTS \`${database}\``,
    `CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'`,
    `GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION`,
    ...(options.password ? [`ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '${options.password.replace(/'/g, "''")}'`] : []),
  ].join(';\n');
  execFileSync('mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot', '-e', sql], { stdio: 'pipe' });

  return {
    port,
    socket,
    url: `mysql://root${options.password ? `:${encodeURIComponent(options.password)}` : ''}@127.0.0.1:${port}/${database}`,
    kill,
    start: async () => {
      if (!child) await launch();
    },
    restart: async (hard = false) => {
      await kill(hard);
      await launch();
    },
    pause: async () => {
      child?.kill('SIGSTOP');
    },
    resume: async () => {
      child?.kill('SIGCONT');
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
