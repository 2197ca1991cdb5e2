/**
 * Black-box test of `leasehold cron`: three daemons on one key, one killed midway,
 * every middle slot run exactly once; run history visible in `status --json`.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { buildCli, finished, until, type BuiltCli, type CliResult } from './helpers/cli.js';

let cli: BuiltCli;
const dir = mkdtempSync(join(tmpdir(), 'leasehold-cli-cron-'));
const store = `file:${join(dir, 'store')}`;

before(async () => {
  cli = await buildCli();
});
after(() => {
  cli?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Daemon {
  child: ChildProcess;
  done: Promise<CliResult>;
  out: () => string;
}

// TTL 10s and a 15s catch-up window: on a loaded machine a run must not lose its lease
// (it would be re-run, at-least-once) nor a slot fall out of the window before a daemon
// gets to it. A daemon killed while holding the lease is replaced within the TTL; the one
// that owned the key in the placement, within the 3 s liveness TTL and a 1 s heartbeat.
function daemon(key: string, command: string[], extra: string[] = []): Daemon {
  const child = cli.spawn([
    'cron',
    '--store',
    store,
    '--key',
    key,
    '--every',
    '1s',
    '--ttl',
    '10s',
    '--catch-up',
    '15s',
    '--placement',
    '3s',
    '--json',
    ...extra,
    '--',
    ...command,
  ]);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  return { child, done: finished(child, 90_000), out: () => out };
}

function events(text: string): { event: string; slot?: string; [k: string]: unknown }[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { event: string; slot?: string });
}

it('3 cron --every 1s daemons run each middle slot exactly once, also after one is SIGKILLed; status shows the history', async () => {
  const slotsFile = join(dir, 'slots.log');
  writeFileSync(slotsFile, '');
  const record = ['sh', '-c', 'echo "$LEASEHOLD_SLOT $LEASEHOLD_TOKEN $LEASEHOLD_KEY" >> "$0"', slotsFile];
  const daemons = [daemon('tick', record), daemon('tick', record), daemon('tick', record)];
  // A fourth job whose command always fails: its exit code goes into the run history.
  const failing = daemon('failing', ['sh', '-c', 'exit 3']);
  const all = [...daemons, failing];
  await until(() => all.every((d) => d.out().includes('"event":"start"')), 20_000, 'the daemons to start');
  const t0 = Date.now();

  // Kill one daemon at about 10 s, mid-second: runs take milliseconds right after each
  // slot's instant, so it holds no lease and no run is cut short.
  const killAt = Math.ceil((t0 + 10_000 - 500) / 1000) * 1000 + 500;
  await sleep(killAt - Date.now());
  // The daemon that ran the latest slot: the key's owner in the placement, so the kill
  // exercises a takeover, not only the loss of a bystander.
  const lastRun = (d: Daemon) =>
    Math.max(0, ...events(d.out()).flatMap((e) => (e.event === 'run:success' ? [Date.parse(e.slot ?? '')] : [])));
  daemons.sort((a, b) => lastRun(b) - lastRun(a));
  assert.ok(lastRun(daemons[0] as Daemon) > 0, 'a daemon ran slots before the kill');
  daemons[0]?.child.kill('SIGKILL');
  const killedAt = Date.now();
  await sleep(Math.max(0, t0 + 20_000 - Date.now()));

  const t1 = Date.now();
  for (const d of [...daemons.slice(1), failing]) d.child.kill('SIGTERM');
  const results = await Promise.all([...daemons, failing].map((d) => d.done));
  assert.equal(results[0]?.signal, 'SIGKILL');
  for (const r of results.slice(1)) {
    assert.equal(r.code, 0, `a daemon stops cleanly on SIGTERM: ${r.stderr}`);
    assert.ok(r.ms < 60_000);
  }

  const counts = new Map<string, number>();
  const tokens: number[] = [];
  for (const line of readFileSync(slotsFile, 'utf8').trim().split('\n')) {
    const [slot, token, key] = line.split(' ') as [string, string, string];
    assert.equal(key, 'tick');
    counts.set(slot, (counts.get(slot) ?? 0) + 1);
    tokens.push(Number(token));
  }
  for (const [slot, n] of counts) assert.equal(n, 1, `slot ${slot} ran ${n} times`);
  const first = Math.ceil(t0 / 1000) * 1000 + 1000;
  const last = Math.floor(t1 / 1000) * 1000 - 1000;
  assert.ok(last - first >= 15_000, 'the daemons ran for about 20 s');
  const missing: string[] = [];
  for (let s = first; s <= last; s += 1000)
    if (!counts.has(new Date(s).toISOString())) missing.push(new Date(s).toISOString());
  // A slot that comes while the previous run still goes is skipped by the default overlap
  // policy (S5), and logged. After the takeover the new owner runs the slots owed since the
  // kill one after another, and on a loaded machine (a shell spawned per run) the next
  // slot can come during the last of them (the likely cause of one slot missing 3.5 s after
  // the kill in a clean-clone CI run, whose daemon output was not kept). Such a slot is
  // allowed, at most twice; any other missing slot fails, with every skip event logged for it.
  const skips = daemons.flatMap((d) => events(d.out()).filter((e) => e.event === 'slot:skipped'));
  const overlapSkipped = new Set(skips.filter((e) => e.reason === 'overlap').map((e) => e.slot));
  const unexplained = missing.filter((slot) => !overlapSkipped.has(slot));
  const missingSkips = skips.filter((e) => missing.includes(e.slot ?? ''));
  assert.deepEqual(
    unexplained,
    [],
    `every middle slot ran or was skipped as an overlap (one daemon killed at ${new Date(killedAt).toISOString()}; ` +
      `skip events of the missing slots: ${JSON.stringify(missingSkips)})`,
  );
  assert.ok(missing.length <= 2, `at most two slots skipped as overlaps: ${missing.join(', ')}`);
  // One lease may run several slots in a row (catching up after a delay), hence >=.
  for (let i = 1; i < tokens.length; i++)
    assert.ok((tokens[i] as number) >= (tokens[i - 1] as number), `tokens never go back (${tokens.join(' ')})`);

  // Each daemon printed JSON lines only; the survivors ran slots after the kill.
  const evs = daemons.map((d) => events(d.out()));
  const ranAfterKill = evs
    .slice(1)
    .flatMap((e) => e.filter((x) => x.event === 'run:success' && Date.parse(x.slot ?? '') > killedAt));
  assert.ok(ranAfterKill.length >= 5, 'the survivors covered the slots after the kill');
  const successes = evs.flat().filter((x) => x.event === 'run:success').length;
  assert.ok(successes >= counts.size - 1, 'each run is logged (the killed daemon may miss its last line)');
  for (const e of evs.slice(1)) assert.equal(e.at(-1)?.event, 'stopped');

  // status --json: the last outcome and recent runs, from the fenced state.
  const st = await cli.run(['status', '--store', store, '--json']);
  assert.equal(st.code, 0, st.stderr);
  const doc = JSON.parse(st.stdout) as {
    keys: {
      key: string;
      held: boolean;
      lastSlot: string | null;
      lastOutcome: string | null;
      recentRuns: { slot: string; outcome: string; error?: string; token: number }[];
    }[];
  };
  const tick = doc.keys.find((k) => k.key === 'tick');
  const lastSlot = [...counts.keys()].sort().at(-1);
  assert.equal(tick?.held, false, 'a cleanly stopped daemon leaves no lease held');
  assert.equal(tick?.lastOutcome, 'ok');
  assert.equal(tick?.lastSlot, lastSlot);
  assert.equal(tick?.recentRuns[0]?.slot, lastSlot);
  assert.equal(tick?.recentRuns[0]?.token, tokens.at(-1));
  const fail = doc.keys.find((k) => k.key === 'failing');
  assert.equal(fail?.lastOutcome, 'error');
  assert.match(fail?.recentRuns[0]?.error ?? '', /exited with code 3/);
  const failEvents = events(failing.out()).filter((e) => e.event === 'run:error');
  assert.ok(failEvents.length >= 15);
  assert.match(String(failEvents[0]?.error), /exited with code 3/);

  const human = await cli.run(['status', '--store', store, '--key', 'tick']);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /last outcome\s+ok/);
});
