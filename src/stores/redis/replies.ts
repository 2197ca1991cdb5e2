/**
 * Reading Redis replies, which arrive as `unknown`: strings (or Buffers), integers and
 * arrays, checked here so a malformed reply is an error naming what it was for. Also the
 * decoders of the two plain commands the store sends, `TIME` and `SCAN`.
 * @module
 */

/** A string reply: Buffers decoded as UTF-8, nil as ''. */
export function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value === null || value === undefined) return '';
  return String(value);
}

/** An integer (or numeric string) reply. @throws Error naming `what` when it is not a finite number. */
export function number(value: unknown, what: string): number {
  const parsed = typeof value === 'number' ? value : Number(text(value));
  if (!Number.isFinite(parsed)) {
    throw new Error(`unexpected reply for ${what}: ${JSON.stringify(text(value)).slice(0, 80)}`);
  }
  return parsed;
}

/** An array reply. @throws Error naming `what` otherwise. */
export function array(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`unexpected reply for ${what}: ${JSON.stringify(value)?.slice(0, 80)}`);
  return value;
}

/** The `TIME` reply (`[seconds, microseconds]`) as epoch milliseconds. */
export function decodeTime(reply: unknown): number {
  const [seconds, micros] = array(reply, 'time');
  return number(seconds, 'time') * 1000 + Math.floor(number(micros, 'time') / 1000);
}
