/**
 * Every default and timing rule of the core, the scheduler and the CLI, in one place,
 * each with why it has its value. Nothing else in the package writes these numbers.
 * @module
 */

/** Fraction of the TTL assumed lost to clock-rate drift between holder and store (L3): far above quartz and NTP. */
export const CLOCK_DRIFT = 0.01;

/** Safety margin subtracted from the holder-side deadline: 5 % of the TTL, at most 1 s (L3). */
export function deadlineMargin(ttlMs: number): number {
  return Math.min(ttlMs * 0.05, 1000);
}

/**
 * How long before the holder-side deadline a lost lease's signal is aborted, so a late
 * timer still fires in time (L4): 2 % of the TTL, between 5 ms and 200 ms.
 */
export function abortLead(ttlMs: number): number {
  return Math.min(Math.max(ttlMs * 0.02, 5), 200);
}

/** The holder-side deadline of a lease whose last successful request was sent at `tSent` (monotonic ms; L3). */
export function holderDeadline(tSent: number, ttlMs: number): number {
  return tSent + ttlMs * (1 - CLOCK_DRIFT) - deadlineMargin(ttlMs);
}

/**
 * Renew every ttl/3 (L5): two renewals in a row may fail and a third still lands before
 * the deadline.
 */
export function renewInterval(ttlMs: number): number {
  return ttlMs / 3;
}

/**
 * Timeout of one acquire, renew or fenced write: ttl/3, so no request outlives the
 * renewal rhythm (L5), and at least 1 ms.
 */
export function requestTimeout(ttlMs: number): number {
  return Math.max(ttlMs / 3, 1);
}

/** Timeout of a release: ttl/3 but at least 1 s, since a release that never lands costs a whole TTL of waiting. */
export function releaseTimeout(ttlMs: number): number {
  return Math.max(ttlMs / 3, 1000);
}

/** After a failed renewal, retry after ttl/10 (at least 5 ms): quick enough for two more tries before the deadline. */
export function renewRetryDelay(ttlMs: number): number {
  return Math.max(ttlMs / 10, 5);
}

/**
 * Pause between attempts while waiting for a busy key: ttl/10 within [50 ms, 1 s].
 * A tenth of the TTL catches a released key soon; the bounds keep tiny TTLs from
 * hammering the store and long ones from waiting needlessly.
 */
export function defaultPoll(ttlMs: number): number {
  return Math.min(Math.max(ttlMs / 10, 50), 1000);
}

/**
 * Pause between campaign attempts of an election: ttl/10 within [50 ms, 500 ms]. A leader
 * that resigns is replaced within one poll, and a graceful stop should hand over within
 * 1 s (issue 17): with the ±25 % jitter a pause is at most 625 ms, leaving room for the
 * release and the winning request. Costs a follower 2 requests/s at long TTLs.
 */
export function electionPoll(ttlMs: number): number {
  return Math.min(defaultPoll(ttlMs), 500);
}

/** Each poll pause is the base times a random factor in this range, so contenders spread out. */
export const POLL_JITTER: readonly [number, number] = [0.75, 1.25];

/**
 * TTL of a waiter's announcement (bounded waiting, docs/guarantees.md): four polls, at
 * least 200 ms. The waiter extends it at every poll, so it outlives a late poll or a slow
 * request; a dead waiter's announcement lapses after a few polls, and until then costs a
 * releaser no more than one yielded poll per re-acquire.
 */
export function waiterAnnouncementTtl(pollMs: number): number {
  return Math.max(4 * pollMs, 200);
}

/** While the store is unreachable and a slot is open, look again after ttl/10 within [100 ms, 2 s]. */
export function storeDownRetry(ttlMs: number): number {
  return Math.min(Math.max(ttlMs / 10, 100), 2000);
}

/**
 * A slot lease taken this much before the slot's instant by the store's clock is given
 * back until the slot is due (S3): a quarter of the TTL, at most 1 s, so a host whose
 * clock estimate is far ahead does not keep the key from everyone.
 */
export function earlyReleaseThreshold(ttlMs: number): number {
  return Math.min(ttlMs / 4, 1000);
}

/** `stop()` lets running handlers finish for 10 s before aborting them: about a container's SIGTERM-to-SIGKILL gap. */
export const DEFAULT_GRACE_MS = 10_000;

/** Default TTL of a scheduled job or a CLI lease: 30 s, so failover takes about half a minute and renewals are rare. */
export const DEFAULT_TTL_MS = 30_000;

/**
 * Default TTL of a host's liveness lease (placement): 15 s, so a dead host's jobs move
 * within about 20 s (TTL + one heartbeat of ttl/3), while a host costs the store two
 * requests every 5 s whatever its job count. Inside every store's bounds (Azure: 15–60 s).
 */
export const DEFAULT_PLACEMENT_TTL_MS = 15_000;

/**
 * TTL of the lease an operator control takes on a job's key: 10 s (clamped into the
 * store's bounds). It is held for a read and one write; a crashed admin blocks the job
 * for no longer than this.
 */
export const ADMIN_LEASE_TTL_MS = 10_000;

/** Default pause before a job's second try, doubled per further try. */
export const DEFAULT_RETRY_BACKOFF_MS = 1000;

/** Longest pause between a job's tries. */
export const DEFAULT_MAX_RETRY_BACKOFF_MS = 30_000;

/**
 * Most slot acquires one Leasehold keeps in flight; jobs due at the same instant beyond
 * this wait their turn (a few microseconds each once the store answers). Thousands of jobs
 * due at one instant otherwise each hold a run's worth of objects while all their
 * requests wait in one queue, and garbage collection copies them all: on Redis, most of
 * a burst's CPU. Enough for any store's pipeline to stay full.
 */
export const MAX_SLOT_ACQUIRES_IN_FLIGHT = 64;

/** Most tries per slot a job may ask for: beyond this a retry loop is a bug, not a policy. */
export const MAX_RETRY_ATTEMPTS = 100;

/**
 * Longest single timer: longer waits re-check after this. Node's timers overflow past
 * 2³¹−1 ms, and a long timer drifts across a machine suspend.
 */
export const MAX_TIMER_MS = 60_000;

/** Longest duration any option accepts: Node's timer limit, 2³¹−1 ms (about 24.8 days). */
export const MAX_DURATION_MS = 2_147_483_647;

/**
 * Clocks drift apart: an old lower bound of the store clock's offset is lowered by
 * 100 ppm of its age (0.1 ms per second), beyond the drift of crystal clocks.
 */
export const CLOCK_BOUND_DECAY = 1 / 10_000;

/** Timeout of one read of the store's clock at start and while refining it. */
export const CLOCK_READ_TIMEOUT_MS = 5000;

/** Store-clock reads at start: the first one often opens the connection and gives a loose bound. */
export const CLOCK_SYNC_READS = 3;

/** Extra reads spread over a coarse store clock's resolution, to pin the offset to a tenth of it. */
export const CLOCK_REFINE_STEPS = 10;

/**
 * A host whose store-clock estimate got no new sample for this long reads the store's
 * clock once: stores whose answers carry no store time (etcd, NATS) would otherwise keep
 * the estimate of `start()` for the process's life — and one taken under load can lag the
 * store by the event loop's delay then (hundreds of ms), which makes slots look not yet
 * due and runs look earlier than they were. 15 s: one request per host per 15 s at most.
 */
export const CLOCK_REFRESH_MS = 15_000;

/** First retry of a failed store-clock read, doubled per failure up to {@link CLOCK_REFRESH_MS}. */
export const CLOCK_RETRY_MS = 1000;

/** Runs kept in a job's history (fenced state): enough for status output, small enough for 64 KiB. */
export const HISTORY_LENGTH = 20;

/** Longest key the core accepts; stores with tighter limits check their own. */
export const MAX_KEY_LENGTH = 512;

/** Longest holder identity. */
export const MAX_HOLDER_LENGTH = 256;

/**
 * When a busy key's lease would expire, `acquire` looks again this much later (random in
 * the range), so the expiry has passed by the store's clock too and waiters do not all
 * arrive in the same millisecond.
 */
export const EXPIRY_SLACK_MS: readonly [number, number] = [1, 20];

/**
 * The scheduler's version of {@link EXPIRY_SLACK_MS}: a little wider, because every host
 * of a fleet wakes for the same slot and they should not all ask in the same instant.
 */
export const SLOT_EXPIRY_SLACK_MS: readonly [number, number] = [5, 50];

/** Pause before try `attempt + 1` of a slot: `baseMs` doubled per try after the first, at most `maxMs`. */
export function retryBackoff(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** (attempt - 1), maxMs);
}

/** `leasehold run`: SIGTERM to SIGKILL, like the grace: about a container's SIGTERM-to-SIGKILL gap. */
export const DEFAULT_KILL_AFTER_MS = 10_000;

/**
 * `leasehold cron` reads the store's clock once at start to fail fast on a wrong URL: 10 s,
 * long enough for a first connection (DNS, TLS, auth) to a slow store.
 */
export const CLI_STORE_CHECK_TIMEOUT_MS = 10_000;

/**
 * `leasehold status`, `status --watch` and the status page give one read of every key this
 * long (one request with `inspectAll`, else a list and a read per key), like the CLI's
 * store check: long enough for a first connection to a slow store.
 */
export const STATUS_READ_TIMEOUT_MS = 10_000;

/**
 * `status --watch` and the status page read the store this often by default: a countdown
 * a person watches stays within about a second of the store, at one read per 2 s per
 * watcher (the page shares one read among all of its viewers).
 */
export const STATUS_REFRESH_MS = 2000;
