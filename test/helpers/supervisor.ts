/**
 * One supervisor behind every private server the tests, the fault harness and the
 * benchmark start (redis-server, PostgreSQL, MariaDB, Azurite): spawn, wait until a
 * probe says ready, kill gracefully or hard, restart with the same arguments (so on the
 * same port), pause and resume (SIGSTOP/SIGCONT to the server's whole process group),
 * and keep the end of its output for error messages.
 *
 * No server outlives the process that started it:
 * - each server is the leader of its own process group, so one signal reaches its
 *   workers; pause and resume also reach its direct children, which may lead groups of
 *   their own (PostgreSQL backends call setsid);
 * - on `exit`, and on SIGINT and SIGTERM when nothing else handles them, the servers
 *   still running get their hard signal synchronously;
 * - a SIGKILL cannot be caught, so a small `sh` guard, started once per process, reads
 *   the live groups on a pipe: when the pipe closes (this process is gone, however it
 *   died) it stops the groups left, first with each server's hard signal, then SIGKILL.
 *
 * ```ts
 * const server = new SupervisedServer({ name: 'redis-server', command: 'redis-server', args: () => ['--port', '6390'],
 *   ready: (log) => log.includes('Ready to accept connections') });
 * await server.start();
 * await server.restart(true); // SIGKILL, then the same command again
 * await server.kill();
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';

/** How to run and watch one server. */
export interface ServerSpec {
  /** Name used in error messages, e.g. `'redis-server'`. */
  name: string;
  /** Executable (looked up in PATH when not a path). */
  command: string;
  /** Arguments, computed at every start (a restart may need what the first start learned, like a port). */
  args: () => readonly string[];
  /** Working directory. */
  cwd?: string;
  /** Environment. @defaultValue this process's */
  env?: NodeJS.ProcessEnv;
  /** Run as this user (PostgreSQL refuses root). */
  user?: { uid: number; gid: number };
  /**
   * Readiness probe, called with the output so far whenever output arrives and every
   * 100 ms, until it returns true. A log line is the usual sign; a probe may also connect.
   */
  ready: (log: string) => boolean | Promise<boolean>;
  /** How long a start may take before it fails with the log. @defaultValue 30000 */
  startTimeoutMs?: number;
  /** Signal of a graceful stop, sent to the server's main process. @defaultValue SIGTERM */
  stopSignal?: NodeJS.Signals;
  /** Signal of a hard stop (crash-like). @defaultValue SIGKILL */
  hardSignal?: NodeJS.Signals;
  /** How long a stop may take before the whole group gets SIGKILL. @defaultValue 10000 */
  stopTimeoutMs?: number;
}

/** Output kept per server: enough for the reason of a failed start, bounded for chatty servers. */
const LOG_LIMIT = 64 * 1024;
const PROBE_EVERY_MS = 100;

/** Servers running now, by process group id, with their hard signal: what the exit paths stop. */
const live = new Map<number, NodeJS.Signals>();

/** Sends `signal` to a process or (negative id) a process group; false when it is gone. */
function send(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends every live server its hard signal now, without waiting: for exit paths, where
 * nothing async runs. The guard sees this process go and SIGKILLs what is left after 2 s.
 */
function killAllNow(): void {
  for (const [group, signal] of live) {
    continueFamily(group);
    send(group, signal);
  }
}

/** Every live process whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === pid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** SIGCONT to a server's children, then its group: undoes a pause. */
function continueFamily(group: number): void {
  for (const pid of childrenOf(group)) send(pid, 'SIGCONT');
  send(-group, 'SIGCONT');
}

let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // Listening replaces the default action (death, which skips 'exit'). When another
    // listener handles the signal, it decides, and 'exit' cleans up after it; alone, stop
    // the servers and die of the signal as before.
    const onSignal = () => {
      if (process.listenerCount(signal) > 1) return;
      killAllNow();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

// The guard keeps its list as "group:signal" words; `del` drops a group that stopped.
const GUARD = `
groups=""
while read -r verb group signal; do
  case "$verb" in
    add) groups="$groups $group:$signal" ;;
    del) kept=""; for e in $groups; do [ "\${e%%:*}" = "$group" ] || kept="$kept $e"; done; groups=$kept ;;
  esac
done
[ -z "$groups" ] && exit 0
for e in $groups; do
  g=\${e%%:*}; pkill -CONT -P "$g"; kill -s CONT -- "-$g"; kill -s "\${e#*:}" -- "$g"
done 2>/dev/null
sleep 2
for e in $groups; do kill -s KILL -- "-\${e%%:*}"; done 2>/dev/null
`;

let guard: ChildProcess | undefined;
/** Tells the orphan guard (started on first use) about a group that started or stopped. */
function tellGuard(line: string): void {
  if (!guard) {
    // Its own group, so a Ctrl-C meant for the test run does not kill it before it can act.
    guard = spawn('sh', ['-c', GUARD], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    guard.unref();
    guard.stdin?.on('error', () => {});
    (guard.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }
  guard.stdin?.write(`${line}\n`);
}

/** One supervised server process; start it with {@link SupervisedServer.start}. */
export class SupervisedServer {
  readonly #spec: ServerSpec;
  #child: ChildProcess | undefined;
  #log = '';

  /** Describes the server; nothing runs until {@link start}. */
  constructor(spec: ServerSpec) {
    this.#spec = spec;
  }

  /** Process id of the running server (also its process group id), or undefined. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** True while the process runs (paused included). */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** The end of the server's output (stdout and stderr) since its last start. */
  get log(): string {
    return this.#log;
  }

  /** Starts the server and resolves once its probe says ready; does nothing when it runs. */
  async start(): Promise<void> {
    if (this.#child) return;
    const spec = this.#spec;
    installExitHandlers();
    this.#log = '';
    const child = spawn(spec.command, [...spec.args()], {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(spec.user ?? {}),
    });
    this.#child = child;
    const group = child.pid;
    if (group !== undefined) {
      live.set(group, spec.hardSignal ?? 'SIGKILL');
      tellGuard(`add ${group} ${(spec.hardSignal ?? 'SIGKILL').replace(/^SIG/, '')}`);
    }
    const append = (chunk: Buffer) => {
      this.#log = (this.#log + chunk.toString()).slice(-LOG_LIMIT);
    };
    // Always drained, so a full pipe never blocks the server.
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    child.once('exit', () => {
      if (group !== undefined && live.delete(group)) tellGuard(`del ${group}`);
      if (this.#child === child) this.#child = undefined;
    });
    try {
      await this.#waitReady(child);
    } catch (err) {
      await this.#stop(child, 'SIGKILL');
      throw err;
    }
  }

  async #waitReady(child: ChildProcess): Promise<void> {
    const spec = this.#spec;
    const timeoutMs = spec.startTimeoutMs ?? 30_000;
    await new Promise<void>((resolve, reject) => {
      let probing = false;
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poll);
        child.stdout?.off('data', probe);
        child.stderr?.off('data', probe);
        child.off('exit', onExit);
        child.off('error', onError);
        if (err) reject(err);
        else resolve();
      };
      const probe = () => {
        if (probing || settled) return;
        probing = true;
        // The log is read after the 'data' listener that appends to it has run.
        setImmediate(() => {
          Promise.resolve()
            .then(() => spec.ready(this.#log))
            .then(
              (ok) => {
                if (ok) finish();
              },
              () => {}, // not ready yet: asked again on the next output or tick
            )
            .finally(() => (probing = false));
        });
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
        finish(new Error(`${spec.name} exited early (${code ?? signal}):\n${this.#log}`));
      const onError = (err: Error) => finish(new Error(`${spec.name} could not start: ${err.message}`, { cause: err }));
      const timer = setTimeout(
        () => finish(new Error(`${spec.name} did not start within ${timeoutMs / 1000}s:\n${this.#log}`)),
        timeoutMs,
      );
      const poll = setInterval(probe, PROBE_EVERY_MS);
      child.stdout?.on('data', probe);
      child.stderr?.on('data', probe);
      child.once('exit', onExit);
      child.once('error', onError);
    });
  }

  /** Stops the server: its stop signal, or its hard signal when `hard`; SIGKILL to the group after the timeout. */
  async kill(hard = false): Promise<void> {
    const child = this.#child;
    if (!child) return;
    await this.#stop(child, hard ? (this.#spec.hardSignal ?? 'SIGKILL') : (this.#spec.stopSignal ?? 'SIGTERM'));
  }

  async #stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
    const group = child.pid;
    if (group === undefined || child.exitCode !== null || child.signalCode !== null) {
      if (this.#child === child) this.#child = undefined;
      return;
    }
    await new Promise<void>((resolve) => {
      // Only this process's group: by the time a late timer fires, a restart may run a new one.
      const timer = setTimeout(() => send(-group, 'SIGKILL'), this.#spec.stopTimeoutMs ?? 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      continueFamily(group); // a paused server cannot act on its stop signal
      if (!send(group, signal)) send(-group, 'SIGKILL');
    });
    // The group may keep workers the main process did not wait for (a killed postmaster's backends).
    send(-group, 'SIGKILL');
  }

  /** {@link kill}, then {@link start} with freshly computed arguments. */
  async restart(hard = false): Promise<void> {
    await this.kill(hard);
    await this.start();
  }

  /**
   * SIGSTOP to the server's group and its children: the kernel still accepts
   * connections but nothing is answered. The main process stops first, so it cannot
   * start a worker that would miss the signal.
   */
  pause(): void {
    const group = this.#child?.pid;
    if (group === undefined) return;
    send(-group, 'SIGSTOP');
    for (const pid of childrenOf(group)) send(pid, 'SIGSTOP');
  }

  /** SIGCONT after {@link pause}: children first, so the main process finds them running. */
  resume(): void {
    const group = this.#child?.pid;
    if (group !== undefined) continueFamily(group);
  }
}

/** What every private-server helper hands back to control its server (its own type adds the addresses). */
export interface PrivateServer {
  /** Stops the process: its graceful stop, or its hard (crash-like) signal when `hard`. */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again after {@link kill}, on the same port; does nothing while it runs. */
  start(): Promise<void>;
  /** {@link kill} then {@link start}: what survives is what the server persists. */
  restart(hard?: boolean): Promise<void>;
  /** SIGSTOP: the kernel still accepts connections but nothing is answered. */
  pause(): Promise<void>;
  /** SIGCONT after {@link pause}. */
  resume(): Promise<void>;
  /** Stops it and removes its temporary folder. */
  stop(): Promise<void>;
}

/**
 * The {@link PrivateServer} controls of `server`, whose files live in `dir`;
 * `afterStart` runs after every start (a cluster's slot setup, reading the port it chose).
 */
export function controlsOf(
  server: SupervisedServer,
  dir: string,
  afterStart: () => void | Promise<void> = () => {},
): PrivateServer {
  const start = async () => {
    if (server.running) return;
    await server.start();
    await afterStart();
  };
  return {
    kill: (hard = false) => server.kill(hard),
    start,
    restart: async (hard = false) => {
      await server.kill(hard);
      await start();
    },
    pause: async () => server.pause(),
    resume: async () => server.resume(),
    stop: async () => {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
