/**
 * etcd's clock as a client can read it. The v3 API has no time call, and lease expiry
 * runs on the leader's monotonic clock, which no answer reports; the member's HTTP
 * endpoint on the client port (`/version`) answers with a `Date` header, a wall-clock
 * reading to the second. See docs/stores/etcd.md ("Clock model").
 * @module
 */
import { StoreUnavailableError } from '../../errors.js';
import { errorText } from '../../store-kit/index.js';

/**
 * Reads the `Date` header of `GET <member>/version` from the first member that answers
 * before `signal` aborts, in epoch ms (truncated to the second).
 * @throws StoreUnavailableError when no member answers with a date
 */
export async function memberTime(label: string, members: readonly string[], signal: AbortSignal): Promise<number> {
  const failures: string[] = [];
  for (const member of members) {
    try {
      const response = await fetch(`${member}/version`, { signal });
      await response.body?.cancel();
      const time = Date.parse(response.headers.get('date') ?? '');
      if (Number.isFinite(time)) return time;
      failures.push(`${member}: no Date header`);
    } catch (err) {
      if (signal.aborted) throw new StoreUnavailableError(`${label}: no answer in time`, { cause: signal.reason });
      failures.push(`${member}: ${errorText(err instanceof Error && err.cause !== undefined ? err.cause : err)}`);
    }
  }
  throw new StoreUnavailableError(`${label}: ${failures.join('; ')}`);
}
