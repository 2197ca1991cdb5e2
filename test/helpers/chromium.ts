/**
 * Headless Debian Chromium (`/usr/bin/chromium`, installed by .ci/run) driven by
 * playwright-core, with the flags this machine needs: no sandbox (root), no GPU, and no
 * background networking (the machine has no network beyond the package registries).
 * Each launch gets a new empty profile (playwright's `launch` makes a temporary
 * --user-data-dir and removes it on close); contexts inside it are separate sessions.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = process.env.LEASEHOLD_CHROMIUM ?? '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Chromium. Fails (never skips) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium package (.ci/run does)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 30_000 });
}
