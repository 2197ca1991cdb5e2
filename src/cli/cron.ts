/**
 * `leasehold cron`: a daemon that runs a command once per slot across every daemon
 * sharing the store. A thin front over `lh.every` / `lh.cron`.
 * @module
 */
import { CLI_STORE_CHECK_TIMEOUT_MS, DEFAULT_GRACE_MS } from '../defaults.js';
import { formatDuration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { checkTtl } from '../internal.js';
import { Leasehold } from '../leasehold.js';
import { openStore } from '../open.js';
import type { JobContext, JobOptions } from '../scheduler/types.js';
import type { LeaseStore } from '../store.js';
import { describeExit, startCommand, type RunningCommand } from './child.js';
import { EXIT_OK } from './exit-codes.js';
import { durationOption } from './options.js';
import { formatError, formatEvent } from './output.js';
import { onTerminationSignals, signalExitCode } from './signals.js';

/** Default time `cron` lets running commands finish after SIGTERM/SIGINT before stopping them. */
export const DEFAULT_GRACE = formatDuration(DEFAULT_GRACE_MS);

/** Inputs of {@link cronCommand}, as given on the command line. */
export interface CronInput {
  store: string;
  key: string;
  every?: string | undefined;
  cron?: string | undefined;
  tz?: string | undefined;
  catchUp?: string | undefined;
  overlap?: string | undefined;
  atMostOnce: boolean;
  ttl?: string | undefined;
  /** `--placement`: the liveness TTL in the fleet placement, or `off`. */
  placement?: string | undefined;
  timeout?: string | undefined;
  grace: string;
  killAfter: string;
  json: boolean;
  command: readonly string[];
}

/** Turns the command-line options into scheduler options. @throws ConfigError naming the option. */
export function jobOptionsOf(input: CronInput): { kind: 'every' | 'cron'; spec: string | number; options: JobOptions } {
  if ((input.every === undefined) === (input.cron === undefined)) {
    throw new ConfigError('cron: give exactly one of --every <duration> or --cron <expression>');
  }
  if (input.tz !== undefined && input.every !== undefined) {
    throw new ConfigError(
      `--tz: ${JSON.stringify(input.tz)} applies to --cron only; --every slots are aligned to the Unix epoch`,
    );
  }
  const options: JobOptions = {};
  if (input.ttl !== undefined) options.ttl = durationOption(input.ttl, '--ttl');
  if (input.catchUp !== undefined) options.catchUp = durationOption(input.catchUp, '--catch-up', { allowZero: true });
  if (input.timeout !== undefined) options.timeout = durationOption(input.timeout, '--timeout');
  if (input.overlap !== undefined) {
    if (input.overlap !== 'skip' && input.overlap !== 'buffer-one')
      throw new ConfigError(`--overlap: expected "skip" or "buffer-one", got ${JSON.stringify(input.overlap)}`);
    options.overlap = input.overlap;
  }
  if (input.atMostOnce) options.delivery = 'at-most-once';
  if (input.every !== undefined) return { kind: 'every', spec: durationOption(input.every, '--every'), options };
  if (input.tz !== undefined) options.timezone = input.tz;
  return { kind: 'cron', spec: input.cron as string, options };
}

/**
 * `--placement`: `off` turns placement off; a duration is the liveness TTL, checked
 * against the store's limits; absent keeps the library's default.
 * @throws ConfigError naming the option and the value
 */
function placementOf(value: string | undefined, store: LeaseStore): boolean | { ttl: number } {
  if (value === undefined) return true;
  if (value.trim() === 'off') return false;
  durationOption(value, '--placement'); // a unit is required, as for every CLI duration
  // Named as typed, like --ttl: `--placement: "1s" is outside … (15s to 1m)`.
  return { ttl: checkTtl(value.trim(), store, '--placement') };
}

/**
 * Runs the daemon until SIGTERM/SIGINT/SIGHUP, then stops cleanly: no new slots, running
 * commands get `--grace` to finish, then SIGTERM and, after `--kill-after`, SIGKILL;
 * every lease is released. A second signal stops at once (SIGKILL to running commands).
 * `outputClosed` aborting (stdout's reader went away) stops the same clean way: a daemon
 * nobody can watch any more should not go on running commands. Resolves to the exit code.
 */
export async function cronCommand(
  input: CronInput,
  out: (line: string) => void,
  outputClosed?: AbortSignal,
): Promise<number> {
  const { kind, spec, options } = jobOptionsOf(input);
  const graceMs = durationOption(input.grace, '--grace', { allowZero: true });
  const killAfterMs = durationOption(input.killAfter, '--kill-after', { allowZero: true });
  const [command, ...args] = input.command;
  if (!command) throw new ConfigError('cron: no command given (put it after --)');

  const log = (event: string, fields: Record<string, unknown>) => out(formatEvent(event, fields, { json: input.json }));
  const message = (err: unknown) => formatError(err, { storeUrl: input.store });

  const store = await openStore(input.store);
  try {
    // Against the store's limits before any request, named as typed: `--ttl: "10s" is outside … (15s to 1m)`.
    if (input.ttl !== undefined) checkTtl(input.ttl.trim(), store, '--ttl');
    const lh = new Leasehold({ store, placement: placementOf(input.placement, store) });
    const children = new Set<RunningCommand>();

    const handler = async (ctx: JobContext): Promise<void> => {
      const env = {
        LEASEHOLD_KEY: ctx.key,
        LEASEHOLD_TOKEN: String(ctx.token),
        LEASEHOLD_HOLDER: ctx.holder,
        LEASEHOLD_SLOT: ctx.slot.toISOString(),
        LEASEHOLD_ATTEMPT: String(ctx.attempt),
      };
      // Its own process group: stopping a run stops everything the command started, and
      // Ctrl-C at a terminal reaches only the daemon, which then stops gracefully.
      const running = startCommand(command, args, env, { group: true, stdin: false });
      children.add(running);
      // Lease lost, --timeout, or shutdown after the grace period: the command must stop.
      const onAbort = () => {
        if (running.done) return;
        log('command:stop', {
          key: ctx.key,
          slot: ctx.slot,
          token: ctx.token,
          reason: message(ctx.signal.reason),
          killAfter: formatDuration(killAfterMs),
        });
        void running.stop(killAfterMs);
      };
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      try {
        const exit = await running.exited;
        if (exit.spawnError || exit.code !== 0) throw new Error(`command ${describeExit(exit, command)}`);
      } finally {
        ctx.signal.removeEventListener('abort', onAbort);
        children.delete(running);
      }
    };

    const job =
      kind === 'every'
        ? lh.every(spec, input.key, handler, options)
        : lh.cron(String(spec), input.key, handler, options);

    lh.on('run:start', (e) =>
      log('run:start', { key: e.key, slot: e.slot, token: e.token, attempt: e.attempt, holder: e.holder }),
    );
    lh.on('run:success', (e) =>
      log('run:success', {
        key: e.key,
        slot: e.slot,
        token: e.token,
        attempt: e.attempt,
        durationMs: Math.round(e.durationMs),
      }),
    );
    lh.on('run:error', (e) =>
      log('run:error', {
        key: e.key,
        slot: e.slot,
        token: e.token,
        attempt: e.attempt,
        durationMs: Math.round(e.durationMs),
        final: e.final,
        error: message(e.error),
      }),
    );
    lh.on('slot:skipped', (e) =>
      log('slot:skipped', {
        key: e.key,
        slot: e.slot,
        reason: e.reason,
        detail: e.detail === undefined ? undefined : message(e.detail),
      }),
    );
    lh.on('lease:lost', (e) =>
      log('lease:lost', { key: e.key, slot: e.slot, token: e.token, error: message(e.error) }),
    );
    lh.on('error', (e) => log('store:error', { key: e.key, during: e.during, error: message(e.error) }));

    // Fail fast on a store that cannot be reached at all (a wrong URL); later outages
    // are ridden out, with slots skipped and reported while the store is away.
    await store.now({ signal: AbortSignal.timeout(CLI_STORE_CHECK_TIMEOUT_MS) });

    let stopRequested: (why: NodeJS.Signals | 'output closed') => void = () => {};
    const stopping = new Promise<NodeJS.Signals | 'output closed'>((r) => {
      stopRequested = r;
    });
    const onOutputClosed = () => stopRequested('output closed');
    if (outputClosed?.aborted) onOutputClosed();
    outputClosed?.addEventListener('abort', onOutputClosed, { once: true });
    let signals = 0;
    let forced: NodeJS.Signals | undefined;
    const removeHandlers = onTerminationSignals((sig) => {
      signals++;
      if (signals === 1) {
        stopRequested(sig);
        return;
      }
      forced = sig;
      log('stop:forced', { signal: sig, running: children.size });
      for (const c of children) c.signal('SIGKILL');
      process.exit(signalExitCode(sig));
    });
    // The scheduler's timers keep the process alive while jobs wait; this keeps it
    // alive in the gap before the first one is set, and after a schedule runs out.
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      await lh.start();
      const desc =
        kind === 'every'
          ? `every ${formatDuration(Number(spec))}`
          : `cron ${JSON.stringify(spec)}${options.timezone ? ` tz ${options.timezone}` : ''}`;
      log('start', { key: input.key, schedule: desc, holder: lh.holder, store: store.name, pid: process.pid });
      const why = await Promise.race([stopping, job.done.then(() => undefined)]);
      log(
        'stopping',
        why === undefined
          ? { key: input.key, reason: 'the schedule has no more slots' }
          : { key: input.key, signal: why, running: children.size, grace: formatDuration(graceMs) },
      );
      await lh.stop({ grace: graceMs });
      // A command whose run was abandoned (lease lost, grace over) may still be exiting.
      await Promise.all([...children].map((c) => c.exited));
      log('stopped', {
        key: input.key,
        runs: job.stats.runs,
        succeeded: job.stats.succeeded,
        failed: job.stats.failed,
      });
    } finally {
      clearInterval(keepAlive);
      removeHandlers();
      outputClosed?.removeEventListener('abort', onOutputClosed);
    }
    return forced ? signalExitCode(forced) : EXIT_OK;
  } finally {
    await store.close().catch(() => {});
  }
}
