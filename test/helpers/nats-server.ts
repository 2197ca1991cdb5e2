/**
 * Starts private `nats-server` processes (JetStream on, file storage in a temporary
 * folder) on free ports, through the supervisor: one server, or a three-server JetStream
 * cluster. Restarting keeps the store folder, like a production server restarting.
 *
 * ```ts
 * const srv = await startNatsServer();                      // nats://127.0.0.1:<port>
 * const auth = await startNatsServer({ user: 'u', password: 'pw' });
 * await srv.restart();   // same port, same data
 * srv.pause();           // SIGSTOP: connections hang unanswered
 * const cluster = await startNatsCluster();                 // nats://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>
 * await srv.stop();
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { SupervisedServer } from './supervisor.js';

/** The server binary: Debian's package installs it in /usr/sbin, which is not always in PATH. */
const NATS_SERVER = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /** User and password the server requires. @defaultValue none */
  user?: string;
  password?: string;
  /** Token the server requires (instead of a user). @defaultValue none */
  token?: string;
}

/** One running private nats-server. */
export interface NatsServer {
  /** The client port on 127.0.0.1; kept across restarts. */
  readonly port: number;
  /** `nats://[credentials@]127.0.0.1:<port>` (no bucket). */
  readonly url: string;
  /** Process id while it runs. */
  readonly pid: number | undefined;
  /** Stops it (SIGKILL when `hard`); its store folder stays. */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again on the same ports, with its data. */
  start(): Promise<void>;
  /** Kills and starts again. */
  restart(hard?: boolean): Promise<void>;
  /** SIGSTOP: the kernel still accepts connections but nothing is answered. */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  /** Stops it and removes its store folder. */
  stop(): Promise<void>;
}

function credentialsOf(options: NatsServerOptions): { args: string[]; auth: string } {
  if (options.token) return { args: ['--auth', options.token], auth: `${encodeURIComponent(options.token)}@` };
  if (options.user) {
    const password = options.password ?? '';
    const auth = `${encodeURIComponent(options.user)}:${encodeURIComponent(password)}@`;
    return { args: ['--user', options.user, '--pass', password], auth };
  }
  return { args: [], auth: '' };
}

function serverOf(name: string, port: number, dir: string, args: readonly string[], auth: string): NatsServer {
  const server = new SupervisedServer({
    name: `nats-server ${name}`,
    command: NATS_SERVER,
    args: () => ['-a', '127.0.0.1', '-p', String(port), '-n', name, '-js', '-sd', dir, ...args],
    ready: (log) => log.includes('Server is ready'),
    startTimeoutMs: 15_000,
    stopTimeoutMs: 5000,
  });
  return {
    port,
    url: `nats://${auth}127.0.0.1:${port}`,
    get pid() {
      return server.pid;
    },
    kill: (hard = false) => server.kill(hard),
    start: () => server.start(),
    restart: (hard = false) => server.restart(hard),
    pause: () => server.pause(),
    resume: () => server.resume(),
    stop: async () => {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts one private nats-server with JetStream; resolves once it is ready. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-nats-'));
  const { args, auth } = credentialsOf(options);
  const server = serverOf('lh-single', await freePort(), dir, args, auth);
  await server.start();
  return server;
}

/** A three-server JetStream cluster. */
export interface NatsCluster {
  readonly servers: readonly NatsServer[];
  /** `nats://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>` (no bucket). */
  readonly url: string;
  /** Stops every server and removes their folders. */
  stop(): Promise<void>;
}

/** Starts three nats-servers routed into one JetStream cluster; resolves once all are ready. */
export async function startNatsCluster(): Promise<NatsCluster> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const routes = [await freePort(), await freePort(), await freePort()];
  const routeList = routes.map((port) => `nats://127.0.0.1:${port}`).join(',');
  const servers = ports.map((port, i) => {
    const dir = mkdtempSync(join(tmpdir(), `leasehold-nats-${i}-`));
    const cluster = ['--cluster_name', 'lh', '--cluster', `nats://127.0.0.1:${routes[i]}`, '--routes', routeList];
    return serverOf(`lh-${i + 1}`, port, dir, cluster, '');
  });
  await Promise.all(servers.map((server) => server.start()));
  return {
    servers,
    url: `nats://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    stop: async () => {
      await Promise.all(servers.map((server) => server.stop()));
    },
  };
}
