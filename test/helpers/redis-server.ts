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
 * const one = await startRedisServer({ cluster: true }); // one-node Redis Cluster
 * const tls = await startRedisServer({ tls: true });      // rediss://localhost:<port>, CA in tls.caFile
 * await srv.stop();
 * ```
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { controlsOf, SupervisedServer, type PrivateServer } from './supervisor.js';

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Port to listen on. @defaultValue a free port chosen by the OS */
  port?: number;
  /** Sets `requirepass`. @defaultValue none */
  password?: string;
  /** More `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
  /**
   * Run as a one-node Redis Cluster that owns all 16384 slots: cluster rules apply
   * (a script's keys must share a slot, or the server answers CROSSSLOT).
   * @defaultValue false
   */
  cluster?: boolean;
  /**
   * Serve TLS only, with a certificate for `localhost` and 127.0.0.1 signed by a
   * throwaway CA (made with `openssl`); its file is {@link RedisServer.caFile}.
   * @defaultValue false
   */
  tls?: boolean;
}

/** A running private redis-server; restarting it loses all its data. */
export interface RedisServer extends PrivateServer {
  /** Process id of the running server, or undefined while it is stopped. */
  readonly pid: number | undefined;
  /** The port it listens on (on 127.0.0.1); kept across restarts. */
  readonly port: number;
  /** `redis://[:password@]127.0.0.1:<port>`, or `rediss://[:password@]localhost:<port>` with `tls`. */
  readonly url: string;
  /** With `tls`: the PEM file of the CA that signed the server's certificate. */
  readonly caFile: string | undefined;
}

/** Starts a private redis-server; resolves once it accepts connections. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-redis-'));
  const port = options.port ?? (await freePort());
  const certs = options.tls ? await makeCerts(dir) : undefined;
  const listen = certs
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', certs.cert, '--tls-key-file', certs.key].concat([
        '--tls-ca-cert-file',
        certs.ca,
        '--tls-auth-clients',
        'no',
      ])
    : ['--port', String(port)];
  const cluster = ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`)].concat([
    '--cluster-announce-ip',
    '127.0.0.1',
  ]);
  const server = new SupervisedServer({
    name: 'redis-server',
    command: 'redis-server',
    args: () => [
      ...listen,
      ...['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', ''],
      ...(options.password ? ['--requirepass', options.password] : []),
      ...(options.cluster ? cluster : []),
      ...(options.args ?? []),
    ],
    cwd: dir,
    ready: (log) => log.includes('Ready to accept connections'),
    startTimeoutMs: 10_000,
    stopTimeoutMs: 5000,
  });
  const controls = controlsOf(server, dir, async () => {
    if (options.cluster) await ownAllSlots(port, options.password);
  });
  await controls.start();
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  return {
    get pid() {
      return server.pid;
    },
    port,
    url: certs ? `rediss://${auth}localhost:${port}` : `redis://${auth}127.0.0.1:${port}`,
    caFile: certs?.ca,
    ...controls,
  };
}

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${err}`))));
  });
}

/** A throwaway CA and a server certificate for localhost / 127.0.0.1, made with openssl. */
async function makeCerts(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const subj = (cn: string) => ['-subj', `/CN=${cn}`];
  await run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      ...subj('leasehold test CA'),
    ],
    dir,
  );
  await run(
    'openssl',
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', ...subj('localhost')],
    dir,
  );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await run(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    ],
    dir,
  );
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

/** Runs redis-cli against the private server; resolves with its output. */
function cli(port: number, password: string | undefined, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(password ? { REDISCLI_AUTH: password } : {}) },
    });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli ${args.join(' ')}: ${out}`))));
  });
}

/** Gives every slot to the single node and waits until the cluster reports ok. */
async function ownAllSlots(port: number, password: string | undefined): Promise<void> {
  const info = await cli(port, password, ['CLUSTER', 'INFO']);
  if (!/cluster_slots_assigned:16384/.test(info)) await cli(port, password, ['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']);
  for (let i = 0; i < 200; i++) {
    if (/cluster_state:ok/.test(await cli(port, password, ['CLUSTER', 'INFO']))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('one-node cluster did not reach cluster_state:ok within 10s');
}
