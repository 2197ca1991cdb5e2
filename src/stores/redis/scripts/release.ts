/**
 * Release: delete the lease hash, only for its holder with its token (L6, L7). The state
 * hash, with the last token, the fenced state and the mark, stays; a release that carries
 * the final state (the fused release) replaces the state and clears the mark in the same
 * script, so a stale holder's final state is never written.
 * @module
 */
import { createEval } from '../eval.js';
import { UNLESS_OWNER_RETURN_0, decodeActed } from './owner.js';

// ARGV: leaseId, token[, state (JSON text)]
const RELEASE = `${UNLESS_OWNER_RETURN_0}redis.call('DEL', KEYS[2])
if ARGV[3] then
  redis.call('HSET', KEYS[1], 'state', ARGV[3])
  redis.call('HDEL', KEYS[1], 'mark')
end
return 1
`;

/** `release` arguments: leaseId, token, and the encoded final state when the release writes one. */
export type ReleaseArgs =
  | readonly [leaseId: string, token: string]
  | readonly [leaseId: string, token: string, state: string];

/** `release`: ARGV leaseId, token[, state]; the reply is true when this lease was still current and is now gone. */
export const releaseScript = createEval<ReleaseArgs, boolean>('release', RELEASE, decodeActed('release'));
