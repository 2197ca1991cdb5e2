/**
 * Starts a private `redis-server` (from PATH) on a free port, without persistence, for
 * tests, the fault harness and the benchmark. Restarting it loses all its data, like a
 * production Redis run with `--save "" --appendonly no`.
 *
 * ```ts
 * const srv = await startRedisServer();                  // redis://127.0.0.1:<port>
 * const auth = await startRedisServer({ password: 'pw' }); // requirepass
 * await srv.restart();  // same port, empty data set
 * await srv.pause();    // SIGSTOP: connections hang unanswered (black hole)
 * await srv.resume();   // SIGCONT
 * await srv.stop();
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Port to listen on. @defaultValue a free port chosen by the OS */
  port?: number;
  /** Sets `requirepass`. @defaultValue none */
  password?: string;
  /** More `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
}

/** A running private redis-server. */
export interface RedisServer {
  /** The port it listens on (on 127.0.0.1); kept across restarts. */
  readonly port: number;
  /** `redis://[:password@]127.0.0.1:<port>`. */
  readonly url: string;
  /** Stops the process (SIGKILL when `hard`); its data is gone. */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again on the same port, with an empty data set. */
  start(): Promise<void>;
  /** Kills and starts again on the same port: all data is lost. */
  restart(hard?: boolean): Promise<void>;
  /** SIGSTOP: the kernel still accepts connections but nothing is answered. */
  pause(): Promise<void>;
  /** SIGCONT after {@link pause}. */
  resume(): Promise<void>;
  /** Stops it and removes its temporary folder. */
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** Starts a private redis-server; resolves once it accepts connections. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-redis-'));
  const port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;

  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const args = [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        '--dir', dir,
        '--logfile', '',
        ...(options.password ? ['--requirepass', options.password] : []),
        ...(options.args ?? []),
      ];
      const c = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      running.add(c);
      let out = '';
      const timer = setTimeout(() => fail(new Error(`redis-server did not start within 10s:\n${out}`)), 10_000);
      const fail = (err: Error) => {
        clearTimeout(timer);
        c.kill('SIGKILL');
        reject(err);
      };
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
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
      c.once('error', (err) => fail(err));
      c.once('exit', (code, signal) => {
        running.delete(c);
        if (child === c) child = undefined;
        fail(new Error(`redis-server exited early (${code ?? signal}):\n${out}`));
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
      setTimeout(() => c.kill('SIGKILL'), 5000).unref();
    });
  };

  await launch();
  return {
    port,
    url: `redis://${options.password ? `:${encodeURIComponent(options.password)}@` : ''}127.0.0.1:${port}`,
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
