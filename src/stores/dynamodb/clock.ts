/**
 * The DynamoDB store's clock: DynamoDB compares no time of its own in conditions, so the
 * store keeps bounds of the service's clock from the HTTP `Date` header of every reply,
 * read by SDK middleware. Why this keeps expiry safe: docs/stores/dynamodb.md, "Clock".
 * @module
 */
import { CLOCK_BOUND_DECAY } from '../../defaults.js';

/** The `Date` header is the time the reply was made, truncated to the second (RFC 9110). */
export const DATE_RESOLUTION_MS = 1000;

/** A bound of the store's clock: `at` epoch ms of store time at host time `hostMs`. */
interface Bound {
  readonly at: number;
  readonly hostMs: number;
}

/**
 * The host's monotonic clock as epoch ms: `performance.now()` from the process's time
 * origin. It never steps, so bounds measured on it survive a wall-clock step of the host.
 */
export function hostNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Lower and upper bounds of the store's clock, from replies' `Date` headers. A reply
 * dated `D` was made at store time in `[D, D + 1 s)`, at a host time between its send
 * (`sentAt`) and its arrival (`receivedAt`); so at any later host time `h` the store's
 * clock is at least `D + (h − receivedAt)` and below `D + 1 s + (h − sentAt)`, each
 * widened by {@link CLOCK_BOUND_DECAY} of the bound's age for the drift between the two
 * clocks. The tightest bound of each side is kept; replies at different phases of the
 * second bring the two within a round trip of each other.
 */
export class StoreClock {
  #lower: Bound | undefined;
  #upper: Bound | undefined;

  /** True once a reply's date was seen. */
  get known(): boolean {
    return this.#lower !== undefined;
  }

  /** Host time of the freshest sample, or undefined before the first. */
  get sampledAt(): number | undefined {
    return this.#lower && this.#upper && Math.max(this.#lower.hostMs, this.#upper.hostMs);
  }

  /** Records one reply: its `Date` (epoch ms, whole seconds), when it was sent and when it came back (host ms). */
  observe(date: number, sentAt: number, receivedAt: number): void {
    const lower = { at: date, hostMs: receivedAt };
    const upper = { at: date + DATE_RESOLUTION_MS, hostMs: sentAt };
    const now = Math.max(receivedAt, hostNow());
    const contradicts = carried(lower, now, -1) > this.upper(now) || carried(upper, now, 1) < this.lower(now);
    if (contradicts) {
      // The sample contradicts the bounds: the service's clock stepped. Trust the new sample alone.
      this.#lower = undefined;
      this.#upper = undefined;
    }
    if (!this.#lower || carried(lower, now, -1) > carried(this.#lower, now, -1)) this.#lower = lower;
    if (!this.#upper || carried(upper, now, 1) < carried(this.#upper, now, 1)) this.#upper = upper;
  }

  /** Store time is at least this at host time `hostMs` (epoch ms); `-Infinity` before the first sample. */
  lower(hostMs = hostNow()): number {
    return this.#lower ? carried(this.#lower, hostMs, -1) : Number.NEGATIVE_INFINITY;
  }

  /** Store time is below this at host time `hostMs` (epoch ms); `+Infinity` before the first sample. */
  upper(hostMs = hostNow()): number {
    return this.#upper ? carried(this.#upper, hostMs, 1) : Number.POSITIVE_INFINITY;
  }
}

/** A bound carried forward to host time `hostMs`, widened downwards (`-1`) or upwards (`1`) by the drift allowance. */
function carried(bound: Bound, hostMs: number, side: -1 | 1): number {
  const age = hostMs - bound.hostMs;
  return bound.at + age + side * Math.abs(age) * CLOCK_BOUND_DECAY;
}

/** What one request's middleware saw: the `Date` of its last reply and when that reply arrived (host ms). */
export interface ReplySeen {
  date?: number;
  receivedAt?: number;
}

/** Minimal shape of the SDK's raw HTTP response, as the deserialize step sees it. */
interface RawReply {
  response?: { headers?: Record<string, string | undefined> };
}

/**
 * SDK middleware for the `deserialize` step at low priority, so it wraps each attempt's
 * raw HTTP exchange (inside the SDK's retries, before the reply is parsed — error replies
 * included): times the attempt and feeds its `Date` header to `clock` and `seen`.
 */
export function dateMiddleware(clock: StoreClock, seen: ReplySeen) {
  return <Args, Output>(next: (args: Args) => Promise<Output>) =>
    async (args: Args): Promise<Output> => {
      const sentAt = hostNow();
      const result = await next(args);
      const receivedAt = hostNow();
      const header = (result as RawReply).response?.headers?.date;
      const date = header === undefined ? Number.NaN : Date.parse(header);
      if (Number.isFinite(date)) {
        clock.observe(date, sentAt, receivedAt);
        seen.date = date;
        seen.receivedAt = receivedAt;
      }
      return result;
    };
}
