/**
 * The DynamoDB store's link to the service: loading the SDK, building a client, sending
 * one command with its timeout, the caller's signal and the clock middleware, mapping
 * failures to one-line errors, and creating the table on request.
 * @module
 */
import type * as sdk from '@aws-sdk/client-dynamodb';
import { ConfigError, type LeaseholdError, StoreUnavailableError } from '../../errors.js';
import { errorText, importPeer, raceSignal, unavailable } from '../../store-kit/index.js';
import { dateMiddleware, type ReplySeen, type StoreClock } from './clock.js';
import type { Item } from './items.js';
import type { CheckedOptions } from './options.js';

/** The parts of `@aws-sdk/client-dynamodb` the store uses. */
export type Sdk = typeof sdk;

/** Imports the optional peer. @throws ConfigError "install it" when it is missing */
export function loadSdk(): Promise<Sdk> {
  return importPeer(
    'dynamodb',
    '@aws-sdk/client-dynamodb',
    () => import('@aws-sdk/client-dynamodb'),
    (mod) => (typeof mod.DynamoDBClient === 'function' ? (mod as unknown as Sdk) : undefined),
  );
}

/**
 * A client for the checked options. The SDK's retries (3 attempts) stay: each request's
 * abort signal bounds them all by `requestTimeoutMs` (L5).
 */
export function buildClient(module: Sdk, options: CheckedOptions): sdk.DynamoDBClient {
  return new module.DynamoDBClient({
    ...(options.region ? { region: options.region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: 3,
    requestHandler: {
      connectionTimeout: Math.min(options.requestTimeoutMs, 3000),
      requestTimeout: options.requestTimeoutMs,
    },
  });
}

/** How one command ended: its output, or a failed condition with the item as it was when the service has it. */
export type Outcome<Output> =
  | { readonly passed: true; readonly output: Output; readonly seen: ReplySeen }
  | { readonly passed: false; readonly item: Item | undefined; readonly seen: ReplySeen };

/** A command object of the SDK, as far as sending it goes. */
interface CommandLike {
  middlewareStack: { add(middleware: unknown, options: Record<string, unknown>): void };
}

/** What {@link send} needs besides the command. */
export interface SendContext {
  readonly client: sdk.DynamoDBClient;
  readonly clock: StoreClock;
  readonly timeoutMs: number;
  readonly secrets: readonly string[];
}

/**
 * Sends one command: at most `timeoutMs` for all the SDK's attempts, rejecting promptly
 * when `signal` aborts; every reply's `Date` goes to the clock. A failed condition is an
 * outcome, not an error; every other failure is a one-line `StoreUnavailableError`
 * starting with `label`, secrets masked.
 */
export async function send<Output>(
  context: SendContext,
  label: string,
  command: CommandLike,
  signal: AbortSignal | undefined,
): Promise<Outcome<Output>> {
  const seen: ReplySeen = {};
  command.middlewareStack.add(dateMiddleware(context.clock, seen), {
    step: 'deserialize',
    priority: 'low',
    name: 'leaseholdStoreClock',
  });
  const timeout = AbortSignal.timeout(context.timeoutMs);
  const abortSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const reason = (cause: unknown) =>
    new StoreUnavailableError(
      timeout.aborted
        ? `${label}: no answer within ${context.timeoutMs}ms`
        : `${label}: no answer before the request was aborted`,
      { cause },
    );
  try {
    const sent = context.client.send(command as never, { abortSignal }) as Promise<Output>;
    const output = await raceSignal(sent, abortSignal, label, { reason });
    return { passed: true, output, seen };
  } catch (err) {
    if (nameOf(err) === 'ConditionalCheckFailedException') {
      return { passed: false, item: (err as { Item?: Item }).Item, seen };
    }
    throw failure(label, err, context.secrets);
  }
}

function nameOf(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

/** What to add to the service's words for the failures whose fix is on the caller's side. */
const HINTS: Record<string, string> = {
  ResourceNotFoundException: 'the table does not exist; create it (docs/stores/dynamodb.md) or set createTable',
  CredentialsProviderError: 'no AWS credentials; give accessKeyId and secretAccessKey or configure the SDK',
};

/** One-line `StoreUnavailableError` for a failed request (L10), with a hint where one helps. */
export function failure(label: string, err: unknown, secrets: readonly string[]): LeaseholdError {
  const hint = HINTS[nameOf(err) ?? ''];
  if (hint === undefined || err instanceof StoreUnavailableError) return unavailable(label, err, secrets);
  const wrapped = unavailable(label, err, secrets);
  return new StoreUnavailableError(`${label}: ${hint} (${errorText(err, secrets)})`, { cause: wrapped.cause });
}

const TABLE_WAIT_MS = 60_000;
const TABLE_POLL_MS = 250;

/**
 * Creates the table (partition key `pk`, a string; on-demand capacity) when it does not
 * exist, and waits until it is ACTIVE. A table that exists with another key schema is a
 * `ConfigError`. Runs once per client (shared by concurrent callers).
 */
export async function ensureTable(module: Sdk, context: SendContext, table: string): Promise<void> {
  const label = `dynamodb store: table "${table}"`;
  const describe = async () => {
    try {
      const done = await send<sdk.DescribeTableCommandOutput>(
        context,
        label,
        new module.DescribeTableCommand({ TableName: table }),
        undefined,
      );
      return done.passed ? done.output.Table : undefined;
    } catch (err) {
      if (nameOf((err as { cause?: unknown }).cause) === 'ResourceNotFoundException') return undefined;
      throw err;
    }
  };
  let described = await describe();
  if (!described) {
    try {
      await send(context, label, new module.CreateTableCommand(tableDefinition(table)), undefined);
    } catch (err) {
      // Another process created it meanwhile: wait for it like for ours.
      if (nameOf((err as { cause?: unknown }).cause) !== 'ResourceInUseException') throw err;
    }
  }
  const deadline = performance.now() + TABLE_WAIT_MS;
  while (described?.TableStatus !== 'ACTIVE') {
    if (performance.now() > deadline) throw new StoreUnavailableError(`${label}: not ACTIVE within ${TABLE_WAIT_MS}ms`);
    await new Promise((resolve) => setTimeout(resolve, TABLE_POLL_MS));
    described = await describe();
  }
  const keys = described.KeySchema ?? [];
  if (keys.length !== 1 || keys[0]?.AttributeName !== 'pk' || keys[0]?.KeyType !== 'HASH') {
    const shown = keys.map((key) => `${key.AttributeName} (${key.KeyType})`).join(', ');
    throw new ConfigError(`${label}: key schema is ${shown}; the store needs only a partition key "pk" of type S`);
  }
}

/** The table the store creates: docs/stores/dynamodb.md, "Table". */
export function tableDefinition(table: string): sdk.CreateTableCommandInput {
  return {
    TableName: table,
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
  };
}
