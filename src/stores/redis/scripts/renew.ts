/**
 * Renew: extend the lease's expiry, only for its holder with its token (L5, L6).
 * @module
 */
import { createEval } from '../eval.js';
import { UNLESS_OWNER_RETURN_0, decodeActed } from './owner.js';

// ARGV: leaseId, token, ttlMs
const RENEW = `${UNLESS_OWNER_RETURN_0}redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`;

/** `renew`: ARGV leaseId, token, ttlMs; the reply is true when the lease was extended. */
export const renewScript = createEval<readonly [leaseId: string, token: string, ttlMs: number], boolean>(
  'renew',
  RENEW,
  decodeActed('renew'),
);
