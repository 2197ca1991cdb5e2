/**
 * Fenced write: store the key's state and clear its mark (the start record the state
 * now supersedes), only for the current holder with its token, checked in the same
 * script as the write (L8).
 * @module
 */
import { createEval } from '../eval.js';
import { UNLESS_OWNER_RETURN_0, decodeActed } from './owner.js';

// ARGV: leaseId, token, state (JSON text)
const WRITE_STATE = `${UNLESS_OWNER_RETURN_0}redis.call('HSET', KEYS[1], 'state', ARGV[3])
redis.call('HDEL', KEYS[1], 'mark')
return 1
`;

/** `writeState`: ARGV leaseId, token, state; the reply is true when the state was written. */
export const writeStateScript = createEval<readonly [leaseId: string, token: string, state: string], boolean>(
  'writeState',
  WRITE_STATE,
  decodeActed('writeState'),
);
