/**
 * The script each process of the hammer group runs (not a module to import):
 * `node [execArgv] hammer-child.js '<HammerChildConfig as JSON>'`. It imports the
 * optional module that registers a third-party scheme, opens the store from its URL,
 * prints `ready`, and waits for a line on stdin so every process starts together. Then,
 * `acquisitions` times, it takes the key through `Leasehold.acquire` and records the
 * critical section: its start and end on `process.hrtime.bigint()` (CLOCK_MONOTONIC,
 * one clock for every process on the host) and its token, one JSON line each. It ends
 * with `done`. See hammer.ts for the checks.
 * @module
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Leasehold } from '../leasehold.js';
import { openStore } from '../open.js';
import type { HammerChildConfig } from './hammer.js';

const config = JSON.parse(process.argv[2] ?? '{}') as HammerChildConfig;

// When the process that started us is gone (a runner's timeout, a SIGKILL), so are we:
// a re-parented child would otherwise hold the key and the store's connections.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
}, 1000).unref();

if (config.register) {
  const specifier = config.register;
  const local = specifier.startsWith('.') || isAbsolute(specifier);
  await import(local ? pathToFileURL(resolve(specifier)).href : specifier);
}
const store = await openStore(config.url, config.openOptions ?? {});
const leasehold = new Leasehold({ store, holder: `hammer-${process.pid}` });
await store.now(); // connect (and load the store's SDK) before the common start
process.stdout.write('ready\n');
const started = await new Promise<boolean>((done) => {
  process.stdin.once('data', () => done(true));
  process.stdin.once('end', () => done(false));
});
if (!started) process.exit(1);
process.stdin.pause();

const hold = (ms: number) =>
  new Promise((done) => (ms === 0 ? setImmediate(done) : setTimeout(done, ms * (1 + Math.random()))));
for (let i = 0; i < config.acquisitions; i++) {
  const lease = await leasehold.acquire(config.key, {
    ttl: config.ttlMs,
    wait: config.waitMs,
    pollInterval: config.pollIntervalMs,
  });
  const start = process.hrtime.bigint();
  await hold(config.holdMs);
  const end = process.hrtime.bigint();
  const section = { pid: process.pid, start: String(start), end: String(end), token: lease.token };
  process.stdout.write(`${JSON.stringify(section)}\n`);
  if (!(await lease.release())) throw new Error(`release of token ${lease.token} reported the lease lost`);
}
await store.close();
process.stdout.write('done\n');
