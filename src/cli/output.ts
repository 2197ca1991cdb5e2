/**
 * How the CLI talks: one-line redacted errors, human and JSON event lines.
 * @module
 */
import { formatDuration } from '../duration.js';
import { redactText, redactUrl, secretsOf } from '../store-kit/index.js';

export { secretsOf };

/** Masks credentials (from the store URL and anything URL-shaped) in `text`. */
export function redact(text: string, storeUrl?: string): string {
  let out = String(text);
  if (storeUrl) out = out.split(storeUrl).join(redactUrl(storeUrl));
  return redactText(out, secretsOf(storeUrl));
}

/**
 * One line for an error: its message, redacted, on a single line. With `debug`, the
 * stack and causes follow (still redacted).
 */
export function formatError(err: unknown, opts: { storeUrl?: string | undefined; debug?: boolean } = {}): string {
  const message = err instanceof Error ? err.message || err.name : String(err);
  let text = message.replace(/\s*\n\s*/g, ' ');
  if (opts.debug) {
    const parts: string[] = [];
    let cur: unknown = err;
    for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
      parts.push(cur instanceof Error ? (cur.stack ?? `${cur.name}: ${cur.message}`) : String(cur));
      cur = cur instanceof Error ? cur.cause : undefined;
    }
    text += `\n${parts.join('\ncaused by: ')}`;
  }
  return redact(text, opts.storeUrl);
}

/** The CLI's stdout, as commands write to it: see {@link watchOutput}. */
export interface Output {
  /** Aborts when stdout's reader has gone away. */
  readonly closed: AbortSignal;
  /** Writes to stdout; drops the text once the reader has gone. */
  write(text: string): void;
}

/**
 * Watches the process's stdout and stderr. A reader that goes away (`leasehold cron … |
 * head -1`) makes writes fail with EPIPE: the reader's choice, not a failure of ours, and
 * unhandled it killed the CLI with a stack trace. Now the error is absorbed and `closed`
 * aborts, so the command ends quietly (docs/cli.md, "Output"). Errors on stderr are
 * absorbed too: there is nowhere left to report them.
 */
export function watchOutput(stdout: NodeJS.WritableStream = process.stdout, stderr = process.stderr): Output {
  const controller = new AbortController();
  stdout.on('error', () => controller.abort());
  stderr.on('error', () => {});
  return {
    closed: controller.signal,
    write: (text) => {
      if (!controller.signal.aborted) stdout.write(text);
    },
  };
}

/** A value as it appears in a human log line: bare when simple, JSON-quoted otherwise. */
function show(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /^[\w.:/@+-]+$/.test(s) ? s : JSON.stringify(s);
}

/**
 * Formats one event as a line: `<iso time> <event> k=v …` for humans, or a JSON object
 * `{"time","event",…}` with `json`. Dates become ISO strings; `durationMs` gets a human
 * twin in the human form.
 */
export function formatEvent(
  event: string,
  fields: Record<string, unknown>,
  opts: { json: boolean; time?: Date },
): string {
  const time = (opts.time ?? new Date()).toISOString();
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    clean[k] = v instanceof Date ? v.toISOString() : v;
  }
  if (opts.json) return JSON.stringify({ time, event, ...clean });
  const parts = [time, event];
  for (const [k, v] of Object.entries(clean)) {
    parts.push(k === 'durationMs' && typeof v === 'number' ? `duration=${formatDuration(v)}` : `${k}=${show(v)}`);
  }
  return parts.join(' ');
}
