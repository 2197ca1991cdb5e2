/**
 * Reading the Azure REST errors the store branches on (status, error code, `Date`), and
 * mapping every other failure to a one-line `StoreUnavailableError` with no request,
 * response or credential in it (L10, B2). Messages: docs/stores/azure-blob.md.
 * @module
 */
import { LeaseholdError, StoreUnavailableError } from '../../errors.js';
import { cleanError, errorText, unavailable } from '../../store-kit/index.js';

/** The parts of an SDK error the store branches on. */
export interface RestInfo {
  /** The HTTP status, when the service answered. */
  readonly status: number | undefined;
  /** The service's error code (`LeaseAlreadyPresent`, `ConditionNotMet`…), or the client's (`ECONNREFUSED`). */
  readonly code: string | undefined;
  /** The answer's `Date` header, epoch ms. */
  readonly date: number | undefined;
}

interface SdkError {
  statusCode?: number;
  code?: string;
  details?: { errorCode?: string };
  response?: { headers?: { get?(name: string): string | undefined } };
}

/** The status, error code and `Date` of an SDK error (each undefined when absent). */
export function restInfo(err: unknown): RestInfo {
  const sdkError = err as SdkError | undefined;
  const status = typeof sdkError?.statusCode === 'number' ? sdkError.statusCode : undefined;
  const code = sdkError?.details?.errorCode ?? (typeof sdkError?.code === 'string' ? sdkError.code : undefined);
  const header = sdkError?.response?.headers?.get?.('date');
  const date = header ? Date.parse(header) : Number.NaN;
  return { status, code, date: Number.isFinite(date) ? date : undefined };
}

/** The `Date` of a successful response, epoch ms. */
export function dateOf(response: { date?: Date | undefined }): number | undefined {
  const date = response.date?.getTime();
  return date !== undefined && Number.isFinite(date) ? date : undefined;
}

/** What a wait for the client rejects with when its signal aborts: mapped like any aborted request. */
export function abortedLoading(): Error {
  return Object.assign(new Error('aborted while loading the SDK'), { name: 'AbortError' });
}

/**
 * Maps a failure of `what` on `key` to the error callers see: leasehold errors pass
 * through; an abort says which of the two signals may have fired; a refused credential
 * says what to check; any other answer gives its status and code.
 */
export function storeFailure(
  what: string,
  key: string | undefined,
  err: unknown,
  secrets: readonly string[],
  requestTimeoutMs: number,
): LeaseholdError {
  if (err instanceof LeaseholdError) return err;
  const label = `azure-blob store: ${what}${key === undefined ? '' : ` "${key}"`}`;
  if ((err as { name?: string } | undefined)?.name === 'AbortError') {
    return new StoreUnavailableError(
      `${label}: aborted (by the caller's signal, or no answer within requestTimeoutMs ${requestTimeoutMs}ms)`,
      { cause: cleanError(err, secrets) },
    );
  }
  const { status, code } = restInfo(err);
  let detail = errorText(err, secrets);
  if (status === 403) {
    detail =
      `the service refused the credential (403 ${code ?? ''}) — ` +
      'check the account key, SAS permissions or role assignment';
  } else if (status !== undefined) {
    // The service's message is one line, then its request id and time on lines of their own.
    const message = err instanceof Error && err.message ? err.message : detail;
    detail = `${status} ${code ?? ''}: ${errorText(message.split('\n')[0], secrets)}`;
  }
  // The cause is a copy of the message only: an SDK error keeps its request (the URL,
  // with any SAS) and response, and loggers print causes.
  return unavailable(label, new Error(detail), secrets);
}
