/**
 * B1, bad input: TTLs outside what the store allows, unparsable durations and empty
 * keys are `ConfigError`s naming the value.
 * @module
 */
import assert from 'node:assert/strict';
import { ConfigError } from '../../errors.js';
import { Leasehold } from '../../leasehold.js';
import { suiteOf, type ConformanceOptions, type TestFn } from './shared.js';

/** Registers the B1 test: invalid TTLs and keys are refused with a ConfigError naming the value. */
export function configTests(it: TestFn, options: ConformanceOptions): void {
  const { key: newKey, withStore } = suiteOf(options);

  it('B1: invalid TTLs and keys are ConfigErrors naming the value', () =>
    withStore(async (store) => {
      const leasehold = new Leasehold({ store });
      for (const bad of [0, '-1s', 'abc', Number.NaN]) {
        await assert.rejects(
          leasehold.tryAcquire(newKey('b1'), { ttl: bad }),
          (err: unknown) => err instanceof ConfigError && err.message.includes(String(bad === 0 ? 0 : bad)),
        );
      }
      const { minTtlMs, maxTtlMs } = store.capabilities;
      if (minTtlMs && minTtlMs > 1) {
        await assert.rejects(leasehold.tryAcquire(newKey('b1'), { ttl: minTtlMs - 1 }), ConfigError);
      }
      if (maxTtlMs && Number.isFinite(maxTtlMs)) {
        await assert.rejects(leasehold.tryAcquire(newKey('b1'), { ttl: maxTtlMs + 1000 }), ConfigError);
      }
      await assert.rejects(leasehold.tryAcquire('', { ttl: 1000 }), ConfigError);
    }));
}
