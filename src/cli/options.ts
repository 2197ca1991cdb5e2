/**
 * Option values as the CLI accepts them.
 * @module
 */
import { parseDuration } from '../duration.js';
import { ConfigError } from '../errors.js';

/**
 * Parses a duration option. Unlike the library, which reads a bare number as
 * milliseconds, the CLI asks for a unit (`500ms`, `30s`, `5m`, `1h`): `--ttl 30` is
 * far more likely meant as seconds than as 30 ms. A bare `0` is accepted where zero is.
 *
 * @throws ConfigError naming the option and the value
 */
export function durationOption(value: string, name: string, opts: { allowZero?: boolean } = {}): number {
  const s = value.trim();
  if (/^\d+(\.\d+)?$/.test(s) && !(opts.allowZero && Number(s) === 0)) {
    throw new ConfigError(
      `${name}: ${JSON.stringify(value)} needs a unit, e.g. "${s}s" or "${s}ms" (units: ms, s, m, h, d)`,
    );
  }
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(s) && s !== '0') {
    throw new ConfigError(
      `${name}: invalid duration ${JSON.stringify(value)} (use a number with a unit: "500ms", "30s", "5m", "1h")`,
    );
  }
  return parseDuration(s, name, opts);
}
