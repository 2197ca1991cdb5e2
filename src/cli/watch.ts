/**
 * `leasehold status --watch`: the status view, read again every `--interval` and drawn in
 * place on a terminal (appended, one view after another, when stdout is a pipe; one JSON
 * document per line with `--json`). Stops on Ctrl-C (SIGINT), SIGTERM or a closed stdout.
 * @module
 */
import { sleep, systemClock } from '../clock.js';
import { STATUS_REFRESH_MS } from '../defaults.js';
import { formatDuration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { checkKey } from '../internal.js';
import { openStore } from '../open.js';
import { formatStatus, readStatus, type StatusDocument } from './admin.js';
import { EXIT_OK } from './exit-codes.js';
import { durationOption } from './options.js';
import { formatError, type Output } from './output.js';
import { onTerminationSignals } from './signals.js';

/** Inputs of {@link statusWatchCommand}. */
export interface WatchInput {
  store: string;
  key?: string | undefined;
  json: boolean;
  watch: boolean;
  interval?: string | undefined;
}

/** Shortest `--interval`: a store read each 100 ms is already more than a person can watch. */
const MIN_INTERVAL_MS = 100;

/** Moves the cursor home (no full clear: no flicker), and the codes to hide and show it. */
const HOME = '\u001b[H';
const CLEAR_LINE_END = '\u001b[K';
const CLEAR_BELOW = '\u001b[J';
const HIDE_CURSOR = '\u001b[?25l';
const SHOW_CURSOR = '\u001b[?25h';

/** What one frame shows. */
export interface Frame {
  readonly doc: StatusDocument;
  /** The error of the latest read, when it failed (the view is then the last good read). */
  readonly error?: string | undefined;
  readonly intervalMs: number;
  readonly tty: boolean;
  readonly json: boolean;
}

/** One frame of the watch, as written to stdout. */
export function renderFrame(frame: Frame): string {
  if (frame.json) return `${JSON.stringify(frame.doc)}\n`;
  const read = frame.doc.readAt.slice(11, 19);
  const header = `leasehold status --watch · ${frame.doc.store} store · read ${read} UTC · every ${formatDuration(
    frame.intervalMs,
  )} · Ctrl-C stops`;
  const lines = [header];
  if (frame.error) lines.push(`! store unreachable: ${frame.error} (showing the read of ${read}; retrying)`);
  lines.push('', ...formatStatus(frame.doc).replace(/\n+$/, '').split('\n'), '');
  if (!frame.tty) return `${lines.join('\n')}\n`;
  return `${HOME}${lines.map((line) => `${line}${CLEAR_LINE_END}`).join('\n')}\n${CLEAR_BELOW}`;
}

/**
 * `leasehold status --watch`: resolves to 0 when stopped. The first read must succeed (a
 * wrong URL fails fast); later failures are shown and retried.
 */
export async function statusWatchCommand(input: WatchInput, output: Output, tty: boolean): Promise<number> {
  if (!input.watch) {
    throw new ConfigError(`--interval: ${JSON.stringify(input.interval)} applies to --watch only`);
  }
  const intervalMs = input.interval === undefined ? STATUS_REFRESH_MS : durationOption(input.interval, '--interval');
  if (intervalMs < MIN_INTERVAL_MS) {
    throw new ConfigError(`--interval: ${JSON.stringify(input.interval)} is shorter than ${MIN_INTERVAL_MS}ms`);
  }
  if (input.key !== undefined) checkKey(input.key, '--key');
  const stop = new AbortController();
  const removeSignals = onTerminationSignals(() => stop.abort());
  const onClosed = () => stop.abort();
  output.closed.addEventListener('abort', onClosed, { once: true });
  const store = await openStore(input.store);
  const draw = { intervalMs, tty: tty && !input.json, json: input.json };
  try {
    let doc = await readStatus(store, input.key);
    let error: string | undefined;
    if (draw.tty) output.write(`\u001b[2J${HIDE_CURSOR}`);
    while (!stop.signal.aborted) {
      // JSON lines carry reads only: a failed read is told on stderr, not by repeating the last one.
      if (!(input.json && error)) output.write(renderFrame({ doc, error, ...draw }));
      await sleep(systemClock, intervalMs, stop.signal).catch(() => {});
      if (stop.signal.aborted) break;
      try {
        doc = await readStatus(store, input.key);
        error = undefined;
      } catch (err) {
        error = formatError(err, { storeUrl: input.store });
        if (input.json) process.stderr.write(`leasehold: ${error} (retrying)\n`);
      }
    }
    return EXIT_OK;
  } finally {
    if (draw.tty) output.write(SHOW_CURSOR);
    removeSignals();
    output.closed.removeEventListener('abort', onClosed);
    await store.close().catch(() => {});
  }
}
