/**
 * Exit codes of the `leasehold` CLI. The lease-related ones follow BSD `sysexits.h`, so
 * scripts and service managers that already know those codes read them right.
 * @module
 */
import { LeaseholdError } from '../errors.js';

/** The command ran and exited 0, or an admin command succeeded. */
export const EXIT_OK = 0;
/** Bad usage or options: unknown option, bad duration, bad store URL (`EX_USAGE`). */
export const EXIT_USAGE = 64;
/** The store could not be reached (`EX_UNAVAILABLE`). */
export const EXIT_UNAVAILABLE = 69;
/** Internal error in leasehold itself (`EX_SOFTWARE`). */
export const EXIT_SOFTWARE = 70;
/** The key is held elsewhere and `--wait` was absent or ran out (`EX_TEMPFAIL`: try again later). */
export const EXIT_BUSY = 75;
/**
 * The lease was lost while the command ran; the command was stopped (`EX_PROTOCOL`:
 * the other side — the store — no longer vouches for us). Distinct from 75 so a script
 * can tell "someone else has it, nothing ran" from "it ran but was cut short".
 */
export const EXIT_LEASE_LOST = 76;
/** The command could not be executed (permission denied, not executable), as in shells. */
export const EXIT_CANNOT_EXECUTE = 126;
/** The command was not found, as in shells. */
export const EXIT_NOT_FOUND = 127;

/** The exit code for an error that ended a CLI command before or outside the child. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof LeaseholdError) {
    switch (err.code) {
      case 'CONFIG':
        return EXIT_USAGE;
      case 'STORE_UNAVAILABLE':
        return EXIT_UNAVAILABLE;
      case 'ACQUIRE_TIMEOUT':
        return EXIT_BUSY;
      case 'LEASE_LOST':
        return EXIT_LEASE_LOST;
      default:
        return EXIT_SOFTWARE;
    }
  }
  return EXIT_SOFTWARE;
}
