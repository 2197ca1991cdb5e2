/**
 * What leader election and semaphores need from the facade: the same narrow port the
 * scheduler runs on, so they work on every store through the store contract alone.
 * See docs/election-and-semaphores.md.
 * @module
 */
import { defaultPoll, EXPIRY_SLACK_MS, POLL_JITTER } from '../defaults.js';
import { parseDuration, type Duration } from '../duration.js';
import { jitter } from '../internal.js';
import type { AcquireAnswer, SchedulerPort } from '../scheduler/port.js';

/** @internal The part of the facade's port that elections and semaphores use. */
export type CoordinationPort = Pick<SchedulerPort, 'holder' | 'clock' | 'logger' | 'store' | 'attemptAcquire' | 'emit'>;

/**
 * @internal The poll base: the option when given, else `byDefault` of the TTL (src/defaults.ts:
 * `defaultPoll` for semaphores, `electionPoll` for elections).
 */
export function pollBase(
  pollInterval: Duration | undefined,
  ttlMs: number,
  byDefault: (ttlMs: number) => number = defaultPoll,
): number {
  return pollInterval === undefined ? byDefault(ttlMs) : parseDuration(pollInterval, 'pollInterval');
}

/**
 * @internal One pause between attempts: the poll base with jitter, so contenders spread
 * out, cut short to just after the soonest expiry the store reported, so a key freed
 * by expiry is tried at once.
 */
export function pollPause(base: number, answers: readonly AcquireAnswer[]): number {
  let pause = jitter(base * POLL_JITTER[0], base * POLL_JITTER[1]);
  for (const answer of answers) {
    if (answer.expiresInMs !== undefined && answer.expiresInMs >= 0) {
      pause = Math.min(pause, answer.expiresInMs + jitter(...EXPIRY_SLACK_MS));
    }
  }
  return pause;
}
