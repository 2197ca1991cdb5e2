/**
 * `redis://` and `rediss://` URLs: host, port, database, ACL user and password.
 * URL forms and defaults: docs/stores/redis.md ("Quick start").
 * @module
 */
import { ConfigError } from '../../errors.js';
import { decodeUrlPart, parseStoreUrl, urlParams } from '../../store-kit/index.js';

/** Connection settings parsed from a `redis://` / `rediss://` URL by {@link parseRedisUrl}. */
export interface ParsedRedisUrl {
  /** The password as written in the URL (percent-encoded), for redaction. */
  rawPassword: string | undefined;
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** TCP port; 6379 when the URL names none. */
  port: number;
  /** ACL user name (Redis 6+), decoded. */
  username: string | undefined;
  /** Password, decoded. */
  password: string | undefined;
  /** Database number from `/N` or `?db=N`; 0 when absent. */
  db: number;
  /** True for `rediss://`. */
  tls: boolean;
}

const EXAMPLE = 'redis://[user:password@]host[:port][/db]';

/**
 * Parses a `redis://` or `rediss://` URL.
 * @throws ConfigError naming the URL (password masked) and what is wrong with it.
 */
export function parseRedisUrl(text: string): ParsedRedisUrl {
  const { url, shown, scheme } = parseStoreUrl(text, ['redis', 'rediss'], EXAMPLE);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new ConfigError(`store: "${shown}" names no host; expected redis://host[:port][/db]`);
  const path = url.pathname.replace(/^\//, '');
  const dbText = urlParams(url, shown, ['db']).get('db') ?? (path === '' ? undefined : path);
  const db = dbText === undefined ? 0 : Number(dbText);
  if (!/^\d+$/.test(dbText ?? '0') || !Number.isSafeInteger(db)) {
    throw new ConfigError(`store: database "${dbText}" in "${shown}" must be a number such as /0`);
  }
  return {
    rawPassword: url.password || undefined,
    host,
    port: url.port === '' ? 6379 : Number(url.port),
    username: url.username ? decodeUrlPart(url.username, shown) : undefined,
    password: url.password ? decodeUrlPart(url.password, shown) : undefined,
    db,
    tls: scheme === 'rediss',
  };
}
