/**
 * Section 6: failover. Two processes schedule one job whose run lasts until stopped,
 * so one of them holds the lease; with placement off (the race: the standby polls the
 * key) and on (the standby does not own the job until the holder's liveness lease
 * expires; liveness TTL = the job's TTL). Then:
 *
 * - **SIGKILL**: the holder is killed at a random moment of its renewal cycle; the
 *   figure is the time from the kill to the other process's first handler start.
 * - **graceful**: a fresh standby is started, the new holder gets SIGTERM (`stop()`,
 *   grace 0); the figure is the time from the signal to the standby's first start.
 *
 * Goal: ≤ TTL + 1 s without placement (S6); ≤ TTL + one heartbeat (ttl/3) + 1 s with it
 * (P3). Times are wall clock on this one machine (same clock for all).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { median, REDIS_URL, rid, type Figures } from './lib.js';
import type { Servers, StoreName } from './targets.js';

interface Line {
  pid: number;
  t: number;
  ev: string;
}

class Proc {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  #waiters: Array<() => void> = [];
  constructor(args: object) {
    this.child = spawn(
      process.execPath,
      ['--import', './bench/register.mjs', 'bench/failover-worker.ts', JSON.stringify(args)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let buf = '';
    this.child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.lines.push(JSON.parse(l) as Line);
        } catch {
          continue;
        }
        for (const w of this.#waiters.splice(0)) w();
      }
    });
    this.child.on('exit', () => {
      for (const w of this.#waiters.splice(0)) w();
    });
  }
  /** Resolves with the first line of event `ev` after index `from`. */
  async wait(ev: string, from = 0, timeoutMs = 60_000): Promise<Line> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const l = this.lines.slice(from).find((x) => x.ev === ev);
      if (l) return l;
      if (Date.now() > end || this.child.exitCode !== null)
        throw new Error(`failover worker ${this.child.pid}: no "${ev}" line`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 200).unref();
      });
    }
  }
  kill(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null) this.child.kill(sig);
  }
  exited(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((r) => this.child.once('exit', () => r()));
  }
}

/** The first `start` line of whichever of `procs` starts first. */
async function firstStart(procs: Proc[], marks: number[]): Promise<{ proc: Proc; line: Line }> {
  return Promise.race(procs.map((p, i) => p.wait('start', marks[i]).then((line) => ({ proc: p, line }))));
}

/** Runs section 6 for one store. */
export async function benchFailover(
  name: StoreName,
  figs: Figures,
  servers: Servers,
  o: { quick: boolean },
): Promise<void> {
  const ttlMs = 3000;
  const trials = o.quick ? 1 : 3;
  let url: string;
  let prefix: string | undefined;
  let dir: string | undefined;
  if (name === 'redis') {
    url = REDIS_URL;
    prefix = servers.redisPrefix('failover');
  } else if (name === 'postgres') url = (await servers.pgDatabase()).url;
  else if (name === 'mysql') url = (await servers.mysqlDatabase()).url;
  else if (name === 'file') {
    dir = mkdtempSync(join(tmpdir(), 'leasehold-bench-failover-'));
    url = `file:${dir}`;
  } else throw new Error(`failover: ${name} is not measured`);
  try {
    for (const placement of [false, true]) {
      const { kills, stops } = await trialsOf(url, prefix, ttlMs, trials, placement);
      addFigures(figs, name, placement, ttlMs, trials, kills, stops);
    }
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** `trials` kill and graceful-stop trials; the times from the signal to the standby's first start. */
async function trialsOf(
  url: string,
  prefix: string | undefined,
  ttlMs: number,
  trials: number,
  placement: boolean,
): Promise<{ kills: number[]; stops: number[] }> {
  const kills: number[] = [];
  const stops: number[] = [];
  const all: Proc[] = [];
  try {
    for (let trial = 0; trial < trials; trial++) {
      const args = { url, ...(prefix ? { prefix } : {}), key: `failover-${rid()}`, ttl: `${ttlMs}ms`, placement };
      const a = new Proc(args);
      const b = new Proc(args);
      all.push(a, b);
      await Promise.all([a.wait('ready'), b.wait('ready')]);
      const first = await firstStart([a, b], [0, 0]);
      const holder = first.proc;
      const standby = holder === a ? b : a;
      // Kill at a random point of the holder's renewal cycle (it renews every ttl/3).
      await sleep(ttlMs / 3 + Math.random() * ttlMs);
      const mark = standby.lines.length;
      holder.kill('SIGKILL');
      const tKill = Date.now();
      const next = await standby.wait('start', mark, ttlMs * 4 + 10_000);
      kills.push(next.t - tKill);

      // Graceful: a fresh standby, then SIGTERM to the current holder.
      const c = new Proc(args);
      all.push(c);
      await c.wait('ready');
      await sleep(1500);
      const markC = c.lines.length;
      standby.kill('SIGTERM');
      const tTerm = Date.now();
      const nextC = await c.wait('start', markC, ttlMs * 4 + 10_000);
      stops.push(nextC.t - tTerm);
      c.kill('SIGTERM');
      await Promise.all([holder.exited(), standby.exited(), c.exited()]);
    }
  } finally {
    for (const p of all) p.kill('SIGKILL');
    await Promise.all(all.map((p) => p.exited()));
  }
  return { kills, stops };
}

function addFigures(
  figs: Figures,
  name: StoreName,
  placement: boolean,
  ttlMs: number,
  trials: number,
  kills: number[],
  stops: number[],
): void {
  const mode = placement ? 'placement' : 'race';
  const heartbeat = placement ? ttlMs / 3 : 0;
  const goal = ttlMs + heartbeat + 1000;
  const goalText = placement ? 'TTL + one heartbeat + 1 s' : 'TTL + 1 s';
  const k = median(kills);
  const s = median(stops);
  figs.add({
    name: `failover.${mode}.sigkill_to_next_run`,
    store: name,
    value: k,
    unit: 'ms',
    ratioTo: 'TTL',
    ratio: k / ttlMs,
    note: `placement ${placement ? 'on' : 'off'}, TTL ${ttlMs} ms, ${trials} trial(s) [${kills.join(', ')}]; goal ≤ ${goalText} ${k <= goal ? 'met' : 'MISSED'}`,
  });
  figs.add({
    name: `failover.${mode}.graceful_stop_to_next_run`,
    store: name,
    value: s,
    unit: 'ms',
    ratioTo: 'TTL',
    ratio: s / ttlMs,
    note: `[${stops.join(', ')}]; goal ≤ ${goalText} ${s <= goal ? 'met' : 'MISSED'}`,
  });
}
