/**
 * Small pieces of HTML for the status page: escaping, instants and durations as the page
 * shows them. Everything the page prints from the store goes through {@link esc}.
 * @module
 */
import { formatDuration } from '../duration.js';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML content and for double- or single-quoted attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (ch) => ENTITIES[ch] as string);
}

/**
 * An instant as the page prints it, in UTC: `12:05:00` on the day of `reference`, with
 * the date before it otherwise (`Nov 23 12:05:00`), inside a `<time>` element.
 */
export function timeTag(iso: string, reference: number): string {
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return esc(iso);
  const date = new Date(time);
  const clock = date.toISOString().slice(11, 19);
  const sameDay = new Date(reference).toISOString().slice(0, 10) === date.toISOString().slice(0, 10);
  const day = sameDay ? '' : `${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()} `;
  return `<time datetime="${esc(iso)}">${day}${clock}</time>`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A countdown: the page's script moves it every 200 ms from `ms` (the time left when the
 * store was read); without the script it shows that figure. While time is left it reads
 * `prefix` and the time (`in 4.2s`); once it ran out, `zero` (`due now`).
 */
export function countdown(ms: number, zero: string, prefix = ''): string {
  const text = ms > 0 ? `${prefix}${clockText(ms)}` : zero;
  return `<span class="countdown" data-ms="${Math.round(ms)}" data-zero="${esc(zero)}" data-prefix="${esc(
    prefix,
  )}">${esc(text)}</span>`;
}

/** Time since an instant `ms` ago, moved by the page's script like a countdown. */
export function ago(ms: number): string {
  return `<span class="ago" data-ago-ms="${Math.round(ms)}">${esc(agoText(ms))}</span>`;
}

/**
 * A countdown's text: tenths of a second (rounded up) under 10 s, so it visibly moves,
 * whole seconds above. The page's script (assets.ts) applies the same rule as it moves it.
 */
export function clockText(ms: number): string {
  return ms < 10_000 ? `${(Math.ceil(ms / 100) / 10).toFixed(1)}s` : formatDuration(Math.ceil(ms / 1000) * 1000);
}

/** Whole seconds elapsed, as the script shows them too: `0s`, `42s`, `3m5s`. */
export function agoText(ms: number): string {
  const whole = Math.max(0, Math.floor(ms / 1000)) * 1000;
  return whole === 0 ? '0s' : formatDuration(whole);
}
