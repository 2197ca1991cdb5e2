/**
 * The multi-process hammer, for any store that several processes can open from one
 * URL: N child processes (hammer-child.ts) take turns on one key through
 * `Leasehold.acquire`, each critical section timed on the host's monotonic clock. No
 * two sections may overlap (L1 as the holders see it) and tokens must strictly
 * increase in time order (L2). Children run under this process's `execPath` and
 * `execArgv`, so the same code runs under tsx in a repository and as plain JS from dist.
 * @module
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OpenStoreOptions } from '../stores/registry.js';
import type { TestFn } from './conformance/shared.js';

/** How to hammer one store. */
export interface HammerOptions {
  /** The store's URL, as `openStore` takes it; a function when it is known only once the test runs. */
  url: string | (() => string | Promise<string>);
  /**
   * A module each child imports before opening the store, to register a third-party
   * scheme with `registerStore`: a package name, a `file:` URL or a path (relative to
   * the working directory).
   */
  register?: string;
  /** Options for `openStore` (JSON only: they are passed to the children as text). */
  openOptions?: OpenStoreOptions;
  /** Processes taking turns. @defaultValue 6 */
  processes?: number;
  /** Acquisitions per process. @defaultValue 20 */
  acquisitions?: number;
  /** The key they share. @defaultValue a random one per run */
  key?: string;
  /** TTL of each lease, in ms; must be within the store's limits. @defaultValue 15000 */
  ttlMs?: number;
  /** How long one acquire may wait for the key, in ms. @defaultValue 60000 */
  waitMs?: number;
  /** Poll interval of a waiting acquire, in ms. @defaultValue 10 */
  pollIntervalMs?: number;
  /** Critical section length, ms (randomised up to twice this); 0 yields once instead. @defaultValue 1 */
  holdMs?: number;
  /** The whole run's limit, in ms; the children are killed past it. @defaultValue 150000 */
  timeoutMs?: number;
  /** Called with the run's figures after it passed its checks, e.g. to print throughput. */
  report?: (report: HammerReport) => void;
}

/** What a child is told, as JSON on its command line. */
export interface HammerChildConfig {
  url: string;
  key: string;
  acquisitions: number;
  ttlMs: number;
  waitMs: number;
  pollIntervalMs: number;
  holdMs: number;
  register?: string;
  openOptions?: OpenStoreOptions;
}

/** One critical section as a child recorded it, on the host's monotonic clock (ns). */
export interface HammerSection {
  pid: number;
  start: bigint;
  end: bigint;
  token: number;
}

/** A finished run: every section sorted by start, and how long starting and hammering took. */
export interface HammerReport {
  sections: HammerSection[];
  processes: number;
  startupMs: number;
  runMs: number;
}

/** Registers the hammer test with `it`: one run of {@link runHammer}, then {@link assertSerial}. */
export function hammerTests(it: TestFn, options: HammerOptions): void {
  const processes = options.processes ?? 6;
  const acquisitions = options.acquisitions ?? 20;
  const name =
    `hammer: ${processes} processes × ${acquisitions} acquisitions of one key never overlap, ` +
    'and tokens strictly increase in time order';
  it(name, async () => {
    const report = await runHammer(options);
    assertSerial(report.sections, processes * acquisitions);
    assert.equal(new Set(report.sections.map((section) => section.pid)).size, processes, 'every process took part');
    options.report?.(report);
  });
}

/** Asserts that `sections` (sorted by start) number `expected`, never overlap, and carry increasing tokens. */
export function assertSerial(sections: readonly HammerSection[], expected: number): void {
  assert.equal(sections.length, expected, 'every acquisition reported');
  for (let i = 1; i < sections.length; i++) {
    const prev = sections[i - 1] as HammerSection;
    const cur = sections[i] as HammerSection;
    const overlap =
      `overlap: pid ${prev.pid} token ${prev.token} ended at ${prev.end}, ` +
      `pid ${cur.pid} token ${cur.token} started at ${cur.start}`;
    assert.ok(cur.start > prev.end, overlap);
    assert.ok(cur.token > prev.token, `token ${cur.token} (pid ${cur.pid}) after ${prev.token} (pid ${prev.pid})`);
  }
}

/** Starts the children, releases them together once all are ready, and collects every section. */
export async function runHammer(options: HammerOptions): Promise<HammerReport> {
  const processes = options.processes ?? 6;
  const config: HammerChildConfig = {
    url: typeof options.url === 'function' ? await options.url() : options.url,
    key: options.key ?? `hammer-${randomUUID()}`,
    acquisitions: options.acquisitions ?? 20,
    ttlMs: options.ttlMs ?? 15_000,
    waitMs: options.waitMs ?? 60_000,
    pollIntervalMs: options.pollIntervalMs ?? 10,
    holdMs: options.holdMs ?? 1,
    ...(options.register === undefined ? {} : { register: options.register }),
    ...(options.openOptions === undefined ? {} : { openOptions: options.openOptions }),
  };
  const started = performance.now();
  const children = Array.from({ length: processes }, () => startChild(config));
  const timer = setTimeout(() => {
    for (const child of children) child.process.kill('SIGKILL');
  }, options.timeoutMs ?? 150_000);
  try {
    await Promise.all(children.map((child) => child.ready));
    const go = performance.now();
    for (const child of children) child.process.stdin?.end('go\n');
    const outputs = await Promise.all(children.map((child) => child.done));
    const sections = outputs.flatMap(parseSections).sort(byStart);
    return { sections, processes, startupMs: Math.round(go - started), runMs: Math.round(performance.now() - go) };
  } finally {
    clearTimeout(timer);
    for (const child of children) child.process.kill('SIGKILL');
  }
}

interface Child {
  process: ChildProcess;
  /** Resolves on `ready`; rejects when the child exits first. */
  ready: Promise<void>;
  /** Resolves with the child's output after `done` and a clean exit. */
  done: Promise<string>;
}

/** The child script beside this module: `.ts` under tsx, `.js` from dist. */
const CHILD = fileURLToPath(new URL(`./hammer-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** This process's node flags (tsx's loader, say) without the test runner's and debugger's own. */
function childExecArgv(): string[] {
  return process.execArgv.filter((flag) => !/^--(test|experimental-test|inspect|watch)/.test(flag));
}

function startChild(config: HammerChildConfig): Child {
  const child = spawn(process.execPath, [...childExecArgv(), CHILD, JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdin?.on('error', () => {}); // a child that died early closed its end; its exit says why
  child.stderr?.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString()).slice(-10_000); // its end says why a child failed
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.startsWith('ready\n')) resolve();
    });
    child.once('exit', (code, signal) => {
      reject(new Error(`hammer child exited (${code ?? signal}) before ready: ${err}`));
    });
  });
  const done = new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0 && out.endsWith('\ndone\n')) resolve(out);
      else reject(new Error(`hammer child ${child.pid} exited (${code ?? signal}): ${err.slice(-2000)}`));
    });
  });
  ready.catch(() => {});
  done.catch(() => {});
  return { process: child, ready, done };
}

function byStart(a: HammerSection, b: HammerSection): number {
  return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
}

/** The JSON lines of one child's output. */
function parseSections(output: string): HammerSection[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      const section = JSON.parse(line) as { pid: number; start: string; end: string; token: number };
      return { pid: section.pid, start: BigInt(section.start), end: BigInt(section.end), token: section.token };
    });
}
