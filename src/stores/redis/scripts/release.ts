/**
 * Release: delete the lease hash, only for its holder with its token (L6, L7). The state
 * hash, with the last token and the fenced state, stays.
 * @module
 */
import { createEval } from '../eval.js';
import { UNLESS_OWNER_RETURN_0, decodeActed } from './owner.js';

// ARGV: leaseId, token
const RELEASE = `${UNLESS_OWNER_RETURN_0}redis.call('DEL', KEYS[2])
return 1
`;

/** `release`: ARGV leaseId, token; the reply is true when this lease was still current and is now gone. */
export const releaseScript = createEval<readonly [leaseId: string, token: string], boolean>(
  'release',
  RELEASE,
  decodeActed('release'),
);
