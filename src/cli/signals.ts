/**
 * Termination signals: the ones the CLI forwards to its command and acts on itself.
 * @module
 */
import { constants } from 'node:os';

/** Signals `leasehold run` forwards to its command and `leasehold cron` stops on. */
export const TERMINATION_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Handles SIGINT, SIGTERM and SIGHUP with `handler` instead of dying. Returns a
 * function that removes the handlers.
 */
export function onTerminationSignals(handler: (sig: NodeJS.Signals) => void): () => void {
  const listeners = TERMINATION_SIGNALS.map((sig) => {
    const fn = () => handler(sig);
    process.on(sig, fn);
    return [sig, fn] as const;
  });
  return () => {
    for (const [sig, fn] of listeners) process.off(sig, fn);
  };
}

/** 128 + the signal's number: what a shell reports for a process killed by it. */
export function signalExitCode(sig: NodeJS.Signals): number {
  return 128 + (constants.signals[sig] ?? 0);
}
