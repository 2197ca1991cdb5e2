import { spawn } from 'node:child_process';

/** A critical section as recorded by a worker process. */
export interface Section {
  pid: number;
  start: bigint;
  end: bigint;
  token: number;
}

/** Parses JSON lines of `{ pid, start, end, token }` (start/end as decimal strings). */
export function parseSections(text: string): Section[] {
  return text
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => {
      const o = JSON.parse(l) as { pid: number; start: string; end: string; token: number };
      return { pid: o.pid, start: BigInt(o.start), end: BigInt(o.end), token: o.token };
    });
}

/** Overlapping pairs, and tokens that did not strictly increase in time order. */
export function checkSections(sections: Section[]): { overlaps: number; tokenRegressions: number } {
  const sorted = [...sections].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let overlaps = 0;
  let tokenRegressions = 0;
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as Section;
    const cur = sorted[i] as Section;
    if (cur.start < prev.end) overlaps++;
    if (cur.token <= prev.token) tokenRegressions++;
  }
  return { overlaps, tokenRegressions };
}

/** Runs `node --import tsx <script> ...args` processes that wait for a line on stdin, releases them together, and collects their stdout. */
export async function runTogether(script: string, argsPerProcess: string[][], timeoutMs = 120_000): Promise<string[]> {
  const procs = argsPerProcess.map((args) =>
    spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }),
  );
  const outputs = procs.map(
    (p) =>
      new Promise<string>((resolve, reject) => {
        let out = '';
        let err = '';
        p.stdout.on('data', (d) => (out += d));
        p.stderr.on('data', (d) => (err += d));
        const timer = setTimeout(() => {
          p.kill('SIGKILL');
          reject(new Error(`worker timed out; stderr: ${err.slice(-2000)}`));
        }, timeoutMs);
        p.on('exit', (code) => {
          clearTimeout(timer);
          if (code === 0) resolve(out);
          else reject(new Error(`worker exited ${code}; stderr: ${err.slice(-2000)}`));
        });
      }),
  );
  // Give every process time to load and connect before the common start.
  await new Promise((r) => setTimeout(r, 2500));
  for (const p of procs) p.stdin.end('go\n');
  return Promise.all(outputs);
}
