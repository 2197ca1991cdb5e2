/**
 * `leasehold ui`: the status page on its own HTTP server (leasehold/ui), for a store URL.
 * Reads the store once before listening, so a wrong URL fails fast (exit 69), like `cron`.
 * docs/operating.md, "The status page".
 * @module
 */
import { openStore } from '../open.js';
import { secretsOf } from '../store-kit/index.js';
import { checkAddress, DEFAULT_UI_HOST, DEFAULT_UI_PORT, isLoopback, serveStore } from '../ui/server.js';
import { readStatus } from './admin.js';
import { ConfigError } from '../errors.js';
import { EXIT_OK } from './exit-codes.js';
import { durationOption } from './options.js';
import { onTerminationSignals } from './signals.js';

/** Inputs of {@link uiCommand}, as given on the command line. */
export interface UiInput {
  store: string;
  host?: string | undefined;
  port?: string | undefined;
  refresh?: string | undefined;
}

/** Default `--port`, as the help shows it. */
export const DEFAULT_PORT_TEXT = String(DEFAULT_UI_PORT);
/** Default `--host`. */
export const DEFAULT_HOST_TEXT = DEFAULT_UI_HOST;

function portOf(text: string | undefined): number {
  if (text === undefined) return DEFAULT_UI_PORT;
  if (!/^\d{1,5}$/.test(text.trim())) {
    throw new ConfigError(`--port: expected an integer from 0 to 65535, got ${JSON.stringify(text)}`);
  }
  return Number(text.trim());
}

/**
 * `leasehold ui`: serves until SIGINT/SIGTERM/SIGHUP, then closes and resolves to 0.
 * `say` prints the address (stdout); `warn` prints warnings (stderr).
 */
export async function uiCommand(input: UiInput, say: (line: string) => void, warn: (line: string) => void) {
  const { host, port } = checkAddress(input.host ?? DEFAULT_UI_HOST, portOf(input.port));
  const refresh = input.refresh === undefined ? undefined : durationOption(input.refresh, '--refresh');
  const store = await openStore(input.store);
  let server: Awaited<ReturnType<typeof serveStore>> | undefined;
  try {
    await readStatus(store);
    const page = refresh === undefined ? {} : { refresh };
    server = await serveStore(store, page, { host, port, secrets: secretsOf(input.store), ownsStore: true });
  } finally {
    if (!server) await store.close().catch(() => {});
  }
  if (!isLoopback(host)) {
    warn(`the page on ${host} is open to anyone who reaches it: it shows key names, holders and run history`);
  }
  say(`leasehold ui: ${server.url} (${store.name} store, read-only; Ctrl-C stops)`);
  const running = server;
  await new Promise<void>((resolve) => {
    const remove = onTerminationSignals(() => {
      remove();
      resolve();
    });
  });
  await running.close();
  return EXIT_OK;
}
