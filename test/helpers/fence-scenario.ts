/**
 * The paused-holder scenario every fence test runs: workers take real leases (tokens
 * from a real store, expiring by its clock, never renewed), write through a fence, and
 * some pause past the TTL before writing again, so that a newer holder has written in
 * between. `checkHistory` then holds the fence to the promise: 0 stale writes accepted
 * (the resource's own order of accepted tokens never goes down) and every rejected write
 * is the stale one (a higher token had been accepted before it).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { FenceVerdict } from '../../src/fence/index.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One fenced write as its writer saw it. */
export interface WriteResult {
  token: number;
  verdict: FenceVerdict;
}

/** Options of {@link pausedHolders}. */
export interface ScenarioOptions {
  /** Concurrent workers. @defaultValue 4 */
  workers?: number;
  /**
   * How long the workers run, ms. @defaultValue 1500. On a loaded machine, they go on
   * (up to 10× as long) until the run can be judged: more than 5 tokens accepted and a
   * stale write made (see {@link checkHistory}).
   */
  durationMs?: number;
  /** Lease TTL, ms; a pause lasts 1.5–2.5× this. @defaultValue 40 */
  ttlMs?: number;
}

/**
 * Runs the workers; `write(token)` does one fenced write and returns its verdict (a
 * `StaleTokenError` may be turned into a refused verdict by the caller).
 */
export async function pausedHolders(
  write: (token: number) => Promise<FenceVerdict>,
  options: ScenarioOptions = {},
): Promise<WriteResult[]> {
  const store = new MemoryStore();
  const key = `fence-${randomUUID()}`;
  const ttlMs = options.ttlMs ?? 40;
  const durationMs = options.durationMs ?? 1500;
  const until = Date.now() + durationMs;
  const cap = Date.now() + 10 * durationMs;
  const results: WriteResult[] = [];
  const judgeable = () =>
    new Set(results.filter((r) => r.verdict.accepted).map((r) => r.token)).size > 5 &&
    results.some((r) => !r.verdict.accepted);
  const worker = async (n: number) => {
    while (Date.now() < until || (!judgeable() && Date.now() < cap)) {
      const leaseId = randomUUID();
      const granted = await store.acquire({ key, holder: `worker-${n}`, leaseId, ttlMs });
      if (!granted.acquired) {
        await sleep(1 + Math.random() * 5);
        continue;
      }
      const token = granted.token;
      results.push({ token, verdict: await write(token) });
      if (Math.random() < 0.5) {
        // A paused holder: no renewal, so its lease expires and another worker takes
        // the key; it then writes again with its old token.
        await sleep(ttlMs * (1.5 + Math.random()));
        results.push({ token, verdict: await write(token) });
      } else {
        await store.release({ key, leaseId, token });
      }
    }
  };
  await Promise.all(Array.from({ length: options.workers ?? 4 }, (_, n) => worker(n)));
  return results;
}

/**
 * Asserts the promise on `results` and `order`, the tokens of accepted writes in the
 * order the resource applied them (or observed them, for a resource that keeps one value).
 */
export function checkHistory(results: WriteResult[], order: number[]): void {
  const accepted = new Set(results.filter((r) => r.verdict.accepted).map((r) => r.token));
  const rejected = results.filter((r) => !r.verdict.accepted);
  assert.ok(accepted.size > 5, `too few accepted writes to judge: ${accepted.size}`);
  assert.ok(rejected.length > 0, 'no stale write was attempted: the scenario proves nothing');
  for (let i = 1; i < order.length; i++) {
    const [before, now] = [order[i - 1] as number, order[i] as number];
    assert.ok(now >= before, `stale write accepted: token ${now} applied after ${before}`);
  }
  for (const { token, verdict } of rejected) {
    assert.ok(verdict.highest > token, `token ${token} rejected though the highest was ${verdict.highest}`);
    assert.ok(accepted.has(verdict.highest), `token ${token} rejected for ${verdict.highest}, never accepted`);
  }
  for (const token of order) assert.ok(accepted.has(token), `the resource holds ${token}, never accepted`);
}
