/**
 * The README's first command, `npm start`, runs demo/demo.ts: it must keep working. The
 * demo checks its own summary (every tick once, no overlap, takeover after kill -9 within
 * its bound) and exits 1 when a check fails; here it runs on a folder store.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { it } from 'node:test';

it('npm start: the demo (3 instances, one killed mid-tick) passes its own checks', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/demo.ts'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  assert.equal(code, 0, `the demo failed:\n${out}\n${err}`);
  assert.match(out, /OK: every tick ran exactly once across the fleet\./);
  assert.match(out, /takeover\s+[\d.]+s after kill -9/);
  assert.equal(err, '', 'nothing on stderr (no crash, no warning)');
});
