/**
 * Break: delete whatever lease the key has (an operator's tool); tokens and state stay.
 * @module
 */
import { createEval } from '../eval.js';
import { number } from '../replies.js';

const FORCE_RELEASE = `
return redis.call('DEL', KEYS[2])
`;

/** `forceRelease`: no ARGV; the reply is true when a lease was there to delete. */
export const forceReleaseScript = createEval<readonly [], boolean>(
  'forceRelease',
  FORCE_RELEASE,
  (reply) => number(reply, 'forceRelease') > 0,
);
