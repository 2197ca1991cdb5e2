/**
 * Starts a private etcd (Debian's `/usr/bin/etcd` 3.4, or `etcd` from PATH) on free
 * client and peer ports with a temporary data dir, for tests, the fault harness and the
 * benchmark: one member, or a cluster of several on local ports. Restarting a member
 * keeps its data dir (on tmpfs when the machine has `/dev/shm`), like a production member
 * coming back: revisions (the store's tokens) survive.
 *
 * ```ts
 * const etcd = await startEtcdServer();            // etcd://127.0.0.1:<port>
 * await etcd.restart();                            // same ports, same data
 * const cluster = await startEtcdServer({ members: 3 });
 * const leader = await cluster.leader();           // index of the member that leads now
 * await cluster.members[leader]?.kill(true);       // SIGKILL the leader
 * await cluster.members[leader]?.start();          // it rejoins with its data
 * await etcd.stop();
 * ```
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { SupervisedServer } from './supervisor.js';

const ETCD = existsSync('/usr/bin/etcd') ? '/usr/bin/etcd' : 'etcd';

/** Options of {@link startEtcdServer}. */
export interface EtcdServerOptions {
  /** How many members. @defaultValue 1 */
  members?: number;
  /** More `etcd` arguments for every member. */
  args?: string[];
}

/** One member of a private etcd cluster. */
export interface EtcdMember {
  /** Member name (`m0`, `m1`, …). */
  readonly name: string;
  /** Its client port on 127.0.0.1, kept across restarts. */
  readonly clientPort: number;
  /** Process id while it runs. */
  readonly pid: number | undefined;
  /** Stops it (SIGKILL when `hard`); its data dir stays. */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again with its data dir; resolves when it serves clients. */
  start(): Promise<void>;
  /** SIGSTOP: connections hang unanswered. */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
}

/** A running private etcd. */
export interface EtcdServer {
  /** `etcd://127.0.0.1:<port>[,127.0.0.1:<port>…]`, every member's client address. */
  readonly url: string;
  /** The members, in start order. */
  readonly members: readonly EtcdMember[];
  /** The first member's process id (single-member use). */
  readonly pid: number | undefined;
  /** Index in {@link members} of the current leader, asked of the running members. */
  leader(): Promise<number>;
  /** Kills every member (SIGKILL when `hard`); data dirs stay. */
  kill(hard?: boolean): Promise<void>;
  /** Starts every stopped member. */
  start(): Promise<void>;
  /** Kills and starts every member, keeping their data. */
  restart(hard?: boolean): Promise<void>;
  /** SIGSTOP to every member. */
  pause(): void;
  /** SIGCONT to every member. */
  resume(): void;
  /** Stops every member and removes the data dirs. */
  stop(): Promise<void>;
}

interface Ports {
  name: string;
  client: number;
  peer: number;
}

function memberArgs(self: Ports, all: readonly Ports[], dir: string, extra: readonly string[]): string[] {
  const peerUrl = (ports: Ports) => `http://127.0.0.1:${ports.peer}`;
  return [
    ...['--name', self.name, '--data-dir', join(dir, self.name)],
    ...['--listen-client-urls', `http://127.0.0.1:${self.client}`],
    ...['--advertise-client-urls', `http://127.0.0.1:${self.client}`],
    ...['--listen-peer-urls', peerUrl(self), '--initial-advertise-peer-urls', peerUrl(self)],
    ...['--initial-cluster', all.map((ports) => `${ports.name}=${peerUrl(ports)}`).join(',')],
    ...['--initial-cluster-state', 'new', '--initial-cluster-token', `leasehold-${all[0]?.peer}`],
    ...extra,
  ];
}

/** Starts a private etcd of `members` members; resolves once every member serves clients. */
export async function startEtcdServer(options: EtcdServerOptions = {}): Promise<EtcdServer> {
  // tmpfs when there is one: etcd fsyncs every write, and on a busy shared disk that
  // alone can take longer than a test's 1 s slot. A tmpfs file survives the member's
  // SIGKILL just as an fsynced one does, so restarts still keep every revision.
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'leasehold-etcd-'));
  const all: Ports[] = [];
  for (let i = 0; i < (options.members ?? 1); i++) {
    all.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  }
  const servers = all.map(
    (self) =>
      new SupervisedServer({
        name: `etcd ${self.name}`,
        command: ETCD,
        args: () => memberArgs(self, all, dir, options.args ?? []),
        cwd: dir,
        ready: (log) => log.includes('ready to serve client requests'),
        startTimeoutMs: 30_000,
        stopTimeoutMs: 10_000,
      }),
  );
  const members: EtcdMember[] = all.map((self, index) => {
    const server = servers[index] as SupervisedServer;
    return {
      name: self.name,
      clientPort: self.client,
      get pid() {
        return server.pid;
      },
      kill: (hard = false) => server.kill(hard),
      start: () => server.start(),
      pause: () => server.pause(),
      resume: () => server.resume(),
    };
  });
  const startAll = () => Promise.all(servers.map((server) => server.start())).then(() => {});
  const killAll = (hard = false) => Promise.all(servers.map((server) => server.kill(hard))).then(() => {});
  try {
    await startAll();
  } catch (err) {
    await killAll(true);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `etcd://${all.map((ports) => `127.0.0.1:${ports.client}`).join(',')}`,
    members,
    get pid() {
      return servers[0]?.pid;
    },
    leader: () => leaderOf(all, servers),
    kill: killAll,
    start: startAll,
    restart: async (hard = false) => {
      await killAll(hard);
      await startAll();
    },
    pause: () => {
      for (const server of servers) server.pause();
    },
    resume: () => {
      for (const server of servers) server.resume();
    },
    stop: async () => {
      await killAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Asks the running members which one leads (the Maintenance Status RPC, what `etcdctl
 * endpoint status` shows), through `etcd3`, so the tests need no `etcdctl`.
 */
async function leaderOf(all: readonly Ports[], servers: readonly SupervisedServer[]): Promise<number> {
  const { Etcd3 } = await import('etcd3');
  const answers = await Promise.all(
    all.map(async (ports, index) => {
      if (!servers[index]?.running) return undefined;
      const client = new Etcd3({ hosts: `http://127.0.0.1:${ports.client}`, dialTimeout: 2000 });
      try {
        const status = await client.maintenance.status({ deadline: Date.now() + 3000 });
        return { index, member: status.header.member_id, leader: status.leader };
      } catch {
        return undefined; // a member that does not answer does not lead
      } finally {
        client.close();
      }
    }),
  );
  const leading = answers.find((answer) => answer !== undefined && answer.member === answer.leader);
  if (!leading) throw new Error(`no etcd member leads now: ${JSON.stringify(answers)}`);
  return leading.index;
}
