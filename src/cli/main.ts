#!/usr/bin/env node
/**
 * The `leasehold` command: a distributed flock (`run`) and cron (`cron`) for any
 * command, plus `status` (`--watch`), `ui` (the status page), `break`, and the operator controls
 * `pause`, `resume`, `trigger`, `skip-next` and `backfill`. A thin front over the library's exports; see
 * docs/cli.md for the reference and exit codes.
 * @module
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import type { ControlAction } from '../admin/controls.js';
import { breakCommand, statusCommand } from './admin.js';
import { controlCommand } from './control.js';
import { DEFAULT_GRACE, cronCommand } from './cron.js';
import { EXIT_OK, EXIT_USAGE, exitCodeFor } from './exit-codes.js';
import { formatError, redact, watchOutput } from './output.js';
import { DEFAULT_KILL_AFTER, DEFAULT_TTL, runCommand } from './run.js';
import { DEFAULT_HOST_TEXT, DEFAULT_PORT_TEXT, SECRET_ENV, uiCommand } from './ui.js';
import { statusWatchCommand } from './watch.js';

/** Store URL used when neither `--store` nor `$LEASEHOLD_STORE` is given. */
export const DEFAULT_STORE = 'file:.leasehold';

interface Common {
  store?: string;
  debug?: boolean;
}

function version(): string {
  // src/cli/main.ts and dist/cli/main.js are both two levels below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function storeOf(opts: Common): string {
  const s = opts.store;
  return s === undefined || s.trim() === '' ? DEFAULT_STORE : s;
}

function withCommon(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--store <url>', 'store URL (file:<dir>, redis://…, postgres://…, …)')
        .env('LEASEHOLD_STORE')
        .default(DEFAULT_STORE),
    )
    .option('--debug', 'print stack traces with errors');
}

/** Builds the program. `done` receives each command's exit code. */
export function buildProgram(done: (code: number) => void): Command {
  const output = watchOutput();
  const say = (store: string) => (msg: string) => process.stderr.write(`leasehold: ${redact(msg, store)}\n`);
  const guard = (opts: Common, fn: () => Promise<number>) => async () => {
    try {
      done(await fn());
    } catch (err) {
      process.stderr.write(`leasehold: ${formatError(err, { storeUrl: opts.store, debug: !!opts.debug })}\n`);
      done(exitCodeFor(err));
    }
  };

  const program = new Command('leasehold')
    .description('Leases with fencing tokens and once-per-slot schedules for any command, on shared storage.')
    .version(version(), '-V, --version', 'print the version')
    .enablePositionalOptions()
    .exitOverride()
    // One line per error (B1): commander puts its "(Did you mean --wait?)" on a second line.
    .configureOutput({ outputError: (str, write) => write(`leasehold: ${oneLineUsageError(str)}\n`) });

  withCommon(
    program
      .command('run')
      .summary('run a command while holding a lease (a distributed flock)')
      .description(
        'Run CMD only while holding the lease on KEY; the lease renews while CMD runs and is released when it ' +
          'exits.\n' +
          'CMD gets LEASEHOLD_KEY, LEASEHOLD_TOKEN and LEASEHOLD_HOLDER in its environment.\n' +
          "Exit code: CMD's own; 75 when the key is held elsewhere; 76 when the lease was lost while CMD ran; " +
          '64 bad usage; 69 store unreachable.',
      )
      .usage('--key <key> [options] -- <command> [args...]')
      .requiredOption('--key <key>', 'lease key')
      .option('--ttl <duration>', 'lease time to live; renewed every ttl/3', DEFAULT_TTL)
      .option('--wait <duration>', 'wait up to this long while the key is held elsewhere (default: try once)')
      .option('--kill-after <duration>', 'on lease loss, SIGKILL this long after SIGTERM', DEFAULT_KILL_AFTER)
      .argument('<command...>', 'the command and its arguments (after --)')
      .passThroughOptions(),
  ).action(async (command: string[], opts: Common & { key: string; ttl: string; wait?: string; killAfter: string }) => {
    const store = storeOf(opts);
    await guard(opts, () =>
      runCommand(
        {
          store,
          key: opts.key,
          ttl: opts.ttl,
          wait: opts.wait,
          killAfter: opts.killAfter,
          debug: !!opts.debug,
          command,
        },
        say(store),
      ),
    )();
  });

  withCommon(
    program
      .command('cron')
      .summary('run a command once per slot across every daemon sharing the store')
      .description(
        'A long-running daemon: across all daemons sharing the store, CMD runs once per slot (--every or --cron).\n' +
          'CMD gets LEASEHOLD_KEY, LEASEHOLD_TOKEN, LEASEHOLD_HOLDER, LEASEHOLD_SLOT (ISO-8601 UTC) and ' +
          'LEASEHOLD_ATTEMPT.\n' +
          'A non-zero exit is recorded as a failed run. Prints one line per event (JSON lines with --json).\n' +
          'SIGTERM/SIGINT: no new slots, running CMD gets --grace, then SIGTERM, then SIGKILL after --kill-after; ' +
          'leases are released; exit 0.',
      )
      .usage('--key <key> (--every <duration> | --cron <expr> [--tz <zone>]) [options] -- <command> [args...]')
      .requiredOption('--key <key>', 'job key (one lease and one run history per key)')
      .option('--every <duration>', 'run every interval, slots aligned to the Unix epoch (e.g. 30s, 5m, 1h)')
      .option('--cron <expr>', 'run on a cron expression (5 fields, or 6 with seconds first)')
      .option('--tz <zone>', 'IANA timezone of --cron (default: UTC)')
      .option('--catch-up <duration>', 'how late a slot no daemon ran on time may still start (default: one period)')
      .addOption(
        new Option('--overlap <policy>', 'when a slot comes while the previous run is still going')
          .choices(['skip', 'buffer-one'])
          .default('skip'),
      )
      .option('--at-most-once', 'never re-run a slot whose run died or lost its lease (default: at-least-once)', false)
      .option(
        '--ttl <duration>',
        'lease time to live while CMD runs; a daemon dead mid-run is replaced after about this long',
        DEFAULT_TTL,
      )
      .option(
        '--placement <ttl|off>',
        "liveness TTL in the fleet placement: a dead daemon's jobs move after about this long (default: 15s); " +
          '"off": every daemon asks the store at every slot',
      )
      .option('--timeout <duration>', 'stop CMD and count the run as failed after this long (default: none)')
      .option(
        '--grace <duration>',
        'on SIGTERM/SIGINT, let a running CMD finish for this long before stopping it',
        DEFAULT_GRACE,
      )
      .option('--kill-after <duration>', 'when CMD must stop, SIGKILL this long after SIGTERM', DEFAULT_KILL_AFTER)
      .option('--json', 'print events as JSON lines', false)
      .argument('<command...>', 'the command and its arguments (after --)')
      .passThroughOptions(),
  ).action(
    async (
      command: string[],
      opts: Common & {
        key: string;
        every?: string;
        cron?: string;
        tz?: string;
        catchUp?: string;
        overlap: string;
        atMostOnce: boolean;
        ttl: string;
        placement?: string;
        timeout?: string;
        grace: string;
        killAfter: string;
        json: boolean;
      },
    ) => {
      const store = storeOf(opts);
      await guard(opts, () =>
        cronCommand(
          {
            store,
            key: opts.key,
            every: opts.every,
            cron: opts.cron,
            tz: opts.tz,
            catchUp: opts.catchUp,
            overlap: opts.overlap,
            atMostOnce: opts.atMostOnce,
            ttl: opts.ttl,
            placement: opts.placement,
            timeout: opts.timeout,
            grace: opts.grace,
            killAfter: opts.killAfter,
            json: opts.json,
            command,
          },
          (line) => output.write(`${line}\n`),
          output.closed,
        ),
      )();
    },
  );

  withCommon(
    program
      .command('status')
      .summary('show holder, token, expiry and recent runs of keys')
      .description(
        'Show each key (or one with --key): holder, token, expires in, last slot, last outcome, recent runs.',
      )
      .option('--key <key>', 'only this key (default: every key in the store)')
      .option('--json', 'print one JSON document (with --watch: one per line)', false)
      .option('--watch', 'read again every --interval and redraw, until Ctrl-C', false)
      .option('--interval <duration>', 'with --watch: time between reads (default 2s)'),
  ).action(async (opts: Common & { key?: string; json: boolean; watch: boolean; interval?: string }) => {
    const store = storeOf(opts);
    const input = { store, key: opts.key, json: opts.json, watch: opts.watch, interval: opts.interval };
    const watching = opts.watch || opts.interval !== undefined;
    await guard(opts, () =>
      watching
        ? statusWatchCommand(input, output, process.stdout.isTTY === true)
        : statusCommand({ store, key: opts.key, json: opts.json }, output.write),
    )();
  });

  withCommon(
    program
      .command('ui')
      .summary('serve the status page (live holders, countdowns, run timelines; JSON and /metrics)')
      .description(
        'Serve the status page for the store: every key and job with its holder, token, a live countdown to ' +
          'expiry, last and next slot, and a timeline of recent slots. Also status.json (as status --json), ' +
          'server-sent events and Prometheus /metrics. Read-only unless --controls; listens on 127.0.0.1 ' +
          'unless --host says otherwise. SIGINT/SIGTERM: stops, exit 0.',
      )
      .option('--port <port>', 'port to listen on (0: any free port)', DEFAULT_PORT_TEXT)
      .option('--host <address>', 'address to listen on; anything but loopback exposes the page', DEFAULT_HOST_TEXT)
      .option('--refresh <duration>', 'how often open pages get a new read of the store (default 2s)')
      .option(
        '--controls',
        `enable pause/resume/trigger/skip-next/backfill on the page (secret: $${SECRET_ENV})`,
        false,
      ),
  ).action(async (opts: Common & { port: string; host: string; refresh?: string; controls: boolean }) => {
    const store = storeOf(opts);
    await guard(opts, () =>
      uiCommand(
        { store, host: opts.host, port: opts.port, refresh: opts.refresh, controls: opts.controls },
        (line) => output.write(`${line}\n`),
        say(store),
      ),
    )();
  });

  const controls: [ControlAction, string, string][] = [
    [
      'pause',
      'pause a scheduled job fleet-wide',
      'From its next slot the job runs nowhere; its slots are recorded as skipped (paused) until resumed.',
    ],
    [
      'resume',
      'resume a paused job',
      'The job runs again from its next slot; slots skipped while paused are not run (see backfill).',
    ],
    [
      'trigger',
      'run a scheduled job once, now',
      'The host that owns the job runs it once (its own token) within one placement heartbeat, ' +
        'or at the next slot without placement; never alongside a scheduled run.',
    ],
    [
      'skip-next',
      "skip a scheduled job's next slot",
      'The next slot that would run is recorded as skipped (skip-next) instead.',
    ],
    [
      'backfill',
      'run the missed slots of a range',
      'Runs exactly the slots of [--from, --to] that never ran, oldest first, each recorded ' +
        "(at most 20; the range must be in the job's run history).",
    ],
  ];
  for (const [action, summary, description] of controls) {
    const command = program
      .command(action)
      .summary(summary)
      .description(
        `${description}\nWritten under the job's lease and recorded in its audit trail with --by and the time. ` +
          'Exit code: 0 done; 64 bad input (unknown key, not a job, bad range); ' +
          '75 the lease stayed busy past --wait; 69 store unreachable.',
      )
      .requiredOption('--key <key>', "the job's key")
      .option('--by <name>', 'who asks (default: your login@host)')
      .option('--wait <duration>', "how long to wait for the job's lease if a run holds it (default 30s)")
      .option('--json', 'print the result as JSON', false);
    if (action === 'backfill') {
      command
        .requiredOption('--from <instant>', 'first slot of the range (ISO-8601, e.g. 2026-12-06T10:00:00Z)')
        .requiredOption('--to <instant>', 'last slot of the range, inclusive');
    }
    withCommon(command).action(
      async (opts: Common & { key: string; by?: string; wait?: string; from?: string; to?: string; json: boolean }) => {
        const store = storeOf(opts);
        const input = { store, action, key: opts.key, by: opts.by, wait: opts.wait, from: opts.from, to: opts.to };
        await guard(opts, () => controlCommand({ ...input, json: opts.json }, output.write))();
      },
    );
  }

  withCommon(
    program
      .command('break')
      .summary('force a lease free (admin)')
      .description(
        'End the lease on KEY whoever holds it. The holder is not told until its next renewal; ' +
          'the next acquisition gets a higher token.',
      )
      .requiredOption('--key <key>', 'lease key')
      .option('--yes', 'confirm; without it nothing is changed (exit 64)', false),
  ).action(async (opts: Common & { key: string; yes: boolean }) => {
    const store = storeOf(opts);
    await guard(opts, () => breakCommand({ store, key: opts.key, yes: opts.yes }, output.write))();
  });

  return program;
}

/** Parses `argv`, runs the command, and resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let code = EXIT_OK;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    process.stderr.write(`leasehold: ${formatError(err)}\n`);
    return exitCodeFor(err);
  }
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`leasehold: ${formatError(err)}\n`);
    process.exit(70);
  },
);

/** Commander's error text on one line: `unknown option '--wiat' (did you mean --wait?)`. */
function oneLineUsageError(text: string): string {
  return text
    .replace(/^error: /, '')
    .replace(/\s*\n\s*\(Did you mean/g, ' (did you mean')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}
