/**
 * `leasehold run`: a distributed flock. Holds the key's lease while a command runs.
 * @module
 */
import { formatDuration } from '../duration.js';
import { sleep, systemClock } from '../clock.js';
import { AcquireTimeoutError, LeaseholdError, StoreUnavailableError } from '../errors.js';
import { DEFAULT_KILL_AFTER_MS, DEFAULT_TTL_MS, defaultPoll } from '../defaults.js';
import { checkTtl } from '../internal.js';
import { Leasehold } from '../leasehold.js';
import type { Lease } from '../lease.js';
import { openStore } from '../open.js';
import { describeExit, exitCodeOf, startCommand } from './child.js';
import { EXIT_BUSY, EXIT_LEASE_LOST } from './exit-codes.js';
import { durationOption } from './options.js';
import { formatError } from './output.js';
import { onTerminationSignals, signalExitCode } from './signals.js';

/** Default lease TTL of `leasehold run` and `leasehold cron`. */
export const DEFAULT_TTL = formatDuration(DEFAULT_TTL_MS);
/** Default time between SIGTERM and SIGKILL when the command must be stopped. */
export const DEFAULT_KILL_AFTER = formatDuration(DEFAULT_KILL_AFTER_MS);

/** Inputs of {@link runCommand}, as given on the command line. */
export interface RunInput {
  /** Store URL. */
  store: string;
  /** The lease key. */
  key: string;
  /** Lease TTL, a duration string. */
  ttl: string;
  /** How long to wait for the key; absent = one attempt. */
  wait?: string | undefined;
  /** SIGTERM → SIGKILL delay when the lease is lost. */
  killAfter: string;
  /** Print stacks. */
  debug: boolean;
  /** The command and its arguments. */
  command: readonly string[];
}

/** Writes one `leasehold: …` line to stderr, redacted. */
export type Say = (message: string) => void;

/**
 * `lh.acquire`, except that while `--wait` lasts a store that does not answer is
 * retried like a busy key: a waiting job should not give up on a blip. When the wait
 * runs out, the last error stands (busy → 75, unreachable → 69).
 */
async function acquireWithin(
  lh: Leasehold,
  key: string,
  ttl: number,
  waitMs: number,
  signal: AbortSignal,
  onFirstStoreError: (err: unknown) => void,
): Promise<Lease> {
  const end = performance.now() + waitMs;
  let warned = false;
  for (;;) {
    try {
      return await lh.acquire(key, { ttl, wait: Math.max(0, end - performance.now()), signal });
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || signal.aborted || performance.now() >= end) throw err;
      if (!warned) onFirstStoreError(err);
      warned = true;
      await sleep(systemClock, Math.min(defaultPoll(ttl), Math.max(0, end - performance.now())), signal);
    }
  }
}

/**
 * Acquires the key, runs the command while holding it, releases it after the command
 * ends, and resolves to the exit code (see docs/cli.md). Throws leasehold errors
 * (config, store unavailable) for the caller to map to exit codes.
 */
export async function runCommand(input: RunInput, say: Say): Promise<number> {
  const ttl = durationOption(input.ttl, '--ttl');
  const waitMs = input.wait === undefined ? 0 : durationOption(input.wait, '--wait', { allowZero: true });
  const killAfterMs = durationOption(input.killAfter, '--kill-after', { allowZero: true });
  const [command, ...args] = input.command;
  if (!command) throw new LeaseholdError('run: no command given (put it after --)', { code: 'CONFIG' });

  const message = (err: unknown) => formatError(err, { storeUrl: input.store });
  const store = await openStore(input.store);
  const lh = new Leasehold({ store });
  lh.on('error', ({ error, during }) => say(`warning: ${during} failed, retrying: ${message(error)}`));

  // Signals before the child exists abort the wait; afterwards they are forwarded.
  const waiting = new AbortController();
  let received: NodeJS.Signals | undefined;
  let forward: ((sig: NodeJS.Signals) => void) | undefined;
  const removeHandlers = onTerminationSignals((sig) => {
    received ??= sig;
    if (forward) forward(sig);
    else waiting.abort(new LeaseholdError(`interrupted by ${sig}`));
  });

  let lease: Lease | undefined;
  try {
    // Against the store's limits before any request, named as typed: `--ttl: "10s" is outside … (15s to 1m)`.
    checkTtl(input.ttl.trim(), store, '--ttl');
    try {
      lease = await acquireWithin(lh, input.key, ttl, waitMs, waiting.signal, (err) =>
        say(`warning: store unavailable while waiting (${message(err)}); retrying until --wait runs out`),
      );
    } catch (err) {
      if (received && waiting.signal.aborted) return signalExitCode(received);
      if (err instanceof AcquireTimeoutError) {
        const who = err.currentHolder ?? 'another holder';
        say(
          input.wait === undefined
            ? `"${input.key}" is held by ${who}; not running the command`
            : `"${input.key}" is still held by ${who} after waiting ${formatDuration(waitMs)}; not running the command`,
        );
        return EXIT_BUSY;
      }
      throw err;
    }

    const held = lease;
    const env = { LEASEHOLD_KEY: held.key, LEASEHOLD_TOKEN: String(held.token), LEASEHOLD_HOLDER: held.holder };
    // At a terminal the command stays in the foreground group (Ctrl-C, reading the tty);
    // otherwise it gets its own group, so stopping it stops what it started.
    const running = startCommand(command, args, env, { group: !process.stdin.isTTY, stdin: true });
    forward = (sig) => running.signal(sig);
    if (received) running.signal(received); // a signal that came between acquire and spawn

    let lost = false;
    const onLost = () => {
      const reason: unknown = held.signal.reason;
      if (!(reason instanceof LeaseholdError && reason.code === 'LEASE_LOST') || running.done) return;
      lost = true;
      const stopping = `stopping the command (SIGTERM, then SIGKILL after ${formatDuration(killAfterMs)})`;
      say(`${message(reason)}; ${stopping}`);
      void running.stop(killAfterMs);
    };
    held.signal.addEventListener('abort', onLost, { once: true });

    const exit = await running.exited;
    held.signal.removeEventListener('abort', onLost);
    if (exit.spawnError) say(describeExit(exit, command));
    try {
      await held.release();
    } catch (err) {
      say(`could not release "${held.key}" (${message(err)}); it will expire within ${formatDuration(held.ttlMs)}`);
    }
    if (lost) {
      say(`command ${describeExit(exit, command)} after the lease on "${held.key}" was lost`);
      return EXIT_LEASE_LOST;
    }
    return exitCodeOf(exit);
  } finally {
    removeHandlers();
    if (lease && !lease.signal.aborted) await lease.release().catch(() => {});
    await store.close().catch(() => {});
  }
}
