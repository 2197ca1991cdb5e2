/**
 * `nats://` URLs: one or more servers, a user and password or a token, the bucket, and
 * the replicas of a bucket the store creates. URL forms: docs/stores/nats.md ("Quick start").
 * @module
 */
import { ConfigError } from '../../errors.js';
import { decodeUrlPart, urlParams } from '../../store-kit/index.js';

/** Connection settings parsed from a `nats://` URL by {@link parseNatsUrl}. */
export interface ParsedNatsUrl {
  /** `host:port` of every server named, in order (IPv6 in brackets). */
  readonly servers: readonly string[];
  /** User name, decoded. */
  readonly user: string | undefined;
  /** Password, decoded. */
  readonly pass: string | undefined;
  /** Token (the user-info part when it has no colon), decoded. */
  readonly token: string | undefined;
  /** The KV bucket; `leasehold` when the URL names none. */
  readonly bucket: string;
  /** Replicas of the bucket when the store creates it (`?replicas=`); 1 when absent. */
  readonly replicas: number;
  /** The URL with its password or token masked, for messages. */
  readonly shown: string;
  /** The secrets the URL holds, raw and decoded, for masking SDK messages. */
  readonly secrets: readonly string[];
}

const EXAMPLE = 'nats://[user:password@|token@]host[:port][,host[:port]…][/bucket]';
const SHAPE = /^nats:\/\/(?:([^@/?#]*)@)?([^/?#@]*)(?:\/([^?#]*))?(\?[^#]*)?$/i;
const SERVER = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?$/i;
/** What NATS accepts as a KV bucket name. */
const BUCKET = /^[-_a-zA-Z0-9]{1,200}$/;

/** The URL with the user-info's secret part replaced by `***`. */
function maskUrl(text: string): string {
  return text.replace(/^(nats:\/\/)([^@/?#]*)@/i, (_, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon < 0 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
}

function secretsOfUserinfo(raw: string, decoded: string | undefined): string[] {
  return [raw, decoded ?? ''].filter((secret) => secret.length >= 3);
}

/** `host:port` from one comma-separated server entry. */
function serverOf(entry: string, shown: string): string {
  const match = SERVER.exec(entry);
  const port = match?.[2] === undefined ? 4222 : Number(match[2]);
  if (!match || port < 1 || port > 65535) {
    throw new ConfigError(`store: server "${entry}" in "${shown}" is not host[:port]; expected ${EXAMPLE}`);
  }
  return `${match[1]}:${port}`;
}

/**
 * Parses a `nats://` URL.
 * @throws ConfigError naming the URL (password or token masked) and what is wrong with it.
 */
export function parseNatsUrl(text: string): ParsedNatsUrl {
  if (typeof text !== 'string') throw new ConfigError(`store: the url must be a string, got ${typeof text}`);
  const shown = maskUrl(text);
  const match = SHAPE.exec(text);
  if (!match) throw new ConfigError(`store: "${shown}" is not a nats: URL; expected ${EXAMPLE}`);
  const [, userinfo, hosts = '', path = '', query = ''] = match;
  if (hosts === '') throw new ConfigError(`store: "${shown}" names no server; expected ${EXAMPLE}`);
  const servers = hosts.split(',').map((entry) => serverOf(entry, shown));
  const bucket = path === '' ? 'leasehold' : decodeUrlPart(path, shown, 'bucket');
  if (!BUCKET.test(bucket)) {
    throw new ConfigError(`store: bucket "${bucket}" in "${shown}" may hold only letters, digits, "-" and "_"`);
  }
  const params = urlParams(new URL(`nats://x/${query}`), shown, ['replicas']);
  const replicasText = params.get('replicas') ?? '1';
  const replicas = Number(replicasText);
  if (!/^[1-5]$/.test(replicasText)) {
    throw new ConfigError(`store: replicas "${replicasText}" in "${shown}" must be 1 to 5`);
  }
  let user: string | undefined;
  let pass: string | undefined;
  let token: string | undefined;
  let secrets: string[] = [];
  if (userinfo !== undefined && userinfo !== '') {
    const colon = userinfo.indexOf(':');
    if (colon < 0) {
      token = decodeUrlPart(userinfo, shown);
      secrets = secretsOfUserinfo(userinfo, token);
    } else {
      user = decodeUrlPart(userinfo.slice(0, colon), shown);
      pass = decodeUrlPart(userinfo.slice(colon + 1), shown);
      secrets = secretsOfUserinfo(userinfo.slice(colon + 1), pass);
    }
  }
  return { servers, user, pass, token, bucket, replicas, shown, secrets };
}
