/**
 * Runs the README's quick starts (examples/quick-start/) as real processes, and checks
 * that the README shows exactly their code: the part of each file between
 * `// README: begin` and `// README: end`, with the repository's relative imports written
 * as the package's names (`../../src/index.js` → `leasehold`).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** The package entry points the quick starts import, by their path in this repository. */
const PACKAGE_NAMES: Record<string, string> = {
  'src/index.js': 'leasehold',
  'src/nestjs/index.js': 'leasehold/nestjs',
  'src/node-cron/index.js': 'leasehold/node-cron',
};

/** The README's code for a quick start: its marked part, imports as a user writes them. */
export function readmeCode(file: string): string {
  const text = readFileSync(file, 'utf8');
  const region = /\/\/ README: begin\n([\s\S]*?)\/\/ README: end\n/.exec(text)?.[1];
  assert.ok(region, `${file} has no README region`);
  return region.replace(/from '(?:\.\.\/)+(src\/[^']+)'/g, (whole, path: string) => {
    const name = PACKAGE_NAMES[path];
    assert.ok(name, `${file}: ${whole} is not a package entry point`);
    return `from '${name}'`;
  });
}

/** One line a quick start printed, with when the test saw it (performance.now()). */
export interface Printed {
  at: number;
  text: string;
}

/** A quick start running as a process, its output collected line by line. */
export class QuickStart {
  readonly child: ChildProcess;
  readonly lines: Printed[] = [];
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  #errors = '';

  constructor(file: string, env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = once(this.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    let partial = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      const at = performance.now();
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) this.lines.push({ at, text });
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.#errors += chunk.toString();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Everything it printed so far, for failure messages. */
  get output(): string {
    return `${this.lines.map((l) => l.text).join('\n')}\n${this.#errors}`;
  }

  /** Waits for a line matching `pattern` printed after `after` (performance.now()); answers it. */
  async waitFor(pattern: RegExp, timeoutMs: number, after = 0): Promise<Printed> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find((l) => l.at >= after && pattern.test(l.text));
      if (found) return found;
      assert.ok(this.child.exitCode === null, `exited early:\n${this.output}`);
      assert.ok(performance.now() < end, `no line like ${pattern} within ${timeoutMs}ms:\n${this.output}`);
      await sleep(10);
    }
  }

  /** SIGTERM, then {@link finished}. */
  async stop(timeoutMs = 15_000): Promise<[number | null, NodeJS.Signals | null]> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.finished(timeoutMs);
  }

  /** Its exit code and signal; SIGKILL after `timeoutMs`, so a quick start that hangs fails the test. */
  async finished(timeoutMs: number): Promise<[number | null, NodeJS.Signals | null]> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
