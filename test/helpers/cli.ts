/**
 * Builds the `leasehold` CLI and spawns it, for black-box tests.
 *
 * The build goes to a private folder (same `tsconfig.build.json`, with a copy of
 * package.json beside it, inside the repo so `node_modules` resolves): test files run
 * in parallel and others may rebuild `dist/` at any time, and a CLI started while
 * `dist/` is being rewritten would read half-written files.
 *
 * ```ts
 * const cli = await buildCli();
 * const r = await cli.run(['status', '--json'], { cwd });
 * cli.cleanup();
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** How a CLI invocation ended. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time, ms. */
  ms: number;
}

/** Options of a CLI invocation. */
export interface CliRunOptions {
  /** Working directory. @defaultValue a temporary folder private to the build */
  cwd?: string;
  /** Added to the environment (LEASEHOLD_STORE is removed unless given here). */
  env?: Record<string, string>;
  /** SIGKILL the CLI after this long. @defaultValue 60 s */
  timeoutMs?: number;
}

/** A built CLI. */
export interface BuiltCli {
  /** Path of the built `dist/cli/main.js`. */
  readonly bin: string;
  /** Starts the CLI; stdout and stderr are piped. */
  spawn(args: readonly string[], opts?: CliRunOptions): ChildProcess;
  /** Runs the CLI to completion. */
  run(args: readonly string[], opts?: CliRunOptions): Promise<CliResult>;
  /** Removes the build. */
  cleanup(): void;
}

function cliEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LEASEHOLD_STORE;
  delete env.NODE_OPTIONS; // the test runner's tsx loader is not what users run
  return { ...env, ...extra };
}

/** Collects a spawned CLI's output and how it ended. */
export function finished(child: ChildProcess, timeoutMs = 60_000): Promise<CliResult> {
  const t0 = performance.now();
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** Removes builds left by test processes that died before their `after` hook ran. */
function removeStaleBuilds(): void {
  let names: string[];
  try {
    names = readdirSync(join(ROOT, '.tmp'));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^cli-build-(\d+)-/.exec(name)?.[1]);
    if (!pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH')
        rmSync(join(ROOT, '.tmp', name), { recursive: true, force: true });
    }
  }
}

/** Compiles `src/` with `tsconfig.build.json` into a private folder and returns the CLI in it. */
export async function buildCli(): Promise<BuiltCli> {
  removeStaleBuilds();
  const base = join(ROOT, '.tmp', `cli-build-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(base, { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(base, 'package.json'));
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const build = await finished(
    spawn(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(base, 'dist')], {
      cwd: ROOT,
      env: cliEnv({}),
    }),
    120_000,
  );
  const bin = join(base, 'dist', 'cli', 'main.js');
  // Type errors elsewhere in the tree still emit JavaScript; `npm test` typechecks separately.
  if (!existsSync(bin)) throw new Error(`build failed (exit ${build.code}):\n${build.stdout}${build.stderr}`);
  // Never the repo: a test that forgets --store must not write file:.leasehold there.
  const cwd = join(base, 'cwd');
  mkdirSync(cwd);
  const spawnCli = (args: readonly string[], opts: CliRunOptions = {}) =>
    spawn(process.execPath, [bin, ...args], {
      cwd: opts.cwd ?? cwd,
      env: cliEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  return {
    bin,
    spawn: spawnCli,
    run: (args, opts = {}) => finished(spawnCli(args, opts), opts.timeoutMs),
    cleanup: () => rmSync(base, { recursive: true, force: true }),
  };
}

/** Resolves once `check()` is true, polling; rejects after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
