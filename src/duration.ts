/**
 * Durations as options take them: milliseconds, or strings with units.
 * @module
 */
import { MAX_DURATION_MS } from './defaults.js';
import { ConfigError } from './errors.js';

/**
 * A duration: milliseconds as a number, or a string with its unit such as `'500ms'`,
 * `'30s'`, `'5m'`, `'1h'`, `'1d'`, `'1.5s'`, or compound `'1m30s'`. A string without a
 * unit (`'3000'`) is refused, except `'0'`.
 */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** `use "3000ms" or "3s"`: the bare number read as milliseconds, and the same in a larger unit, or in seconds. */
function unitHint(bare: string): string {
  const readable = formatDuration(Number(bare));
  const other = readable.endsWith('ms') ? `${bare}s` : readable;
  return `use "${bare}ms" or "${other}"; a number, not a string, is milliseconds`;
}

/**
 * Parses a {@link Duration} into whole milliseconds: a number is milliseconds, a string
 * needs a unit (`'3000'` is refused; write `3000`, `'3000ms'` or `'3s'`).
 *
 * @param value - the duration
 * @param name - the option's name, used in the error message
 * @param opts - `allowZero` accepts 0 (default: false, durations must be positive)
 * @throws ConfigError naming the option and the value when it is not a valid duration, or
 *   is longer than 2³¹−1 ms
 */
export function parseDuration(value: unknown, name: string, opts: { allowZero?: boolean } = {}): number {
  let ms: number | undefined;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const s = value.trim();
    if (/^\d+(\.\d+)?$/.test(s)) {
      // A string is what a config file or an environment variable gives: '3000' there is
      // as likely meant as seconds as milliseconds, so a string needs its unit. '0' is 0 in any unit.
      if (Number(s) !== 0) throw new ConfigError(`${name}: ${JSON.stringify(value)} has no unit (${unitHint(s)})`);
      ms = 0;
    } else if (s.length > 0) {
      let total = 0;
      PART.lastIndex = 0;
      let matched = 0;
      while (PART.lastIndex < s.length) {
        const m = PART.exec(s);
        if (!m) {
          total = Number.NaN;
          break;
        }
        total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
        matched++;
      }
      if (matched > 0) ms = total;
    }
  }
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  if (ms === undefined || !Number.isFinite(ms)) {
    throw new ConfigError(
      `${name}: invalid duration ${shown} (use a number of milliseconds or a string like "500ms", "30s", "5m", "1h")`,
    );
  }
  if (ms < 0 || (ms === 0 && !opts.allowZero)) {
    throw new ConfigError(`${name}: duration must be ${opts.allowZero ? 'zero or more' : 'positive'}, got ${shown}`);
  }
  const rounded = Math.round(ms);
  // Node's timers overflow past this (they then fire after 1 ms): refuse, do not wrap.
  if (rounded > MAX_DURATION_MS) {
    throw new ConfigError(`${name}: duration ${shown} is too long (at most ${MAX_DURATION_MS}ms, about 24.8 days)`);
  }
  return rounded;
}

/** Formats milliseconds for humans: `1.5s`, `250ms`, `2m30s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(Math.round(ms));
  if (rest < 1000) return `${sign}${rest}ms`;
  if (rest < 60_000) return `${sign}${(rest / 1000).toFixed(rest % 1000 === 0 ? 0 : 1)}s`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.round(rest / 1000);
  return `${sign}${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}` || '0s';
}
