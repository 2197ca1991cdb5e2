/**
 * Runs the `leasehold` CLI from its TypeScript source (through tsx), without building
 * dist/: quicker to start than the built CLI of cli.ts, for tests of one command's behaviour.
 * LEASEHOLD_STORE is cleared, so only `--store` picks the store.
 */
import { spawn } from 'node:child_process';

/** How a run ended. */
export interface SourceCliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `leasehold <args>` to completion. */
export function runCli(args: readonly string[]): Promise<SourceCliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LEASEHOLD_STORE: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
