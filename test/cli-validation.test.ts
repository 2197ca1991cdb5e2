/**
 * Black-box tests of the built CLI on bad input and a closed output (issue 18): a reader
 * that goes away ends the command quietly; durations and TTLs are refused in one line
 * with their units and exit 64; a 7-field cron expression is refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildCli, finished, until, type BuiltCli, type CliResult } from './helpers/cli.js';

let cli: BuiltCli;
const dir = mkdtempSync(join(tmpdir(), 'leasehold-cli-validation-'));
const store = `file:${join(dir, 'store')}`;
const node = process.execPath;

before(async () => {
  cli = await buildCli();
});
after(() => {
  cli?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** Asserts exit 64 and one `leasehold: …` line on stderr matching `pattern`. */
function usageError(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 64, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0] as string, pattern);
}

/** Asserts that nothing on stderr looks like a crash. */
function noCrash(result: CliResult): void {
  assert.doesNotMatch(result.stderr, /EPIPE|Unhandled|\n\s+at /, result.stderr);
}

describe('a closed output ends the command quietly', () => {
  it('cron … | head -1: after the first line the reader goes; the daemon stops cleanly, exit 0', async () => {
    const child = cli.spawn(['cron', '--store', store, '--key', 'piped', '--every', '1s', '--', node, '-e', '']);
    const done = finished(child, 30_000);
    let first = '';
    child.stdout?.on('data', (chunk: string) => {
      first ||= chunk;
    });
    await until(() => first.includes('\n'), 20_000, 'the first line');
    child.stdout?.destroy(); // what `head -1` does once it has its line
    const result = await done;
    assert.match(first, / start key=piped /);
    assert.equal(result.code, 0, result.stderr);
    noCrash(result);
    // The clean stop released the lease.
    const status = await cli.run(['status', '--store', store, '--key', 'piped', '--json']);
    const doc = JSON.parse(status.stdout) as { keys: { held: boolean }[] };
    assert.equal(doc.keys[0]?.held, false);
  });

  it('status | (a reader that is already gone): exit 0, no stack', async () => {
    const child = cli.spawn(['status', '--store', store]);
    child.stdout?.destroy();
    const result = await finished(child);
    assert.equal(result.code, 0, result.stderr);
    noCrash(result);
  });

  it("run 2>&1 | (gone): leasehold's own messages cannot kill it; the exit code stays 75 for a busy key", async () => {
    const holder = cli.spawn([
      'run',
      '--store',
      store,
      '--key',
      'held',
      '--',
      node,
      '-e',
      'setTimeout(() => {}, 20000)',
    ]);
    const held = finished(holder);
    await until(
      async () =>
        (await cli.run(['status', '--store', store, '--key', 'held', '--json'])).stdout.includes('"held": true'),
      20_000,
      'the first run to hold the key',
    );
    const child = cli.spawn(['run', '--store', store, '--key', 'held', '--', node, '-e', '']);
    child.stderr?.destroy();
    child.stdout?.destroy();
    const result = await finished(child);
    assert.equal(result.code, 75);
    holder.kill('SIGTERM');
    await held;
  });
});

describe('durations and TTLs on the command line', () => {
  it("a TTL outside the store's range names the flag, the value and the range, with units (64)", async () => {
    const run = await cli.run(['run', '--store', store, '--key', 'k', '--ttl', '50ms', '--', node, '-e', '']);
    usageError(run, /^leasehold: --ttl: "50ms" is outside what the file store allows \(at least 100ms\)$/);
    const cron = await cli.run([
      'cron',
      '--store',
      store,
      '--key',
      'k',
      '--every',
      '1m',
      '--ttl',
      '50ms',
      '--',
      'true',
    ]);
    usageError(cron, /^leasehold: --ttl: "50ms" is outside what the file store allows \(at least 100ms\)$/);
    // Azure Blob: refused before any request, so an endpoint nobody listens on will do.
    // The key is Azurite's published development key, not a secret.
    const azurite =
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;' +
      'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
    const azure = await cli.run(['run', '--store', 'azure-blob://leases', '--key', 'k', '--ttl', '10s', '--', 'true'], {
      env: { AZURE_STORAGE_CONNECTION_STRING: azurite },
    });
    usageError(azure, /^leasehold: --ttl: "10s" is outside what the azure-blob store allows \(15s to 1m\)$/);
  });

  it('a TTL or timeout past 2^31-1 ms: one line, exit 64', async () => {
    const run = await cli.run(['run', '--store', store, '--key', 'k', '--ttl', '30d', '--', node, '-e', '']);
    usageError(run, /^leasehold: --ttl: duration "30d" is too long \(at most 2147483647ms, about 24\.8 days\)$/);
    const cron = await cli.run([
      'cron',
      '--store',
      store,
      '--key',
      'k',
      '--every',
      '1m',
      '--timeout',
      '25d',
      '--',
      'x',
    ]);
    usageError(cron, /^leasehold: --timeout: duration "25d" is too long/);
  });

  it('a bare number needs a unit (64): the CLI has no number type, so "3000" would be a guess', async () => {
    const run = await cli.run(['run', '--store', store, '--key', 'k', '--ttl', '3000', '--', node, '-e', '']);
    usageError(run, /^leasehold: --ttl: "3000" needs a unit, e\.g\. "3000s" or "3000ms"/);
  });

  it('a 7-field cron expression is refused in one line naming it (64); 6 fields start', async () => {
    const args = ['cron', '--store', store, '--key', 'seven', '--cron', '0 0 * * * * 2030', '--', 'true'];
    const seven = await cli.run(args, { timeoutMs: 20_000 });
    usageError(seven, /^leasehold: cron: invalid expression "0 0 \* \* \* \* 2030": 7 fields; use 5 .* or 6/);
    const zone = await cli.run([
      'cron',
      '--store',
      store,
      '--key',
      'z',
      '--cron',
      '* * * * *',
      '--tz',
      'Nowhere',
      '--',
      'x',
    ]);
    usageError(zone, /^leasehold: timezone: unknown IANA timezone "Nowhere"/);
  });
});
