/**
 * Running the user's command as a child process: spawning it, forwarding signals,
 * stopping it with escalation, and turning how it ended into an exit code.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_SOFTWARE } from './exit-codes.js';

/** How a child ended. */
export interface ChildExit {
  /** Its exit code, when it exited. */
  code: number | null;
  /** The signal that killed it, when one did. */
  signal: NodeJS.Signals | null;
  /** Set when it could not be started at all (not found, not executable). */
  spawnError?: NodeJS.ErrnoException;
}

/** A running command. */
export interface RunningCommand {
  /** The child process. */
  readonly child: ChildProcess;
  /** Resolves once the child has ended (or failed to start). Never rejects. */
  readonly exited: Promise<ChildExit>;
  /** True once the child has ended. */
  readonly done: boolean;
  /** Sends a signal if the child is still running. */
  signal(sig: NodeJS.Signals): void;
  /**
   * Sends SIGTERM, then SIGKILL if the child is still running after `killAfterMs`.
   * Resolves when it has ended.
   */
  stop(killAfterMs: number, first?: NodeJS.Signals): Promise<ChildExit>;
}

/**
 * The conventional exit code for how a child ended: its own code; 128 + the signal
 * number when a signal killed it; 127 when not found and 126 when not executable, as
 * shells do.
 */
export function exitCodeOf(exit: ChildExit): number {
  if (exit.spawnError) return exit.spawnError.code === 'ENOENT' ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE;
  if (exit.code !== null) return exit.code;
  if (exit.signal) return 128 + (constants.signals[exit.signal] ?? 0);
  return EXIT_SOFTWARE;
}

/** Describes how a child ended, for messages: `exited with code 3`, `killed by SIGTERM`. */
export function describeExit(exit: ChildExit, command: string): string {
  if (exit.spawnError) {
    return exit.spawnError.code === 'ENOENT'
      ? `${command}: command not found`
      : `${command}: cannot execute (${exit.spawnError.code ?? exit.spawnError.message})`;
  }
  if (exit.code !== null) return `exited with code ${exit.code}`;
  return `killed by ${exit.signal ?? 'an unknown signal'}`;
}

/** Options of {@link startCommand}. */
export interface StartOptions {
  /**
   * Run the command in its own process group and signal the whole group, so the
   * children of a shell script stop with it. Off for an interactive `run` (stdin a
   * terminal), where the command must stay in the terminal's foreground group.
   */
  group: boolean;
  /** Give the command this process's stdin (`run`) or /dev/null (`cron`). */
  stdin: boolean;
}

/**
 * Starts `command` with `args` (no shell), stdout and stderr inherited, with `env`
 * added to this process's environment.
 */
export function startCommand(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  options: StartOptions,
): RunningCommand {
  const child = spawn(command, [...args], {
    stdio: [options.stdin ? 'inherit' : 'ignore', 'inherit', 'inherit'],
    env: { ...process.env, ...env },
    detached: options.group,
  });
  let done = false;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      // 'error' without a pid: it never started, and no 'exit' will follow.
      if (child.pid === undefined) {
        done = true;
        resolve({ code: null, signal: null, spawnError: err });
      }
    });
  });
  const pid = child.pid;
  /** Signals the group (or the child); false when nothing was left to signal. */
  const send = (sig: NodeJS.Signals | 0, evenIfExited = false): boolean => {
    if (pid === undefined || (done && !(options.group && evenIfExited))) return false;
    try {
      if (options.group) process.kill(-pid, sig);
      else child.kill(sig === 0 ? undefined : sig);
      return true;
    } catch {
      return false; // already gone
    }
  };
  return {
    child,
    exited,
    get done() {
      return done;
    },
    signal: (sig) => void send(sig),
    async stop(killAfterMs, first = 'SIGTERM') {
      send(first);
      const deadline = performance.now() + killAfterMs;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          send('SIGKILL', true);
          resolve();
        }, killAfterMs);
      });
      const exit = await exited;
      // The command has exited; what it started in its group must be gone by the deadline too.
      while (options.group && send(0, true) && performance.now() < deadline) {
        await Promise.race([killed, new Promise((r) => setTimeout(r, 50))]);
      }
      clearTimeout(timer);
      if (options.group && send(0, true)) send('SIGKILL', true);
      return exit;
    },
  };
}
