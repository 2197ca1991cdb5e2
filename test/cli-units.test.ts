/** Unit tests of the CLI's small modules (no processes, no store). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { exitCodeOf } from '../src/cli/child.js';
import { jobOptionsOf, type CronInput } from '../src/cli/cron.js';
import {
  EXIT_BUSY,
  EXIT_LEASE_LOST,
  EXIT_SOFTWARE,
  EXIT_UNAVAILABLE,
  EXIT_USAGE,
  exitCodeFor,
} from '../src/cli/exit-codes.js';
import { durationOption } from '../src/cli/options.js';
import { formatError, formatEvent, redact, secretsOf } from '../src/cli/output.js';
import { isJobState, summarizeState } from '../src/cli/state.js';
import { AcquireTimeoutError, ConfigError, LeaseLostError, StoreUnavailableError } from '../src/errors.js';

it('durationOption: units required, 0 where allowed, option and value named', () => {
  assert.equal(durationOption('500ms', '--ttl'), 500);
  assert.equal(durationOption('1m30s', '--ttl'), 90_000);
  assert.equal(durationOption('0', '--wait', { allowZero: true }), 0);
  assert.equal(durationOption('0s', '--wait', { allowZero: true }), 0);
  assert.throws(
    () => durationOption('30', '--ttl'),
    (e: Error) =>
      e instanceof ConfigError && /--ttl/.test(e.message) && /"30"/.test(e.message) && /unit/.test(e.message),
  );
  assert.throws(() => durationOption('0', '--ttl'), ConfigError);
  assert.throws(
    () => durationOption('5x', '--every'),
    (e: Error) => /--every: invalid duration "5x"/.test(e.message),
  );
  assert.throws(() => durationOption('-1s', '--wait', { allowZero: true }), ConfigError);
});

it('exit codes: usage 64, unreachable 69, busy 75, lost 76, other 70; child codes as shells report them', () => {
  assert.equal(exitCodeFor(new ConfigError('x')), EXIT_USAGE);
  assert.equal(exitCodeFor(new StoreUnavailableError('x')), EXIT_UNAVAILABLE);
  assert.equal(exitCodeFor(new AcquireTimeoutError('k', 0, 'h')), EXIT_BUSY);
  assert.equal(exitCodeFor(new LeaseLostError('k', 1, 'x')), EXIT_LEASE_LOST);
  assert.equal(exitCodeFor(new Error('x')), EXIT_SOFTWARE);
  assert.deepEqual([EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_SOFTWARE, EXIT_BUSY, EXIT_LEASE_LOST], [64, 69, 70, 75, 76]);
  assert.equal(exitCodeOf({ code: 3, signal: null }), 3);
  assert.equal(exitCodeOf({ code: null, signal: 'SIGTERM' }), 143);
  assert.equal(exitCodeOf({ code: null, signal: 'SIGKILL' }), 137);
  const enoent = Object.assign(new Error('spawn x ENOENT'), { code: 'ENOENT' });
  const eacces = Object.assign(new Error('spawn x EACCES'), { code: 'EACCES' });
  assert.equal(exitCodeOf({ code: null, signal: null, spawnError: enoent }), 127);
  assert.equal(exitCodeOf({ code: null, signal: null, spawnError: eacces }), 126);
});

it('redaction: URL passwords, secret query parameters and connection-string keys never survive', () => {
  const url = 'redis://app:p%40ss-w0rd@db:6379/0';
  assert.deepEqual(secretsOf(url), ['p%40ss-w0rd', 'p@ss-w0rd']);
  // An SDK echoing the decoded password in its message:
  assert.equal(
    redact('auth failed for p@ss-w0rd at redis://app:p%40ss-w0rd@db:6379/0', url),
    'auth failed for *** at redis://app:***@db:6379/0',
  );
  const azure = 'azure-blob://acct/c?sig=SIGNATURE123&sv=2024';
  assert.ok(!redact(`cannot reach ${azure} (sig=SIGNATURE123)`, azure).includes('SIGNATURE123'));
  const err = new StoreUnavailableError('redis://u:hunter2@h: connect refused\n  next line');
  const line = formatError(err, { storeUrl: 'redis://u:hunter2@h' });
  assert.ok(!line.includes('hunter2'));
  assert.ok(!line.includes('\n'), 'one line');
  const dbg = formatError(new StoreUnavailableError('x', { cause: new Error('pw hunter2') }), {
    storeUrl: 'redis://u:hunter2@h',
    debug: true,
  });
  assert.match(dbg, /caused by/);
  assert.ok(!dbg.includes('hunter2'));
});

it('formatEvent: human key=value and JSON lines', () => {
  const time = new Date('2026-11-23T10:00:00.123Z');
  const fields = {
    key: 'nightly report',
    slot: new Date('2026-11-23T10:00:00Z'),
    token: 7,
    durationMs: 1500,
    detail: undefined,
  };
  assert.equal(
    formatEvent('run:success', fields, { json: false, time }),
    '2026-11-23T10:00:00.123Z run:success key="nightly report" slot=2026-11-23T10:00:00.000Z token=7 duration=1.5s',
  );
  assert.deepEqual(JSON.parse(formatEvent('run:success', fields, { json: true, time })), {
    time: '2026-11-23T10:00:00.123Z',
    event: 'run:success',
    key: 'nightly report',
    slot: '2026-11-23T10:00:00.000Z',
    token: 7,
    durationMs: 1500,
  });
});

it('jobOptionsOf: exactly one of --every/--cron, --tz only with --cron, policies checked', () => {
  const base: CronInput = {
    store: 'memory:',
    key: 'k',
    atMostOnce: false,
    grace: '10s',
    killAfter: '10s',
    json: false,
    command: ['true'],
  };
  assert.deepEqual(
    jobOptionsOf({ ...base, every: '5m', catchUp: '1m', ttl: '20s', overlap: 'buffer-one', atMostOnce: true }),
    {
      kind: 'every',
      spec: 300_000,
      options: { ttl: 20_000, catchUp: 60_000, overlap: 'buffer-one', delivery: 'at-most-once' },
    },
  );
  assert.deepEqual(jobOptionsOf({ ...base, cron: '0 3 * * *', tz: 'Europe/Berlin' }), {
    kind: 'cron',
    spec: '0 3 * * *',
    options: { timezone: 'Europe/Berlin' },
  });
  assert.throws(() => jobOptionsOf(base), /exactly one of --every/);
  assert.throws(() => jobOptionsOf({ ...base, every: '1s', cron: '* * * * *' }), /exactly one of --every/);
  assert.throws(() => jobOptionsOf({ ...base, every: '1s', tz: 'UTC' }), /--tz/);
  assert.throws(
    () => jobOptionsOf({ ...base, every: '1s', overlap: 'queue' }),
    /--overlap: expected "skip" or "buffer-one", got "queue"/,
  );
});

it('summarizeState: reads the scheduler state, ignores foreign state', () => {
  const run = {
    slot: '2026-11-23T10:00:00.000Z',
    holder: 'h',
    token: 4,
    attempts: 1,
    start: '2026-11-23T10:00:00.010Z',
    end: '2026-11-23T10:00:01.510Z',
    outcome: 'error',
    error: 'command exited with code 3',
  };
  const st = { v: 1, lastSlot: run.slot, lastOutcome: 'error', running: null, runs: [run] };
  assert.ok(isJobState(st));
  assert.deepEqual(summarizeState(st), {
    lastSlot: run.slot,
    lastOutcome: 'error',
    running: null,
    recentRuns: [{ ...run, durationMs: 1500 }],
    schedule: null,
    nextSlot: null,
    control: null,
    audit: [],
  });
  assert.ok(!isJobState({ mine: true }));
  assert.deepEqual(summarizeState({ mine: true }), {
    lastSlot: null,
    lastOutcome: null,
    running: null,
    recentRuns: [],
    schedule: null,
    nextSlot: null,
    control: null,
    audit: [],
  });
  assert.deepEqual(summarizeState(null).recentRuns, []);
});
