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
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/** Options of {@link startPostgresServer}. */
export interface PostgresServerOptions {
  /** Port on 127.0.0.1. @defaultValue a free port */
  port?: number;
  /** Password of the `postgres` superuser; with it, TCP logins need it (scram-sha-256). @defaultValue none (trust) */
  password?: string;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
}

/** A running private PostgreSQL server. */
export interface PostgresServer {
  readonly port: number;
  /** `postgres://postgres[:password]@127.0.0.1:<port>/postgres`. */
  readonly url: string;
  /** The URL of another database on this server (create it first). */
  urlFor(database: string, password?: string): string;
  /** Shuts it down: fast (clients disconnected, clean) or, when `hard`, immediate (crash-like; recovery on next start). */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again after {@link kill}. */
  start(): Promise<void>;
  /** {@link kill} then {@link start}; data kept. */
  restart(hard?: boolean): Promise<void>;
  /** SIGSTOP the postmaster and every backend: nothing is answered, connections stay open. */
  pause(): Promise<void>;
  /** SIGCONT after {@link pause}. */
  resume(): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

function binDir(): string {
  if (process.env.LEASEHOLD_PG_BIN) return process.env.LEASEHOLD_PG_BIN;
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
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

/** Every live process whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) {
    try {
      for (const p of childrenOf(c.pid ?? -1)) process.kill(p, 'SIGCONT');
      c.kill('SIGCONT');
      c.kill('SIGQUIT');
    } catch {
      // gone
    }
  }
});

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
  let child: ChildProcess | undefined;

  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
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
      const args = ['-D', data, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
      const c = spawn(exe('postgres'), args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], ...(owner ?? {}) });
      child = c;
      running.add(c);
      let out = '';
      const timer = setTimeout(() => fail(new Error(`postgres did not start within 20s:\n${out}`)), 20_000);
      const fail = (err: Error) => {
        clearTimeout(timer);
        c.kill('SIGQUIT');
        reject(err);
      };
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        if (/database system is ready to accept connections/.test(out)) {
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
        fail(new Error(`postgres exited (${code ?? signal}):\n${out}`));
      });
    });

  const kill = async (hard = false): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    child = undefined;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      for (const p of childrenOf(c.pid ?? -1)) {
        try {
          process.kill(p, 'SIGCONT');
        } catch {
          // gone
        }
      }
      c.kill('SIGCONT');
      // SIGINT: fast shutdown; SIGQUIT: immediate shutdown (no checkpoint, crash recovery on start).
      c.kill(hard ? 'SIGQUIT' : 'SIGINT');
      setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
    });
  };

  const signalAll = (sig: NodeJS.Signals) => {
    const pid = child?.pid;
    if (!pid) return;
    if (sig === 'SIGSTOP') process.kill(pid, sig);
    for (const p of childrenOf(pid)) {
      try {
        process.kill(p, sig);
      } catch {
        // exited
      }
    }
    if (sig !== 'SIGSTOP') process.kill(pid, sig);
  };

  const urlFor = (database: string, password = options.password) =>
    `postgres://postgres${password ? `:${encodeURIComponent(password)}` : ''}@127.0.0.1:${port}/${database}`;

  await launch();
  return {
    port,
    url: urlFor('postgres'),
    urlFor,
    kill,
    start: async () => {
      if (!child) await launch();
    },
    restart: async (hard = false) => {
      await kill(hard);
      await launch();
    },
    pause: async () => signalAll('SIGSTOP'),
    resume: async () => signalAll('SIGCONT'),
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
