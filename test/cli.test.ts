/**
 * Black-box tests of the built `leasehold` CLI: run, status, break, exit codes.
 * The cron daemon is in cli-cron.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildCli, finished, until, type BuiltCli } from './helpers/cli.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

let cli: BuiltCli;
let redis: RedisServer;
const REDIS_PASSWORD = `cli-pw-${randomBytes(6).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'leasehold-cli-'));
const store = `file:${join(dir, 'store')}`;
const node = process.execPath;

// A command that records its environment in a file, then lives for `ms`
// (SIGTERM ignored when `stubborn`).
const holdScript = join(dir, 'hold.mjs');
writeFileSync(
  holdScript,
  `import { writeFileSync } from 'node:fs';
const [marker, ms, stubborn] = process.argv.slice(2);
if (stubborn === 'stubborn') process.on('SIGTERM', () => {});
process.on('SIGINT', () => process.exit(7));
writeFileSync(marker, JSON.stringify({ key: process.env.LEASEHOLD_KEY, token: process.env.LEASEHOLD_TOKEN, holder: process.env.LEASEHOLD_HOLDER }));
setTimeout(() => {}, Number(ms));
`,
);

// One critical section: start/end read from the system-wide monotonic clock.
const sectionScript = join(dir, 'section.mjs');
writeFileSync(
  sectionScript,
  `import { appendFileSync } from 'node:fs';
const [log, ms] = process.argv.slice(2);
const now = () => process.hrtime.bigint().toString();
appendFileSync(log, 'start ' + now() + ' ' + process.env.LEASEHOLD_TOKEN + '\\n');
await new Promise((r) => setTimeout(r, Number(ms)));
appendFileSync(log, 'end ' + now() + ' ' + process.env.LEASEHOLD_TOKEN + '\\n');
`,
);

let markers = 0;
/** Starts `run … -- node hold.mjs` and resolves once the command runs, with what it saw. */
async function hold(key: string, args: string[], ms = 20_000, stubborn = false) {
  const marker = join(dir, `marker-${markers++}`);
  const child = cli.spawn([
    'run',
    '--store',
    store,
    '--key',
    key,
    ...args,
    '--',
    node,
    holdScript,
    marker,
    String(ms),
    stubborn ? 'stubborn' : '',
  ]);
  const done = finished(child, 60_000);
  await until(() => existsSync(marker) && readFileSync(marker, 'utf8').length > 0, 15_000, `"${key}" to be held`);
  const env = JSON.parse(readFileSync(marker, 'utf8')) as { key: string; token: string; holder: string };
  return { child, done, env };
}

async function statusJson(key?: string) {
  const r = await cli.run(['status', '--store', store, '--json', ...(key ? ['--key', key] : [])]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as {
    store: string;
    keys: {
      key: string;
      held: boolean;
      holder: string | null;
      token: number;
      expiresInMs: number | null;
      lastOutcome: string | null;
    }[];
  };
}

before(async () => {
  [cli, redis] = await Promise.all([buildCli(), startRedisServer({ password: REDIS_PASSWORD })]);
});
after(async () => {
  await redis?.stop();
  cli?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * 10 concurrent loops of `leasehold run --wait` on one key, 3 runs each: the commands'
 * [start, end] intervals (system-wide monotonic clock) never overlap, and tokens grow
 * in the order the commands ran.
 */
async function noOverlap(storeUrl: string, key: string, ttl: string): Promise<void> {
  const log = join(dir, `sections-${key}.log`);
  writeFileSync(log, '');
  const loops = 10;
  const perLoop = 3;
  const failures: string[] = [];
  const loop = async () => {
    for (let i = 0; i < perLoop; i++) {
      const r = await cli.run(
        ['run', '--store', storeUrl, '--key', key, '--ttl', ttl, '--wait', '60s', '--', node, sectionScript, log, '20'],
        { timeoutMs: 90_000 },
      );
      if (r.code !== 0) failures.push(`exit ${r.code} after ${Math.round(r.ms)}ms: ${r.stderr.trim()}`);
    }
  };
  await Promise.all(Array.from({ length: loops }, loop));
  assert.deepEqual(failures, []);

  const starts = new Map<string, bigint>();
  const ends = new Map<string, bigint>();
  for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
    const [what, t, token] = line.split(' ') as [string, string, string];
    (what === 'start' ? starts : ends).set(token, BigInt(t));
  }
  assert.equal(starts.size, loops * perLoop, 'every run got its own token');
  assert.equal(ends.size, loops * perLoop);
  const sections = [...starts].map(([token, start]) => ({
    token: Number(token),
    start,
    end: ends.get(token) as bigint,
  }));
  sections.sort((a, b) => (a.start < b.start ? -1 : 1));
  for (let i = 1; i < sections.length; i++) {
    const prev = sections[i - 1] as (typeof sections)[number];
    const cur = sections[i] as (typeof sections)[number];
    assert.ok(prev.end < cur.start, `sections with tokens ${prev.token} and ${cur.token} overlap`);
    assert.ok(
      prev.token < cur.token,
      `tokens must grow in the order the sections ran (${prev.token} then ${cur.token})`,
    );
  }
}

describe('leasehold run', () => {
  // TTL 5s: each store call gets ttl/3 before it counts as unreachable, which a 2-core
  // machine running 20 processes (and other test files) needs; waiters poll every ttl/10.
  it('10 concurrent run --wait loops on one key never overlap (folder store)', () => noOverlap(store, 'mutex', '5s'));

  it('10 concurrent run --wait loops on one key never overlap (Redis, password-protected private server)', () =>
    noOverlap(redis.url, `mutex-${randomBytes(4).toString('hex')}`, '5s'));

  it('Redis: no password in status output or errors; stopped server → 69', async () => {
    const st = await cli.run(['status', '--store', redis.url, '--json']);
    assert.equal(st.code, 0, st.stderr);
    assert.ok(!st.stdout.includes(REDIS_PASSWORD) && !st.stderr.includes(REDIS_PASSWORD));
    assert.equal((JSON.parse(st.stdout) as { store: string }).store, 'redis');
    const wrong = await cli.run([
      'status',
      '--store',
      redis.url.replace(REDIS_PASSWORD, 'not-the-password'),
      '--debug',
    ]);
    assert.notEqual(wrong.code, 0);
    assert.ok(!wrong.stderr.includes('not-the-password'), wrong.stderr);
    await redis.kill();
    for (const args of [['run', '--key', 'k', '--', 'true'], ['status'], ['break', '--key', 'k', '--yes']]) {
      const r = await cli.run([args[0] as string, '--store', redis.url, ...args.slice(1)]);
      assert.equal(r.code, 69, `${args[0]}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!r.stderr.includes(REDIS_PASSWORD), r.stderr);
    }
    const dbg = await cli.run(['run', '--key', 'k', '--store', redis.url, '--debug', '--', 'true']);
    assert.equal(dbg.code, 69);
    assert.ok(!dbg.stderr.includes(REDIS_PASSWORD), 'no password even in --debug stacks');
  });

  it('gives the command the key, token and holder; exits with its code, 128+signo when killed, 127 when not found', async () => {
    const h = await hold('env', [], 10);
    const r = await h.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(h.env.key, 'env');
    assert.match(h.env.token, /^\d+$/);
    assert.match(h.env.holder, /^.+:\d+:[0-9a-f]+$/);

    assert.equal((await cli.run(['run', '--store', store, '--key', 'codes', '--', 'sh', '-c', 'exit 3'])).code, 3);
    assert.equal(
      (await cli.run(['run', '--store', store, '--key', 'codes', '--', 'sh', '-c', 'kill -KILL $$'])).code,
      128 + 9,
    );
    const nf = await cli.run(['run', '--store', store, '--key', 'codes', '--', join(dir, 'no-such-command')]);
    assert.equal(nf.code, 127);
    assert.match(nf.stderr, /command not found/);
    // The lease is released after each run: the key is free again.
    const st = await statusJson('codes');
    assert.equal(st.keys[0]?.held, false);
  });

  it('busy → 75 naming the holder; status --json shows the holder while the run is in progress', async () => {
    const h = await hold('busy', ['--ttl', '10s'], 60_000);
    const st = await statusJson('busy');
    assert.equal(st.store, 'file');
    assert.equal(st.keys.length, 1);
    assert.equal(st.keys[0]?.held, true);
    assert.equal(st.keys[0]?.holder, h.env.holder);
    assert.equal(st.keys[0]?.token, Number(h.env.token));
    assert.ok((st.keys[0]?.expiresInMs ?? 0) > 0);

    const busy = await cli.run(['run', '--store', store, '--key', 'busy', '--', 'true']);
    assert.equal(busy.code, 75);
    assert.ok(busy.stderr.includes(h.env.holder), `stderr names the holder: ${busy.stderr}`);
    assert.equal(busy.stderr.trim().split('\n').length, 1, 'one line');

    const waited = await cli.run(['run', '--store', store, '--key', 'busy', '--wait', '300ms', '--', 'true']);
    assert.equal(waited.code, 75);
    assert.match(waited.stderr, /after waiting 300ms/);

    // A long enough --wait runs the command once the holder is done (here: interrupted).
    const queued = cli.run([
      'run',
      '--store',
      store,
      '--key',
      'busy',
      '--wait',
      '60s',
      '--',
      'sh',
      '-c',
      'echo "$LEASEHOLD_TOKEN"',
    ]);
    await new Promise((r) => setTimeout(r, 300));
    h.child.kill('SIGINT');
    assert.equal((await h.done).code, 7);
    const q = await queued;
    assert.equal(q.code, 0, q.stderr);
    assert.ok(Number(q.stdout.trim()) > Number(h.env.token));

    const afterRun = await statusJson('busy');
    assert.equal(afterRun.keys[0]?.held, false);
    assert.equal(afterRun.keys[0]?.holder, null);
    assert.equal(afterRun.keys[0]?.token, Number(q.stdout.trim()));
  });

  it('forwards SIGINT/SIGTERM to the command and releases the lease after it exits', async () => {
    const h = await hold('signals', ['--ttl', '10s'], 20_000);
    h.child.kill('SIGINT');
    const r = await h.done;
    assert.equal(r.code, 7, `the command's own exit code on SIGINT: ${r.stderr}`);
    assert.equal((await statusJson('signals')).keys[0]?.held, false, 'released, not left to expire');

    const t = await hold('signals', ['--ttl', '10s'], 20_000);
    t.child.kill('SIGTERM');
    const rt = await t.done;
    assert.equal(rt.code, 128 + 15);
    assert.equal((await statusJson('signals')).keys[0]?.held, false);
  });

  it('break refuses without --yes (64); with --yes the holder loses its lease (76, command stopped) and the next token is higher', async () => {
    const h = await hold('brk', ['--ttl', '1s', '--kill-after', '500ms'], 30_000, true);
    const refused = await cli.run(['break', '--store', store, '--key', 'brk']);
    assert.equal(refused.code, 64);
    assert.match(refused.stderr, /--yes/);
    assert.equal((await statusJson('brk')).keys[0]?.holder, h.env.holder, 'nothing changed');

    const broke = await cli.run(['break', '--store', store, '--key', 'brk', '--yes']);
    assert.equal(broke.code, 0, broke.stderr);
    assert.ok(broke.stdout.includes(h.env.holder));

    // The holder learns at its next renewal, SIGTERMs its (stubborn) command, SIGKILLs it.
    const r = await h.done;
    assert.equal(r.code, 76, r.stderr);
    assert.match(r.stderr, /lost/);
    assert.match(r.stderr, /SIGKILL/);
    assert.ok(r.ms < 10_000);

    const next = await cli.run(['run', '--store', store, '--key', 'brk', '--', 'sh', '-c', 'echo "$LEASEHOLD_TOKEN"']);
    assert.equal(next.code, 0, next.stderr);
    assert.ok(Number(next.stdout.trim()) > Number(h.env.token), 'the next acquisition gets a higher token');
  });
});

describe('leasehold usage and errors', () => {
  it('bad duration → 64 naming the option and the value', async () => {
    const r = await cli.run(['run', '--store', store, '--key', 'k', '--ttl', '5x', '--', 'true']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /--ttl/);
    assert.ok(r.stderr.includes('"5x"'), r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1);

    const unitless = await cli.run(['run', '--store', store, '--key', 'k', '--ttl', '30', '--', 'true']);
    assert.equal(unitless.code, 64, 'a bare number is refused: 30 what?');
    assert.ok(unitless.stderr.includes('"30"') && unitless.stderr.includes('unit'), unitless.stderr);

    const w = await cli.run(['run', '--store', store, '--key', 'k', '--wait', 'soon', '--', 'true']);
    assert.equal(w.code, 64);
    assert.ok(w.stderr.includes('"soon"'), w.stderr);

    const c = await cli.run(['cron', '--store', store, '--key', 'k', '--every', '-1s', '--', 'true']);
    assert.equal(c.code, 64);
    assert.ok(c.stderr.includes('-1s'), c.stderr);
  });

  it('bad usage → 64: unknown option, missing command, missing key, bad store URL (credentials redacted)', async () => {
    assert.equal((await cli.run(['run', '--store', store, '--key', 'k', '--bogus', '--', 'true'])).code, 64);
    assert.equal((await cli.run(['run', '--store', store, '--key', 'k'])).code, 64);
    assert.equal((await cli.run(['run', '--store', store, '--', 'true'])).code, 64);
    assert.equal(
      (await cli.run(['cron', '--store', store, '--key', 'k', '--', 'true'])).code,
      64,
      'cron needs --every or --cron',
    );
    assert.equal(
      (await cli.run(['cron', '--store', store, '--key', 'k', '--every', '1s', '--overlap', 'never', '--', 'true']))
        .code,
      64,
    );
    const url = await cli.run(['status', '--store', 'nosuch://admin:s3cr3t-pw@db.example:1/x']);
    assert.equal(url.code, 64);
    assert.ok(!url.stderr.includes('s3cr3t-pw'), url.stderr);
    assert.match(url.stderr, /unknown scheme/);
  });

  it('unreachable store → 69, one line, no stack (a folder under a regular file)', async () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    const bad = `file:${join(blocker, 'store')}`;
    for (const args of [
      ['run', '--store', bad, '--key', 'k', '--', 'true'],
      ['status', '--store', bad],
      ['break', '--store', bad, '--key', 'k', '--yes'],
      ['cron', '--store', bad, '--key', 'k', '--every', '1s', '--', 'true'],
    ]) {
      const r = await cli.run(args);
      assert.equal(r.code, 69, `${args[0]}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    const dbg = await cli.run(['status', '--store', bad, '--debug']);
    assert.equal(dbg.code, 69);
    assert.match(dbg.stderr, /\n\s+at /, '--debug prints the stack');
  });

  it('--version, --help on every command, --store defaults to $LEASEHOLD_STORE then file:.leasehold', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const v = await cli.run(['--version']);
    assert.equal(v.code, 0);
    assert.equal(v.stdout.trim(), pkg.version);
    for (const cmd of [[], ['run'], ['cron'], ['status'], ['break']]) {
      const h = await cli.run([...cmd, '--help']);
      assert.equal(h.code, 0, `${cmd.join(' ')} --help`);
      assert.match(h.stdout, /Usage: leasehold/);
    }

    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const r = await cli.run(['run', '--key', 'dflt', '--', 'true'], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(cwd, '.leasehold')), 'file:.leasehold in the working directory');

    const envStore = join(dir, 'from-env');
    const e = await cli.run(['run', '--key', 'dflt', '--', 'true'], {
      cwd,
      env: { LEASEHOLD_STORE: `file:${envStore}` },
    });
    assert.equal(e.code, 0, e.stderr);
    assert.ok(existsSync(envStore), '$LEASEHOLD_STORE is used');
  });
});
