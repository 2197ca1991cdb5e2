/**
 * `leasehold ui`: the status page on its own HTTP server (leasehold/ui), for a store URL.
 * Reads the store once before listening, so a wrong URL fails fast (exit 69), like `cron`.
 * docs/operating.md, "The status page".
 * @module
 */
import { ConfigError } from '../errors.js';
import { Leasehold } from '../leasehold.js';
import { openStore } from '../open.js';
import type { LeaseStore } from '../store.js';
import { secretsOf } from '../store-kit/index.js';
import { adminControls } from '../ui/controls.js';
import type { StatusPageOptions } from '../ui/handler.js';
import { checkAddress, DEFAULT_UI_HOST, DEFAULT_UI_PORT, isLoopback, serveStore } from '../ui/server.js';
import { readStatus } from './admin.js';
import { EXIT_OK } from './exit-codes.js';
import { durationOption } from './options.js';
import { onTerminationSignals } from './signals.js';

/** Inputs of {@link uiCommand}, as given on the command line. */
export interface UiInput {
  store: string;
  host?: string | undefined;
  port?: string | undefined;
  refresh?: string | undefined;
  /** Enable the operator controls; the secret comes from {@link SECRET_ENV}. */
  controls?: boolean | undefined;
  /** The environment to read the secret from. @defaultValue process.env */
  env?: NodeJS.ProcessEnv | undefined;
}

/** Where `--controls` reads the page's secret: never a flag, which `ps` would show. */
export const SECRET_ENV = 'LEASEHOLD_UI_SECRET';

function secretOf(env: NodeJS.ProcessEnv): string {
  const secret = env[SECRET_ENV];
  if (secret === undefined || secret.length < 16) {
    throw new ConfigError(
      `--controls: set ${SECRET_ENV} to a secret of at least 16 characters (the browser must present it)`,
    );
  }
  return secret;
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
  const secret = input.controls ? secretOf(input.env ?? process.env) : undefined;
  const store = await openStore(input.store);
  // The controls act through lh.admin; placement off: this process runs no job.
  const lh = secret === undefined ? undefined : new Leasehold({ store, placement: false });
  const stop = async () => {
    await lh?.stop().catch(() => {});
  };
  let server: Awaited<ReturnType<typeof serveStore>> | undefined;
  try {
    await readStatus(store);
    const page: Omit<StatusPageOptions, 'store' | 'basePath'> = {
      ...(refresh === undefined ? {} : { refresh }),
      ...(lh && secret ? { controls: adminControls(lh, secret) } : {}),
    };
    server = await serveStore(store, page, { host, port, secrets: secretsOf(input.store), ownsStore: true });
  } finally {
    if (!server) await closeAll(stop, store);
  }
  if (!isLoopback(host)) {
    warn(`the page on ${host} is open to anyone who reaches it: it shows key names, holders and run history`);
  }
  const mode = lh ? `controls enabled (secret from ${SECRET_ENV})` : 'read-only';
  say(`leasehold ui: ${server.url} (${store.name} store, ${mode}; Ctrl-C stops)`);
  const running = server;
  await new Promise<void>((resolve) => {
    const remove = onTerminationSignals(() => {
      remove();
      resolve();
    });
  });
  await stop();
  await running.close();
  return EXIT_OK;
}

async function closeAll(stop: () => Promise<void>, store: LeaseStore): Promise<void> {
  await stop();
  await store.close().catch(() => {});
}
