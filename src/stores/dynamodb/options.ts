/**
 * The DynamoDB store's options and its URL form, checked once at construction (B1).
 * @module
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConfigError } from '../../errors.js';
import {
  checkBoolean,
  checkMs,
  requireOptions,
  checkPrefix,
  decodeUrlPart,
  parseStoreUrl,
  urlParams,
} from '../../store-kit/index.js';

/** Options of {@link DynamoDbStore}. */
export interface DynamoDbStoreOptions {
  /** Name of the table: 3–255 of `A-Z a-z 0-9 _ - .`. Its key schema: docs/stores/dynamodb.md. */
  table: string;
  /**
   * Your `DynamoDBClient` from `@aws-sdk/client-dynamodb` v3; the store never destroys it.
   * Without it the store builds its own from `region`, `endpoint` and the credentials.
   */
  client?: DynamoDBClient;
  /** AWS region. @defaultValue the SDK's (`AWS_REGION`, the shared config file, …) */
  region?: string;
  /** Endpoint URL, for DynamoDB Local, dynalite or a VPC endpoint. @defaultValue the region's */
  endpoint?: string;
  /** Access key id; give it with {@link secretAccessKey}. @defaultValue the SDK's default credential chain */
  accessKeyId?: string;
  /** Secret access key; never shown in messages. */
  secretAccessKey?: string;
  /** Session token of temporary credentials; never shown in messages. */
  sessionToken?: string;
  /** Prefix of every item's partition key, so several applications can share a table. @defaultValue `''` */
  prefix?: string;
  /**
   * Longest one operation's request may take, the SDK's retries included, before it fails
   * with `StoreUnavailableError` (on top of the caller's `signal`).
   * @defaultValue 5000
   */
  requestTimeoutMs?: number;
  /**
   * Create the table (on-demand capacity) on first use when it does not exist. Needs
   * `dynamodb:CreateTable` and `dynamodb:DescribeTable`.
   * @defaultValue false
   */
  createTable?: boolean;
}

/** Options of {@link fromUrl}: the URL gives the table and may give any other option. */
export type DynamoDbUrlOptions = Omit<DynamoDbStoreOptions, 'table' | 'client'>;

/** The options after checking: frozen, every default filled in. */
export interface CheckedOptions {
  readonly table: string;
  readonly client: DynamoDBClient | undefined;
  readonly region: string | undefined;
  readonly endpoint: string | undefined;
  readonly credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  readonly prefix: string;
  readonly requestTimeoutMs: number;
  readonly createTable: boolean;
  /** Values to mask in every message. */
  readonly secrets: readonly string[];
}

const OPTION_NAMES = [
  'table',
  'client',
  'region',
  'endpoint',
  'accessKeyId',
  'secretAccessKey',
  'sessionToken',
  'prefix',
  'requestTimeoutMs',
  'createTable',
] as const satisfies readonly (keyof DynamoDbStoreOptions)[];

const WHAT = 'dynamodb store';
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const REGION = /^[a-z0-9-]{1,64}$/;

/** Checks a table name. @throws ConfigError naming it */
export function checkTable(value: unknown): string {
  if (typeof value !== 'string' || !TABLE_NAME.test(value)) {
    throw new ConfigError(
      `${WHAT}: table must be 3-255 characters of A-Z a-z 0-9 _ - . (got ${JSON.stringify(value)})`,
    );
  }
  return value;
}

function checkText(option: string, value: unknown, pattern?: RegExp): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || (pattern && !pattern.test(value))) {
    throw new ConfigError(`${WHAT}: ${option} must be ${pattern ? 'like "eu-west-1"' : 'a non-empty string'}`);
  }
  return value;
}

function checkEndpoint(value: unknown): string | undefined {
  const text = checkText('endpoint', value);
  if (text === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // refused below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
    throw new ConfigError(`${WHAT}: endpoint must be an http(s) URL without credentials, got "${url?.origin ?? text}"`);
  }
  return text;
}

/** Checks every option once. @throws ConfigError naming the option (never a secret's value) */
export function checkOptions(options: DynamoDbStoreOptions): CheckedOptions {
  requireOptions(WHAT, options, OPTION_NAMES, 'with a table');
  const client = options.client;
  if (client !== undefined && (client === null || typeof client.send !== 'function')) {
    throw new ConfigError(`${WHAT}: client must be a DynamoDBClient from @aws-sdk/client-dynamodb`);
  }
  const accessKeyId = checkText('accessKeyId', options.accessKeyId);
  const secretAccessKey = checkText('secretAccessKey', options.secretAccessKey);
  const sessionToken = checkText('sessionToken', options.sessionToken);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new ConfigError(`${WHAT}: give accessKeyId and secretAccessKey together`);
  }
  const own = { region: options.region, endpoint: options.endpoint, accessKeyId, sessionToken };
  if (client && Object.values(own).some((value) => value !== undefined)) {
    throw new ConfigError(
      `${WHAT}: region, endpoint and credentials configure a client the store builds; not with client`,
    );
  }
  return Object.freeze({
    table: checkTable(options.table),
    client,
    region: checkText('region', options.region, REGION),
    endpoint: checkEndpoint(options.endpoint),
    credentials:
      accessKeyId && secretAccessKey
        ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
        : undefined,
    prefix: checkPrefix(options.prefix, '', 256, `${WHAT}: prefix`),
    requestTimeoutMs: checkMs(`${WHAT}: requestTimeoutMs`, options.requestTimeoutMs, 5000),
    createTable: checkBoolean(`${WHAT}: createTable`, options.createTable, false),
    secrets: [secretAccessKey, sessionToken].filter((secret): secret is string => secret !== undefined),
  });
}

const URL_EXAMPLE = 'dynamodb://<table>?region=<region>[&endpoint=<url>]';
/** Every option but the table (the URL's host) and a client may be a query parameter. */
const URL_PARAMS = OPTION_NAMES.filter((name) => name !== 'table' && name !== 'client');

/**
 * Reads `dynamodb://<table>?region=…&endpoint=…&…`: the table is the host part; every
 * other option may be a query parameter (`requestTimeoutMs` a number, `createTable`
 * `true`/`false`). `defaults` fill in what the URL leaves out.
 * @throws ConfigError naming the URL with its secrets masked
 */
export function parseDynamoDbUrl(text: string, defaults: DynamoDbUrlOptions = {}): DynamoDbStoreOptions {
  const { url, shown } = parseStoreUrl(text, ['dynamodb'], URL_EXAMPLE);
  if (url.username || url.password)
    throw new ConfigError(`store: "${shown}" must not carry credentials before the table`);
  if (url.pathname !== '' && url.pathname !== '/') {
    throw new ConfigError(`store: "${shown}" has a path; expected ${URL_EXAMPLE}`);
  }
  // The WHATWG parser lower-cases a host: read the table as written.
  const written = /^dynamodb:\/\/([^/?#]*)/i.exec(text)?.[1] ?? '';
  const table = decodeUrlPart(written, shown, 'table name');
  if (table === '') throw new ConfigError(`store: "${shown}" names no table; expected ${URL_EXAMPLE}`);
  const params = urlParams(url, shown, URL_PARAMS);
  const options: DynamoDbStoreOptions = { ...defaults, table };
  for (const [name, value] of params) {
    // A value that does not parse stays text, so the option's check names it as written.
    if (name === 'requestTimeoutMs') {
      options.requestTimeoutMs =
        value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : (value as never);
    } else if (name === 'createTable') {
      options.createTable = value === 'true' ? true : value === 'false' ? false : (value as never);
    } else {
      options[name as 'region' | 'endpoint' | 'accessKeyId' | 'secretAccessKey' | 'sessionToken' | 'prefix'] = value;
    }
  }
  return options;
}
