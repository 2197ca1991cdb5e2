/**
 * Assertions shared by the store tests.
 */
import assert from 'node:assert/strict';
import { StoreUnavailableError } from '../../src/errors.js';

/**
 * For `assert.rejects`: the error is a one-line `StoreUnavailableError` whose message and
 * stack contain none of `secrets`.
 */
export function oneLineUnavailable(...secrets: (string | undefined)[]) {
  return (e: unknown) => {
    assert.ok(e instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `not one line: ${JSON.stringify(e.message)}`);
    for (const secret of secrets) {
      if (!secret) continue;
      assert.ok(!e.message.includes(secret), `password leaked: ${e.message}`);
      assert.ok(!String(e.stack).includes(secret), 'password leaked into the stack');
    }
    return true;
  };
}
