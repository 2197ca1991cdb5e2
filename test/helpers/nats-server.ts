/**
 * Starts private `nats-server` processes (JetStream on, file storage in a temporary
 * folder) on free ports, through the supervisor: one server, or a three-server JetStream
 * cluster. Restarting keeps the store folder, like a production server restarting.
 *
 * Single servers run the machine's nats-server (Debian bookworm's 2.9.10). Clusters run
 * nats-server 2.10 ({@link clusterNatsServer}): replicated buckets need 2.9.21 or later,
 * and the NATS store refuses them on older servers (docs/stores/nats.md, "Bucket").
 *
 * ```ts
 * const srv = await startNatsServer();                      // nats://127.0.0.1:<port>
 * const auth = await startNatsServer({ user: 'u', password: 'pw' });
 * await srv.restart();   // same port, same data
 * srv.pause();           // SIGSTOP: connections hang unanswered
 * const cluster = await startNatsCluster();                 // nats://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>
 * const old = await startNatsCluster({ binary: MACHINE_NATS_SERVER }); // the machine's 2.9.10
 * await srv.stop();
 * ```
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasReplicatedCas } from '../../src/stores/nats/connection.js';
import { freePort } from './ports.js';
import { SupervisedServer } from './supervisor.js';

/** The machine's server: Debian's package installs it in /usr/sbin, which is not always in PATH. */
export const MACHINE_NATS_SERVER = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where scripts/fetch-nats-server.sh unpacks Debian trixie's nats-server 2.10 package. */
const FETCHED_NATS_SERVER = join(ROOT, '.tmp/nats-server-2.10/usr/sbin/nats-server');
const FETCH_SCRIPT = join(ROOT, 'scripts/fetch-nats-server.sh');

const isExecutable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** The version a nats-server binary reports (`nats-server: v2.10.27` → `2.10.27`). */
export function natsServerVersion(binary: string): string {
  const out = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const version = /v(\d+\.\d+\.\d+\S*)/.exec(out)?.[1];
  if (!version) throw new Error(`${binary} --version answered ${JSON.stringify(out.trim())}`);
  return version;
}

let clusterBinary: string | undefined;

/**
 * The nats-server that clusters run: `LEASEHOLD_NATS_SERVER`, else nats-server 2.10 in
 * `.tmp/nats-server-2.10/`, which `.ci/run` fetches (scripts/fetch-nats-server.sh). Outside
 * CI a missing binary is fetched here; in CI it is an error (the CI step did not run), and
 * so is a binary older than 2.9.21 anywhere: never a skip.
 */
export function clusterNatsServer(): string {
  if (clusterBinary) return clusterBinary;
  const binary = process.env.LEASEHOLD_NATS_SERVER || FETCHED_NATS_SERVER;
  if (!isExecutable(binary)) {
    const fetch = `${FETCH_SCRIPT} (Debian trixie's nats-server 2.10 into .tmp/)`;
    if (binary !== FETCHED_NATS_SERVER) throw new Error(`LEASEHOLD_NATS_SERVER=${binary} is not an executable file`);
    if (process.env.CI === 'true')
      throw new Error(`no nats-server 2.10 for clusters at ${binary}: .ci/run runs ${fetch}`);
    execFileSync(FETCH_SCRIPT, { stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
  }
  const version = natsServerVersion(binary);
  if (!hasReplicatedCas(version)) {
    throw new Error(`${binary} is nats-server ${version}: clusters need 2.9.21 or later (replicated compare-and-set)`);
  }
  clusterBinary = binary;
  return binary;
}

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

interface ServerSpec {
  readonly binary: string;
  readonly name: string;
  readonly port: number;
  readonly dir: string;
  readonly args: readonly string[];
  readonly auth: string;
}

function serverOf({ binary, name, port, dir, args, auth }: ServerSpec, supervised?: SupervisedServer[]): NatsServer {
  const server = new SupervisedServer({
    name: `nats-server ${name}`,
    command: binary,
    args: () => ['-a', '127.0.0.1', '-p', String(port), '-n', name, '-js', '-sd', dir, ...args],
    ready: (log) => log.includes('Server is ready'),
    startTimeoutMs: 15_000,
    stopTimeoutMs: 5000,
  });
  supervised?.push(server);
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
  const port = await freePort();
  const server = serverOf({ binary: MACHINE_NATS_SERVER, name: 'lh-single', port, dir, args, auth });
  await server.start();
  return server;
}

/** Options of {@link startNatsCluster}. */
export interface NatsClusterOptions {
  /** The nats-server binary every server runs. @defaultValue {@link clusterNatsServer}() */
  binary?: string;
}

/** A three-server JetStream cluster. */
export interface NatsCluster {
  readonly servers: readonly NatsServer[];
  /** `nats://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>` (no bucket). */
  readonly url: string;
  /** The servers' version (`2.10.27`). */
  readonly version: string;
  /** The server leading `stream` now (asked of the cluster), or undefined when none does (an election). */
  streamLeader(stream: string): Promise<NatsServer | undefined>;
  /**
   * Resolves once `stream` has a leader and every replica is current (caught up with it).
   * @throws Error after `timeoutMs` (default 30 s), naming what the stream info last showed.
   */
  waitForStream(stream: string, timeoutMs?: number): Promise<void>;
  /** Stops every server and removes their folders. */
  stop(): Promise<void>;
}

let clusters = 0;

/**
 * Starts three nats-servers routed into one JetStream cluster; resolves once all are ready
 * and the cluster has elected its JetStream meta leader and can place a stream on all three.
 *
 * Each cluster has its own cluster and server names (`lh<pid>x<n>`, `…-1`…`-3`): test files
 * run clusters side by side and restart killed servers on their old ports, and a port one
 * cluster let go may be another's next free port; with one shared name the two would route
 * into one six-server cluster. If the cluster cannot place a three-replica stream within
 * 30 s, it is stopped and started once more on fresh ports, and a second failure names what
 * every server logged about JetStream.
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const binary = options.binary ?? clusterNatsServer();
  const version = natsServerVersion(binary);
  for (let attempt = 1; ; attempt++) {
    const started = await startClusterOnce(binary);
    try {
      await waitForMetaLeader(started.ports, 30_000);
      await waitForReplicaPlacement(started.ports, 30_000);
    } catch (err) {
      const logs = started.logs();
      await started.stop();
      if (attempt >= 2) throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
      process.stderr.write(
        `# nats cluster ${started.name}: ${(err as Error).message}; starting a fresh cluster\n${logs}\n`,
      );
      continue;
    }
    const { servers, ports, names } = started;
    return {
      servers,
      url: `nats://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
      version,
      streamLeader: async (stream) => {
        const leader = (await streamInfo(ports, stream).catch(() => undefined))?.leader;
        return servers[names.indexOf(leader ?? '')];
      },
      waitForStream: (stream, timeoutMs = 30_000) => waitForStream(ports, stream, timeoutMs),
      stop: started.stop,
    };
  }
}

/** Starts three routed servers on fresh ports and folders; resolves once each says it is ready. */
async function startClusterOnce(binary: string) {
  const name = `lh${process.pid}x${++clusters}`;
  const ports = [await freePort(), await freePort(), await freePort()];
  const routes = [await freePort(), await freePort(), await freePort()];
  const routeList = routes.map((port) => `nats://127.0.0.1:${port}`).join(',');
  const names = ports.map((_, i) => `${name}-${i + 1}`);
  const supervised: SupervisedServer[] = [];
  const servers = ports.map((port, i) => {
    const dir = mkdtempSync(join(tmpdir(), `leasehold-nats-${i}-`));
    const args = ['--cluster_name', name, '--cluster', `nats://127.0.0.1:${routes[i]}`, '--routes', routeList];
    return serverOf({ binary, name: names[i] as string, port, dir, args, auth: '' }, supervised);
  });
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  const started = await Promise.allSettled(servers.map((server) => server.start()));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  /** Each server's JetStream, cluster and route lines, for an error. */
  const logs = () =>
    supervised
      .map((server, i) => {
        const lines = server.log
          .split('\n')
          .filter((line) => /JetStream|Raft|RAFT|[Rr]oute|[Pp]eer|[Cc]luster|ERR|WRN/.test(line));
        return `--- ${names[i]} ---\n${lines.slice(-40).join('\n')}`;
      })
      .join('\n');
  return { name, servers, ports, names, stop, logs };
}

interface StreamCluster {
  readonly leader?: string;
  readonly replicas?: readonly { readonly name: string; readonly current: boolean }[];
}

/** The cluster part of `stream`'s info, asked of any of the servers on `ports`. */
async function streamInfo(ports: readonly number[], stream: string): Promise<StreamCluster | undefined> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const servers = ports.map((port) => `127.0.0.1:${port}`);
  const admin = await connect({ servers, timeout: 3000, maxReconnectAttempts: 0 });
  try {
    return (await (await jetstreamManager(admin, { timeout: 3000 })).streams.info(stream)).cluster;
  } finally {
    await admin.close().catch(() => {});
  }
}

/**
 * Creates and deletes a probe stream with 3 replicas until that works: a meta leader that
 * does not yet know every peer answers "no suitable peers for placement" (seen on a loaded
 * machine, where a bucket created right after the start then failed).
 */
async function waitForReplicaPlacement(ports: readonly number[], timeoutMs: number): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const admin = await connect({ servers: ports.map((port) => `127.0.0.1:${port}`), timeout: 3000 });
  const deadline = performance.now() + timeoutMs;
  const name = `lh_probe_${process.pid}`;
  try {
    for (;;) {
      try {
        const jsm = await jetstreamManager(admin, { timeout: 3000 });
        await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: 3 });
        await jsm.streams.delete(name);
        return;
      } catch (err) {
        if (performance.now() > deadline) throw new Error(`no placement for 3 replicas within ${timeoutMs}ms: ${err}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    await admin.close().catch(() => {});
  }
}

/** Polls the JetStream API until it answers: the meta group has a leader. */
async function waitForMetaLeader(ports: readonly number[], timeoutMs: number): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const admin = await connect({ servers: ports.map((port) => `127.0.0.1:${port}`), timeout: 3000 });
  const deadline = performance.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await (await jetstreamManager(admin, { timeout: 2000 })).getAccountInfo();
        return;
      } catch (err) {
        if (performance.now() > deadline) throw new Error(`no JetStream meta leader within ${timeoutMs}ms: ${err}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    await admin.close().catch(() => {});
  }
}

async function waitForStream(ports: readonly number[], stream: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let seen = 'no answer';
  while (performance.now() < deadline) {
    try {
      const cluster = await streamInfo(ports, stream);
      seen = JSON.stringify(cluster);
      if (cluster?.leader && (cluster.replicas ?? []).every((replica) => replica.current)) return;
    } catch (err) {
      seen = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`stream ${stream} not healthy within ${timeoutMs}ms: ${seen}`);
}
