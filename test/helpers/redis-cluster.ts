/**
 * A private Redis Cluster of real nodes for tests and the fault harness: `masters` masters
 * with `replicas` replicas each (3 + 3 by default), every node a `redis-server
 * --cluster-enabled yes` on a free port (started by {@link startRedisServer}, so on the
 * supervisor), joined with `redis-cli --cluster create`. A low `cluster-node-timeout`
 * (1000 ms) lets a replica take over a killed master in about two seconds.
 *
 * Importing this module registers the test-only URL scheme
 * `redis-cluster://host:port[,host:port…]` with `openStore`: it opens a `RedisStore` on an
 * ioredis `Cluster` client that the store's `close()` also closes. The library itself
 * takes a Cluster only as a client (docs/stores/redis.md, "Redis Cluster"); the scheme lets
 * the fleet workers and the fault-harness workers, which open stores by URL, use one.
 *
 * ```ts
 * const cluster = await startRedisCluster();
 * const master = await cluster.masterOf('leasehold:{job}');
 * await cluster.killNode(master.port);           // SIGKILL
 * const promoted = await cluster.waitForFailover(master.port);
 * await cluster.restartNode(master.port);        // rejoins as a replica, empty
 * await cluster.stop();
 * ```
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster, Redis } from 'ioredis';
import { registerStore } from '../../src/open.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { freePort } from './ports.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

/** Options of {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** @defaultValue 3 */
  masters?: number;
  /** Replicas per master. @defaultValue 1 */
  replicas?: number;
  /** `cluster-node-timeout`: how long a node may be silent before it is judged failed. @defaultValue 1000 */
  nodeTimeoutMs?: number;
}

/** One node as `CLUSTER NODES` describes it. */
export interface ClusterNode {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** Node id of its master (replicas). */
  masterId?: string;
  /** Flagged `fail` or `fail?` by the node asked. */
  failing: boolean;
  /** Slot ranges served (masters), e.g. `[[0, 5460]]`. */
  slots: [number, number][];
}

/** A running private Redis Cluster. */
export interface RedisCluster {
  /** The nodes' ports, in start order (masters first, as `--cluster create` was given them). */
  readonly ports: readonly number[];
  /** `redis-cluster://127.0.0.1:p1,…`: the test-only scheme this module registers. */
  readonly url: string;
  /** A new ioredis Cluster client on every node (the caller closes it). */
  client(): Promise<Cluster>;
  /** The cluster's view by a live node (the first that answers among `ports`, `except` left out). */
  nodes(except?: number): Promise<ClusterNode[]>;
  /** The master now serving the slot of `redisKey`. */
  masterOf(redisKey: string): Promise<ClusterNode>;
  /** A plain connection to one node, for commands the test sends to that node. */
  node(port: number): Promise<Redis>;
  /** SIGKILL one node. */
  killNode(port: number): Promise<void>;
  /** Starts a killed node again on its port and config file (its data is gone: no persistence). */
  restartNode(port: number): Promise<void>;
  /** Waits until a replica of the killed master `port` serves its slots and the cluster is ok; the new master. */
  waitForFailover(port: number, timeoutMs?: number): Promise<ClusterNode>;
  /** Waits until every live node reports `cluster_state:ok` and every replica's link to its master is up. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every node. */
  stop(): Promise<void>;
}

/** A port whose cluster bus port (port + 10000) is free too. */
async function freeNodePort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535) continue;
    const busFree = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port + 10_000, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (busFree) return port;
  }
}

/** Parses `CLUSTER NODES`. */
export function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', address = '', flags = '', master = '-', , , , , ...slots] = line.trim().split(' ');
      const port = Number(/:(\d+)@/.exec(address)?.[1]);
      const flagList = flags.split(',');
      return {
        id,
        port,
        role: flagList.includes('master') ? 'master' : 'replica',
        ...(master === '-' ? {} : { masterId: master }),
        failing: flagList.includes('fail') || flagList.includes('fail?'),
        slots: slots
          .filter((range) => !range.startsWith('['))
          .map((range) => range.split('-').map(Number))
          .map(([from = 0, to = from]) => [from, to] as [number, number]),
      } satisfies ClusterNode;
    });
}

function redisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`redis-cli ${args.join(' ')}: ${out}`)),
    );
  });
}

/** Starts the nodes, creates the cluster, and waits until it is healthy. */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 1;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
  const ports: number[] = [];
  for (let i = 0; i < masters * (1 + replicas); i++) ports.push(await freeNodePort());
  const servers = new Map<number, RedisServer>();
  const connections = new Map<number, Redis>();
  /** A slot each killed master served, to find the replica that took it over. */
  const servedBefore = new Map<number, number>();
  const { Redis: RedisClient, Cluster: ClusterClient } = await import('ioredis');

  const node = async (port: number): Promise<Redis> => {
    let connection = connections.get(port);
    if (!connection) {
      // No retries: a dead node answers at once with an error, so a probe moves on.
      connection = new RedisClient({
        host: '127.0.0.1',
        port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => null,
        connectTimeout: 1000,
      });
      connection.on('error', () => {});
      connections.set(port, connection);
    }
    if (connection.status === 'end' || connection.status === 'wait') {
      connection.disconnect();
      await connection.connect();
    }
    return connection;
  };
  const ask = async (port: number, ...args: string[]): Promise<string> => {
    const answer = await (await node(port)).call(...(args as [string, ...string[]]));
    return String(answer);
  };
  const live = () => ports.filter((port) => servers.get(port)?.pid !== undefined);

  const nodes = async (except?: number): Promise<ClusterNode[]> => {
    for (const port of live().filter((p) => p !== except)) {
      try {
        return parseClusterNodes(await ask(port, 'CLUSTER', 'NODES'));
      } catch {
        // that node is down or busy: ask the next
      }
    }
    throw new Error('redis cluster: no node answered CLUSTER NODES');
  };

  const waitHealthy = async (timeoutMs = 30_000): Promise<void> => {
    const until = performance.now() + timeoutMs;
    let why = '';
    while (performance.now() < until) {
      try {
        why = '';
        for (const port of live()) {
          const info = await ask(port, 'CLUSTER', 'INFO');
          if (!info.includes('cluster_state:ok')) why = `node ${port}: ${/cluster_state:\w+/.exec(info)?.[0]}`;
          const replication = await ask(port, 'INFO', 'replication');
          if (replication.includes('role:slave') && !replication.includes('master_link_status:up'))
            why = `replica ${port}: link to its master not up`;
          const view = parseClusterNodes(await ask(port, 'CLUSTER', 'NODES'));
          const known = view.filter((n) => live().includes(n.port) && !n.failing).length;
          if (known < live().length) why = `node ${port} sees ${known} of ${live().length} live nodes`;
          if (why) break;
        }
        if (!why) return;
      } catch (err) {
        why = String(err);
      }
      await sleep(100);
    }
    throw new Error(`redis cluster not healthy within ${timeoutMs}ms: ${why}`);
  };

  const stop = async () => {
    for (const connection of connections.values()) connection.disconnect();
    await Promise.all([...servers.values()].map((server) => server.stop().catch(() => {})));
  };
  try {
    await Promise.all(
      ports.map(async (port) => {
        const clusterArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`];
        const failover = ['--cluster-node-timeout', String(nodeTimeoutMs), '--cluster-announce-ip', '127.0.0.1'];
        servers.set(port, await startRedisServer({ port, args: [...clusterArgs, ...failover] }));
      }),
    );
    const addresses = ports.map((port) => `127.0.0.1:${port}`);
    await redisCli(['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes']);
    await waitHealthy();
  } catch (err) {
    await stop();
    throw err;
  }

  const masterOf = async (redisKey: string): Promise<ClusterNode> => {
    const port = live()[0] as number;
    const slot = Number(await ask(port, 'CLUSTER', 'KEYSLOT', redisKey));
    const owner = (await nodes()).find((n) => n.role === 'master' && n.slots.some(([a, b]) => a <= slot && slot <= b));
    if (!owner) throw new Error(`redis cluster: no master serves slot ${slot}`);
    return owner;
  };

  const serverOf = (port: number): RedisServer => {
    const server = servers.get(port);
    if (!server) throw new Error(`redis cluster: no node on port ${port}`);
    return server;
  };

  return {
    ports,
    url: `redis-cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    client: async () => {
      const client = new ClusterClient(
        ports.map((port) => ({ host: '127.0.0.1', port })),
        { lazyConnect: true },
      );
      client.on('error', () => {});
      await client.connect();
      return client;
    },
    nodes,
    masterOf,
    node,
    killNode: async (port) => {
      const before = (await nodes()).find((n) => n.port === port);
      if (before?.role === 'master' && before.slots[0]) servedBefore.set(port, before.slots[0][0]);
      connections.get(port)?.disconnect();
      await serverOf(port).kill(true);
    },
    restartNode: async (port) => serverOf(port).start(),
    waitForFailover: async (port, timeoutMs = 20_000) => {
      const slot = servedBefore.get(port);
      if (slot === undefined) throw new Error(`redis cluster: ${port} was not a master with slots when killed`);
      const until = performance.now() + timeoutMs;
      for (;;) {
        const view = await nodes(port).catch((): ClusterNode[] => []);
        const promoted = view.find(
          (n) => n.role === 'master' && n.port !== port && n.slots.some(([a, b]) => a <= slot && slot <= b),
        );
        if (promoted) {
          await waitHealthy(Math.max(1000, until - performance.now()));
          return promoted;
        }
        if (performance.now() > until) throw new Error(`redis cluster: no replica took over ${port} in ${timeoutMs}ms`);
        await sleep(50);
      }
    },
    waitHealthy,
    stop,
  };
}

/** A RedisStore on a Cluster client it owns: `close()` closes the client too. */
class ClusterStore extends RedisStore {
  readonly #client: Cluster;
  constructor(client: Cluster, prefix: string | undefined) {
    super({ client, ...(prefix === undefined ? {} : { prefix }) });
    this.#client = client;
  }
  override async close(): Promise<void> {
    await super.close();
    await this.#client.quit().catch(() => this.#client.disconnect());
  }
}

registerStore('redis-cluster', async (url, options) => {
  const { Cluster: ClusterClient } = await import('ioredis');
  const seeds = url
    .replace(/^redis-cluster:\/\//, '')
    .replace(/\/.*$/, '')
    .split(',')
    .map((address) => {
      const [host = '127.0.0.1', port = '6379'] = address.split(':');
      return { host, port: Number(port) };
    });
  const client = new ClusterClient(seeds, { lazyConnect: true });
  // Failures reach the store's callers as StoreUnavailableError; ioredis also emits them.
  client.on('error', () => {});
  return new ClusterStore(client, options.prefix);
});
